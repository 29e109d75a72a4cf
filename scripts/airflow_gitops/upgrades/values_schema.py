"""A strict values schema for a chart that publishes none, generated from the chart's own files.

The chart's values.yaml (and each bundled subchart's, under its alias) is the list of the values the
chart knows; its templates say which of them are free-form. Each value gets the type of its default
(any type where the default is null, a scalar of any kind where it is ""), and every mapping is
closed (`additionalProperties: false`) unless it is free-form:

- its default is an empty mapping (`annotations: {}`: the chart leaves the keys to the user);
- a template renders it whole (`toYaml .Values.x`, `tpl`, `range $key, $value := .Values.x`, or
  `with .Values.x` and then `toYaml .`), so any key is passed on;
- its key is a Kubernetes field or a map by nature (`resources`, `affinity`, `securityContext`,
  `podAnnotations`, `env`, `extraArgs`, ...; see FREE_FORM_KEYS and FREE_FORM_SUFFIXES);
- the catalog names it (`free_form_values`), for what the rules above cannot see.

Keys the values file documents in a comment at the mapping's indentation (`# envFrom:`) are known
too, of any type. Every value may be null, which Helm reads as "remove the default".

Pure: files in, a JSON schema out. `invoke schemas` (schema_vendor) runs it for a chart version the
catalog marks `values_schema: generated`, and for the values a partial published schema leaves out.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..model import yamlio

GENERATOR = "airflow_gitops/upgrades/values_schema.py"
SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
Path_ = tuple[str, ...]

# Kubernetes fields and maps by nature: their content is the user's, whatever the default shows.
FREE_FORM_KEYS = frozenset(
    {
        "affinity",
        "annotations",
        "args",
        "containerSecurityContext",
        "deploymentStrategy",
        "dnsConfig",
        "env",
        "envFrom",
        "extraArgs",
        "extraContainers",
        "extraEnv",
        "extraEnvFrom",
        "extraEnvVars",
        "extraInitContainers",
        "extraObjects",
        "extraVolumeMounts",
        "extraVolumes",
        "hostAliases",
        "imagePullSecrets",
        "initContainers",
        "labels",
        "lifecycle",
        "livenessProbe",
        "nodeSelector",
        "podSecurityContext",
        "readinessProbe",
        "resources",
        "securityContext",
        "sidecarContainers",
        "sidecars",
        "startupProbe",
        "strategy",
        "tolerations",
        "topologySpreadConstraints",
        "updateStrategy",
        "volumeMounts",
        "volumes",
    }
)
FREE_FORM_SUFFIXES = (
    "Affinity",
    "Annotations",
    "Labels",
    "NodeSelector",
    "SecurityContext",
    "Selector",
    "Tolerations",
)
# A commented-out key the values file documents: `# envFrom:` or `# hostNetwork: true`.
_DOCUMENTED = re.compile(r"^(?P<indent> *)# ?(?P<key>[a-z][A-Za-z0-9_-]*):(?:\s|$)")
_ACTION = re.compile(r"{{-?(.*?)-?}}", re.DOTALL)
_VALUES_REF = re.compile(r"\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_INDEX_REF = re.compile(r'index\s+\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)*)((?:\s+"[^"]+")+)')
_WHOLE = re.compile(r"\b(toYaml|toJson|toPrettyJson|toRawJson|tpl|merge|mergeOverwrite|deepCopy|omit)\b")
_RANGE_MAP = re.compile(r"^\s*range\s+\$\w+\s*,\s*\$\w+\s*:=\s*(?P<target>.+)$", re.DOTALL)
_WITH = re.compile(r"^\s*with\s+(?P<target>.+)$", re.DOTALL)
_OPENS = re.compile(r"^\s*(if|with|range|define|block)\b")
_DOT_ALONE = re.compile(r"(?<![\w.$)\]])\.(?![\w.])")


@dataclass(frozen=True)
class ChartFiles:
    """What the generator reads of a chart or a bundled subchart."""

    values: str  # its values.yaml ('' if it has none)
    templates: Mapping[str, str] = field(default_factory=dict)  # path -> text
    prefix: Path_ = ()  # where its values live in the top chart's: () for the chart, (alias,) for a subchart


class GenerationError(ValueError):
    """A values file the generator cannot read."""


# --- what the templates read, and what they render whole ----------------------------------------------
_BUILTINS = frozenset({"Values", "Release", "Chart", "Capabilities", "Template", "Files", "Subcharts"})
_RELATIVE = re.compile(r"(?<![\w$)\]\"'])\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")


def _refs(expression: str, dot: Path_ | None = None) -> list[Path_]:
    """Value paths an action names: `.Values.a.b`, `index .Values "a" "b"`, and, inside `with .Values.a`, `.b`."""
    found = [tuple(m.group(1).strip(".").split(".")) for m in _VALUES_REF.finditer(expression)]
    found += [
        (*m.group(1).strip(".").split("."), *re.findall(r'"([^"]+)"', m.group(2)))
        if m.group(1)
        else tuple(re.findall(r'"([^"]+)"', m.group(2)))
        for m in _INDEX_REF.finditer(expression)
    ]
    if dot is not None:
        for match in _RELATIVE.finditer(expression):
            parts = tuple(match.group(1).split("."))
            if parts[0] not in _BUILTINS:
                found.append((*dot, *parts))
    return found


@dataclass
class TemplateUse:
    """What a chart's templates do with its values."""

    read: set[Path_] = field(default_factory=set)  # every value path a template names
    whole: set[Path_] = field(default_factory=set)  # value paths handed on whole: any key in them reaches the output


