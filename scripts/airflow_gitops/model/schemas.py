"""Vendored schemas: Kubernetes built-in kinds, CRDs keyed by version, and chart values schemas."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
from packaging.version import InvalidVersion, Version

from . import yamlio

CATALOG = "schemas/catalog.yaml"
Validator = jsonschema.protocols.Validator
# How a chart's values are checked (catalog `values_schema`)
PUBLISHED = "published"  # the chart ships values.schema.json, vendored as it is
GENERATED = "generated"  # it ships none: a strict schema is generated from its values.yaml and templates
NONE = "none"  # not checked
VALUES_SCHEMA_KINDS = (PUBLISHED, GENERATED, NONE)
VALUES_FILE = "values.schema.json"


@dataclass(frozen=True)
class RequiredValue:
    """A chart setting the platform depends on, checked by policy under its own rule id."""

    path: str
    equals: Any
    rule: str
    why: str


@dataclass(frozen=True)
class CheckovSkip:
    """A checkov check that does not apply to what a chart renders, and why: `invoke check --all` writes it
    onto the rendered objects as a `checkov.io/skipN` annotation, so checkov reports it as skipped."""

    check: str
    reason: str
    objects: tuple[str, ...] = ()  # 'Kind/name' of the rendered objects it is for; empty: every object

    def applies_to(self, kind: str, name: str) -> bool:
        return not self.objects or f"{kind}/{name}" in self.objects


@dataclass(frozen=True)
class ChartEntry:
    """What the catalog knows of one chart: where it lives and which schemas belong to its versions."""

    name: str
    repo_url: str
    values_schema: str  # PUBLISHED, GENERATED or NONE
    crds: str | None  # folder under schemas/crds/, if the chart installs CRDs
    crd_versions: dict[str, str]  # chart version -> CRD folder version
    workloads: tuple[str, ...]  # dotted value paths of blocks that carry `resources`
    aws_service_accounts: tuple[str, ...]  # dotted value paths of service account names that reach AWS
    bindings: dict[str, str]  # dotted value path -> value derived from cluster.yaml ('{logs_bucket}')
    required_values: tuple[RequiredValue, ...]
    values_schema_partial: bool = False  # the schema describes only some top-level values
    components: dict[str, str] = field(default_factory=dict)  # rendered `component` label -> value path
    high_availability: tuple[str, ...] = ()  # components that run 2 or more replicas in prod
    containers_without_probes: tuple[str, ...] = ()  # sidecars the chart gives no probe and no value for one
    checkov_skips: tuple[CheckovSkip, ...] = ()  # checkov checks that do not apply to what the chart renders
    free_form_values: tuple[str, ...] = ()  # value paths (globs) the generated schema leaves open

    def values_schema_file(self, version: str) -> str:
        """The chart's own values.schema.json, vendored as it is."""
        return f"schemas/charts/{self.name}/{version}/{VALUES_FILE}"

    def generated_schema_file(self, version: str) -> str:
        """The schema generated from the chart's values.yaml and templates (a folder apart: not upstream's)."""
        return f"schemas/generated/{self.name}/{version}/{VALUES_FILE}"

    @property
    def generates(self) -> bool:
        """A schema is generated: the chart ships none, or the one it ships lists only some values."""
        return self.values_schema == GENERATED or (self.values_schema == PUBLISHED and self.values_schema_partial)

    def values_schema_files(self, version: str) -> list[str]:
        """Every schema the chart's values are checked against at a version, published first."""
        files = [self.values_schema_file(version)] if self.values_schema == PUBLISHED else []
        return files + ([self.generated_schema_file(version)] if self.generates else [])

    def crd_dir(self, version: str) -> str | None:
        if not self.crds or version not in self.crd_versions:
            return None
        return f"schemas/crds/{self.crds}/{self.crd_versions[version]}"


def _checkov_skips(own: Any, everywhere: tuple[CheckovSkip, ...] = ()) -> tuple[CheckovSkip, ...]:
    """A chart's skips, then the catalog-wide ones for the checks the chart does not skip itself."""
    skips = tuple(
        CheckovSkip(str(s["check"]), " ".join(str(s.get("reason", "")).split()), tuple(str(o) for o in s.get("objects") or ()))
        for s in own or ()
        if isinstance(s, dict) and "check" in s
    )
    mine = {s.check for s in skips}
    return skips + tuple(s for s in everywhere if s.check not in mine)


