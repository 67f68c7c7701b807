"""Mixture arithmetic: what each component contributes to training, given its weight's unit, and the claims on it.

Per component *i* holding t_i tokens and d_i documents with weight w_i (f_i = w_i / Σw for share units):

=============  ===============================  ==============================
unit           trained tokens                    trained documents
=============  ===============================  ==============================
multiplier     w_i · t_i                         w_i · d_i
tokens         f_i · T_tokens                    (trained tokens) · d_i / t_i
samples,       (trained documents) · t_i / d_i   f_i · T_documents
documents
=============  ===============================  ==============================

Without the anchoring total (T_tokens for the tokens unit, T_documents for samples) the contributions are relative,
which is enough for shares but not for totals or epochs.  No weights at all means every component is used once
(multiplier 1).  The same arithmetic runs twice: on the declared figures (is the declaration self-consistent?) and
on the recounted data (does the data bear it out?); :func:`combine` turns both into one verdict per claim.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..manifests.schema_data import DataComponent, DataSection, WeightUnit
from .results import MixtureCheck, Verdict

SHARE_UNITS = (WeightUnit.tokens, WeightUnit.samples, WeightUnit.documents)
EPS = 1e-9


@dataclass
class Figures:
    """What one component holds, on one basis (declared or measured); None = unknown."""

    tokens: float | None
    documents: float | None
    bytes: float | None


@dataclass
class Contribution:
    tokens: float | None  # trained tokens (absolute when anchored, else relative)
    documents: float | None
    anchored: bool  # absolute numbers (True) or only proportions (False)


@dataclass
class BasisResult:
    """Computed values of every claim on one basis; None = cannot be computed on this basis."""

    values: dict[str, float | None]
    epochs: dict[str, float | None]


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def weight_checks(section: DataSection) -> tuple[list[MixtureCheck], WeightUnit | None]:
    """Weights: one unit for the whole mixture, present on every component, summing to 1 for share units."""
    comps = section.components
    weights = [c.weight for c in comps if c.weight is not None]
    if not weights:
        return [], WeightUnit.multiplier
    checks: list[MixtureCheck] = []
    units = sorted({w.unit.value for w in weights})
    if len(units) > 1:
        checks.append(
            MixtureCheck(
                check="units",
                declared=units,
                verdict="fail",
                message="the mixture mixes weight units; sampling needs one unit",
            )
        )
        return checks, None
    unit = weights[0].unit
    missing = [c.name for c in comps if c.weight is None]
    if missing:
        checks.append(
            MixtureCheck(
                check="weights",
                declared=f"unit {unit.value}",
                verdict="fail",
                message=f"component(s) without a weight: {', '.join(missing)}",
            )
        )
        return checks, None
    total = sum(w.value for w in weights)  # every component has one (checked above)
    if unit in SHARE_UNITS:
        ok = abs(total - 1.0) <= 1e-6
        checks.append(
            MixtureCheck(
                check="weights",
                declared=f"sum of {unit.value} shares = 1",
                from_declaration=round(total, 9),
                verdict="pass" if ok else "fail",
                message=None if ok else f"{unit.value} shares sum to {total:.6g}, not 1",
            )
        )
    else:
        checks.append(
            MixtureCheck(
                check="weights",
                declared="multipliers",
                from_declaration=round(total, 9),
                verdict="pass",
                message="multipliers (repetitions) need not sum to 1",
            )
        )
    return checks, unit


def contributions(section: DataSection, unit: WeightUnit, figures: dict[str, Figures]) -> dict[str, Contribution]:
    totals = section.totals
    t_tok = totals.tokens if totals else None
    t_doc = totals.documents if totals else None
    comps = section.components
    wsum = sum((c.weight.value if c.weight else 1.0) for c in comps) or 1.0
    out: dict[str, Contribution] = {}
    for c in comps:
        w = c.weight.value if c.weight else 1.0
        fig = figures[c.name]
        if unit == WeightUnit.multiplier:
            tok = None if fig.tokens is None else w * fig.tokens
            doc = None if fig.documents is None else w * fig.documents
            out[c.name] = Contribution(tok, doc, True)
        elif unit == WeightUnit.tokens:
            tok = (w / wsum) * (t_tok if t_tok is not None else 1.0)
            per = _ratio(fig.documents, fig.tokens)
            out[c.name] = Contribution(tok, None if per is None else tok * per, t_tok is not None)
        else:
            doc = (w / wsum) * (t_doc if t_doc is not None else 1.0)
            per = _ratio(fig.tokens, fig.documents)
            out[c.name] = Contribution(None if per is None else doc * per, doc, t_doc is not None)
    return out


def evaluate(section: DataSection, unit: WeightUnit, figures: dict[str, Figures]) -> BasisResult:
    """Every claim's value on one basis of figures."""
    contrib = contributions(section, unit, figures)
    values: dict[str, float | None] = {}
    comps = section.components
    totals = section.totals
    if totals is not None:
        anchored = all(x.anchored for x in contrib.values())
        for field in ("tokens", "documents"):
            declared = getattr(totals, field)
            is_anchor = (unit == WeightUnit.tokens and field == "tokens") or (
                unit in (WeightUnit.samples, WeightUnit.documents) and field == "documents"
            )
            if declared is None or is_anchor:
                continue  # nothing to check, or true by construction
            parts = [getattr(contrib[c.name], field) for c in comps]
            known = [p for p in parts if p is not None]
            values[f"totals.{field}"] = sum(known) if anchored and len(known) == len(parts) else None
        if totals.bytes is not None:
            parts_b = [figures[c.name].bytes for c in comps]
            known_b = [p for p in parts_b if p is not None]
            values["totals.bytes"] = sum(known_b) if len(known_b) == len(parts_b) else None
    for tag, claim in section.shares.items():
        parts = [(tag in c.tags, getattr(contrib[c.name], claim.unit)) for c in comps]
        if any(p is None for _, p in parts):
            values[f"share:{tag}"] = None
            continue
        whole = sum(p for _, p in parts)
        values[f"share:{tag}"] = None if whole == 0 else sum(p for t, p in parts if t) / whole
    epochs: dict[str, float | None] = {}
    for c in comps:
        con, fig = contrib[c.name], figures[c.name]
        if unit == WeightUnit.multiplier:
            epochs[c.name] = c.weight.value if c.weight else 1.0
        elif not con.anchored:
            epochs[c.name] = None
        elif unit == WeightUnit.tokens:
            epochs[c.name] = _ratio(con.tokens, fig.tokens)
        else:
            epochs[c.name] = _ratio(con.documents, fig.documents)
        if c.max_epochs is not None:
            values[f"epochs:{c.name}"] = epochs[c.name]
    return BasisResult(values, epochs)


