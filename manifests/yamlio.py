"""YAML reading that keeps positions: every value's (line, column) by its path, and duplicate keys refused.

PyYAML silently keeps the last of two equal keys; for a security manifest that is a way to hide a value, so
assay composes the node graph itself and refuses duplicates, recording marks for error messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ManifestError

Loc = tuple[Any, ...]
# libyaml's parser when PyYAML was built with it (several times faster); the same nodes and marks either way.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Positions(dict[Loc, tuple[int, int]]):
    """Maps a path tuple (keys and list indices) to a 1-based (line, column)."""

    def find(self, loc: Loc) -> tuple[int, int] | None:
        loc = tuple(loc)
        while loc:
            if loc in self:
                return self[loc]
            loc = loc[:-1]
        return self.get((), None)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


_SCALARS = yaml.constructor.SafeConstructor()


def _construct(node: yaml.Node, path: Loc, pos: _Positions, where: str) -> Any:
    pos.setdefault(path, _mark(node))
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                line, col = _mark(key_node)
                raise ManifestError(f"{where}:{line}:{col}: YAML merge keys ('<<') are not allowed in manifests")
            key = _construct(key_node, path + ("<key>",), _Positions(), where)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                line, col = _mark(key_node)
                raise ManifestError(f"{where}:{line}:{col}: mapping keys must be scalars")
            if key in out:
                line, col = _mark(key_node)
                raise ManifestError(f"{where}:{line}:{col}: duplicate key {key!r}")
            pos[path + (key,)] = _mark(key_node)
            out[key] = _construct(value_node, path + (key,), pos, where)
            pos[path + (key,)] = _mark(key_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, path + (i,), pos, where) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.ScalarNode):
        return _SCALARS.construct_object(node, deep=True)
    raise ManifestError(f"{where}: unsupported YAML node")  # pragma: no cover - composer yields only these


def load_yaml(text: str, where: str) -> tuple[Any, _Positions]:
    """Parse one YAML document; returns (data, positions).  Errors name ``where:line:col``."""
    pos = _Positions()
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise ManifestError(f"{where}:{loc}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{where}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if node is None:
        raise ManifestError(f"{where}:1:1: the file is empty")
    try:
        data = _construct(node, (), pos, where)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        loc = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        raise ManifestError(f"{where}:{loc}: {exc.problem}") from None
    return data, pos


def read_yaml_file(path: Path) -> tuple[Any, _Positions]:
    from .fsio import read_input

    raw = read_input(path, "YAML file", ManifestError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 (byte {exc.start})") from None
    return load_yaml(text, str(path))


def dump_yaml(data: Any) -> str:
    """Deterministic YAML for files assay writes (key order as given, no aliases, block style)."""

    class _NoAliasDumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 - PyYAML signature
            return True

    return yaml.dump(
        data, Dumper=_NoAliasDumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120
    )
