"""Compare a rebuilt output with the published one, in three tiers.

* **bit-exact** — the sha256 equals the expected one;
* **tolerance** — not the same bytes, but both are safetensors with the same tensor names, dtypes and shapes, and
  every element satisfies ``|rebuilt - published| <= atol + rtol * |published|`` (computed in float64); the worst
  tensor's max absolute and relative errors are reported;
* **evaluation** — neither holds: only an evaluation of the rebuilt model can say whether it is equivalent, which
  is handed off (``needs-evaluation``) rather than guessed.

The declared tier is what must hold: reaching a higher tier holds, reaching a lower one fails and says which tier
was reached.  A declared ``evaluation`` tier that is not reached bit-exactly or within tolerance is reported as
``needs-evaluation`` (pending, not verified).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

RANK = {"bit-exact": 3, "tolerance": 2, "evaluation": 1}
DEFAULT_ATOL = 1e-6
DEFAULT_RTOL = 1e-5


def tensor_errors(rebuilt: Path, published: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(per-checkpoint error summary, or None with the reason tensors cannot be compared)."""
    import torch
    from safetensors.torch import load_file

    from ..verify.safetensors_audit import audit_safetensors

    for p in (rebuilt, published):
        if not audit_safetensors(p).ok:
            return None, f"{p.name} is not a valid safetensors file"
    a, b = load_file(str(rebuilt)), load_file(str(published))
    if set(a) != set(b):
        diff = sorted(set(a) ^ set(b))
        return None, f"tensor names differ ({', '.join(diff[:3])}{'…' if len(diff) > 3 else ''})"
    max_abs, max_rel, worst_tensor = 0.0, 0.0, None
    per_tensor: dict[str, dict[str, float]] = {}
    for name in sorted(a):
        x, y = a[name], b[name]
        if x.dtype != y.dtype or x.shape != y.shape:
            return None, f"{name}: {x.dtype} {tuple(x.shape)} vs published {y.dtype} {tuple(y.shape)}"
        xd, yd = x.to(torch.float64), y.to(torch.float64)
        err = (xd - yd).abs()
        abs_err = float(err.max()) if err.numel() else 0.0
        rel = err / yd.abs().clamp_min(torch.finfo(torch.float64).tiny)
        rel_err = float(rel.max()) if rel.numel() else 0.0
        per_tensor[name] = {"max_abs": abs_err, "max_rel": rel_err}
        if abs_err > max_abs:
            max_abs, worst_tensor = abs_err, name
        max_rel = max(max_rel, rel_err)
    return {"max_abs": max_abs, "max_rel": max_rel, "tensor": worst_tensor, "per_tensor": per_tensor}, None


def _worst(errors: dict[str, Any]) -> str:
    return f"max abs {errors['max_abs']:.3g} in {errors['tensor']}, max rel {errors['max_rel']:.3g}"


def within(errors: dict[str, Any], rebuilt: Path, published: Path, atol: float, rtol: float) -> bool:
    import torch
    from safetensors.torch import load_file

    a, b = load_file(str(rebuilt)), load_file(str(published))
    return all(
        torch.allclose(a[n].to(torch.float64), b[n].to(torch.float64), atol=atol, rtol=rtol, equal_nan=True)
        for n in errors["per_tensor"]
    )


def compare_output(
    rebuilt: Path,
    sha256: str,
    expected: str | None,
    published: Path | None,
    declared: str,
    atol: float | None,
    rtol: float | None,
) -> dict[str, Any]:
    """Reached tier and verdict of one output (see the module docstring)."""
    out: dict[str, Any] = {"reached": None, "verdict": None, "errors": None, "message": None}
    if expected is None:
        out.update(reached="unpinned", verdict="fail", message="no expected sha256 (recipe output or artifact pin)")
        return out
    if sha256 == expected:
        out.update(reached="bit-exact", verdict="pass")
        return out
    atol = DEFAULT_ATOL if atol is None else atol
    rtol = DEFAULT_RTOL if rtol is None else rtol
    reached = "evaluation"
    why = f"sha256 {sha256[:16]}… != expected {expected[:16]}…"
    if published is None:
        why += "; the published file is not available for a tensor comparison"
    elif rebuilt.suffix != ".safetensors":
        why += "; not a tensor file"
    else:
        errors, reason = tensor_errors(rebuilt, published)
        out["errors"] = None if errors is None else {k: v for k, v in errors.items() if k != "per_tensor"}
        if errors is None:
            why += f"; {reason}"
        elif within(errors, rebuilt, published, atol, rtol):
            reached = "tolerance"
            why += f"; tensors within atol {atol:g} + rtol {rtol:g} ({_worst(errors)})"
        else:
            why += f"; tensors beyond atol {atol:g} + rtol {rtol:g} ({_worst(errors)})"
    if RANK[reached] >= RANK[declared]:
        verdict = "inconclusive" if reached == "evaluation" else "pass"
    else:
        verdict = "fail"
    if reached == "evaluation":
        reached = "needs-evaluation"
    out.update(reached=reached, verdict=verdict, message=why if verdict != "pass" or reached != "bit-exact" else None)
    return out
