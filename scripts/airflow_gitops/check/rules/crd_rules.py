"""What the API server does to a custom resource besides its OpenAPI schema, offline.

In the API server's order: structural defaults (and nulls dropped where the schema forbids them), then
list semantics (`x-kubernetes-list-type` map keys and set items unique), then every
`x-kubernetes-validations` rule of the CRD version, with `self` bound to the node the rule sits on and
the value typed as Kubernetes types it (objects with properties expose only their declared, escaped
fields; `number` is a double; `int-or-string` is dynamic). A rule with `oldSelf` (a transition rule)
runs only against the object as it was at a base ref, as on an update; without one it is counted.

Each rule is compiled once per CRD version (`CrdPlans`), not once per object. The CEL runtime is
cel-expr-python, with the Kubernetes libraries of `kube_cel`. Cost limits are not enforced.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_optional, ext_strings

from ...model.schemas import SchemaStore
from ...model.yamlio import PathPart
from . import kube_cel

CEL = "crd-cel"
LIST = "crd-list"
UNSUPPORTED = "cel-unsupported"
SCHEMA = "crd-schema"

OLD_HOLDER = "__oldSelfHolder"  # {"value": old} or {}: what optionalOldSelf rules bind oldSelf to
REASONS = {
    "FieldValueInvalid": "Invalid value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
}
_OLD_SELF = re.compile(r"\boldSelf\b")
_RESERVED = frozenset(
    "true false null in as break const continue else for function if import let loop package namespace return var void while".split()
)
_ESCAPABLE = re.compile(r"^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$")


# --- the CEL environment ----------------------------------------------------------------------------
@lru_cache(maxsize=8)
def environment(self_type: str = "dyn") -> cel.Env:
    """One environment per type of `self`: dyn, or the scalar a formatted string becomes."""
    kind = {"timestamp": cel.Type.TIMESTAMP, "duration": cel.Type.DURATION, "bytes": cel.Type.BYTES}.get(self_type, cel.Type.DYN)
    return cel.NewEnv(
        variables={"self": kind, "oldSelf": kind, OLD_HOLDER: cel.Type.Map(cel.Type.STRING, kind)},
        extensions=[
            ext_strings.ExtStrings(),
            ext_optional.ExtOptional(),
            ext_bindings.ExtBindings(),
            kube_cel.extension(),
        ],
    )


def escape(name: str) -> str | None:
    """A property name as CEL sees it (apiserver/pkg/cel Escape), or None when CEL cannot reach it."""
    if not name or name[0].isdigit():
        return None
    if name in _RESERVED:
        return f"__{name}__"
    if not _ESCAPABLE.match(name):
        return None
    return name.replace("__", "__underscores__").replace(".", "__dot__").replace("-", "__dash__").replace("/", "__slash__")


# --- compiled plans ---------------------------------------------------------------------------------
@dataclass
class Rule:
    rule: str
    message: str
    message_expression: str | None
    field_path: str | None
    reason: str
    transition: bool
    optional_old_self: bool
    program: cel.Expression | None = None
    message_program: cel.Expression | None = None
    error: str | None = None  # why it does not compile: the rule is reported cel-unsupported


@dataclass
class Node:
    schema: dict[str, Any]
    rules: list[Rule] = field(default_factory=list)
    properties: dict[str, Node] = field(default_factory=dict)
    additional: Node | None = None
    items: Node | None = None
    active: bool = False  # this node or one below it has rules, defaults, list semantics or int-or-string

    @property
    def type(self) -> str:
        if self.schema.get("x-kubernetes-int-or-string"):
            return "integer-or-string"
        return str(self.schema.get("type", ""))

    @property
    def self_type(self) -> str:
        if self.schema.get("type") != "string":
            return "dyn"
        return {"date": "timestamp", "date-time": "timestamp", "duration": "duration", "byte": "bytes"}.get(
            str(self.schema.get("format", "")), "dyn"
        )


@dataclass
class Plan:
    """One CRD version, compiled: its schema tree with the rules of each node."""

    root: Node
    status_subresource: bool
    rules: int
    transition_rules: int


def _compile(node: Node, spec: dict[str, Any]) -> Rule:
    text = str(spec.get("rule", ""))
    transition = bool(_OLD_SELF.search(kube_cel.without_strings(text)))
    rule = Rule(
        rule=text,
        message=str(spec.get("message") or ""),
        message_expression=spec.get("messageExpression"),
        field_path=spec.get("fieldPath"),
        reason=str(spec.get("reason") or "FieldValueInvalid"),
        transition=transition,
        optional_old_self=bool(spec.get("optionalOldSelf")),
    )
    env = environment(node.self_type)
    source = kube_cel.rewrite(text)
    if rule.optional_old_self and transition:
        source = f'cel.bind(oldSelf, {OLD_HOLDER}[?"value"], {source})'
    try:
        rule.program = env.compile(source)
    except RuntimeError as exc:
        rule.error = _compile_error(exc)
        return rule
    if rule.message_expression:
        try:
            rule.message_program = env.compile(kube_cel.rewrite(str(rule.message_expression)))
        except RuntimeError:
            rule.message_program = None  # the API server refuses such a CRD; fall back to the message
    return rule


def _compile_error(exc: RuntimeError) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else str(exc)
    return re.sub(r"^[A-Z_]+: ERROR: <input>:\d+:\d+: ", "", first)


def build(schema: dict[str, Any]) -> Node:
    node = Node(schema if isinstance(schema, dict) else {})
    s = node.schema
    node.rules = [_compile(node, r) for r in s.get("x-kubernetes-validations") or [] if isinstance(r, dict)]
    for name, prop in (s.get("properties") or {}).items():
        if isinstance(prop, dict):
            node.properties[name] = build(prop)
    if isinstance(s.get("additionalProperties"), dict):
        node.additional = build(s["additionalProperties"])
    if isinstance(s.get("items"), dict):
        node.items = build(s["items"])
    children = [*node.properties.values(), node.additional, node.items]
    node.active = bool(
        node.rules
        or "default" in s
        or s.get("x-kubernetes-list-type") in ("set", "map")
        or s.get("x-kubernetes-int-or-string")
        or any(c is not None and c.active for c in children)
    )
    return node


def _count(node: Node | None) -> tuple[int, int]:
    if node is None:
        return 0, 0
    rules, transitions = len(node.rules), sum(r.transition for r in node.rules)
    for child in (*node.properties.values(), node.additional, node.items):
        r, t = _count(child)
        rules, transitions = rules + r, transitions + t
    return rules, transitions


def compile_plan(schema: dict[str, Any], status_subresource: bool = False) -> Plan:
    """One CRD version's openAPIV3Schema, compiled: every rule once."""
    root = build(schema)
    rules, transitions = _count(root)
    return Plan(root, status_subresource, rules, transitions)


