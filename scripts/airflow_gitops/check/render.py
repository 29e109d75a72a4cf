"""Stage 2: render every environment with `kubectl kustomize`, in parallel: what the root
Application renders (clusters/<env>/), then the manifests folder each Application names as a `path`
source of this repository (apps/<app>/manifests, or clusters/<env>/manifests/<app> where an
environment patches them)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from ..adapters.kustomize import KustomizeError, render
from ..charts.renderer import in_namespace
from ..charts.values import ManifestSource, manifest_sources
from ..model import yamlio
from ..model.findings import Finding, error
from ..model.rendered import RenderedObject
from ..model.repo import Repo
from .context import CheckContext, ClusterRender

WORKERS = 4  # kustomize runs are short subprocesses; a few at a time keep both cores busy


def run(ctx: CheckContext) -> None:
    envs = [env for env in ctx.envs if ctx.repo.cluster_file(env) not in ctx.broken_files]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda env: _render_one(ctx, env), envs))
        for env, outcome in zip(envs, results, strict=True):
            if isinstance(outcome, KustomizeError):
                ctx.add(_kustomize_finding(ctx, env, outcome.message))
                continue
            cluster = ClusterRender(env, ctx.repo.cluster(env), outcome)
            for app in cluster.applications():
                cluster.releases.extend(ctx.releases_of(app))
            ctx.clusters[env] = cluster
        jobs = [
            (cluster, app, source) for cluster in ctx.clusters.values() for app, source in manifest_folders(ctx.repo, cluster)
        ]
        rendered = list(pool.map(lambda job: _render_app(ctx.repo, *job), jobs))
    for (cluster, _app, source), outcome in zip(jobs, rendered, strict=True):
        if isinstance(outcome, KustomizeError):
            ctx.add(_kustomize_finding(ctx, cluster.env, outcome.message, f"{source.path}/kustomization.yaml"))
            continue
        cluster.objects.extend(outcome)


def _render_one(ctx: CheckContext, env: str) -> list[RenderedObject] | KustomizeError:
    try:
        return render(ctx.repo.root, env, ctx.repo.path(f"clusters/{env}"))
    except KustomizeError as exc:
        return exc


def manifest_folders(repo: Repo, cluster: ClusterRender) -> list[tuple[RenderedObject, ManifestSource]]:
    """The manifests folders of this repository that the cluster's Applications apply. A `path`
    source of another repository, or a folder that is not there, is left to the contract checks."""
    found = []
    for app in cluster.applications():
        for source in manifest_sources(app.obj):
            if source.repo_url == cluster.config.repo_url and repo.path(f"{source.path}/kustomization.yaml").is_file():
                found.append((app, source))
    return found


def destination_namespace(app: RenderedObject) -> str:
    return str(((app.obj.get("spec") or {}).get("destination") or {}).get("namespace") or "")


def app_manifests(repo: Repo, env: str, app: RenderedObject, source: ManifestSource) -> list[RenderedObject]:
    """The objects of one manifests folder as the Application applies them: a namespaced object
    without a namespace goes to the Application's destination namespace."""
    objects = render(repo.root, env, repo.path(source.path), app.name)
    placed = in_namespace([o.obj for o in objects], destination_namespace(app))
    return [RenderedObject(env, obj, o.origin, app.name) for o, obj in zip(objects, placed, strict=True)]


def _render_app(
    repo: Repo, cluster: ClusterRender, app: RenderedObject, source: ManifestSource
) -> list[RenderedObject] | KustomizeError:
    try:
        return app_manifests(repo, cluster.env, app, source)
    except KustomizeError as exc:
        return exc


_LSTAT = re.compile(r"lstat (\S+): no such file or directory")
_DUPLICATE = "already registered id"
_DUPLICATE_ID = re.compile(r"already registered id: ([A-Za-z0-9]+)\.[^/]*/([^.\s']+)")
_PATCH_TARGET = re.compile(r"no resource matches strategic merge patch \"([A-Za-z0-9]+)\.[^/]*/([^.\s\"]+)")
_BUILDING = re.compile(r"must build at directory: '([^']+\.ya?ml)'")
KUSTOMIZATION_FIELDS = ("resources", "patches", "components", "patchesStrategicMerge")