def parse_catalog(data: Any) -> dict[str, ChartEntry]:
    charts = (data or {}).get("charts") or {}
    everywhere = _checkov_skips((data or {}).get("checkov_skips"))
    entries = {}
    for name, spec in charts.items():
        spec = spec or {}
        entries[name] = ChartEntry(
            name=name,
            repo_url=str(spec.get("repo_url", "")),
            values_schema=str(spec.get("values_schema", NONE)),
            crds=spec.get("crds"),
            crd_versions={str(k): str(v) for k, v in (spec.get("versions") or {}).items()},
            workloads=tuple(spec.get("workloads") or ()),
            aws_service_accounts=tuple(spec.get("aws_service_accounts") or ()),
            bindings={str(k): str(v) for k, v in (spec.get("bindings") or {}).items()},
            required_values=tuple(
                RequiredValue(str(r["path"]), r.get("equals"), str(r.get("rule", "required-value")), str(r.get("why", "")))
                for r in spec.get("required_values") or ()
            ),
            values_schema_partial=spec.get("values_schema_scope") == "partial",
            components={str(k): str(v) for k, v in (spec.get("components") or {}).items()},
            high_availability=tuple(str(c) for c in spec.get("high_availability") or ()),
            containers_without_probes=tuple(str(c) for c in spec.get("containers_without_probes") or ()),
            checkov_skips=_checkov_skips(spec.get("checkov_skips"), everywhere),
            free_form_values=tuple(str(p) for p in spec.get("free_form_values") or ()),
        )
    return entries


def bundled_kubernetes_versions() -> list[str]:
    """The Kubernetes minors whose schemas kubernetes-validate bundles, oldest first ('1.25', ...)."""
    base = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    found = []
    for entry in base.iterdir():
        if entry.name.endswith("-local-strict"):
            try:
                found.append(Version(entry.name[1:].split("-")[0]))
            except InvalidVersion:
                continue
    return [f"{v.major}.{v.minor}" for v in sorted(set(found))]


def kube_minor(version: str) -> str:
    """'1.34' or 'v1.34.2' -> '1.34'."""
    parts = version.lstrip("v").split(".")
    return ".".join(parts[:2])


def strict(schema: Any) -> Any:
    """Close every object schema that lists its properties, as `kubectl apply --validate=strict` does.

    The API server silently prunes unknown fields of custom resources, so a misspelt field would
    vanish on sync; a schema that keeps unknown fields says so with x-kubernetes-preserve-unknown-fields.
    """
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if out.get("nullable") is True:
        # OpenAPI's nullable is not JSON Schema: a null is valid where the schema says so
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


@dataclass(frozen=True)
class CrdVersion:
    """One served version of a CRD: its schema as written, and whether status is a subresource."""

    schema: dict[str, Any]
    status_subresource: bool


def crd_versions_of(doc: dict[str, Any]) -> list[tuple[tuple[str, str, str], CrdVersion]]:
    spec = doc.get("spec") or {}
    group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
    out = []
    for version in spec.get("versions") or []:
        schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {}
        status = "status" in ((version.get("subresources") or {}) or {})
        if version.get("served", True):
            out.append(((group, version.get("name", ""), kind), CrdVersion(schema, status)))
    return out


CrdVersions = list[tuple[tuple[str, str, str], CrdVersion]]
# Every CRD file parsed in this process, by the sha256 of its bytes: a render of each environment, of
# each side of `invoke diff`, and of a fleet in a benchmark, each with its own SchemaStore (and the
# base of a diff in a folder of its own), parses the megabytes of vendored CRDs once. Read-only.
_CRD_FILES: dict[str, CrdVersions] = {}
_CRD_FILES_LOCK = threading.Lock()


