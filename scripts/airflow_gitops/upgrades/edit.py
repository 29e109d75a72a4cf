"""The edit engine for pins, shared by bump, promote and rollback.

A plan is a list of pin changes. Each file is edited in memory (YAML by a ruamel.yaml round trip,
which keeps comments, quotes and order; other files by a change of the one line), then proven:
parsed again, it must equal the old file with only the planned pin values changed, and only pin
lines may differ. Only when every file passes is anything written, each file atomically, and then
read back.
"""

from __future__ import annotations

import copy
import difflib
import io
from dataclasses import dataclass, replace
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from ..model import yamlio
from ..model.files import write_atomic
from ..model.findings import UsageError
from ..model.repo import BrokenYaml, Repo
from . import pins as pin_model
from .pins import Pin

DIGEST_KEY = "digest"


@dataclass(frozen=True)
class Change:
    """Move one pin to a new version; for an image, also to a digest (None leaves the digest alone)."""

    pin: Pin
    version: str
    digest: str | None = None
    # the digest rides in the tag (tag@sha256:...), for a chart without a digest field
    inline_digest: bool = False

    @property
    def moves(self) -> bool:
        return self.pin.version != self.version or (self.digest is not None and self.digest != self.pin.digest)


def _inline_digests(text: str, changes: list[Change]) -> set[int]:
    """The changes (by id) whose digest rides in a YAML tag: asked for, or the tag on the pin's line holds one."""
    lines = text.splitlines()
    return {
        id(c)
        for c in changes
        if c.inline_digest
        or (c.pin.digest is not None and c.pin.line <= len(lines) and f"@{c.pin.digest}" in lines[c.pin.line - 1])
    }


@dataclass(frozen=True)
class FileEdit:
    file: str
    old_text: str
    new_text: str

    def diff(self) -> str:
        lines = difflib.unified_diff(
            self.old_text.splitlines(keepends=True), self.new_text.splitlines(keepends=True), f"a/{self.file}", f"b/{self.file}"
        )
        return "".join(lines)


def _round_trip_yaml() -> YAML:
    handler = YAML()
    handler.preserve_quotes = True
    handler.indent(mapping=2, sequence=4, offset=2)
    handler.width = 4096  # never re-wrap a long line
    return handler


def yaml_path_at_line(doc: yaml.Node, line: int) -> tuple[str | int, ...] | None:
    """The path of the scalar mapping value that starts on a 1-based line of a composed document."""

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(value, yaml.ScalarNode) and value.start_mark.line + 1 == line:
                    return (*path, str(key.value))
                found = walk(value, (*path, str(key.value)))
                if found:
                    return found
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                found = walk(item, (*path, index))
                if found:
                    return found
        return None

    return walk(doc, ())


def _get(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _yaml_assignments(
    data: Any, doc: yaml.Node, changes: list[Change], inline: set[int]
) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, new scalar) for every change to one YAML document, given as data and as composed nodes."""
    assignments: list[tuple[tuple[str | int, ...], str]] = []
    for change in changes:
        path = change.pin.yaml_path or yaml_path_at_line(doc, change.pin.line)
        if path is None:
            raise UsageError(
                f"{change.pin.file}:{change.pin.line}: no YAML value for {change.pin.dependency} on that line; fix the file by hand"
            )
        old_scalar = str(_get(data, path))
        in_tag = id(change) in inline
        tag = old_scalar.partition("@")[0] if in_tag else old_scalar
        if tag.count(change.pin.version) != 1:
            raise UsageError(
                f"{change.pin.file}:{change.pin.line}: '{old_scalar}' does not hold version {change.pin.version} exactly once"
            )
        new_tag = tag.replace(change.pin.version, change.version)
        if in_tag:  # a new digest, or none: an old digest never stays beside a new tag
            assignments.append((path, f"{new_tag}@{change.digest}" if change.digest else new_tag))
            continue
        assignments.append((path, new_tag))
        if change.digest is not None:
            assignments.append(((*path[:-1], DIGEST_KEY), change.digest))
    return assignments


def _move_following_comment(parent: CommentedMap, source: str, target: str | int) -> None:
    """Hand what follows the source key's line to the target key; a comment at the end of that line stays on it."""
    slots = parent.ca.items.pop(source)
    token = slots[2]
    if token is None or not token.value.startswith("#"):
        parent.ca.items[target] = slots
        return
    own, _, rest = token.value.partition("\n")
    kept = copy.copy(token)
    kept.value = own + "\n"
    parent.ca.items[source] = [slots[0], slots[1], kept, slots[3]]
    if rest:
        moved = copy.copy(token)
        moved.value = "\n" + rest
        parent.ca.items[target] = [None, None, moved, None]


def _apply_ruamel(text: str, assignments: list[tuple[tuple[str | int, ...], str]]) -> str:
    handler = _round_trip_yaml()
    doc = handler.load(text)
    for path, value in assignments:
        parent = _get(doc, path[:-1])
        key = path[-1]
        if isinstance(parent, CommentedMap) and key not in parent:
            after = list(parent.keys()).index("tag") + 1 if "tag" in parent else len(parent)
            parent.insert(after, key, value)
            # what follows the tag line (blank lines, the next section's comment) belongs after the new line
            if "tag" in parent and "tag" in parent.ca.items:
                _move_following_comment(parent, "tag", key)
            continue
        old = parent[key]
        # keep the scalar's quoting: ruamel hands quoted scalars back as str subclasses of the same style
        parent[key] = type(old)(value) if isinstance(old, str) and type(old) is not str else value
    out = io.StringIO()
    handler.dump(doc, out)
    return out.getvalue()