def _holds(check: str, value: float, section: DataSection, comp: dict[str, DataComponent]) -> tuple[bool, str]:
    if check.startswith("share:"):
        claim = section.shares[check.split(":", 1)[1]]
        ok = abs(value - claim.value) <= claim.tolerance + EPS
        return ok, f"{value:.4f} vs {claim.value:g} ± {claim.tolerance:g} ({claim.unit} share)"
    if check.startswith("epochs:"):
        limit = comp[check.split(":", 1)[1]].max_epochs
        if limit is None:  # an epochs check exists only for a declared max_epochs
            return False, "no max_epochs declared"
        return value <= limit * (1 + 1e-9), f"{value:.4g} epochs vs max_epochs {limit:g}"
    if section.totals is None:  # a totals check exists only for declared totals
        return False, "no totals declared"
    declared = getattr(section.totals, check.split(".", 1)[1])
    tol = section.totals.tolerance
    ok = abs(value - declared) <= tol * declared + 0.5
    return ok, f"{value:,.0f} vs declared {declared:,} (tolerance {tol:g})"


def _declared_value(check: str, section: DataSection, comp: dict[str, DataComponent]):
    if check.startswith("share:"):
        c = section.shares[check.split(":", 1)[1]]
        return f"{c.value:g} ± {c.tolerance:g} ({c.unit})"
    if check.startswith("epochs:"):
        return f"<= {comp[check.split(':', 1)[1]].max_epochs:g}"
    return getattr(section.totals, check.split(".", 1)[1])


def _rounded(v: float | None, check: str):
    if v is None:
        return None
    return round(v, 6) if check.startswith(("share:", "epochs:")) else round(v)


def combine(
    section: DataSection, declared: BasisResult, data: BasisResult | None, attested_in_data: list[str]
) -> list[MixtureCheck]:
    """One verdict per claim from both bases: a contradiction on either fails; data holding verifies it;
    only the declaration holding is 'attested'; neither computable is 'not-checked'."""
    comp = {c.name: c for c in section.components}
    out: list[MixtureCheck] = []
    for tag in section.shares:
        if not any(tag in c.tags for c in section.components):
            out.append(
                MixtureCheck(
                    check=f"share:{tag}",
                    declared=_declared_value(f"share:{tag}", section, comp),
                    verdict="fail",
                    message=f"no component has the tag {tag!r}",
                )
            )
    for check in declared.values:
        if any(m.check == check for m in out):
            continue
        dv = declared.values[check]
        mv = data.values.get(check) if data is not None else None
        notes: list[str] = []
        failed = False
        verdict: Verdict
        for label, v in (("declaration", dv), ("data", mv)):
            if v is None:
                continue
            ok, text = _holds(check, v, section, comp)
            notes.append(f"{label}: {text}")
            failed |= not ok
        if failed:
            verdict = "fail"
        elif mv is not None and attested_in_data:
            # Computed partly from figures nobody measured: as good as the declaration, never a pass (fail closed).
            verdict = "attested"
            notes.append(
                f"uses declared figures of attested component(s) {', '.join(attested_in_data)}: "
                "not borne out by data alone"
            )
        elif mv is not None:
            verdict = "pass"
        elif dv is not None:
            verdict = "attested"
            notes.append("not borne out by data: the figures it needs were not measured")
        else:
            verdict = "not-checked"
            notes.append("the figures it needs are neither declared nor measured")
        out.append(
            MixtureCheck(
                check=check,
                declared=_declared_value(check, section, comp),
                from_declaration=_rounded(dv, check),
                from_data=_rounded(mv, check),
                verdict=verdict,
                message="; ".join(notes),
            )
        )
    return out
