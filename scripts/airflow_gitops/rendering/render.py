"""What Argo CD would apply to an environment, as files: the root Application's objects, each
chart's merged values and, with a chart renderer, the objects each chart renders. `invoke render`
writes it; `invoke diff` compares two of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..adapters.kustomize import KustomizeError, render
from ..check.context import CheckContext, ClusterRender
from ..check.render import app_manifests, manifest_folders
from ..model import yamlio
from ..model.files import replace_folder
from ..model.findings import UsageError
from ..model.rendered import RenderedObject
from ..model.repo import Repo
from ..model.schemas import SchemaStore

if TYPE_CHECKING:
    from ..charts.renderer import ChartRenderer

ROOT_APP = "root"


@dataclass(frozen=True)
class RenderedFile:
    group: str  # the Application that applies it: 'root' for what the root Application renders
    name: str  # file name inside the group
    text: str
    chart: bool = False  # an object a chart rendered

    @property
    def key(self) -> str:
        return f"{self.group}/{self.name}"


@dataclass
class EnvRender:
    files: list[RenderedFile]
    unrendered: dict[str, str] = field(default_factory=dict)  # app -> why its chart objects are missing
    objects: list[RenderedObject] = field(default_factory=list)  # every object, the charts' included
    crd_dirs: list[str] = field(default_factory=list)  # the vendored CRDs of the operators the cluster pins


def object_file_name(obj: RenderedObject) -> str:
    group = obj.group.replace(".", "_") or "core"
    namespace = obj.namespace or "_cluster"
    return f"{obj.kind.lower()}-{group}-{namespace}-{obj.name}.yaml"


def render_env(repo: Repo, env: str, charts: ChartRenderer | None = None) -> list[RenderedFile]:
    """Every object of the environment, grouped by the Application that applies it."""
    return render_env_full(repo, env, charts).files


def render_env_full(repo: Repo, env: str, charts: ChartRenderer | None = None) -> EnvRender:
    """As render_env, and with `charts` the objects each chart release renders, or why it did not."""
    try:
        objects = render(repo.root, env, repo.path(f"clusters/{env}"))
    except KustomizeError as exc:
        raise UsageError(
            f"clusters/{env}/kustomization.yaml: kustomize failed: {exc.message}; run `invoke check --env {env}`"
        ) from exc
    cluster = ClusterRender(env, repo.cluster(env), objects)
    for app, source in manifest_folders(repo, cluster):
        try:
            objects = [*objects, *app_manifests(repo, env, app, source)]
        except KustomizeError as exc:
            raise UsageError(
                f"{source.path}/kustomization.yaml: kustomize failed: {exc.message}; run `invoke check --env {env}`"
            ) from exc
    cluster.objects = objects
    result = EnvRender(
        [RenderedFile(o.app or ROOT_APP, object_file_name(o), yamlio.dump(o.obj)) for o in objects], objects=list(objects)
    )
    ctx = CheckContext(repo=repo, schemas=SchemaStore(repo.root), envs=[env])
    for app in cluster.applications():
        for release in ctx.releases_of(app):
            cluster.releases.append(release)
            suffix = "" if release.source.index == 0 else f"-{release.source.index}"
            header = (
                f"# Helm values Argo CD passes to {release.source.chart} {release.source.version}"
                f" (release {release.source.release_name}), merged from: {', '.join(release.merged.files) or 'nothing'}\n"
            )
            result.files.append(RenderedFile(app.name, f"values{suffix}.yaml", header + yamlio.dump(release.merged.values)))
    result.crd_dirs = ctx.crd_dirs_of(cluster)
    if charts is not None:
        _render_charts(ctx, cluster, charts, result)
    result.files.sort(key=lambda f: f.key)
    return result


def _render_charts(ctx: CheckContext, cluster: ClusterRender, charts: ChartRenderer, result: EnvRender) -> None:
    from ..charts.renderer import ChartProblem, api_versions

    apis = api_versions(ctx.schemas, ctx.crd_dirs_of(cluster))
    for release in cluster.releases:
        src = release.source
        try:
            rendered = charts.render(release, cluster.config.kubernetes_version, apis)
        except ChartProblem as problem:
            result.unrendered[release.app.name] = f"{problem.rule}: {problem.message}"
            continue
        for obj in rendered:
            result.objects.append(obj.rendered)
            header = f"# {src.chart} {src.version} renders this from {obj.template}\n"
            result.files.append(
                RenderedFile(release.app.name, object_file_name(obj.rendered), header + yamlio.dump(obj.rendered.obj), True)
            )


def write_tree(files: list[RenderedFile], out: Path) -> None:
    """Replace out/ with the files, whole or not at all."""

    def fill(folder: Path) -> None:
        for f in files:
            target = folder / f.group / f.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.text, encoding="utf-8")

    replace_folder(out, fill)