def _kustomize_finding(ctx: CheckContext, env: str, message: str, kustomization: str | None = None) -> Finding:
    root = str(ctx.repo.root.resolve()) + "/"
    message = message.replace(root, "")
    kustomization = kustomization or f"clusters/{env}/kustomization.yaml"
    if _DUPLICATE in message:
        found = _DUPLICATE_ID.search(message)
        kind, name = (found.group(1), found.group(2)) if found else ("object", "?")
        file, line = _second_definition(ctx, message, kind, name)
        return error(
            "duplicate-object",
            file or kustomization,
            f"[{env}] {kind} {name} is defined twice; kustomize refuses the second",
            "rename or remove one of the two; each object may be defined once per cluster",
            line,
        )
    target = _PATCH_TARGET.search(message)
    if target:
        kind, name = target.group(1), target.group(2)
        file, line = _patch_defining(ctx, env, kind, name)
        return error(
            "patch-target-missing",
            file or kustomization,
            f"[{env}] a patch targets {kind} {name}, but no such object is rendered (renamed, or its apiVersion changed)",
            "make the patch's apiVersion, kind and name match the object, or remove the patch",
            line,
        )
    missing = _LSTAT.search(message)
    if missing:
        rel = missing.group(1).replace(root, "")
        file, line = _listed_in(ctx, rel)
        return error(
            "kustomize-missing-file",
            file or kustomization,
            f"[{env}] {rel} does not exist, but a kustomization lists it",
            f"create {rel} or remove it from the kustomization",
            line,
        )
    building = _BUILDING.search(message)
    failed = building.group(1) if building and ctx.repo.exists(building.group(1)) else None
    return error(
        "kustomize-build",
        failed or kustomization,
        f"[{env}] kubectl kustomize failed: {message[-400:]}",
        f"run `kubectl kustomize {kustomization.rpartition('/')[0]}` and fix what it reports",
        1 if failed else None,  # the file kustomize could not build (it names no line)
    )


def _listed_in(ctx: CheckContext, rel: str) -> tuple[str | None, int | None]:
    """The kustomization (and line) that names a missing file."""
    target = ctx.repo.path(rel).resolve()
    for kust in ctx.repo.tracked_files:
        if not kust.endswith("kustomization.yaml") or kust in ctx.broken_files:
            continue
        base = ctx.repo.path(kust).parent
        data = ctx.repo.yaml_doc(kust) or {}
        for field in KUSTOMIZATION_FIELDS:
            for index, entry in enumerate(data.get(field) or []):
                path = entry.get("path") if isinstance(entry, dict) else entry
                if isinstance(path, str) and (base / path).resolve() == target:
                    suffix = ["path"] if isinstance(entry, dict) else []
                    return kust, yamlio.line_of(ctx.repo.text(kust), [field, index, *suffix])
    return None, None


def _second_definition(ctx: CheckContext, message: str, kind: str, name: str) -> tuple[str | None, int | None]:
    """The file kustomize was reading when it met the duplicate, and the line of the repeat."""
    building = _BUILDING.search(message)
    if not building:
        return None, None
    rel = building.group(1)
    if not ctx.repo.exists(rel):
        return rel, None
    found = ctx.repo.definitions(rel, kind, name)
    return rel, found[-1][0].start_mark.line + 1 if len(found) > 1 else None


def _patch_defining(ctx: CheckContext, env: str, kind: str, name: str) -> tuple[str | None, int | None]:
    for rel in ctx.patch_files(env):
        if not ctx.repo.exists(rel) or rel in ctx.broken_files:
            continue
        found = ctx.repo.definitions(rel, kind, name)
        if found:
            return rel, found[0][0].start_mark.line + 1
    return None, None
