"""Source URIs of a release: ``hf://``, ``oci://`` and ``dir://``.

* ``hf://org/repo@revision`` (models), ``hf://datasets/org/repo@revision``, ``hf://spaces/...``; the revision is
  optional in a manifest (a lock pins it to a commit sha).
* ``oci://host[:port]/path/repo:tag`` or ``oci://host[:port]/path/repo@sha256:<hex>``.
* ``dir://path`` — a local directory hub; a relative path is relative to the manifest's folder,
  ``dir:///abs/path`` is absolute.
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


@dataclass(frozen=True)
class SourceURI:
    scheme: Literal["hf", "oci", "dir"]
    raw: str
    repo: str = ""  # hf: org/name; oci: host/path; dir: the path
    repo_type: str = "model"  # hf only
    revision: str | None = None  # hf revision, oci tag or digest
    host: str = ""  # oci only

    def __str__(self) -> str:
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
            raise ValueError(f"invalid OCI URI {uri!r}; expected oci://host[:port]/repo:tag or oci://host/repo@sha256:<hex>")
        return SourceURI("oci", uri, repo=m["repo"], host=m["host"], revision=m["digest"] or m["tag"] or "latest")
    if uri.startswith("dir://"):
        path = uri[len("dir://"):]
        if not path:
            raise ValueError(f"invalid directory URI {uri!r}; expected dir://path")
        return SourceURI("dir", uri, repo=path)
    scheme = uri.split("://", 1)[0] if "://" in uri else uri
    raise ValueError(f"unsupported source {uri!r} (scheme {scheme!r}); use hf://, oci:// or dir://")
