"""The pin edit, for any values file written the way this repository writes them: only the pin lines change.

Each example is a values file in the house style (two-space mappings, lists indented under their key, comments above
keys and after values, plain and quoted scalars) holding an image pin: a `# renovate: datasource=docker depName=...`
comment above `tag:`, and sometimes a `digest:` line after it. Moving the pin through `edit.plan` and `edit.apply`
must change the tag line (and the digest line, or add one), keep every other line byte for byte, and leave a file
that parses to the old data with only the pin's values changed.
"""

from __future__ import annotations

import copy
import re
import string
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from airflow_gitops.model.repo import Repo
from airflow_gitops.upgrades import edit, pins
from airflow_gitops.upgrades.edit import Change

FILE = "clusters/dev/values/airflow.yaml"
DEPENDENCY = "444444444444.dkr.ecr.eu-west-1.amazonaws.com/airflow"
OTHER_DEPENDENCY = "public.ecr.aws/docker/library/busybox"
_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "tag", "digest"}


@dataclass(frozen=True)
class Entry:
    key: str
    value: Any  # str (a scalar as written), list[Entry] (a mapping) or list[str | list[Entry]] (a sequence)
    above: tuple[str, ...] = ()  # comment lines above the key
    after: str = ""  # a comment after the value (or after `key:` of a mapping or sequence)
    blank: bool = False  # a blank line above


keys = st.from_regex(r"[a-z][a-zA-Z0-9]{1,7}", fullmatch=True).filter(lambda k: k.lower() not in _WORDS)
comment_text = st.text(string.ascii_letters + string.digits + " .,:-_/()", min_size=1, max_size=24).filter(
    lambda t: "renovate" not in t and t.strip() == t
)
plain = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True).filter(lambda w: w not in _WORDS),
    st.integers(0, 100000).map(str),
    st.sampled_from(["true", "false", "0.5", "250m", "1Gi", "eu-west-1", "10.20.0.0/16", "https://example.com/x"]),
)
quotable = st.text(string.ascii_letters + string.digits + " .:/-_", max_size=16)
scalars = st.one_of(plain, quotable.map(lambda t: f'"{t}"'), quotable.map(lambda t: f"'{t}'"))
after_comments = st.one_of(st.just(""), comment_text.map(lambda t: f"  # {t}"), comment_text.map(lambda t: f" # {t}"))
above_comments = st.lists(comment_text, max_size=2).map(tuple)


@st.composite
def mapping(draw: st.DrawFn, depth: int) -> list[Entry]:
    names = draw(st.lists(keys, min_size=1, max_size=4, unique=True))
    entries = []
    for name in names:
        kinds = ["scalar", "list"] + (["map"] * 2 if depth > 0 else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "scalar":
            value: Any = draw(scalars)
            after = draw(after_comments)
        elif kind == "map":
            value, after = draw(mapping(depth - 1)), draw(after_comments)
        else:
            item = st.one_of(scalars, st.lists(st.tuples(keys, scalars), min_size=1, max_size=3, unique_by=lambda kv: kv[0]))
            value, after = draw(st.lists(item, min_size=1, max_size=3)), draw(after_comments)
        entries.append(Entry(name, value, draw(above_comments), after, draw(st.booleans())))
    return entries


def render(entries: list[Entry], indent: int = 0) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for entry in entries:
        if entry.blank:
            lines.append("")
        lines += [f"{pad}# {text}" for text in entry.above]
        if isinstance(entry.value, str):
            lines.append(f"{pad}{entry.key}: {entry.value}{entry.after}")
            continue
        lines.append(f"{pad}{entry.key}:{entry.after}")
        if entry.value and isinstance(entry.value[0], Entry):
            lines += render(entry.value, indent + 2)
            continue
        for item in entry.value:
            if isinstance(item, str):
                lines.append(f"{pad}  - {item}")
            else:
                (first_key, first_value), *rest = item
                lines.append(f"{pad}  - {first_key}: {first_value}")
                lines += [f"{pad}    {k}: {v}" for k, v in rest]
    return lines


versions = st.from_regex(r"[1-9][0-9]?\.[0-9]{1,2}\.[0-9]{1,2}(-[0-9])?", fullmatch=True)
digests = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())
quoting = st.sampled_from(['"{}"', "'{}'", "{}"])