def crd_file_versions(path: Path) -> CrdVersions:
    """(group, version, kind) and the strict schema of every served version the CRDs of one file define."""
    data = path.read_bytes()
    key = hashlib.sha256(data).hexdigest()
    with _CRD_FILES_LOCK:
        found = _CRD_FILES.get(key)
    if found is None:
        found = []
        for doc in yamlio.load_all(data.decode("utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                found.extend(crd_versions_of(doc))
        with _CRD_FILES_LOCK:
            found = _CRD_FILES.setdefault(key, found)
    return found


@dataclass
class SchemaStore:
    """Loads each schema file once per run and hands out reusable validators."""

    root: Path
    _crd_dirs: dict[str, dict[tuple[str, str, str], CrdVersion]] = field(default_factory=dict)
    _crd_scopes: dict[str, dict[tuple[str, str], str]] = field(default_factory=dict)
    _validators: dict[Any, Validator] = field(default_factory=dict)
    _builtin_registry: dict[str, tuple[Path, referencing.Registry[Any]]] = field(default_factory=dict)

    @cached_property
    def catalog(self) -> dict[str, ChartEntry]:
        path = self.root / CATALOG
        return parse_catalog(yamlio.load(path.read_text(encoding="utf-8"))) if path.is_file() else {}

    def chart(self, name: str) -> ChartEntry | None:
        return self.catalog.get(name)

    # --- custom resources -------------------------------------------------------------------
    def crds_in(self, rel_dir: str) -> dict[tuple[str, str, str], CrdVersion]:
        if rel_dir not in self._crd_dirs:
            index: dict[tuple[str, str, str], CrdVersion] = {}
            for file in sorted((self.root / rel_dir).glob("*.yaml")):
                index.update(crd_file_versions(file))
            self._crd_dirs[rel_dir] = index
        return self._crd_dirs[rel_dir]

    def crd_scopes(self, rel_dir: str) -> dict[tuple[str, str], str]:
        """(group, kind) -> "Namespaced" or "Cluster", for the CRDs of a vendored folder."""
        if rel_dir not in self._crd_scopes:
            scopes: dict[tuple[str, str], str] = {}
            for file in sorted((self.root / rel_dir).glob("*.yaml")):
                for doc in yamlio.load_all(file.read_text(encoding="utf-8")):
                    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                        spec = doc.get("spec") or {}
                        kind = str((spec.get("names") or {}).get("kind", ""))
                        scopes[(str(spec.get("group", "")), kind)] = str(spec.get("scope", "Namespaced"))
            self._crd_scopes[rel_dir] = scopes
        return self._crd_scopes[rel_dir]

    def crd_validator(self, rel_dir: str, gvk: tuple[str, str, str]) -> Validator | None:
        key = ("crd", rel_dir, gvk)
        if key not in self._validators:
            version = self.crds_in(rel_dir).get(gvk)
            if version is None:
                return None
            self._validators[key] = jsonschema.Draft7Validator(strict(version.schema))
        return self._validators[key]

    def crd_version(self, rel_dir: str, gvk: tuple[str, str, str]) -> CrdVersion | None:
        return self.crds_in(rel_dir).get(gvk)

    # --- chart values -----------------------------------------------------------------------
    def values_validator(self, rel_file: str) -> Validator:
        key = ("values", rel_file)
        if key not in self._validators:
            schema = json.loads((self.root / rel_file).read_text(encoding="utf-8"))
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
            self._validators[key] = cls(schema)
        return self._validators[key]

    # --- built-in kinds -------------------------------------------------------------------
    def _builtin_dir(self, kubernetes_version: str) -> tuple[Path, referencing.Registry[Any]] | None:
        minor = kube_minor(kubernetes_version)
        if minor not in self._builtin_registry:
            base = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
            available = []
            for entry in base.iterdir():
                name = entry.name
                if name.endswith("-local-strict"):
                    try:
                        available.append((Version(name[1:].split("-")[0]), name))
                    except InvalidVersion:
                        continue
            try:
                wanted = Version(minor)
            except InvalidVersion:
                return None
            candidates = [
                name for version, name in sorted(available) if (version.major, version.minor) <= (wanted.major, wanted.minor)
            ]
            if not candidates:
                return None
            folder = Path(str(base.joinpath(candidates[-1])))
            definitions = json.loads((folder / "_definitions.json").read_text(encoding="utf-8"))
            registry: referencing.Registry[Any] = referencing.Registry().with_resource(
                definitions["$id"], referencing.Resource.from_contents(definitions)
            )
            self._builtin_registry[minor] = (folder, registry)
        return self._builtin_registry[minor]

    def builtin_validator(self, kubernetes_version: str, api_version: str, kind: str) -> Validator | None:
        key = ("builtin", kube_minor(kubernetes_version), api_version, kind)
        if key in self._validators:
            return self._validators[key]
        found = self._builtin_dir(kubernetes_version)
        if found is None:
            return None
        folder, registry = found
        group, _, version = api_version.rpartition("/")
        group_part = group.split(".")[0]
        suffix = f"{group_part}-{version}" if group_part else version
        file = folder / f"{kind.lower()}-{suffix}.json"
        if not file.is_file():
            return None
        schema = json.loads(file.read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        self._validators[key] = validator
        return validator

    def builtin_supported(self, kubernetes_version: str) -> bool:
        return self._builtin_dir(kubernetes_version) is not None
