"""Edits to schemas/catalog.yaml that keep its comments and layout: recording which CRD folder a
chart version installs (`versions:` of a chart entry).

The edit is made with ruamel.yaml's round-trip loader. ruamel re-wraps long multi-line flow mappings
(the catalog's `required_values` entries) when it dumps, so only the lines the edit changed are carried
over into the original text; every other line stays byte for byte. The result is parsed again and must
equal the intended data before it replaces the file, and once more after.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Mapping
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ..model import yamlio
from ..model.files import write_atomic
from ..model.findings import UsageError

VERSIONS_KEY = "versions"
_COMMENT_AFTER_VALUE = 2  # slot in ruamel's per-key comment list: what follows the key's value


def round_trip_yaml() -> YAML:
    rt = YAML()
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _dump(rt: YAML, data: Any) -> str:
    out = io.StringIO()
    rt.dump(data, out)
    return out.getvalue()


def _scalar(value: str) -> str:
    """A string that reads back as the same string: quoted only when plain YAML would turn it into
    something else (1.10 into a float, 'yes' into a bool)."""
    try:
        plain = yamlio.load(value)
    except yaml.YAMLError:
        plain = None
    return value if plain == value else DoubleQuotedScalarString(value)


def _move_trailing_comment(src: CommentedMap, src_key: Any, dst: CommentedMap, dst_key: Any) -> None:
    """Hand what follows src_key's line (blank lines, comments for the next key) to dst_key, which now
    comes after it, so new lines go right below src_key instead of after those comments."""
    item = src.ca.items.get(src_key)
    if not item or len(item) <= _COMMENT_AFTER_VALUE or item[_COMMENT_AFTER_VALUE] is None:
        return
    token = item[_COMMENT_AFTER_VALUE]
    text = token.value
    if text.startswith("#"):  # an end-of-line comment stays on src_key's line
        end_of_line, _, rest = text.partition("\n")
        if not rest:
            return
        token.value = end_of_line + "\n"
        moved = "\n" + rest
    else:
        item[_COMMENT_AFTER_VALUE] = None
        moved = text
    new = copy.copy(token)
    new.value = moved
    dst.ca.items.setdefault(dst_key, [None, None, None, None])[_COMMENT_AFTER_VALUE] = new


def _existing_key(mapping: Mapping[Any, Any], key: str) -> Any:
    return next((k for k in mapping if str(k) == key), None)


def _set_versions(data: Any, chart: str, versions: Mapping[str, str], file: str) -> None:
    charts = data.get("charts") if isinstance(data, CommentedMap) else None
    entry = charts.get(chart) if isinstance(charts, CommentedMap) else None
    if not isinstance(entry, CommentedMap):
        raise UsageError(f"{file}: no mapping charts.{chart}; add the chart's entry before running invoke schemas")
    node = entry.get(VERSIONS_KEY)
    if not isinstance(node, CommentedMap):
        if node is not None:
            raise UsageError(f"{file}: charts.{chart}.versions is not a mapping; make it `versions: {{}}` or remove it")
        node = CommentedMap()
        keys = list(entry)
        if not keys:
            entry[VERSIONS_KEY] = node
            keys = [VERSIONS_KEY]
        anchor = keys[keys.index("crds")] if "crds" in keys else keys[-1]
        if VERSIONS_KEY in keys:  # `versions:` with nothing under it
            entry[VERSIONS_KEY] = node
            anchor = VERSIONS_KEY
        else:
            entry.insert(keys.index(anchor) + 1, VERSIONS_KEY, node)
        pending_comment: tuple[CommentedMap, Any] | None = (entry, anchor)
    else:
        pending_comment = (node, list(node)[-1]) if len(node) else None
    for chart_version, folder in versions.items():
        key = _existing_key(node, chart_version)
        if key is not None:
            node[key] = _scalar(folder)
            continue
        key = DoubleQuotedScalarString(chart_version)
        node[key] = _scalar(folder)
        if pending_comment is not None:
            _move_trailing_comment(pending_comment[0], pending_comment[1], node, key)
        pending_comment = (node, key)


def intended(original: Any, updates: Mapping[str, Mapping[str, str]]) -> Any:
    """The plain data the catalog must hold after the edit."""
    data = copy.deepcopy(original)
    for chart, versions in updates.items():
        entry = data["charts"][chart]
        recorded = entry.get(VERSIONS_KEY) or {}
        for chart_version, folder in versions.items():
            key = _existing_key(recorded, chart_version)
            recorded[chart_version if key is None else key] = folder
        entry[VERSIONS_KEY] = recorded
    return data


def carry_over(original: str, baseline: str, edited: str) -> str | None:
    """Apply the line changes between baseline and edited (two dumps, before and after the edit) to
    original, which baseline may have re-wrapped. None when a change touches a re-wrapped line."""
    o_lines, b_lines, e_lines = (t.splitlines(keepends=True) for t in (original, baseline, edited))
    to_original: dict[int, int] = {}
    for block in SequenceMatcher(None, b_lines, o_lines, autojunk=False).get_matching_blocks():
        for offset in range(block.size):
            to_original[block.a + offset] = block.b + offset
    changes: list[tuple[int, int, list[str]]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, b_lines, e_lines, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 < i2:  # replace or delete baseline lines: they must map one to one onto original lines
            if any(i not in to_original for i in range(i1, i2)) or to_original[i2 - 1] - to_original[i1] != i2 - i1 - 1:
                return None
            start, end = to_original[i1], to_original[i2 - 1] + 1
        elif i1 in to_original:  # insert before a line both have
            start = end = to_original[i1]
        elif i1 == len(b_lines):
            start = end = len(o_lines)
        else:
            return None
        changes.append((start, end, e_lines[j1:j2]))
    result = list(o_lines)
    for start, end, lines in reversed(changes):
        result[start:end] = lines
    return "".join(result)


def record_crd_versions(path: Path, updates: Mapping[str, Mapping[str, str]], file: str) -> None:
    """Record `"<chart version>": <CRD folder>` under charts.<chart>.versions for each update.

    file is how messages name the catalog (its path relative to the repository).
    """
    if not updates:
        return
    original = path.read_text(encoding="utf-8")
    rt = round_trip_yaml()
    data = rt.load(original)
    baseline = _dump(rt, data)
    for chart, versions in updates.items():
        _set_versions(data, chart, versions, file)
    edited = _dump(rt, data)
    want = intended(yamlio.load(original), updates)
    text = carry_over(original, baseline, edited)
    if text is None or yamlio.load(text) != want:
        text = edited  # the edit touched re-wrapped lines: take ruamel's whole dump
    if yamlio.load(text) != want:
        raise UsageError(f"{file}: recording {dict(updates)} would change other data; edit versions: by hand")
    write_atomic(path, text)
    if yamlio.load(path.read_text(encoding="utf-8")) != want:
        write_atomic(path, original)
        raise UsageError(f"{file}: changed on disk while it was being written; run invoke schemas again")
