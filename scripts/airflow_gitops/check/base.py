"""With --base: every cluster rendered at a base ref, its Applications' manifests folders included, so
that CRD transition rules (`oldSelf`) compare each custom resource with the object it replaces, as the
API server does on an update. Chart objects at the base are rendered only when a transition rule needs them."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..adapters import git
from ..adapters.kustomize import KustomizeError, render
from ..charts.release import ChartRelease
from ..charts.renderer import ChartProblem, api_versions
from ..model.findings import warning
from ..model.rendered import RenderedObject
from ..model.repo import Repo
from ..model.schemas import SchemaStore
from .context import BaseObjects, CheckContext, ClusterRender, Identity
from .render import app_manifests, manifest_folders


def run(ctx: CheckContext) -> None:
    if not ctx.base_ref:
        return
    folder = tempfile.TemporaryDirectory(prefix="invoke-check-base-")
    ctx.cleanups.append(folder.cleanup)
    root = Path(folder.name)
    commit = git.export_tree(ctx.repo.root, ctx.base_ref, root)
    base_repo = Repo(root)
    objects: dict[str, dict[Identity, dict[str, Any]]] = {}
    for env in ctx.clusters:
        if not base_repo.exists(base_repo.cluster_file(env)):
            continue  # a new cluster: everything in it is created, no transition rule applies
        try:
            rendered = render(base_repo.root, env, base_repo.path(f"clusters/{env}"))
            then = ClusterRender(env, ctx.clusters[env].config, rendered)
            for app, source in manifest_folders(base_repo, then):
                rendered += app_manifests(base_repo, env, app, source)
        except KustomizeError as exc:
            ctx.add(
                warning(
                    "base-render",
                    f"clusters/{env}/kustomization.yaml",
                    f"[{env}] the cluster does not render at {ctx.base_ref}, so its transition rules are not evaluated: {exc.message[-200:]}",
                    f"compare with a base ref where `kubectl kustomize clusters/{env}` works",
                )
            )
            continue
        objects[env] = {o.identity: o.obj for o in rendered}
    ctx.base = BaseObjects(ctx.base_ref, commit, objects)
    if ctx.charts is not None:
        ctx.base.chart_objects = _chart_objects(ctx, base_repo, objects)


def _chart_objects(ctx: CheckContext, base_repo: Repo, objects: dict[str, dict[Identity, dict[str, Any]]]) -> Any:
    """What a chart release rendered at the base: the same Application, its values and pins as they were."""
    base_ctx = CheckContext(repo=base_repo, schemas=SchemaStore(base_repo.root), envs=list(objects))
    cache: dict[tuple[str, str, int], dict[Identity, dict[str, Any]]] = {}

    def find(release: ChartRelease) -> dict[Identity, dict[str, Any]]:
        key = (release.env, release.app.name, release.source.index)
        if key not in cache:
            cache[key] = {}
            app = objects.get(release.env, {}).get(release.app.identity)
            cluster = ctx.clusters.get(release.env)
            if app is not None and cluster is not None and ctx.charts is not None:
                then = RenderedObject(release.env, app, release.app.origin)
                for old in base_ctx.releases_of(then):
                    if old.source.index != release.source.index:
                        continue
                    apis = api_versions(base_ctx.schemas, base_ctx.crd_dirs_of(cluster))
                    try:
                        rendered = ctx.charts.render(old, ctx.version_of(cluster), apis)
                    except ChartProblem:
                        continue  # not renderable at the base: its transition rules are counted as skipped
                    cache[key] = {o.rendered.identity: o.rendered.obj for o in rendered}
        return cache[key]

    return find
