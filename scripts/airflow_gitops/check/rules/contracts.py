"""Stage 4: the contracts between cluster.yaml, the Applications, their values and the AppProjects."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import jsonschema

from ...charts.release import ChartRelease
from ...charts.values import dotted_get, dotted_path, manifest_sources, ref_sources, sources_of
from ...model import windows, yamlio
from ...model.facts import expand, template_complete
from ...model.findings import UsageError, error
from ...model.rendered import RenderedObject
from ...model.versions import is_exact_chart_version
from ..context import CheckContext, ClusterRender
from . import ci_trust, cluster_facts, terraform_contracts

CLUSTER_SCHEMA = "schemas/cluster.schema.json"
STORE_KINDS = {"SecretStore", "ClusterSecretStore"}


def run(ctx: CheckContext) -> None:
    _cluster_files(ctx)
    _promotion_order(ctx)
    for cluster in ctx.clusters.values():
        _addons(ctx, cluster)
        for app in cluster.applications():
            _application_sources(ctx, cluster, app)
            _app_project(ctx, cluster, app)
        for release in cluster.releases:
            _cluster_bindings(ctx, cluster, release)
        _secret_stores(ctx, cluster)
        _workload_identities(ctx, cluster)
        _freeze_windows(ctx, cluster)
    terraform_contracts.run(ctx)
    ci_trust.run(ctx)
    cluster_facts.run(ctx)  # last: it leaves alone the lines the rules above already named


# --- cluster.yaml -----------------------------------------------------------------------------
def _cluster_files(ctx: CheckContext) -> None:
    if not ctx.repo.exists(CLUSTER_SCHEMA):
        return
    validator = jsonschema.Draft7Validator(json.loads(ctx.repo.text(CLUSTER_SCHEMA)))
    for env in ctx.envs:
        rel = ctx.repo.cluster_file(env)
        if rel in ctx.broken_files:
            continue
        data = ctx.repo.yaml_doc(rel)
        for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
            path = list(err.absolute_path)
            ctx.add(
                error(
                    "cluster-config",
                    rel,
                    f"{'.'.join(map(str, path)) or '(top level)'}: {err.message}",
                    f"correct it to match {CLUSTER_SCHEMA}",
                    yamlio.line_of(ctx.repo.text(rel), path),
                )
            )
        if isinstance(data, dict) and data.get("environment") not in (None, env):
            ctx.add(
                error(
                    "cluster-config",
                    rel,
                    f"environment is '{data.get('environment')}' but the folder is '{env}'",
                    f"set environment: {env}, or rename the folder",
                    1,
                )
            )


def _promotion_order(ctx: CheckContext) -> None:
    seen: dict[int, str] = {}
    for env in ctx.repo.envs_readable():
        rel = ctx.repo.cluster_file(env)
        if rel in ctx.broken_files:
            continue
        order = ctx.repo.cluster(env).order
        if order in seen:
            ctx.add(
                error(
                    "promotion-order",
                    rel,
                    f"promotion.order {order} is also the order of {seen[order]}",
                    "give every environment its own place in the promotion order",
                    yamlio.line_of(ctx.repo.text(rel), ["promotion", "order"]),
                )
            )
        seen[order] = env


# --- Applications -----------------------------------------------------------------------------
def _addons(ctx: CheckContext, cluster: ClusterRender) -> None:
    apps = {a.name for a in cluster.applications()}
    listed = list(cluster.config.addons)
    wanted = set(listed)
    rel = cluster.config.file
    text = ctx.repo.text(rel)
    for name in sorted(wanted - apps):
        ctx.add(
            error(
                "addons-mismatch",
                rel,
                f"add-on {name} is listed in cluster.yaml but no Application {name} is rendered",
                f"add ../../apps/{name} to clusters/{cluster.env}/kustomization.yaml, or drop it from addons",
                yamlio.line_of(text, ["addons", listed.index(name)]),
            )
        )
    for name in sorted(apps - wanted):
        ctx.add(
            error(
                "addons-mismatch",
                rel,
                f"Application {name} is rendered but not listed under addons",
                f"add {name} to addons in {rel} (Terraform reads it to create the app's AWS side)",
                yamlio.line_of(text, ["addons"]),
            )
        )


def _application_sources(ctx: CheckContext, cluster: ClusterRender, app: RenderedObject) -> None:
    sources = sources_of(app.obj)
    if not sources:
        file, line = ctx.locate(app, ["spec"])
        ctx.add(
            error(
                "application-sources-missing",
                file,
                f"[{cluster.env}] Application {app.name} has no sources",
                f"add clusters/{cluster.env}/apps/{app.name}.yaml with the chart and $values sources",
                line,
            )
        )
        return
    for index, src in enumerate(sources):
        if src.get("chart"):
            version = src.get("targetRevision")
            file, line = ctx.locate(app, ["spec", "sources", index, "targetRevision"])
            if version in (None, ""):
                ctx.add(
                    error(
                        "chart-version-missing",
                        file,
                        f"[{cluster.env}] Application {app.name}: chart {src['chart']} has no targetRevision",
                        "pin the chart to an exact version in targetRevision",
                        line,
                    )
                )
            elif not is_exact_chart_version(yamlio.scalar_str(version)):
                ctx.add(
                    error(
                        "chart-version-not-exact",
                        file,
                        f"[{cluster.env}] Application {app.name}: chart {src['chart']} targetRevision '{version}' is not an exact "
                        "version; Helm reads it as a range and picks the newest release it matches",
                        "pin one release as MAJOR.MINOR.PATCH, such as 1.2.3 (quoted, so YAML keeps it a string)",
                        line,
                    )
                )
            _value_files(ctx, cluster, app, index, src)
    _manifest_sources(ctx, cluster, app)
    refs = ref_sources(app.obj)
    values_ref = refs.get("values")
    if values_ref is None:
        return
    index = sources.index(values_ref)
    for key, expected in (("repoURL", cluster.config.repo_url), ("targetRevision", cluster.config.revision)):
        if str(values_ref.get(key, "")) != expected:
            file, line = ctx.locate(app, ["spec", "sources", index, key])
            ctx.add(
                error(
                    "values-source-mismatch",
                    file,
                    f"[{cluster.env}] Application {app.name}: $values source {key} is '{values_ref.get(key, '')}', "
                    f"but cluster.yaml gitops says '{expected}'",
                    f"set {key}: {expected} (the values must come from this repository at the environment's revision)",
                    line,
                )
            )


def _manifest_sources(ctx: CheckContext, cluster: ClusterRender, app: RenderedObject) -> None:
    """A manifests folder comes from this repository at the environment's revision, exists, and is
    either shared (apps/) or the environment's own (clusters/<env>/), never another environment's."""
    for source in manifest_sources(app.obj):
        for key, actual, expected in (
            ("repoURL", source.repo_url, cluster.config.repo_url),
            ("targetRevision", source.revision, cluster.config.revision),
        ):
            if actual != expected:
                file, line = ctx.locate(app, ["spec", "sources", source.index, key])
                ctx.add(
                    error(
                        "values-source-mismatch",
                        file,
                        f"[{cluster.env}] Application {app.name}: manifests source {key} is '{actual}', but cluster.yaml gitops says '{expected}'",
                        f"set {key}: {expected} (the manifests must come from this repository at the environment's revision)",
                        line,
                    )
                )
        file, line = ctx.locate(app, ["spec", "sources", source.index, "path"])
        if not ctx.repo.exists(f"{source.path}/kustomization.yaml"):
            ctx.add(
                error(
                    "manifests-path",
                    file,
                    f"[{cluster.env}] Application {app.name}: manifests path {source.path} has no kustomization.yaml",
                    "point path at a folder with a kustomization.yaml (apps/<app>/manifests or clusters/<env>/manifests/<app>)",
                    line,
                )
            )
        elif source.path.startswith("clusters/") and not source.path.startswith(f"clusters/{cluster.env}/"):
            ctx.add(
                error(
                    "manifests-path",
                    file,
                    f"[{cluster.env}] Application {app.name}: manifests path {source.path} belongs to another environment",
                    f"use clusters/{cluster.env}/... or a shared folder under apps/",
                    line,
                )
            )


def _value_files(ctx: CheckContext, cluster: ClusterRender, app: RenderedObject, index: int, src: dict[str, Any]) -> None:
    helm = src.get("helm") or {}

    def where(key: str) -> tuple[str, int | None]:
        return ctx.locate(app, ["spec", "sources", index, "helm", key])

    if helm.get("ignoreMissingValueFiles"):
        file, line = where("ignoreMissingValueFiles")
        ctx.add(
            error(
                "ignore-missing-value-files",
                file,
                f"[{cluster.env}] Application {app.name} sets ignoreMissingValueFiles, which silently drops a misplaced override",
                "remove ignoreMissingValueFiles; every listed values file must exist",
                line,
            )
        )
    expected = [f"$values/apps/{app.name}/values.yaml", f"$values/clusters/{cluster.env}/values/{app.name}.yaml"]
    actual = [str(v) for v in helm.get("valueFiles") or []]
    if actual != expected:
        file, line = where("valueFiles")
        ctx.add(
            error(
                "value-files-layout",
                file,
                f"[{cluster.env}] Application {app.name}: valueFiles {actual} are not the base then the environment's file",
                f"set helm.valueFiles to {expected}",
                line,
            )
        )


def _app_project(ctx: CheckContext, cluster: ClusterRender, app: RenderedObject) -> None:
    spec = app.obj.get("spec") or {}
    project_name = str(spec.get("project", ""))
    if project_name in ("", "default"):
        file, line = ctx.locate(app, ["spec", "project"])
        ctx.add(
            error(
                "app-project",
                file,
                f"[{cluster.env}] Application {app.name} uses the default AppProject, which allows anything",
                "assign a project from apps/argo-cd/projects.yaml that limits sources and destinations",
                line,
            )
        )
        return
    projects = {p.name: p for p in cluster.of_kind("AppProject")}
    project = projects.get(project_name)
    if project is None:
        file, line = ctx.locate(app, ["spec", "project"])
        ctx.add(
            error(
                "app-project",
                file,
                f"[{cluster.env}] Application {app.name} names AppProject {project_name}, which is not rendered",
                "define the AppProject in apps/argo-cd/projects.yaml or correct spec.project",
                line,
            )
        )
        return
    pspec = project.obj.get("spec") or {}
    repos = [str(r) for r in pspec.get("sourceRepos") or []]
    for index, src in enumerate(sources_of(app.obj)):
        url = str(src.get("repoURL", ""))
        if not any(fnmatch.fnmatch(url, pattern) for pattern in repos):
            sfile, sline = ctx.locate(app, ["spec", "sources", index, "repoURL"])
            ctx.add(
                error(
                    "app-project",
                    sfile,
                    f"[{cluster.env}] Application {app.name}: source {url} is not in AppProject {project_name} sourceRepos",
                    f"add {url} to the sourceRepos of {project_name}, or use an allowed repository",
                    sline,
                )
            )
    dest = spec.get("destination") or {}
    namespace = str(dest.get("namespace", ""))
    allowed = [d for d in pspec.get("destinations") or [] if isinstance(d, dict)]
    if not any(fnmatch.fnmatch(namespace, str(d.get("namespace", ""))) for d in allowed):
        dfile, dline = ctx.locate(app, ["spec", "destination", "namespace"])
        ctx.add(
            error(
                "app-project",
                dfile,
                f"[{cluster.env}] Application {app.name}: namespace {namespace} is not a destination of AppProject {project_name}",
                f"add the namespace to {project_name}'s destinations, or deploy into an allowed one",
                dline,
            )
        )


# --- values that must agree with cluster.yaml -------------------------------------------------
def _cluster_bindings(ctx: CheckContext, cluster: ClusterRender, release: ChartRelease) -> None:
    entry = ctx.schemas.chart(release.source.chart)
    if entry is None or not release.readable:
        return
    own_folder = f"clusters/{cluster.env}/"
    for dotted, template in entry.bindings.items():
        if not template_complete(template, cluster.config):
            continue  # an optional cluster.yaml field that is not set binds nothing
        expected = expand(template, cluster.config)
        actual = dotted_get(release.merged.values, dotted)
        if actual == expected:
            continue
        file, line, holds_value = ctx.binding_location(release, dotted)
        # A replacement a machine can make: the environment's own file holds the scalar on that line.
        literal = (
            holds_value
            and file.startswith(own_folder)
            and isinstance(actual, str | int | float)
            and not isinstance(actual, bool)
            and ctx.line_holds(file, line, str(actual))
        )
        where = f"clusters/{cluster.env}/values/{release.app.name}.yaml"
        ctx.add(
            error(
                "cluster-values-mismatch",
                file,
                f"[{cluster.env}] {release.source.chart} value {dotted} is {actual!r}, but cluster.yaml makes it {expected!r}",
                f"set {dotted}: {expected} in {where} (derived from {cluster.config.file})",
                line,
                expected=expected,
                actual=str(actual) if literal else None,
            )
        )


# --- External Secrets ---------------------------------------------------------------------------
def _store_refs(obj: RenderedObject) -> list[tuple[list[str | int], dict[str, Any]]]:
    spec = obj.obj.get("spec") or {}
    refs: list[tuple[list[str | int], dict[str, Any]]] = []
    if isinstance(spec.get("secretStoreRef"), dict):
        refs.append((["spec", "secretStoreRef", "name"], spec["secretStoreRef"]))
    for field_name in ("data", "dataFrom"):
        for i, item in enumerate(spec.get(field_name) or []):
            store = ((item or {}).get("sourceRef") or {}).get("storeRef")
            if isinstance(store, dict):
                refs.append((["spec", field_name, i, "sourceRef", "storeRef", "name"], store))
    return refs


def _secret_stores(ctx: CheckContext, cluster: ClusterRender) -> None:
    stores = {(o.kind, o.namespace, o.name) for o in cluster.objects if o.kind in STORE_KINDS}
    for obj in cluster.objects:
        if obj.kind != "ExternalSecret":
            continue
        for path, ref in _store_refs(obj):
            kind = str(ref.get("kind", "SecretStore"))
            name = str(ref.get("name", ""))
            namespace = "" if kind == "ClusterSecretStore" else obj.namespace
            if (kind, namespace, name) not in stores:
                file, line = ctx.locate(obj, path)
                ctx.add(
                    error(
                        "secret-store-missing",
                        file,
                        f"[{cluster.env}] ExternalSecret {obj.namespace}/{obj.name} uses {kind} {name}, which this cluster does not define",
                        "name a store from apps/external-secrets (e.g. aws-secrets-manager) or define it",
                        line,
                    )
                )


# --- Pod Identity -------------------------------------------------------------------------------
def _workload_identities(ctx: CheckContext, cluster: ClusterRender) -> None:
    """Every service account that reaches AWS has an identity in cluster.yaml, and every identity a service account."""
    declared = {
        (str(v.get("namespace")), str(v.get("service_account"))): key
        for key, v in cluster.config.workload_identities.items()
        if isinstance(v, dict)
    }
    found: dict[tuple[str, str], tuple[ChartRelease, str]] = {}
    unknown = [r for r in cluster.releases if not r.readable]  # whose service accounts cannot be known
    for release in cluster.releases:
        entry = ctx.schemas.chart(release.source.chart)
        if entry is None or not release.readable:
            continue
        namespace = str(((release.app.obj.get("spec") or {}).get("destination") or {}).get("namespace", ""))
        for dotted in entry.aws_service_accounts:
            name = dotted_get(release.merged.values, dotted)
            if not name:
                file, line = ctx.value_location(release, dotted_path(dotted))
                ctx.add(
                    error(
                        "workload-identity",
                        file,
                        f"[{cluster.env}] {release.source.chart}: {dotted} is not set, so Pod Identity cannot bind its role by name",
                        f"set {dotted} to the service account named in cluster.yaml workload_identities",
                        line,
                    )
                )
                continue
            found[(namespace, str(name))] = (release, dotted)
    for key, (release, dotted) in sorted(found.items()):
        if key not in declared:
            rel = cluster.config.file
            ctx.add(
                error(
                    "workload-identity",
                    rel,
                    f"[{cluster.env}] service account {key[0]}/{key[1]} ({release.source.chart} {dotted}) needs AWS "
                    "but has no entry in workload_identities",
                    "add it to workload_identities, so Terraform creates and binds its role",
                    yamlio.line_of(ctx.repo.text(rel), ["workload_identities"]),
                )
            )
    for key, name in sorted(declared.items()):
        if key not in found and not unknown:
            rel = cluster.config.file
            ctx.add(
                error(
                    "workload-identity",
                    rel,
                    f"[{cluster.env}] workload identity {name} binds {key[0]}/{key[1]}, but no chart in this cluster runs that service account",
                    "correct the namespace/service_account, or remove the entry",
                    yamlio.line_of(ctx.repo.text(rel), ["workload_identities", name]),
                )
            )


# --- freeze windows: cluster.yaml and Argo CD agree ------------------------------------------------
def _freeze_windows(ctx: CheckContext, cluster: ClusterRender) -> None:
    """The frozen AppProjects carry exactly the sync windows rendered from promotion.freeze."""
    rel = ctx.repo.cluster_file(cluster.env)
    if rel in ctx.broken_files:
        return
    line = yamlio.line_of(ctx.repo.text(rel), ["promotion", "freeze"]) or yamlio.line_of(ctx.repo.text(rel), ["promotion"])
    try:
        expected = windows.sync_windows(cluster.config.freeze)
    except UsageError as exc:
        ctx.add(
            error(
                "cluster-config",
                rel,
                str(exc).removeprefix(f"{rel}: "),
                "correct the window (see schemas/cluster.schema.json)",
                line,
            )
        )
        return
    fix = (
        f"run invoke sync-windows --env {cluster.env} and commit clusters/{cluster.env}/{windows.SYNC_WINDOWS_PATCH}, "
        "so that Argo CD refuses to sync in the same windows as invoke"
    )
    projects = {p.name: p for p in cluster.of_kind("AppProject")}
    for name in windows.FROZEN_PROJECTS:
        project = projects.get(name)
        if project is None:
            continue
        actual = (project.obj.get("spec") or {}).get("syncWindows") or []
        if actual == expected:
            continue
        ctx.add(
            error(
                "freeze-window-mismatch",
                rel,
                f"[{cluster.env}] AppProject {name} has {len(actual)} sync windows {_windows_text(actual)}, "
                f"but promotion.freeze renders {len(expected)} {_windows_text(expected)}",
                fix,
                line,
            )
        )


def _windows_text(found: list[Any]) -> str:
    shown = [
        f"{w.get('kind', '?')} '{w.get('schedule', '?')}' for {w.get('duration', '?')} ({w.get('timeZone') or 'UTC'})"
        for w in found
        if isinstance(w, dict)
    ]
    return "(" + ", ".join(shown) + ")" if shown else "(none)"