def _dot(blocks: list[tuple[str, Path_ | None]]) -> Path_ | None:
    """What `.` is at this point of a template: the target of the innermost `with` (an `if` keeps the
    dot, any other block makes it unknown), or None at the top."""
    for kind, target in reversed(blocks):
        if kind == "if":
            continue
        return target if kind == "with" else None
    return None


def template_use(templates: Mapping[str, str]) -> TemplateUse:
    use = TemplateUse()
    for text in templates.values():
        # one entry per open block: ("with", its target or None), ("if", None) keeps the dot, others lose it
        blocks: list[tuple[str, Path_ | None]] = []
        for match in _ACTION.finditer(text):
            action = match.group(1).strip()
            if action.startswith("/*") or action.startswith("else"):
                continue
            if action == "end":
                if blocks:
                    blocks.pop()
                continue
            current = _dot(blocks)
            refs = _refs(action, current)
            use.read.update(refs)
            ranged = _RANGE_MAP.match(action)
            if ranged:
                use.whole.update(_refs(ranged.group("target"), current))
            if _WHOLE.search(action):
                use.whole.update(refs)
                if current is not None and _DOT_ALONE.search(action):
                    use.whole.add(current)
            opened = _OPENS.match(action)
            if opened:
                kind = opened.group(1)
                if kind == "with":
                    with_target = _WITH.match(action)
                    targets = _refs(with_target.group("target"), current) if with_target else []
                    blocks.append(("with", targets[0] if len(targets) == 1 else None))
                else:
                    blocks.append(("if" if kind == "if" else kind, None))
    return use


# --- keys the values file documents in comments ----------------------------------------------------
def _mappings(node: yaml.Node, path: Path_, out: list[tuple[int, int, int, Path_]]) -> None:
    """(key column, first line, end line, path) of every block mapping."""
    if isinstance(node, yaml.MappingNode):
        if node.value and not node.flow_style:
            out.append((node.value[0][0].start_mark.column, node.start_mark.line, node.end_mark.line, path))
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                _mappings(value, (*path, str(key.value)), out)


_EMPTY_COLLECTION = re.compile(r"^\s*[^#\s][^#]*:\s*(\{\}|\[\])?\s*(#.*)?$")


def _example_of_previous(lines: list[str], number: int) -> bool:
    """A commented key right under `labels: {}` (no blank line between) is an example of its content."""
    for previous in reversed(lines[:number]):
        if not previous.strip():
            return False
        if not previous.lstrip().startswith("#"):
            return bool(_EMPTY_COLLECTION.match(previous))
    return False


def documented_keys(text: str) -> dict[Path_, set[str]]:
    """Keys named in comments at the indentation of a mapping's keys, by the path of that mapping."""
    try:
        docs = yamlio.documents(text)
    except yaml.YAMLError as exc:
        raise GenerationError(f"values.yaml is not valid YAML ({yamlio.error_text(exc)})") from exc
    if not docs:
        return {}
    blocks: list[tuple[int, int, int, Path_]] = []
    _mappings(docs[0], (), blocks)
    found: dict[Path_, set[str]] = {}
    lines = text.splitlines()
    for number, line in enumerate(lines):
        match = _DOCUMENTED.match(line)
        if not match or _example_of_previous(lines, number):
            continue
        column = len(match.group("indent"))
        inside = [b for b in blocks if b[0] == column and b[1] <= number < max(b[2], b[1] + 1)]
        if inside:
            path = max(inside, key=lambda b: b[1])[3]
            found.setdefault(path, set()).add(match.group("key"))
    return found


