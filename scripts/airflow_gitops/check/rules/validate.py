"""Stage 3: every object against its schema, and every chart's merged values against the chart's schema.

Built-in kinds use the Kubernetes schemas of the cluster's version; custom resources use the CRDs
vendored for the version of the chart that installs them; values use the chart's values.schema.json
at the pinned version, and for a chart that publishes none (or one that lists only some values) the
schema generated from its values.yaml. A key the schema does not know is `helm-values-unknown-key`,
with the closest key it does know.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import yaml

from ...charts.release import ChartRelease
from ...charts.values import without_nulls
from ...model.findings import error
from ...model.rendered import RenderedObject
from ...model.schemas import PUBLISHED, ChartEntry
from ...model.versions import is_exact_chart_version
from ...model.yamlio import PathPart
from ..context import CheckContext, ClusterRender
from . import crd_rules

MAX_ERRORS_PER_OBJECT = 10
_UNEXPECTED = re.compile(r"\('([^']+)' (?:was|were) unexpected\)")


def run(ctx: CheckContext) -> None:
    for cluster in ctx.clusters.values():
        crd_dirs = _crd_dirs(ctx, cluster)
        for obj in cluster.objects:
            _validate_object(ctx, cluster, obj, crd_dirs)
            ctx.objects_validated += 1
        for release in cluster.releases:
            _validate_values(ctx, release)
            ctx.objects_validated += 1


def _crd_dirs(ctx: CheckContext, cluster: ClusterRender) -> list[str]:
    """CRD folders for the operator versions this cluster pins."""
    dirs = []
    for release in cluster.releases:
        entry = ctx.schemas.chart(release.source.chart)
        if entry is None or not entry.crds or not is_exact_chart_version(release.source.version):
            continue  # a range is chart-version-not-exact's to report: no CRD folder belongs to it
        folder = ctx.crd_folder(release)
        if folder is None or not ctx.repo.path(folder).is_dir():
            file, line = ctx.locate(release.app, ["spec", "sources", release.source.index, "targetRevision"])
            ctx.add(
                error(
                    "crd-schema-missing",
                    file,
                    f"no vendored CRDs for chart {entry.name} {release.source.version}",
                    "run `invoke schemas` to vendor them, or pin a version listed in schemas/catalog.yaml",
                    line,
                )
            )
            continue
        dirs.append(folder)
    return dirs


def _schema_errors(validator: Any, instance: Any) -> list[jsonschema.ValidationError]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return errors[:MAX_ERRORS_PER_OBJECT]


def _error_path(err: jsonschema.ValidationError) -> list[PathPart]:
    path: list[PathPart] = list(err.absolute_path)
    unexpected = _UNEXPECTED.search(err.message)
    if unexpected:
        path.append(unexpected.group(1).split("', '")[0])
    return path


def _short(message: str, limit: int = 220) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _dotted(path: list[PathPart]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


Where = Callable[[list[PathPart]], tuple[str, int | None]]


def _validate_object(ctx: CheckContext, cluster: ClusterRender, obj: RenderedObject, crd_dirs: list[str]) -> None:
    validate_object(ctx, cluster, obj, crd_dirs, lambda path: ctx.locate(obj, path), obj.label())


def plans(ctx: CheckContext) -> crd_rules.CrdPlans:
    if ctx.crd_plans is None:
        ctx.crd_plans = crd_rules.CrdPlans(ctx.schemas)
    return ctx.crd_plans


def stats(ctx: CheckContext) -> crd_rules.Stats:
    if ctx.cel_stats is None:
        ctx.cel_stats = crd_rules.Stats()
    return ctx.cel_stats


def validate_object(
    ctx: CheckContext,
    cluster: ClusterRender,
    obj: RenderedObject,
    crd_dirs: list[str],
    where: Where,
    label: str,
    release: ChartRelease | None = None,
) -> None:
    """Findings for one object against its schema; `where` places a path in a file, `label` names the object.

    A custom resource is first defaulted as the API server defaults it, and then also checked for the
    list semantics and CEL rules of its CRD (crd_rules); `release` is the chart release that rendered it."""
    version = ctx.version_of(cluster)
    validator = ctx.schemas.builtin_validator(version, obj.api_version, obj.kind)
    rule = "k8s-schema"
    plan: crd_rules.Plan | None = None
    if validator is None:
        rule = "crd-schema"
        gvk = (obj.group, obj.api_version.rpartition("/")[2], obj.kind)
        for folder in crd_dirs:
            try:
                validator = ctx.schemas.crd_validator(folder, gvk)
            except (OSError, yaml.YAMLError) as exc:
                ctx.add(
                    error(
                        "crd-schema-missing",
                        folder,
                        f"cannot read vendored CRDs: {exc}",
                        "run `invoke schemas` to vendor them again",
                    )
                )
                continue
            if validator is not None:
                plan = plans(ctx).plan(folder, gvk)
                break
    if validator is None:
        file, line = where(["apiVersion"])
        ctx.add(
            error(
                "unknown-kind",
                file,
                f"[{obj.env}] {label}: no schema for {obj.api_version} {obj.kind} in Kubernetes {version} "
                "or in the CRDs of the operators this cluster pins",
                "correct apiVersion/kind, or add the operator that serves it and vendor its CRDs",
                line,
            )
        )
        return
    started = time.perf_counter()
    instance = crd_rules.prepare(obj.obj, plan) if plan is not None else obj.obj
    if plan is not None:
        stats(ctx).seconds += time.perf_counter() - started
    for err in _schema_errors(validator, instance):
        path = _error_path(err)
        file, line = where(path)
        ctx.add(
            error(
                rule,
                file,
                f"[{obj.env}] {label} at {_dotted(path)}: {_short(err.message)}",
                "make the field match the schema of the pinned version (see the message)",
                line,
            )
        )
    if plan is not None:
        _crd_semantics(ctx, obj, plan, instance, where, label, release)


def _crd_semantics(
    ctx: CheckContext,
    obj: RenderedObject,
    plan: crd_rules.Plan,
    instance: dict[str, Any],
    where: Where,
    label: str,
    release: ChartRelease | None,
) -> None:
    """List semantics and CEL rules; transition rules against the object at the base ref, if any."""
    started = time.perf_counter()
    old = None
    if plan.transition_rules and ctx.base is not None:
        found = ctx.base.find(obj, release)
        old = crd_rules.prepare(found, plan) if found is not None else None
    violations = crd_rules.validate(instance, old, plan, stats(ctx))
    stats(ctx).seconds += time.perf_counter() - started
    for violation in violations:
        file, line = where(list(violation.path))
        ctx.add(error(violation.rule, file, f"[{obj.env}] {label}: {violation.message}", violation.fix, line))


def _validate_values(ctx: CheckContext, release: ChartRelease) -> None:
    src = release.source
    if release.merged.missing or release.merged.unresolved:
        app_file, app_line = ctx.locate(release.app, ["spec", "sources", src.index, "helm", "valueFiles"])
    for missing in release.merged.missing:
        ctx.add(
            error(
                "values-file-missing",
                app_file,
                f"[{release.env}] Application {release.app.name} names value file {missing}, which does not exist",
                f"create {missing} or correct the path in helm.valueFiles (missing files are never ignored)",
                app_line,
            )
        )
    for ref in release.merged.unresolved:
        ctx.add(
            error(
                "values-ref-unknown",
                app_file,
                f"[{release.env}] Application {release.app.name}: value file {ref} names no source with that ref",
                "add a source with `ref:` of that name, or use `$values/`",
                app_line,
            )
        )
    entry = ctx.schemas.chart(src.chart)
    if entry is None:
        file, line = ctx.locate(release.app, ["spec", "sources", src.index, "chart"])
        ctx.add(
            error(
                "chart-unknown",
                file,
                f"[{release.env}] chart {src.chart} is not in schemas/catalog.yaml",
                "add the chart to schemas/catalog.yaml and run `invoke schemas`",
                line,
            )
        )
        return
    schema_files = entry.values_schema_files(src.version)
    if not schema_files or not is_exact_chart_version(src.version):
        return  # not checked, or a range that chart-version-not-exact reports: no schema belongs to it
    absent = [f for f in schema_files if not ctx.repo.exists(f)]
    if absent:
        file, line = ctx.locate(release.app, ["spec", "sources", src.index, "targetRevision"])
        what = (
            "publishes values.schema.json" if entry.values_schema == PUBLISHED and not entry.generates else "has a values schema"
        )
        ctx.add(
            error(
                "chart-schema-missing",
                file,
                f"[{release.env}] {src.chart} {src.version} {what}, but {', '.join(absent)} is not vendored",
                "run `invoke schemas` where the chart repository is reachable, and commit the result",
                line,
            )
        )
        return
    if not release.readable:
        return  # yaml-syntax reports the broken file; its values are unknown
    values = without_nulls(release.merged.values)
    seen: set[tuple[str, ...]] = set()
    for schema_file in schema_files:
        validator = ctx.schemas.values_validator(schema_file)
        if not entry.generates:
            _unknown_top_level_keys(ctx, release, validator.schema)
        for err in _schema_errors(validator, values):
            for rule, path, message, fix in _values_problems(err, entry, src.version, schema_file):
                key = (rule, *map(str, path))
                if key in seen:
                    continue  # the published schema said it first
                seen.add(key)
                file, line = ctx.value_location(release, path)
                ctx.add(error(rule, file, f"[{release.env}] {message}", fix, line))


def closest(key: str, known: list[str]) -> str | None:
    """The known key a misspelt one most likely means."""
    found = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not found:
        found = [k for k in known if k.lower() == key.lower()]
    return found[0] if found else None


def _values_problems(
    err: jsonschema.ValidationError, entry: ChartEntry, version: str, schema_file: str
) -> Iterator[tuple[str, list[PathPart], str, str]]:
    """(rule, path, message, fix) for one schema error: one per unknown key, naming the closest known one."""
    chart = f"{entry.name} {version}"
    where: list[PathPart] = list(err.absolute_path)
    if err.validator == "additionalProperties" and err.validator_value is False and isinstance(err.instance, dict):
        schema = err.schema if isinstance(err.schema, dict) else {}
        known = sorted(str(k) for k in schema.get("properties") or {})
        patterns = [re.compile(p) for p in schema.get("patternProperties") or {}]
        under = f"under {_dotted(where)}" if where else "at the top level"
        for key in sorted(str(k) for k in err.instance):
            if key in known or any(p.search(key) for p in patterns):
                continue
            path = [*where, key]
            guess = closest(key, known)
            message = f"{chart} has no value {_dotted(path)}" + (f" (did you mean {_dotted([*where, guess])}?)" if guess else "")
            if guess:
                fix = f"rename '{key}' to '{guess}', the closest value {chart} knows {under} ({schema_file})"
            else:
                listed = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
                fix = f"remove '{key}'; {chart} knows {under}: {listed or 'nothing'} ({schema_file})"
            yield "helm-values-unknown-key", path, message + "; Helm would ignore it", fix
        return
    path = _error_path(err)
    yield (
        "helm-values-schema",
        path,
        f"{chart} values at {_dotted(path)}: {_short(err.message)}",
        f"use a key and type that {schema_file} accepts",
    )


def _unknown_top_level_keys(ctx: CheckContext, release: ChartRelease, schema: Any) -> None:
    """Chart schemas often leave the top level open; a key the chart does not declare is a typo.

    Not for a schema the catalog marks partial: it lists only some of the chart's values."""
    if not isinstance(schema, dict) or "properties" not in schema or schema.get("additionalProperties") is False:
        return
    entry = ctx.schemas.chart(release.source.chart)
    if entry is not None and entry.values_schema_partial:
        return
    known = sorted(set(schema["properties"]) | {"global"})
    src = release.source
    for key in sorted(set(release.merged.values) - set(known)):
        file, line = ctx.value_location(release, [key])
        guess = closest(key, known)
        fix = (
            f"rename '{key}' to '{guess}', the closest top-level value of {src.chart} {src.version}"
            if guess
            else f"remove '{key}'; see the top-level keys of {src.chart} {src.version}'s values.schema.json"
        )
        ctx.add(
            error(
                "helm-values-unknown-key",
                file,
                f"[{release.env}] {src.chart} {src.version} has no top-level value '{key}'"
                + (f" (did you mean '{guess}'?)" if guess else "")
                + "; Helm would ignore it",
                fix,
                line,
            )
        )
