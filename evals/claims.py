"""``assay rescore MANIFEST``: re-score every eval's logs and check every published claim against them.

Per eval of the manifest's ``evals:`` section:

1. each log is located (relative to the release root, never outside it), its sha256 checked against the manifest
   (and the lock, when the log is an artifact), and re-scored (:mod:`assay.evals.rescore`);
2. the claim's (task, metric, filter) is looked up among the recomputed aggregates; a subset run (``--limit``),
   missing / duplicated / extra samples, hash mismatches, tampered per-sample scores fail the eval;
3. every published value is compared with the recomputed aggregate × ``scale``: it matches when it rounds to the
   published decimals (tolerance half a unit of the last decimal);
4. a value that does not match (or has no log) is tested for being a **mean of sub-scores**: the plain mean of an
   lm-eval group's subtasks (where the group score is size-weighted), or the mean of other evals whose names
   extend this one's (``ScreenSpot-V2`` = mean of ``ScreenSpot_v2_Desktop/Mobile/Web``), or the declared
   ``components``;
5. claims in the model card's ``model-index`` and in ``.eval_results/*.yaml`` (when the release has them) are
   matched to evals by name and compared with the manifest's published values.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

from ..manifests.errors import InputError
from ..manifests.paths import resolve_inside
from ..manifests.release import Release, as_release
from .published import CardClaim, decimals_of, norm_name, read_eval_results, read_model_index
from .rescore import decide, rescore_log
from .results import ClaimCheck, EvalRescore, Finding, LogRescore, RescoreReport, RescoreRow


def _decimals(value: float, declared: int | None) -> int:
    if declared is not None:
        return declared
    text = repr(float(value))
    return 0 if text.endswith(".0") else decimals_of(text)


def _tol(decimals: int) -> float:
    return 0.5 * 10 ** (-decimals)


def _matches(claim: float, value: float | None, decimals: int) -> bool:
    return value is not None and abs(claim - value) <= _tol(decimals) + 1e-9


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _roots(loaded: Release) -> tuple[Path, dict[str, Path]]:
    m = loaded.manifest
    per_art = loaded.roots()
    if loaded.root is not None:
        return loaded.root, per_art
    dirs = [s for s in m.sources if s.uri.startswith("dir://")]
    if dirs:
        try:
            return loaded.source_dir(dirs[0].uri), per_art
        except InputError:
            pass
    return loaded.manifest_path.parent, per_art


def _pick_row(rows: list[RescoreRow], task: str, metric: str, filt: str | None) -> tuple[RescoreRow | None, str | None]:
    cands = [r for r in rows if r.task == task and r.metric == metric and (filt is None or r.filter == filt)]
    if not cands:
        return None, f"no aggregate {metric}" + (f",{filt}" if filt else "") + f" for task {task!r} in the log"
    if len(cands) > 1:
        return None, (
            f"{metric} of {task!r} exists under several filters ({', '.join(r.filter for r in cands)}); "
            "set `filter:` in the manifest"
        )
    return cands[0], None


def rescore_manifest(
    release: Release | str | Path, *, root: str | Path | None = None, audit: bool = True
) -> RescoreReport:
    loaded = as_release(release, root=root)
    manifest_path = loaded.manifest_path
    m = loaded.manifest
    base, per_art = _roots(loaded)
    locked = {f.path: f.sha256 for f in loaded.lock.files} if loaded.lock is not None else {}
    report_findings: list[Finding] = []
    evals: list[EvalRescore] = []
    cache: dict[tuple[str, str], list[LogRescore]] = {}
    # first pass: rescore logs, find the recomputed value of each eval
    values: dict[str, float | None] = {}
    group_parts: dict[str, list[tuple[str, float | None, int]]] = {}
    for claim in m.evals:
        ev = EvalRescore(name=claim.name, task=claim.task_name, metric=claim.metric, filter=claim.filter, ok=True)
        recomputed: float | None = None
        reported: float | None = None
        for entry in claim.logs:
            art_root = per_art.get(entry.path, base)
            path = resolve_inside(art_root, entry.path)
            if not path.exists():
                ev.findings.append(Finding.make("error", "log-missing", f"log {entry.path} not found in {art_root}"))
                continue
            if path.is_file():
                pins = [p for p in (entry.sha256, locked.get(entry.path)) if p]
                if pins:
                    actual = _file_sha256(path)
                    for pin in set(pins):
                        if actual != pin:
                            ev.findings.append(
                                Finding.make(
                                    "error",
                                    "log-hash-mismatch",
                                    f"log {entry.path}: sha256 {actual} differs from the pinned {pin}",
                                )
                            )
                else:
                    ev.findings.append(
                        Finding.make(
                            "warning", "log-unpinned", f"log {entry.path} has no sha256 in the manifest or lock"
                        )
                    )
            key = (str(path), entry.format)
            if key not in cache:
                cache[key] = rescore_log(path, entry.format, audit=audit)
            for res in cache[key]:
                mine = res.model_copy(
                    update={
                        "rows": [
                            r for r in res.rows if r.task == claim.task_name or _is_part(r.task, res, claim.task_name)
                        ],
                        "findings": [
                            f
                            for f in res.findings
                            if f.where in (None, claim.task_name) or _is_part(f.where, res, claim.task_name)
                        ],
                        "audit": [a for a in res.audit if a.task == claim.task_name],
                    }
                )
                d = decide(mine.findings)  # this claim's share of the log
                mine.ok, mine.verdict, mine.reason, mine.code = d.ok, d.verdict, d.reason, d.code
                ev.logs.append(mine)
                for f in mine.findings:
                    if f.code == "subset-run":
                        ev.findings.append(
                            Finding.make("error", "subset-run", f"the claim rests on a {f.message}", f.where)
                        )
                row, why = _pick_row(res.rows, claim.task_name, claim.metric, claim.filter)
                if row is None:
                    if any(r.task == claim.task_name for r in res.rows) or len(cache[key]) == 1:
                        ev.findings.append(Finding.make("error", "no-aggregate", why or "", claim.task_name))
                    continue
                ev.filter = row.filter
                recomputed, reported = row.recomputed, row.reported
                parts = _subtask_values(res, claim.task_name, claim.metric, row.filter)
                if parts:
                    group_parts[claim.name] = parts
        values[claim.name] = recomputed * claim.scale if recomputed is not None else None
        ev.claims = [
            ClaimCheck(
                value=p.value,
                source=p.source,
                metric=claim.metric,
                task=claim.task_name,
                filter=ev.filter,
                recomputed=recomputed * claim.scale if recomputed is not None else None,
                reported=reported * claim.scale if reported is not None else None,
                tolerance=_tol(_decimals(p.value, p.decimals)),
                status="no-log",
            )
            for p in claim.published
        ]
        evals.append(ev)

    # second pass: compare claims (needs every eval's value for means of sub-scores)
    published = {c.name: (c.published[0].value if c.published else None) for c in m.evals}
    for claim, ev in zip(m.evals, evals, strict=False):
        for p, chk in zip(claim.published, ev.claims, strict=False):
            dec = _decimals(p.value, p.decimals)
            derived = _derived(claim, p.value, dec, m.evals, values, published, group_parts)
            # A mean of sub-scores counts as checked only when every sub-score was recomputed from samples; a mean
            # of published numbers is arithmetic on claims, not evidence (fail closed).
            measured_parts = derived is not None and derived.measured
            if chk.recomputed is None:
                if ev.logs:
                    chk.status = "not-recomputed"
                    ev.findings.append(
                        Finding.make(
                            "error",
                            "claim-not-recomputed",
                            f"published {p.value:g} "
                            f"({p.source or 'no source'}): the logs give no recomputed "
                            f"{claim.metric}",
                        )
                    )
                elif claim.attested_only and not (derived and measured_parts):
                    # Declared so in the manifest: reported as attested, never as checked (and never as a pass).
                    chk.status = "attested"
                    chk.note = "declared attested_only: no per-sample log, not checked" + (
                        f"; {derived} (published figures only)" if derived else ""
                    )
                    ev.findings.append(
                        Finding.make(
                            "info",
                            "attested-only",
                            f"published {p.value:g} ({p.source or 'no source'}): declared attested-only",
                        )
                    )
                else:
                    derived_ok = derived is not None and measured_parts
                    chk.status = "derived" if derived_ok else "no-log"
                    chk.note = (
                        derived
                        if derived_ok
                        else (f"{derived} (published figures only: no component was recomputed)" if derived else None)
                    )
                    ev.findings.append(
                        Finding.make(
                            "error" if not derived_ok else "warning",
                            "claim-derived" if derived_ok else "no-log",
                            f"published {p.value:g} ({p.source or 'no source'}): "
                            + (derived or "no log backs this claim"),
                        )
                    )
                continue
            if _matches(p.value, chk.recomputed, dec):
                chk.status = "matches"
                if claim.components and derived:
                    chk.note = derived
                continue
            chk.status = "derived" if derived and measured_parts else "mismatch"
            chk.note = derived
            ev.findings.append(
                Finding.make(
                    "error",
                    "claim-mismatch",
                    f"published {p.value:g} "
                    f"({p.source or 'no source'}) ≠ recomputed {chk.recomputed:.6g}"
                    + (f"; {derived}" if derived else ""),
                )
            )
        ev.ok = not any(f.severity == "error" for f in ev.findings) and all(lg.ok for lg in ev.logs)

    report_findings += _card_claims(loaded, base, per_art, m.evals, values, published)
    ok = all(ev.ok for ev in evals) and not any(f.severity == "error" for f in report_findings)
    return RescoreReport(manifest=str(manifest_path), ok=ok, evals=evals, findings=report_findings)


def _is_part(task: str | None, res: LogRescore, group: str) -> bool:
    """Rows/findings of an lm-eval group's subtasks belong to the group's claim."""
    return bool(task) and task in _group_leaves(res, group)


_LEAVES: dict[tuple[str, str], list[str]] = {}


def _group_leaves(res: LogRescore, group: str) -> list[str]:
    """The leaf tasks of an lm-eval group (from the results file's group_subtasks); [] for anything else."""
    key = (res.path, group)
    if key in _LEAVES:
        return _LEAVES[key]
    path = Path(res.path)
    subtasks: dict = {}
    if res.format == "lm-eval" and path.is_file():
        import json

        try:
            subtasks = json.loads(path.read_text(encoding="utf-8")).get("group_subtasks") or {}
        except (OSError, ValueError):
            subtasks = {}

    def leaves(g: str) -> list[str]:
        out: list[str] = []
        for t in subtasks.get(g, []):
            out += leaves(t) if t in subtasks else [t]
        return out

    _LEAVES[key] = leaves(group) if group in subtasks else []
    return _LEAVES[key]


def _subtask_values(res: LogRescore, group: str, metric: str, filt: str) -> list[tuple[str, float | None, int]]:
    """(subtask, recomputed, n) of an lm-eval group."""
    rows = {(r.task, r.metric, r.filter): r for r in res.rows}
    return [
        (
            t,
            rows[(t, metric, filt)].recomputed if (t, metric, filt) in rows else None,
            rows[(t, metric, filt)].n if (t, metric, filt) in rows else 0,
        )
        for t in _group_leaves(res, group)
    ]


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


class Derivation(str):
    """The sentence saying which mean of sub-scores a published value equals; ``measured`` when every sub-score
    was recomputed from samples (a mean of published numbers is arithmetic on claims, not evidence)."""

    measured: bool

    def __new__(cls, text: str, measured: bool) -> Derivation:
        obj = super().__new__(cls, text)
        obj.measured = measured
        return obj


def _derived(
    claim: Any,
    value: float,
    dec: int,
    evals: list[Any],
    values: dict[str, float | None],
    published: dict[str, float | None],
    group_parts: dict[str, list[tuple[str, float | None, int]]],
) -> Derivation | None:
    """A sentence when ``value`` equals a plain mean of sub-scores rather than the benchmark's own score."""
    parts = group_parts.get(claim.name)
    if parts and all(v is not None for _t, v, _n in parts):
        plain = _mean([v * claim.scale for _t, v, _n in parts])
        total = sum(n for _t, _v, n in parts)
        weighted = sum(v * claim.scale * n for _t, v, n in parts) / total if total else None
        if _matches(value, plain, dec) and not _matches(value, weighted, dec):
            return Derivation(
                f"it equals the plain mean of the {len(parts)} subtasks "
                f"({', '.join(t for t, _v, _n in parts)}): {plain:.4g}, not the size-weighted score "
                f"{weighted:.4g}",
                measured=True,
            )
    by_name = {e.name: e for e in evals}

    def score_of(name: str) -> float | None:
        v = values.get(name)
        return v if v is not None else published.get(name)

    if claim.components:
        vals = [score_of(c) for c in claim.components]
        if all(v is not None for v in vals):
            mean = _mean(vals)  # type: ignore[arg-type]
            if _matches(value, mean, dec):
                return Derivation(
                    f"the declared mean of {', '.join(claim.components)} ({mean:.4g})",
                    measured=all(values.get(c) is not None for c in claim.components),
                )
        return None
    me = norm_name(claim.name)
    siblings = [
        e.name
        for e in evals
        if e.name != claim.name and norm_name(e.name).startswith(me) and len(norm_name(e.name)) > len(me)
    ]
    siblings = [s for s in siblings if score_of(s) is not None and s in by_name]
    for k in range(len(siblings), 1, -1):
        for combo in itertools.combinations(siblings, k):
            mean = _mean([score_of(s) for s in combo])  # type: ignore[misc]
            if _matches(value, mean, dec):
                return Derivation(
                    f"it equals the plain mean of {', '.join(combo)} ({mean:.4g}), a mean of sub-scores",
                    measured=all(values.get(c) is not None for c in combo),
                )
    return None


def _card_claims(
    loaded: Any,
    base: Path,
    per_art: dict[str, Path],
    evals: list[Any],
    values: dict[str, float | None],
    published: dict[str, float | None],
) -> list[Finding]:
    """Claims in the model card's model-index and in .eval_results/*.yaml, matched to evals by name."""
    m = loaded.manifest
    cards: list[CardClaim] = []
    card = m.release.model_card
    if card:
        p = resolve_inside(per_art.get(card, base), card)
        if p.is_file():
            cards += read_model_index(p)
    er = base / ".eval_results"
    if er.is_dir():
        cards += read_eval_results(er)
    out: list[Finding] = []
    names = {norm_name(e.name): e for e in evals}
    for c in cards:
        e = names.get(norm_name(c.benchmark)) or (names.get(norm_name(c.dataset)) if c.dataset else None)
        fake = type("C", (), {"name": c.benchmark, "components": None, "scale": 100.0})()
        if e is None:
            derived = _derived(fake, c.value, c.decimals, evals, values, published, {})
            if derived:
                out.append(
                    Finding.make(
                        "warning",
                        "card-claim-derived",
                        f"{c.source}: {c.benchmark} = {c.value:g}: {derived}",
                        c.benchmark,
                    )
                )
            else:
                out.append(
                    Finding.make(
                        "warning",
                        "card-claim-unmatched",
                        f"{c.source}: {c.benchmark} = {c.value:g} matches no eval of the manifest",
                        c.benchmark,
                    )
                )
            continue
        ref = values.get(e.name)
        ref = ref if ref is not None else published.get(e.name)
        if ref is None:
            continue
        if not _matches(c.value, ref, c.decimals):
            derived = _derived(e, c.value, c.decimals, evals, values, published, {})
            out.append(
                Finding.make(
                    "error",
                    "card-claim-mismatch",
                    f"{c.source}: {c.benchmark} = {c.value:g}, but "
                    f"the release's score is {ref:.4g}" + (f"; {derived}" if derived else ""),
                    e.name,
                )
            )
    return out
