"""Argo CD Application sources, and Helm values merged the way Argo CD hands them to Helm."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from ..model import yamlio

REF_PREFIX = "$"


@dataclass(frozen=True)
class ChartSource:
    index: int
    repo_url: str
    chart: str
    version: str
    release_name: str
    value_files: tuple[str, ...]
    values: str | None
    values_object: dict[str, Any] | None
    parameters: tuple[dict[str, Any], ...]
    ignore_missing_value_files: bool


@dataclass
class MergedValues:
    values: dict[str, Any]
    files: list[str] = field(default_factory=list)  # repo files that fed the merge, in order
    missing: list[str] = field(default_factory=list)  # value files named but absent
    unresolved: list[str] = field(default_factory=list)  # value files whose $ref names no source
    unreadable: list[str] = field(default_factory=list)  # value files that are not valid YAML: the values are unknown


def sources_of(app: dict[str, Any]) -> list[dict[str, Any]]:
    spec = app.get("spec") or {}
    if spec.get("sources"):
        return [s for s in spec["sources"] if isinstance(s, dict)]
    return [spec["source"]] if isinstance(spec.get("source"), dict) else []


def chart_sources(app: dict[str, Any]) -> list[ChartSource]:
    found = []
    for index, src in enumerate(sources_of(app)):
        if not src.get("chart"):
            continue
        helm = src.get("helm") or {}
        found.append(
            ChartSource(
                index=index,
                repo_url=str(src.get("repoURL", "")),
                chart=str(src["chart"]),
                version=yamlio.scalar_str(src.get("targetRevision")),
                release_name=str(helm.get("releaseName") or (app.get("metadata") or {}).get("name", "")),
                value_files=tuple(str(v) for v in helm.get("valueFiles") or ()),
                values=helm.get("values") if isinstance(helm.get("values"), str) else None,
                values_object=helm.get("valuesObject") if isinstance(helm.get("valuesObject"), dict) else None,
                parameters=tuple(p for p in helm.get("parameters") or () if isinstance(p, dict)),
                ignore_missing_value_files=bool(helm.get("ignoreMissingValueFiles", False)),
            )
        )
    return found


@dataclass(frozen=True)
class ManifestSource:
    """A source that applies a folder of this repository's plain manifests (a kustomization)."""

    index: int
    repo_url: str
    revision: str
    path: str


def manifest_sources(app: dict[str, Any]) -> list[ManifestSource]:
    """The `path` sources of an Application (neither a chart nor a bare `$ref`)."""
    found = []
    for index, src in enumerate(sources_of(app)):
        if src.get("chart") or not src.get("path"):
            continue
        found.append(
            ManifestSource(
                index=index,
                repo_url=str(src.get("repoURL", "")),
                revision=yamlio.scalar_str(src.get("targetRevision")),
                path=str(src["path"]).strip("/"),
            )
        )
    return found


def ref_sources(app: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(s["ref"]): s for s in sources_of(app) if s.get("ref")}


def value_file_path(value_file: str, refs: dict[str, dict[str, Any]]) -> str | None:
    """'$values/apps/x/values.yaml' -> 'apps/x/values.yaml' when a source has ref 'values'."""
    if not value_file.startswith(REF_PREFIX):
        return None
    ref, _, path = value_file[1:].partition("/")
    return path if ref in refs else None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


_INDEX = re.compile(r"^(?P<key>[^\[]*)\[(?P<index>\d+)\]$")


def set_parameter(values: dict[str, Any], name: str, value: Any) -> None:
    """Apply one `--set name=value` style parameter (dotted keys, `key[0]` list indices)."""
    node: Any = values
    parts = re.split(r"(?<!\\)\.", name)
    for i, raw in enumerate(parts):
        part = raw.replace("\\.", ".")
        last = i == len(parts) - 1
        match = _INDEX.match(part)
        if match:
            key, index = match["key"], int(match["index"])
            seq = node.setdefault(key, [])
            while len(seq) <= index:
                seq.append(None)  # Helm pads a list it extends with nulls
            if last:
                seq[index] = value
            else:
                if not isinstance(seq[index], dict):
                    seq[index] = {}
                node = seq[index]
        elif last:
            node[part] = value
        else:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]


_HELM_INT = re.compile(r"^-?[1-9][0-9]*$")
_INT64 = 2**63


