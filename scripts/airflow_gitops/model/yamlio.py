"""YAML reading: fast loads through libyaml, and line numbers only when a finding needs one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import yaml

# libyaml is ~10x faster; fall back to the pure loader where PyYAML was built without it
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

PathPart = str | int


def load_all(text: str) -> list[Any]:
    """Every document in a YAML stream, empty documents dropped."""
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


def load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def error_line(exc: yaml.YAMLError, text: str | None = None) -> int | None:
    """The line of the problem; where the parser only noticed it at the end of the text (an unclosed
    bracket or quote), the line of what it was parsing, which is where the fix goes."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    context = getattr(exc, "context_mark", None)
    if mark is not None and context is not None and text is not None and mark.line >= len(text.splitlines()):
        mark = context
    return mark.line + 1 if mark is not None else None


def error_text(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    parts = [p for p in (context, problem) if p]
    return " ".join(parts) if parts else str(exc).splitlines()[0]


def dump(obj: Any) -> str:
    return yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
    )


def dump_all(objs: Sequence[Any]) -> str:
    return "---\n".join(dump(o) for o in objs)


def _walk(node: yaml.Node, path: Sequence[PathPart]) -> tuple[int, yaml.Node]:
    """Follow path as far as it goes; return how many parts matched and the last node reached."""
    depth = 0
    for part in path:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    nxt = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            nxt = node.value[part]
        if nxt is None:
            break
        node, depth = nxt, depth + 1
    return depth, node


def documents(text: str) -> list[yaml.Node]:
    return [n for n in yaml.compose_all(text, Loader=_Loader) if n is not None]


def match_depth(doc: yaml.Node, path: Sequence[PathPart]) -> tuple[int, int]:
    """(parts of path found in doc, 1-based line of the deepest node found)."""
    depth, node = _walk(doc, path)
    return depth, node.start_mark.line + 1


def line_of(text: str, path: Sequence[PathPart], doc_index: int = 0) -> int | None:
    """1-based line of the deepest node along path in one document of text."""
    try:
        docs = documents(text)
    except yaml.YAMLError:
        return None
    if doc_index >= len(docs):
        return None
    return match_depth(docs[doc_index], path)[1]


def scalar_str(value: Any) -> str:
    return "" if value is None else str(value)


def scalars(node: yaml.Node, path: tuple[PathPart, ...] = ()) -> Iterator[tuple[tuple[PathPart, ...], yaml.ScalarNode]]:
    """Every scalar value under a composed node (mapping keys left out), with its path."""
    if isinstance(node, yaml.ScalarNode):
        yield path, node
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from scalars(value, (*path, key.value if isinstance(key, yaml.ScalarNode) else str(key)))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from scalars(item, (*path, index))


def scalar_line(node: yaml.ScalarNode, offset: int = 0) -> int:
    """1-based line of the character at `offset` of a scalar's value (block scalars start below their indicator)."""
    block = node.style in ("|", ">")
    start: int = node.start_mark.line
    return start + 1 + (1 if block else 0) + str(node.value)[:offset].count("\n")
