"""The ``trust_remote_code`` gate: the only way any assay code lets transformers execute a release's Python files.

Used by the re-run (:mod:`assay.evals.rerun`) and by the as-loaded audit (:mod:`assay.verify.loaded`).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

from ..manifests.errors import CheckFailed
from ..manifests.release import Release
from .release import verify_release
from .remote_code import AUTO_MAP_CONFIGS, BLOCKING_CODES
from .results import VerifyResult


def check_remote_code(
    release: Release | Path | str,
    root: Path | str | None = None,
    *,
    verification: VerifyResult | None = None,
    allow: Collection[str] = (),
) -> list[str]:
    """Strictly verify a release before ``trust_remote_code``; return the code files transformers may execute.

    Refuses (raises :class:`CheckFailed`) unless every ``remote-code`` check passes (each file ``auto_map`` names is
    an artifact whose sha256 verified, no code from another repository), every config with an ``auto_map`` verified,
    and every ``.py`` file in the release folder is a verified artifact (a module the named code imports is executed
    too).  Other failures of the release (a claim, an unrelated file) do not block.  A strict ``verification`` the
    caller already made is reused.

    It also refuses on every blocking error of the static remote-code audit (:mod:`assay.verify.remote_code`): an
    unpinned download of another repository (the model that would load is not the locked release), a network call,
    unpickling, dynamic execution, a process, code that could not be analysed.  ``allow`` names audit codes the
    caller contains otherwise: the as-loaded audit runs the code offline with the network closed, so it may pass
    :data:`~assay.verify.remote_code.NETWORK_CODES` and observe the attempts instead.
    """
    result = (
        verification
        if verification is not None and verification.strict
        else verify_release(release, root=root, strict=True)
    )
    problems = [
        f"{f.where or '-'}: {f.message}" for f in result.findings if f.code == "remote-code" and f.severity == "error"
    ]
    named = any(f.code == "remote-code" for f in result.findings)
    if named and result.remote_code is None:  # fail closed: code named but never audited (e.g. an older result)
        problems.append("the remote code was not audited (no static audit in this verification)")
    if result.remote_code is not None:
        problems += [
            f"{f.where or '-'}: [{f.code}] {f.message}"
            for f in result.remote_code.findings
            if f.is_error and f.code in BLOCKING_CODES and f.code not in allow
        ]
    by_path = {c.path: c for c in result.files}
    for c in result.files:
        if c.path.endswith(".py") and not c.ok:
            problems.append(f"{c.path}: {c.status}")
    for rel in result.extra_files:
        if rel.endswith(".py"):
            problems.append(f"{rel}: a Python file that the manifest does not list")
    code = sorted({f.where for f in result.findings if f.code == "remote-code" and f.severity == "info" and f.where})
    root_dir = Path(result.root)
    for path, chk in by_path.items():
        name = path.rsplit("/", 1)[-1]
        if name in AUTO_MAP_CONFIGS:
            try:
                cfg = json.loads((root_dir / path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(cfg, dict) and cfg.get("auto_map") and not chk.ok:
                problems.append(f"{path}: names code to execute (auto_map) and did not verify ({chk.status})")
    if problems:
        raise CheckFailed(
            "refusing trust_remote_code: "
            + "; ".join(problems[:5])
            + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
        )
    return code
