"""Reading and writing safetensors checkpoints (one file, or an index with shards) for the built-in steps.

Determinism: safetensors 0.8 orders tensors by (alignment, name), and its ``__metadata__`` is a Rust HashMap, so
two or more metadata keys give different bytes per process — assay writes exactly one key (``format: pt``).  Index
files are written with sorted keys and a fixed layout.  Every header is audited (assay's strict audit) before any
tensor is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METADATA = {"format": "pt"}  # one key: byte-stable (see module docstring)


class StepError(Exception):
    """A built-in step cannot run on these inputs; the message is one line for the report."""


@dataclass
class Checkpoint:
    tensors: dict[str, Any]  # name -> torch.Tensor, in sorted name order
    layout: dict[str, int] = field(default_factory=dict)  # name -> shard number (sharded inputs only)
    shards: list[str] = field(default_factory=list)  # shard file names, in order


def _audited(path: Path) -> None:
    from ..verify.safetensors_audit import audit_safetensors

    report = audit_safetensors(path)
    if not report.ok:
        raise StepError(f"{path.name}: not a valid safetensors file: {'; '.join(report.errors)}")


def load_checkpoint(path: Path) -> Checkpoint:
    """A single ``.safetensors`` file, or a ``*.index.json`` with its shards beside it."""
    from safetensors.torch import load_file

    if path.name.endswith(".json"):
        index = json.loads(path.read_text())
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict):
            raise StepError(f"{path.name}: an index needs a weight_map")
        shards = sorted(set(weight_map.values()))
        tensors: dict[str, Any] = {}
        layout: dict[str, int] = {}
        for i, shard in enumerate(shards):
            if "/" in shard or shard.startswith("."):
                raise StepError(f"{path.name}: shard name {shard!r} must be a file beside the index")
            shard_path = path.parent / shard
            if not shard_path.is_file():
                raise StepError(f"shard {shard} of {path.name} is not an input of this recipe")
            _audited(shard_path)
            for name, t in load_file(shard_path).items():
                if weight_map.get(name) != shard:
                    raise StepError(f"{shard}: tensor {name} is not mapped to it by {path.name}")
                tensors[name] = t
                layout[name] = i
        missing = sorted(set(weight_map) - set(tensors))
        if missing:
            raise StepError(f"{path.name}: tensors missing from the shards: {', '.join(missing[:5])}")
        return Checkpoint(dict(sorted(tensors.items())), layout, shards)
    _audited(path)
    return Checkpoint(dict(sorted(load_file(path).items())))


def _nbytes(t: Any) -> int:
    return t.numel() * t.element_size()


def save_file(tensors: dict[str, Any], path: Path) -> None:
    from safetensors.torch import save_file as st_save

    path.parent.mkdir(parents=True, exist_ok=True)
    st_save({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=METADATA)


def write_index(path: Path, weight_map: dict[str, str], total_size: int) -> None:
    doc = {"metadata": {"total_size": total_size}, "weight_map": dict(sorted(weight_map.items()))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def save_sharded(tensors: dict[str, Any], index: Path, shard_paths: list[Path], layout: dict[str, int]) -> None:
    """Write ``tensors`` into ``shard_paths`` by ``layout`` (name -> shard number) and the index beside them."""
    for p in shard_paths:
        if p.parent != index.parent:
            raise StepError(f"shard {p.name} must be in the same folder as {index.name}")
    groups: list[dict[str, Any]] = [{} for _ in shard_paths]
    for name, t in tensors.items():
        groups[layout[name]][name] = t
    weight_map = {}
    for p, group in zip(shard_paths, groups, strict=True):
        if not group:
            raise StepError(f"shard {p.name} would be empty")
        save_file(group, p)
        weight_map.update(dict.fromkeys(group, p.name))
    write_index(index, weight_map, sum(_nbytes(t) for t in tensors.values()))


def save_like(
    tensors: dict[str, Any], outputs: list[Path], source: Checkpoint, layout: dict[str, int] | None = None
) -> None:
    """One output file, or (index, shard…) mirroring the input's sharding (``layout`` for new tensor names)."""
    if len(outputs) == 1 and outputs[0].suffix == ".safetensors":
        save_file(tensors, outputs[0])
        return
    if outputs[0].name.endswith(".json") and len(outputs) == len(source.shards) + 1:
        save_sharded(tensors, outputs[0], outputs[1:], layout or source.layout)
        return
    raise StepError(
        f"outputs must be one .safetensors file, or an index.json then {len(source.shards) or 'N'} shards "
        "mirroring the input's"
    )
