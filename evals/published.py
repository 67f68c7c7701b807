"""Published claims from Hugging Face metadata: a model card's ``model-index`` and ``.eval_results/*.yaml``.

* ``model-index`` (YAML front matter of README.md): ``[{name, results: [{task: {type, name}, dataset: {type, name,
  config, split, revision}, metrics: [{type, value, name, verified}], source: {url, name}}]}]``; ``value`` may be a
  number or a string such as ``"84.8 ± 0.3"`` or ``"84.8%"``.
* ``.eval_results/*.yaml`` (huggingface_hub ``_eval_results.py``; hub docs "eval-results"): a list (or
  ``{results: [...]}``) of ``{dataset: {id, task_id, revision}, value, verifyToken?, date, source: {url, name},
  notes}``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..manifests.errors import InputError


class CardClaim(BaseModel):
    model_config = ConfigDict(extra="forbid")

    benchmark: str
    metric: str | None = None
    value: float
    stderr: float | None = None
    decimals: int
    dataset: str | None = None
    config: str | None = None
    split: str | None = None
    revision: str | None = None
    source: str
    verified: bool | None = None


_NUM = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(%?)\s*(?:(?:±|\+/-|\+-)\s*(\d+(?:\.\d+)?))?\s*%?\s*$")


def decimals_of(text: str) -> int:
    m = re.search(r"\.(\d+)", text)
    return len(m.group(1)) if m else 0


def parse_value(value: Any) -> tuple[float, float | None, int] | None:
    """(value, stderr or None, decimals) from a number or a string like '84.8', '84.8%', '84.8 ± 0.3'."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        text = repr(float(value))
        dec = 0 if text.endswith(".0") else decimals_of(text)
        return float(value), None, dec
    if isinstance(value, str):
        m = _NUM.match(value)
        if m:
            return float(m.group(1)), float(m.group(3)) if m.group(3) else None, decimals_of(m.group(1))
    return None


def _front_matter(text: str) -> str | None:
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    return text[3:end] if end > 0 else None


def read_model_index(path: str | Path) -> list[CardClaim]:
    import yaml

    path = Path(path)
    fm = _front_matter(path.read_text(encoding="utf-8", errors="replace"))
    if fm is None:
        return []
    try:
        meta = yaml.safe_load(fm) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: the YAML front matter does not parse ({exc})") from None
    out = []
    for model in meta.get("model-index") or []:
        for res in (model or {}).get("results") or []:
            ds = res.get("dataset") or {}
            src = (res.get("source") or {}).get("url") or (res.get("source") or {}).get("name")
            for m in res.get("metrics") or []:
                parsed = parse_value(m.get("value"))
                if parsed is None:
                    continue
                bench = ds.get("name") or ds.get("type") or "?"
                out.append(
                    CardClaim(
                        benchmark=str(bench),
                        metric=m.get("type") or m.get("name"),
                        value=parsed[0],
                        stderr=parsed[1],
                        decimals=parsed[2],
                        dataset=ds.get("type"),
                        config=ds.get("config"),
                        split=ds.get("split"),
                        revision=ds.get("revision"),
                        source=f"{path.name} model-index" + (f" ({src})" if src else ""),
                        verified=m.get("verified"),
                    )
                )
    return out


def read_eval_results(folder: str | Path) -> list[CardClaim]:
    import yaml

    folder = Path(folder)
    files = [folder] if folder.is_file() else sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    out = []
    for f in files:
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(f"{f}: not valid YAML ({exc})") from None
        entries = data.get("results", data) if isinstance(data, dict) else data
        if isinstance(entries, dict):
            entries = [entries]
        for e in entries or []:
            if not isinstance(e, dict):
                continue
            parsed = parse_value(e.get("value"))
            if parsed is None:
                continue
            ds = e.get("dataset") or {}
            src = e.get("source") or {}
            bench = ds.get("task_id") or ds.get("id") or f.stem
            out.append(
                CardClaim(
                    benchmark=str(bench),
                    metric=e.get("metric"),
                    value=parsed[0],
                    stderr=parsed[1],
                    decimals=parsed[2],
                    dataset=ds.get("id"),
                    config=ds.get("task_id"),
                    revision=ds.get("revision"),
                    source=f".eval_results/{f.name}" + (f" ({src.get('url') or src.get('name')})" if src else ""),
                    verified=bool(e.get("verifyToken")) if "verifyToken" in e else None,
                )
            )
    return out


def norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())
