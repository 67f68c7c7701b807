"""One error hierarchy for assay (in the style of huggingface_hub's errors module).

* ``AssayError``      — base class; never raised directly.
* ``InputError``      — bad input (a malformed manifest, a path that escapes its root, a missing file argument).
                        The CLI prints its one-line message and exits 2.
* ``MissingExtra``    — an optional extra that a verb or flag needs is not installed: exit 2 with the
                        ``pip install 'assay[X]'`` line that brings it.
* ``CheckFailed``     — a check ran and did not hold.  Library functions normally *return* failed results
                        instead of raising; this exists for callers that want an exception.  The CLI exits 1.
"""

from __future__ import annotations

from types import ModuleType


class AssayError(Exception):
    """Base class of every error assay raises on purpose."""

    exit_code = 2


class InputError(AssayError):
    """Bad input: the message is one line that names the file (and line/column where known)."""

    exit_code = 2

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


class ManifestError(InputError):
    """A manifest or lock file that cannot be read or does not match the schema."""


class PathEscapeError(InputError):
    """A path from a manifest that is absolute, not normalised, or resolves outside the release root."""


class MissingExtra(InputError):
    """An optional dependency is not installed.  ``require_extra`` raises it with the install line."""

    def __init__(self, extra: str, module: str, what: str) -> None:
        super().__init__(f"{what} needs the optional package {module!r}: pip install 'assay[{extra}]'")
        self.extra = extra
        self.module = module


def require_extra(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # the package, or one of its own imports, is missing
        raise MissingExtra(extra, module, what) from exc


class CheckFailed(AssayError):
    exit_code = 1