# --- the schema ---------------------------------------------------------------------------------------
def _merge(base: Any, over: Any) -> Any:
    """Helm's coalescing of defaults: maps merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(out.get(key), value) if key in out else value
        return out
    return over if over is not None else base


def _scalar_type(value: Any) -> list[str] | None:
    if isinstance(value, bool):
        return ["boolean", "null"]
    if isinstance(value, int):
        return ["integer", "null"]
    if isinstance(value, float):
        return ["number", "null"]
    if isinstance(value, str):
        # "" is a placeholder more often than a type: a number or a boolean set there is no typo
        return ["string", "number", "boolean", "null"] if value == "" else ["string", "null"]
    return None  # null: nothing to learn from


@dataclass
class _Rules:
    whole: set[Path_]
    known: dict[Path_, set[str]]  # keys documented in comments or read by a template, by the path of their mapping
    free_form: tuple[str, ...]

    def any_type(self, path: Path_) -> bool:
        """A Kubernetes field, or a value the catalog names: its content is the user's, whatever its default."""
        dotted = ".".join(path)
        return bool(path) and (path[-1] in FREE_FORM_KEYS or any(fnmatch.fnmatchcase(dotted, p) for p in self.free_form))

    def open_collection(self, path: Path_) -> bool:
        """A mapping or list whose keys are the user's: a template hands it on whole, or its name says so.

        Only a collection (or an unset value) is opened this way: `tpl .Values.clusterName` keeps a
        string a string, and `addInjectorAnnotations: true` is a boolean."""
        return bool(path) and (path in self.whole or path[-1].endswith(FREE_FORM_SUFFIXES))


def _schema(value: Any, path: Path_, rules: _Rules) -> dict[str, Any]:
    if rules.any_type(path):
        return {}
    if (isinstance(value, (dict, list)) or value is None) and rules.open_collection(path):
        return {}
    if isinstance(value, dict):
        if not value:
            return {"type": ["object", "null"]}
        properties = {str(k): _schema(v, (*path, str(k)), rules) for k, v in value.items()}
        for key in sorted(rules.known.get(path, ())):
            properties.setdefault(key, {})
        return {"type": ["object", "null"], "properties": properties, "additionalProperties": False}
    if isinstance(value, list):
        return {"type": ["array", "null"]}
    types = _scalar_type(value)
    return {"type": types} if types else {}


def _load(chart: ChartFiles) -> dict[str, Any]:
    try:
        data = yamlio.load(chart.values) if chart.values.strip() else {}
    except yaml.YAMLError as exc:
        raise GenerationError(f"values.yaml is not valid YAML ({yamlio.error_text(exc)})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GenerationError("values.yaml is not a mapping")
    return data


def _under(prefix: Path_, data: Any) -> Any:
    for key in reversed(prefix):
        data = {key: data}
    return data


def generate(charts: Sequence[ChartFiles], free_form: Iterable[str] = (), title: str = "") -> dict[str, Any]:
    """The schema of a chart's values: the chart first, then its bundled subcharts under their prefixes.

    The chart's own defaults for a subchart (`redis-ha: {enabled: false}`) are merged over the
    subchart's, and a subchart's `global` joins the chart's."""
    merged: dict[str, Any] = {}
    rules = _Rules(set(), {}, tuple(free_form))
    for chart in sorted(charts, key=lambda c: len(c.prefix), reverse=True):  # subcharts first, the chart last
        data = _load(chart)
        if chart.prefix and "global" in data:
            merged = _merge(merged, {"global": data.pop("global")})
        merged = _merge(merged, _under(chart.prefix, data))
        use = template_use(chart.templates)
        rules.whole |= {(*chart.prefix, *p) for p in use.whole}
        for path in use.read:
            for depth in range(len(path)):
                rules.known.setdefault((*chart.prefix, *path[:depth]), set()).add(path[depth])
        for path, keys in documented_keys(chart.values).items():
            rules.known.setdefault((*chart.prefix, *path), set()).update(keys)
    merged.setdefault("global", {})
    schema = _schema(merged, (), rules)
    schema["type"] = "object"
    out: dict[str, Any] = {"$schema": SCHEMA_DIALECT}
    if title:
        out["title"] = title
    out.update(schema)
    return out


def known_keys(schema: Any) -> list[str]:
    """The keys a (sub)schema lists, for suggesting the closest one."""
    if not isinstance(schema, dict):
        return []
    return sorted(str(k) for k in (schema.get("properties") or {}))
