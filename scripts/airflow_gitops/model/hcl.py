"""HCL reading through python-hcl2, cached by content: its grammar takes seconds to load, so a
file already parsed is read back from the user's cache instead."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .files import cache_dir

CACHE_VERSION = "1"


class HclError(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _cache_file(text: str) -> Path:
    digest = hashlib.sha256((CACHE_VERSION + text).encode()).hexdigest()
    return cache_dir().parent / "hcl" / f"{digest}.json"


def parse(text: str) -> dict[str, Any]:
    """The HCL document as plain data (strings unquoted, blocks as lists, no comments)."""
    cached = _cache_file(text)
    if cached.is_file():
        data: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
        return data
    import hcl2  # deferred: loading the grammar is the slow part
    from hcl2 import SerializationOptions

    try:
        data = hcl2.loads(
            text, serialization_options=SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
        )
    except Exception as exc:  # lark raises many types; all mean the same to us
        line = getattr(exc, "line", None)
        raise HclError(str(exc).splitlines()[0], line if isinstance(line, int) else None) from exc
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, cached)
    return data


def blocks(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """Every block of a kind: `module`, `resource`, `locals`, `terraform`..."""
    value = doc.get(kind) or []
    return value if isinstance(value, list) else [value]


def named(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Labelled blocks by label: module "x" {...} -> {"x": {...}}."""
    out: dict[str, dict[str, Any]] = {}
    for block in blocks(doc, kind):
        for label, body in block.items():
            out[label] = body
    return out


def locals_of(doc: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in blocks(doc, "locals"):
        merged.update(block)
    return merged
