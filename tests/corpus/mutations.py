"""Small edits that break a copy of the repository in one known way each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]


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
    docs = list(yaml.safe_load_all(path.read_text()))
    hit = False
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name:
            change(doc)
            hit = True
    if not hit:
        raise LookupError(f"{rel}: no {kind} {name}")
    path.write_text(yaml.safe_dump_all([d for d in docs if d is not None], sort_keys=False))
    return rel


def edit_object(root: Path, kind: str, name: str, change: Callable[[Doc], None], under: str = "apps") -> str:
    return edit_doc(root, find_doc(root, kind, name, under), kind, name, change)


def edit_yaml(root: Path, rel: str, change: Callable[[Any], None]) -> str:
    path = root / rel
    data = yaml.safe_load(path.read_text()) or {}
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
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
