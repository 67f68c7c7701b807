"""Scan an artifact by what it contains: sniff its format, scan it if loading it can unpickle.

The one verdict ``check_structure``, ``assay init`` and the corpus benchmark share. Fail closed:
a pickle-bearing file passes only when the allowlist scan passes; a file whose format is not
recognised is ``not-scanned`` (never ok); a recognised format that holds no pickle is ``no-pickle``.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel

from .pickle_scan import PickleReport, scan_pickle_file
from .sniff import Sniffed, sniff_file

Status = Literal["scanned", "no-pickle", "not-scanned"]


class ContentScan(BaseModel):
    path: str
    sniffed: Sniffed
    status: Status
    report: PickleReport | None
    ok: bool
    reason: str | None = None


def scan_content(path: str | os.PathLike[str]) -> ContentScan:
    """Sniff ``path`` and scan it when it is pickle-bearing; raises OSError only if it cannot be read."""
    sniffed = sniff_file(path)
    if sniffed.pickle_bearing:
        report = scan_pickle_file(path)
        return ContentScan(
            path=str(path),
            sniffed=sniffed,
            status="scanned",
            report=report,
            ok=report.ok,
            reason=None if report.ok else "; ".join(report.errors) or "pickle scan failed",
        )
    if sniffed.format == "unknown":
        return ContentScan(
            path=str(path),
            sniffed=sniffed,
            status="not-scanned",
            report=None,
            ok=False,
            reason="format not recognised"
            + (f" ({sniffed.detail})" if sniffed.detail else "")
            + ", so it was not scanned",
        )
    return ContentScan(path=str(path), sniffed=sniffed, status="no-pickle", report=None, ok=True)