@dataclass
class CrdPlans:
    """Compiled plans by (CRD folder, group/version/kind); each CRD version is compiled once."""

    schemas: SchemaStore
    _plans: dict[tuple[str, tuple[str, str, str]], Plan | None] = field(default_factory=dict)

    def plan(self, folder: str, gvk: tuple[str, str, str]) -> Plan | None:
        key = (folder, gvk)
        if key not in self._plans:
            version = self.schemas.crd_version(folder, gvk)
            self._plans[key] = None if version is None else compile_plan(version.schema, version.status_subresource)
        return self._plans[key]


# --- defaults and nulls -----------------------------------------------------------------------------
def _non_nullable_null(value: Any, node: Node) -> bool:
    return value is None and not node.schema.get("nullable")


def apply_defaults(value: Any, node: Node | None) -> None:
    """Structural defaulting as the API server does it (apiextensions defaulting.Default), in place."""
    if node is None or not node.active:
        return
    if isinstance(value, dict):
        for name, prop in node.properties.items():
            if "default" in prop.schema and (name not in value or _non_nullable_null(value[name], prop)):
                value[name] = copy.deepcopy(prop.schema["default"])
        for key in list(value):
            if key in node.properties:
                apply_defaults(value[key], node.properties[key])
            elif node.additional is not None:
                if _non_nullable_null(value[key], node.additional) and "default" in node.additional.schema:
                    value[key] = copy.deepcopy(node.additional.schema["default"])
                apply_defaults(value[key], node.additional)
    elif isinstance(value, list) and node.items is not None:
        for index, item in enumerate(value):
            if _non_nullable_null(item, node.items) and "default" in node.items.schema:
                value[index] = copy.deepcopy(node.items.schema["default"])
            apply_defaults(value[index], node.items)


