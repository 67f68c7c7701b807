"""Source URIs of a release: ``hf://``, ``oci://`` and ``dir://``.

* ``hf://org/repo@revision`` (models), ``hf://datasets/org/repo@revision``, ``hf://spaces/...``; the revision is
  optional in a manifest (a lock pins it to a commit sha).
* ``oci://host[:port]/path/repo:tag`` or ``oci://host[:port]/path/repo@sha256:<hex>``.
* ``dir://path`` — a plain local folder holding the release files; a relative path is relative to the
  manifest's folder (or to the working directory on the command line), ``dir:///abs/path`` is absolute.
* ``dir://path#package:tag`` or ``dir://path#package@sha256:<hex>`` — a package in a content-addressed local
  directory hub at ``path`` (see :mod:`assay.hubs.dirhub`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_HF = re.compile(
    r"^hf://(?:(?P<type>models|datasets|spaces)/)?(?P<repo>[A-Za-z0-9][\w.\-]*(?:/[A-Za-z0-9][\w.\-]*)?)"
    r"(?:@(?P<rev>[^\s@]+))?$"
)
_OCI = re.compile(
    r"^oci://(?P<host>[A-Za-z0-9.\-]+(?::\d{1,5})?)/(?P<repo>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.\-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)

_PKG = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._\-]*)"
    r"(?::(?P<tag>[\w][\w.\-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True)
class SourceURI:
    scheme: Literal["hf", "oci", "dir"]
    raw: str
    repo: str = ""  # hf: org/name; oci: host/path; dir: the path
    repo_type: str = "model"  # hf only
    revision: str | None = None  # hf revision, oci tag or digest
    host: str = ""  # oci only
    package: str | None = None  # dir hubs only: the package name after '#'

    def __str__(self) -> str:
        return self.raw

    def pinned(self, revision: str) -> str:
        """This URI with its revision replaced by an exact one (commit sha or sha256 digest)."""
        if self.scheme == "hf":
            return self.raw.split("@", 1)[0] + "@" + revision
        if self.scheme == "oci":
            base = self.raw.split("@", 1)[0]
            if ":" in base[len("oci://") :].split("/", 1)[-1]:
                base = base.rsplit(":", 1)[0]
            return f"{base}@{revision}"
        if self.package is not None:
            return f"dir://{self.repo}#{self.package}@{revision}"
        return self.raw


def parse_source_uri(uri: str) -> SourceURI:
    """Parse and validate a source URI; raises ValueError with a one-line reason."""
    if not isinstance(uri, str):
        raise ValueError("a source URI must be a string")
    if uri.startswith("hf://"):
        m = _HF.match(uri)
        if not m:
            raise ValueError(f"invalid Hugging Face URI {uri!r}; expected hf://org/repo@revision")
        rtype = {"datasets": "dataset", "spaces": "space"}.get(m["type"] or "models", "model")
        return SourceURI("hf", uri, repo=m["repo"], repo_type=rtype, revision=m["rev"])
    if uri.startswith("oci://"):
        m = _OCI.match(uri)
        if not m:
            raise ValueError(
                f"invalid OCI URI {uri!r}; expected oci://host[:port]/repo:tag or oci://host/repo@sha256:<hex>"
            )
        return SourceURI("oci", uri, repo=m["repo"], host=m["host"], revision=m["digest"] or m["tag"] or "latest")
    if uri.startswith("dir://"):
        path, _, fragment = uri[len("dir://") :].partition("#")
        if not path:
            raise ValueError(f"invalid directory URI {uri!r}; expected dir://path or dir://path#package:tag")
        if not fragment:
            return SourceURI("dir", uri, repo=path)
        m = _PKG.match(fragment)
        if not m:
            raise ValueError(
                f"invalid directory-hub reference {fragment!r} in {uri!r}; expected package:tag or package@sha256:<hex>"
            )
        return SourceURI("dir", uri, repo=path, package=m["name"], revision=m["digest"] or m["tag"] or "latest")
    scheme = uri.split("://", 1)[0] if "://" in uri else uri
    raise ValueError(f"unsupported source {uri!r} (scheme {scheme!r}); use hf://, oci:// or dir://")