@dataclass(frozen=True)
class Case:
    text: str
    path: tuple[str, ...]  # keys down to the mapping that holds tag:
    old_version: str
    new_version: str
    old_digest: str | None
    new_digest: str | None


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A values file with the pin somewhere in it, and the move to make."""
    body = draw(mapping(2))
    old_version, new_version = draw(st.lists(versions, min_size=2, max_size=2, unique=True))
    old_digest = draw(st.one_of(st.none(), digests))
    new_digest = draw(st.one_of(st.none(), digests.filter(lambda d: d != old_digest)))
    style = draw(quoting)
    pad_depth = draw(st.integers(1, 3))
    path = tuple(draw(st.lists(keys, min_size=pad_depth, max_size=pad_depth, unique=True)))
    pad = " " * (2 * pad_depth)
    before = draw(st.lists(st.tuples(keys.filter(lambda k: k != "repository"), scalars), max_size=2, unique_by=lambda kv: kv[0]))
    after = draw(st.lists(st.tuples(keys, scalars), max_size=2, unique_by=lambda kv: kv[0]))
    before = [kv for kv in before if kv[0] not in {k for k, _ in after}]
    pin = [f"{pad}repository: {DEPENDENCY}"] + [f"{pad}{k}: {v}" for k, v in before]
    pin += [
        f"{pad}# renovate: datasource=docker depName={DEPENDENCY}",
        f"{pad}tag: {style.format(old_version)}{draw(after_comments)}",
    ]
    if old_digest:
        pin.append(f"{pad}digest: {draw(quoting).format(old_digest)}")
    pin += [f"{pad}{k}: {v}" for k, v in after]
    head = [" " * (2 * i) + f"{key}:" for i, key in enumerate(path)]
    # another pin in the same file, which must not move
    sidecar = ["sidecarImage:", f"  # renovate: datasource=docker depName={OTHER_DEPENDENCY}", "  tag: 1.36.1"]
    top = [e for e in body if e.key not in (path[0], "sidecarImage")]
    split = draw(st.integers(0, len(top)))
    lines = draw(st.lists(comment_text, max_size=2).map(lambda c: [f"# {t}" for t in c]))
    lines += render(top[:split]) + head + pin + render(top[split:])
    if draw(st.booleans()):
        lines += [""] + sidecar
    text = "\n".join(lines).lstrip("\n") + "\n"  # a values file starts with its first comment or key
    return Case(text, path, old_version, new_version, old_digest, new_digest)


def _gap(line: str) -> str:
    return re.sub(r"\s+#", " #", line)


def locate(data: Any, path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        data = data[key]
    assert isinstance(data, dict)
    return data


@settings(
    max_examples=100,
    deadline=timedelta(seconds=10),
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cases())
def test_editing_a_pin_changes_only_the_pin_lines(case: Case) -> None:
    with tempfile.TemporaryDirectory(prefix="pin-edit-") as tmp:
        root = Path(tmp)
        (root / FILE).parent.mkdir(parents=True)
        (root / FILE).write_text(case.text, encoding="utf-8")
        repo = Repo(root)
        found = {p.dependency: p for p in pins.collect_file(repo, FILE)}
        pin = found[DEPENDENCY]
        assert (pin.version, pin.digest) == (case.old_version, case.old_digest)
        assert not found.get(OTHER_DEPENDENCY) or found[OTHER_DEPENDENCY].version == "1.36.1"

        [file_edit] = edit.plan(repo, [Change(pin, case.new_version, case.new_digest)])
        edit.apply(repo, [file_edit])
        written = (root / FILE).read_text(encoding="utf-8")

    assert written == file_edit.new_text
    old_lines, new_lines = case.text.splitlines(), written.splitlines()
    tag = pin.line - 1
    expected = list(old_lines)
    expected[tag] = old_lines[tag].replace(case.old_version, case.new_version, 1)
    if case.new_digest and case.old_digest:
        expected[tag + 1] = old_lines[tag + 1].replace(case.old_digest, case.new_digest)
    elif case.new_digest:
        indent = old_lines[tag][: len(old_lines[tag]) - len(old_lines[tag].lstrip())]
        expected.insert(tag + 1, f"{indent}digest: {case.new_digest}")
    # ruamel keeps a trailing comment at its column, so a longer or shorter version moves it: only its gap may change
    assert [_gap(line) if n == tag else line for n, line in enumerate(new_lines)] == [
        _gap(line) if n == tag else line for n, line in enumerate(expected)
    ]

    want = copy.deepcopy(yaml.safe_load(case.text))
    holder = locate(want, case.path)
    holder["tag"] = case.new_version
    if case.new_digest:
        holder["digest"] = case.new_digest
    assert yaml.safe_load(written) == want
    after = {p.dependency: p for p in pins.collect_file(Repo(Path("/nonexistent")).overlay(FILE, written), FILE)}
    assert (after[DEPENDENCY].version, after[DEPENDENCY].digest) == (case.new_version, case.new_digest or case.old_digest)