def prune_nulls(value: Any, node: Node | None) -> None:
    """Drop a null the schema does not allow and has no default for, as the API server does before it
    validates (PruneNonNullableNullsWithoutDefaults), in place."""
    if node is None:
        return
    if isinstance(value, dict):
        for key in list(value):
            child = node.properties.get(key) or (node.additional if key not in node.properties else None)
            if child is None:
                continue
            if _non_nullable_null(value[key], child) and "default" not in child.schema:
                del value[key]
            else:
                prune_nulls(value[key], child)
    elif isinstance(value, list):
        for item in value:
            prune_nulls(item, node.items)


def prepare(obj: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The object as the API server validates it on create: status dropped where it is a subresource,
    defaults applied, disallowed nulls dropped. A copy; the object itself is not changed."""
    out = copy.deepcopy(obj)
    if plan.status_subresource:
        out.pop("status", None)
    apply_defaults(out, plan.root)
    prune_nulls(out, plan.root)
    return out


# --- findings ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Violation:
    rule: str  # crd-cel, crd-list, cel-unsupported or crd-schema
    path: tuple[PathPart, ...]
    message: str  # as the API server words it: "<path>: <reason>: <detail>"
    fix: str


@dataclass
class Stats:
    objects: int = 0
    rules_evaluated: int = 0
    transitions_evaluated: int = 0
    transitions_skipped: int = 0  # no object at a base ref to compare with
    seconds: float = 0.0  # defaults, list semantics and CEL, for every custom resource


def dotted(path: tuple[PathPart, ...] | list[PathPart]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _canonical(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}": {_canonical(v)}' for k, v in value.items()) + "}"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


# --- list semantics and int-or-string ---------------------------------------------------------------
def structural(value: Any, node: Node | None, path: tuple[PathPart, ...] = ()) -> Iterator[Violation]:
    """Map-list keys and set items unique; a bare int-or-string holds an integer or a string."""
    if node is None or not node.active or value is None:
        return
    s = node.schema
    if s.get("x-kubernetes-int-or-string") and not ({"anyOf", "oneOf", "type"} & s.keys()):
        if isinstance(value, bool) or not isinstance(value, int | str):
            yield Violation(
                SCHEMA,
                path,
                f"{dotted(path)}: Invalid value: {_canonical(value)}: must be an integer or a string",
                "give an integer or a string (x-kubernetes-int-or-string)",
            )
    if isinstance(value, list):
        yield from _list_semantics(value, node, path)
        for index, item in enumerate(value):
            yield from structural(item, node.items, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            child = node.properties.get(key) if key in node.properties else node.additional
            yield from structural(item, child, (*path, key))


def _list_semantics(value: list[Any], node: Node, path: tuple[PathPart, ...]) -> Iterator[Violation]:
    kind = node.schema.get("x-kubernetes-list-type")
    if kind == "set":
        seen: list[Any] = []
        for index, item in enumerate(value):
            if any(kube_cel.cel_equal(item, other) for other in seen):
                yield Violation(
                    LIST,
                    (*path, index),
                    f"{dotted((*path, index))}: Duplicate value: {_canonical(item)}",
                    "remove the repeated item: this list is a set (x-kubernetes-list-type: set)",
                )
            seen.append(item)
    elif kind == "map":
        keys = [str(k) for k in node.schema.get("x-kubernetes-list-map-keys") or []]
        seen_keys: list[dict[str, Any]] = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            missing = [k for k in keys if k not in item]
            for key in missing:
                yield Violation(
                    LIST,
                    (*path, index),
                    f"{dotted((*path, index, key))}: Required value: the key of a map-list item",
                    f"set {key}: the items of this list are keyed by {', '.join(keys)}",
                )
            if missing:
                continue
            ident = {k: item[k] for k in keys}
            if any(kube_cel.cel_equal(ident, other) for other in seen_keys):
                yield Violation(
                    LIST,
                    (*path, index),
                    f"{dotted((*path, index))}: Duplicate value: {_canonical(ident)}",
                    f"merge or remove the item: this list is a map keyed by {', '.join(keys)}, so each key may appear once",
                )
            seen_keys.append(ident)


# --- CEL values, as Kubernetes types them -----------------------------------------------------------
def _plain(value: Any) -> Any:
    """YAML values CEL can take: dates become their ISO text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _go_duration(text: str) -> timedelta:
    sign, rest = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if rest == "0":
        return timedelta(0)
    pos, seconds = 0, 0.0
    while pos < len(rest):
        found = _DURATION.match(rest, pos)
        if not found or not found.group(1) or found.group(1) == ".":
            raise ValueError(f"invalid duration {text!r}")
        seconds += float(found.group(1)) * _DURATION_UNITS[found.group(2)]
        pos = found.end()
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    return timedelta(seconds=sign * seconds)


def typed_scalar(value: Any, self_type: str) -> Any:
    """A formatted string as the typed `self` of a rule sitting on it (timestamp, duration, bytes)."""
    if not isinstance(value, str):
        return value
    try:
        if self_type == "timestamp":
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
        if self_type == "duration":
            return _go_duration(value)
        if self_type == "bytes":
            return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return value
    return value


def to_cel(value: Any, node: Node | None, root: bool = False) -> Any:
    """The value as the API server hands it to CEL (UnstructuredToVal)."""
    if node is None or value is None:
        return _plain(value)
    s = node.schema
    if s.get("x-kubernetes-int-or-string"):
        return _plain(value)
    if isinstance(value, dict):
        if node.additional is not None:
            return {str(k): to_cel(v, node.additional) for k, v in value.items()}
        if not node.properties:
            return _plain(value)
        out = {}
        for name, child in node.properties.items():
            cel_name = escape(name)
            if name in value and cel_name is not None:
                out[cel_name] = to_cel(value[name], child)
        if root or s.get("x-kubernetes-embedded-resource"):
            for name in ("apiVersion", "kind"):
                if name in value:
                    out[name] = _plain(value[name])
            meta: dict[str, Any] = value["metadata"] if isinstance(value.get("metadata"), dict) else {}
            out["metadata"] = {k: _plain(meta[k]) for k in ("name", "generateName") if k in meta}
        return out
    if isinstance(value, list):
        return [to_cel(v, node.items) for v in value]
    if s.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if s.get("type") == "string" and s.get("format") == "byte":
        return typed_scalar(value, "bytes")
    return _plain(value)


# --- evaluation -------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """One object's pass through the CEL rules."""

    stats: Stats
    only_transitions: bool = False  # invoke diff: what the update itself would break
    violations: list[Violation] = field(default_factory=list)

    def run(self, value: Any, old: Any, node: Node | None, path: tuple[PathPart, ...] = (), root: bool = False) -> None:
        if node is None or value is None or not node.active:
            return
        if node.rules:
            self._rules(value, old, node, path, root)
        if isinstance(value, dict):
            olds = old if isinstance(old, dict) else None
            for key, item in value.items():
                child = node.properties.get(key) if key in node.properties else node.additional
                self.run(item, olds.get(key) if olds is not None else None, child, (*path, key))
        elif isinstance(value, list) and node.items is not None:
            correlated = _correlate(value, old, node)
            for index, item in enumerate(value):
                self.run(item, correlated[index], node.items, (*path, index))

    def _rules(self, value: Any, old: Any, node: Node, path: tuple[PathPart, ...], root: bool) -> None:
        current = to_cel(value, node, root)
        previous = to_cel(old, node, root) if old is not None else None
        if node.self_type != "dyn":
            current, previous = typed_scalar(current, node.self_type), typed_scalar(previous, node.self_type)
        data: dict[str, Any] = {"self": current, "oldSelf": previous, OLD_HOLDER: {}}
        for rule in node.rules:
            if self.only_transitions and not rule.transition:
                continue
            if rule.error is not None:
                self.violations.append(
                    Violation(
                        UNSUPPORTED,
                        path,
                        f"{dotted(path)}: rule cannot be evaluated here: {rule.error}: {rule.rule}",
                        "this CEL rule calls a function or uses syntax the offline evaluator does not have; "
                        "add it to check/rules/kube_cel.py or check the object against a real API server",
                    )
                )
                continue
            if rule.transition:
                if old is None:
                    if not rule.optional_old_self:
                        self.stats.transitions_skipped += 1
                        continue
                else:
                    self.stats.transitions_evaluated += 1
                if rule.optional_old_self:
                    data[OLD_HOLDER] = {"value": previous} if old is not None else {}
            self.stats.rules_evaluated += 1
            self._evaluate(rule, data, node, path)

    def _evaluate(self, rule: Rule, data: dict[str, Any], node: Node, path: tuple[PathPart, ...]) -> None:
        assert rule.program is not None
        try:
            result = rule.program.eval(data=data)
            kind, outcome = result.type(), result.value()
        except Exception as exc:  # noqa: BLE001 - a value the runtime cannot take; reported, never a pass
            kind, outcome = cel.Type.ERROR, exc
        if kind == cel.Type.ERROR or not isinstance(outcome, bool):
            detail = str(outcome) if kind == cel.Type.ERROR else f"the rule returned {outcome!r}, not a bool"
            detail = re.sub(r"^[A-Z_]+: ", "", detail)
            self.violations.append(
                Violation(
                    CEL,
                    path,
                    f'{dotted(path)}: Invalid value: "{node.type}": {detail} evaluating rule: {rule.rule}',
                    "make the field hold what the rule reads (the rule fails with an error on this value)",
                )
            )
            return
        if outcome:
            return
        target = (*path, *parse_field_path(rule.field_path)) if rule.field_path else path
        reason = REASONS.get(rule.reason, "Invalid value")
        shown = f'"{node.type}": ' if reason in ("Invalid value", "Duplicate value") else ""
        self.violations.append(
            Violation(
                CEL,
                tuple(target),
                f"{dotted(target)}: {reason}: {shown}{self._message(rule, data)}",
                f"change the object so that the CRD's rule holds: {rule.rule}",
            )
        )

    @staticmethod
    def _message(rule: Rule, data: dict[str, Any]) -> str:
        if rule.message_program is not None:
            try:
                result = rule.message_program.eval(data=data)
                text = result.value() if result.type() != cel.Type.ERROR else None
            except Exception:  # noqa: BLE001 - the API server falls back to the message as well
                text = None
            if isinstance(text, str) and text.strip() and "\n" not in text:
                return text
        return rule.message or f"failed rule: {rule.rule}"


def _correlate(value: list[Any], old: Any, node: Node) -> list[Any]:
    """The old item of each item: only map-lists correlate, by their keys (as the API server does)."""
    if not isinstance(old, list) or node.schema.get("x-kubernetes-list-type") != "map":
        return [None] * len(value)
    keys = [str(k) for k in node.schema.get("x-kubernetes-list-map-keys") or []]
    by_key = {tuple(_canonical(o.get(k)) for k in keys): o for o in old if isinstance(o, dict) and all(k in o for k in keys)}
    return [by_key.get(tuple(_canonical(v.get(k)) for k in keys)) if isinstance(v, dict) else None for v in value]


_FIELD_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[(\d+)\]")


def parse_field_path(text: str) -> list[PathPart]:
    """`.spec.foo['a.b'][0]` -> ['spec', 'foo', 'a.b', 0]: a rule's fieldPath, relative to self."""
    out: list[PathPart] = []
    pos = 0
    while pos < len(text):
        found = _FIELD_PART.match(text, pos)
        if not found:
            break
        name, single, double, index = found.groups()
        out.append(int(index) if index is not None else (name or single or double or ""))
        pos = found.end()
    return out


def validate(obj: dict[str, Any], old: Any, plan: Plan, stats: Stats) -> list[Violation]:
    """Every list-semantics and CEL finding for one prepared object (see `prepare`); `old` is the
    prepared object at the base ref, or None when there is none."""
    stats.objects += 1
    found = list(structural(obj, plan.root))
    run = Evaluation(stats)
    run.run(obj, old, plan.root, (), root=True)
    return found + run.violations


def transition_violations(obj: dict[str, Any], old: dict[str, Any], plan: Plan, stats: Stats) -> list[Violation]:
    """Only what the transition rules say of replacing `old` with `obj` (both as written; prepared here)."""
    run = Evaluation(stats, only_transitions=True)
    run.run(prepare(obj, plan), prepare(old, plan), plan.root, (), root=True)
    return run.violations