def helm_scalar(text: str) -> Any:
    """A `--set` value typed as Helm's strvals types it: true/false, null, integers; else the string."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text == "null":
        return None
    if text == "0":
        return 0
    if _HELM_INT.match(text) and -_INT64 <= int(text) < _INT64:
        return int(text)
    return text


def _parameter_value(param: dict[str, Any]) -> Any:
    """Argo CD passes each parameter as `--set name=value` (`--set-string` with forceString), with
    commas escaped unless the value is a `{a,b}` list."""
    raw = param.get("value", "")
    text = raw if isinstance(raw, str) else yamlio.scalar_str(raw)
    if param.get("forceString"):
        return text
    if text.startswith("{") and text.endswith("}"):
        inner = text[1:-1]
        return [helm_scalar(item.replace("\\,", ",")) for item in re.split(r"(?<!\\),", inner)] if inner else []
    return helm_scalar(text.replace("\\,", ","))


def merge(source: ChartSource, refs: dict[str, dict[str, Any]], read_yaml: Any) -> MergedValues:
    """Merge in Argo CD's order: valueFiles in order, then the inline values, then parameters.

    The inline values are `valuesObject` when it is set, else `values`: Argo CD hands Helm one of
    the two (valuesObject takes precedence), never both. read_yaml(path) returns the parsed file
    or raises FileNotFoundError.
    """
    result = MergedValues(values={})
    for value_file in source.value_files:
        path = value_file_path(value_file, refs)
        if path is None:
            if value_file.startswith(REF_PREFIX):
                result.unresolved.append(value_file)
            continue  # a path inside the chart itself: Helm reads it from the chart
        try:
            data = read_yaml(path)
        except FileNotFoundError:
            result.missing.append(path)
            continue
        result.files.append(path)
        if isinstance(data, dict):
            result.values = deep_merge(result.values, data)
    inline = source.values_object if source.values_object is not None else yamlio.load(source.values or "")
    if isinstance(inline, dict):
        result.values = deep_merge(result.values, inline)
    for param in source.parameters:
        if param.get("name"):
            set_parameter(result.values, str(param["name"]), _parameter_value(param))
    return result


def without_nulls(values: Any) -> Any:
    """The values as the chart's templates see them: Helm's coalescing deletes every key set to null
    (that is how a values file removes a default), so a schema never sees one."""
    if isinstance(values, dict):
        return {k: without_nulls(v) for k, v in values.items() if v is not None}
    if isinstance(values, list):
        return [without_nulls(v) for v in values]
    return values


_BRACKETED = re.compile(r"\[([^\]]+)\]|([^.\[\]]+)")


def dotted_path(dotted: str) -> list[str | int]:
    """'a.hosts.0.name' -> ['a', 'hosts', 0, 'name']; a key with dots of its own goes in brackets:
    'ingress.annotations[alb.ingress.kubernetes.io/scheme]' -> ['ingress', 'annotations', 'alb.ingress...']."""
    parts: list[str | int] = []
    for bracketed, plain in _BRACKETED.findall(dotted):
        if bracketed:
            parts.append(bracketed)
        else:
            parts.append(int(plain) if plain.isdigit() else plain)
    return parts


_SELECTOR = re.compile(r"^\[(?P<field>[^=\]]+)=(?P<value>[^\]]*)\]$")
Part = str | int | tuple[str, str]


def path_parts(dotted: str) -> list[Part]:
    """'env.[name=AWS_REGION].value' -> ['env', ('name', 'AWS_REGION'), 'value']: a part in brackets picks
    the list item whose field has that value; digits pick by index; a key with dots of its own goes in
    brackets without '=' ('annotations[alb.ingress.kubernetes.io/scheme]')."""
    parts: list[Part] = []
    for raw in re.findall(r"\[[^\]]*\]|[^.\[\]]+", dotted):
        selector = _SELECTOR.match(raw)
        if selector:
            parts.append((selector["field"], selector["value"]))
        elif raw.startswith("[") and raw.endswith("]"):
            parts.append(raw[1:-1])
        else:
            parts.append(int(raw) if raw.isdigit() else raw)
    return parts


def resolve_path(values: Any, dotted: str) -> tuple[list[str | int], bool]:
    """The concrete path of `dotted` in `values` (selectors as indices), as far as it goes; and whether all of it."""
    node: Any = values
    path: list[str | int] = []
    for part in path_parts(dotted):
        if isinstance(part, tuple):
            field, wanted = part
            found = None
            if isinstance(node, list):
                found = next(
                    (i for i, item in enumerate(node) if isinstance(item, dict) and str(item.get(field)) == wanted), None
                )
            if found is None:
                return path, False
            node, part = node[found], found
        elif isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return path + [part], False
        path.append(part)
    return path, True


def dotted_get(values: Any, dotted: str) -> Any:
    path, complete = resolve_path(values, dotted)
    if not complete:
        return None
    node = values
    for part in path:
        node = node[part]
    return node