def _verify_yaml(file: str, old_data: Any, new_text: str, assignments: list[tuple[tuple[str | int, ...], str]]) -> None:
    expected = copy.deepcopy(old_data)
    for path, value in assignments:
        _get(expected, path[:-1])[path[-1]] = value
    if yamlio.load(new_text) != expected:
        raise UsageError(f"{file}: the edited file would differ from the plan in more than its pins; nothing was written")


def _edit_line(file: str, text: str, changes: list[Change]) -> str:
    lines = text.splitlines(keepends=True)
    for change in changes:
        index = change.pin.line - 1
        line = lines[index] if 0 <= index < len(lines) else ""
        if line.count(change.pin.version) != 1:
            raise UsageError(
                f"{file}:{change.pin.line}: version {change.pin.version} of {change.pin.dependency} is not on that line once"
            )
        lines[index] = line.replace(change.pin.version, change.version)
    return "".join(lines)


def _verify_pins(repo: Repo, file: str, new_text: str, changes: list[Change], inline: set[int]) -> None:
    """Pins read from the new text must be the old pins with exactly the planned values.

    A digest line added under a tag moves every pin below it down one line."""
    grown = [c.pin.line for c in changes if c.digest is not None and c.pin.digest is None and id(c) not in inline]
    expected = {(p.line, p.dependency): p for p in pin_model.collect_file(repo, file)}
    for change in changes:
        key = (change.pin.line, change.pin.dependency)
        if id(change) in inline:
            digest = change.digest
        else:
            digest = change.digest if change.digest is not None else expected[key].digest
        expected[key] = replace(expected[key], version=change.version, digest=digest)
    expected = {
        (moved, dependency): replace(pin, line=moved)
        for (line, dependency), pin in expected.items()
        for moved in [line + sum(1 for at in grown if line > at)]
    }
    got = {(p.line, p.dependency): p for p in pin_model.collect_file(repo.overlay(file, new_text), file)}
    if got != expected:
        raise UsageError(f"{file}: after the edit the pins read back differently than planned; nothing was written")


def _verify_lines(file: str, old_text: str, new_text: str, changes: list[Change], added: int, inline: set[int]) -> None:
    """Only pin lines may change, and only planned keys may be added."""
    pin_lines = {c.pin.line for c in changes} | {
        c.pin.line + 1 for c in changes if c.pin.digest and c.digest and id(c) not in inline
    }  # digest: the next line, unless it rides in the tag
    matcher = difflib.SequenceMatcher(a=old_text.splitlines(), b=new_text.splitlines(), autojunk=False)
    inserted = 0
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if any(n + 1 not in pin_lines for n in range(a0, a1)):
            raise UsageError(f"{file}:{a0 + 1}: the edit would change a line that holds no pin; nothing was written")
        inserted += (b1 - b0) - (a1 - a0)
    if inserted != added:
        raise UsageError(f"{file}: the edit would add {inserted} lines where the plan adds {added}; nothing was written")


def plan_file(repo: Repo, file: str, changes: list[Change]) -> FileEdit:
    """The proven new content of one file."""
    old_text = repo.text(file)
    added = 0
    is_yaml = file.endswith((".yaml", ".yml"))
    inline = _inline_digests(old_text, changes) if is_yaml else set()  # only a YAML tag carries a digest inside
    if is_yaml:
        try:  # the repository parses and composes each file once; the edit reads both
            known, doc = repo.yaml_docs(file)[0], repo.yaml_nodes(file)[0]
            assignments = _yaml_assignments(known, doc, changes, inline)
        except yaml.YAMLError as exc:
            line = exc.line if isinstance(exc, BrokenYaml) else yamlio.error_line(exc, old_text)
            raise UsageError(
                f"{file}{f':{line}' if line else ''}: not valid YAML ({yamlio.error_text(exc)}); fix it, then run again"
            ) from None
        added = sum(1 for path, _ in assignments if path[-1] == DIGEST_KEY and DIGEST_KEY not in _get(known, path[:-1]))
        try:
            new_text = _apply_ruamel(old_text, assignments)
        except Exception as exc:  # ruamel's errors are many; any of them means we do not write
            raise UsageError(
                f"{file}: cannot edit it as YAML ({type(exc).__name__}: {exc}); fix the file, then run again"
            ) from None
        _verify_yaml(file, known, new_text, assignments)
    else:
        new_text = _edit_line(file, old_text, changes)
    _verify_lines(file, old_text, new_text, changes, added, inline)
    _verify_pins(repo, file, new_text, changes, inline)
    return FileEdit(file, old_text, new_text)


def plan(repo: Repo, changes: list[Change]) -> list[FileEdit]:
    by_file: dict[str, list[Change]] = {}
    for change in changes:
        if change.moves:
            by_file.setdefault(change.pin.file, []).append(change)
    return [plan_file(repo, file, file_changes) for file, file_changes in sorted(by_file.items())]


def apply(repo: Repo, edits: list[FileEdit]) -> None:
    """Write every proven edit, then read each file back."""
    for edit in edits:
        path = repo.path(edit.file)
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != edit.old_text:
            raise UsageError(f"{edit.file}: changed on disk while the edit was planned; run again")
    for edit in edits:
        if edit.new_text == "":  # nothing left to say: the file goes (a released last hold)
            repo.path(edit.file).unlink(missing_ok=True)
        else:
            write_atomic(repo.path(edit.file), edit.new_text)
    for edit in edits:
        path = repo.path(edit.file)
        if (path.read_text(encoding="utf-8") if path.exists() else "") != edit.new_text:
            raise UsageError(f"{edit.file}: what was written does not read back; restore it with git checkout -- {edit.file}")
        repo.forget(edit.file)
