"""Which hub implementation serves a source URI.

Kept apart from ``base`` so the implementations depend on the base and nothing in the base depends on them (no
import cycle); each implementation is imported lazily, since each pulls its own client library.
"""

from __future__ import annotations

from ..manifests.errors import InputError
from ..manifests.uris import SourceURI
from .base import Hub


def hub_for(uri: SourceURI) -> Hub:
    """The hub implementation of a parsed URI (imported lazily: each pulls its own client library)."""
    if uri.scheme == "dir":
        from .dirhub import DirHub

        return DirHub()
    if uri.scheme == "hf":
        from .hf import HfHub

        return HfHub()
    if uri.scheme == "oci":
        from .oci import OciHub

        return OciHub()
    raise InputError(f"unsupported hub scheme {uri.scheme!r}")  # pragma: no cover - parse_source_uri refuses first
