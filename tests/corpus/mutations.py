"""Small edits that break a copy of the repository in one known way each.

YAML is edited by a ruamel.yaml round trip in the repository's style, so comments, quotes and
layout stay as they were: a case breaks what it means to break and nothing else (a dropped
`# renovate:` comment would add pin-not-visible to every case that edits a values file), and the
lines of the rest of the file do not move.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML

from airflow_gitops.model import yamlio

Doc = dict[str, Any]


@dataclass(frozen=True)
class Expect:
    """Where the finding must point: the file and its 1-based line (None: the finding names no line)."""

    file: str
    line: int | None


def _round_trip() -> YAML:
    handler = YAML()
    handler.preserve_quotes = True
    handler.indent(mapping=2, sequence=4, offset=2)
    handler.width = 4096  # never re-wrap a long line
    return handler


def _load_all(path: Path) -> list[Any]:
    return list(_round_trip().load_all(path.read_text()))


def _dump_all(path: Path, docs: list[Any]) -> None:
    out = io.StringIO()
    _round_trip().dump_all(docs, out)
    path.write_text(out.getvalue())


def at(root: Path, rel: str, dotted: str, kind: str | None = None, name: str | None = None) -> Expect:
    """The line of a dotted path (`a.b.0.c`) in a file, in the document of kind/name if given."""
    text = (root / rel).read_text()
    index = 0
    if kind is not None:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        index = next(i for i, d in enumerate(docs) if d.get("kind") == kind and (d.get("metadata") or {}).get("name") == name)
    path: list[str | int] = [int(p) if p.isdigit() else p for p in dotted.split(".")] if dotted else []
    return Expect(rel, yamlio.line_of(text, path, index))


def line_with(root: Path, rel: str, needle: str, occurrence: int = 1) -> Expect:
    """The line holding the n-th occurrence of a text."""
    hits = [n for n, line in enumerate((root / rel).read_text().splitlines(), start=1) if needle in line]
    assert len(hits) >= occurrence, f"{rel} has no {needle!r}"
    return Expect(rel, hits[occurrence - 1])


def yaml_files(root: Path) -> list[Path]:
    return sorted(p for top in ("apps", "clusters") for p in (root / top).rglob("*.yaml"))


def find_doc(root: Path, kind: str, name: str, under: str = "apps") -> str:
    """Repo-relative path of the first file under `under` that defines kind/name."""
    for path in sorted((root / under).rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name:
                return path.relative_to(root).as_posix()
    raise LookupError(f"no {kind} {name} under {under}/")


def edit_doc(root: Path, rel: str, kind: str, name: str, change: Callable[[Doc], None]) -> str:
    path = root / rel
    docs = _load_all(path)
    hit = False
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name:
            change(doc)
            hit = True
    if not hit:
        raise LookupError(f"{rel}: no {kind} {name}")
    _dump_all(path, [d for d in docs if d is not None])
    return rel


def edit_object(root: Path, kind: str, name: str, change: Callable[[Doc], None], under: str = "apps") -> str:
    return edit_doc(root, find_doc(root, kind, name, under), kind, name, change)


def edit_yaml(root: Path, rel: str, change: Callable[[Any], None]) -> str:
    path = root / rel
    [data] = _load_all(path) or [None]
    if data is None:
        data = {}
    change(data)
    _dump_all(path, [data])
    return rel


def append_text(root: Path, rel: str, text: str) -> str:
    path = root / rel
    path.write_text(path.read_text() + text)
    return rel


def set_path(data: Any, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def delete_path(data: Any, dotted: str) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        del node[int(parts[-1])]
    else:
        del node[parts[-1]]


def annotate(doc: Doc, key: str, value: str | None) -> None:
    annotations = doc.setdefault("metadata", {}).setdefault("annotations", {})
    if value is None:
        annotations.pop(key, None)
    else:
        annotations[key] = value


def first_of_kind(root: Path, kind: str, under: str = "apps") -> tuple[str, str]:
    """(file, name) of the first object of a kind under a folder."""
    for path in sorted((root / under).rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == kind:
                return path.relative_to(root).as_posix(), str(doc["metadata"]["name"])
    raise LookupError(f"no {kind} under {under}/")
