"""Stage 7, with --render-charts: render every chart release as Argo CD would, validate each object
it renders against the schemas of the cluster's version and the vendored CRDs, and apply policy."""

from __future__ import annotations

from ..charts.release import ChartRelease
from ..charts.renderer import NOT_RENDERED, ChartObject, ChartProblem, api_versions
from ..model.findings import Finding, error, warning
from ..model.yamlio import PathPart
from .context import CheckContext
from .rules import chart_policy
from .rules.chart_policy import application_location
from .rules.validate import validate_object


def run(ctx: CheckContext) -> None:
    if ctx.charts is None:
        return
    renderer = ctx.charts
    renderer.prefetch(r for c in ctx.clusters.values() for r in c.releases)
    not_rendered: dict[tuple[str, str], tuple[ChartRelease, ChartProblem, list[str]]] = {}
    for cluster in ctx.clusters.values():
        crd_dirs = ctx.crd_dirs_of(cluster)
        apis = api_versions(ctx.schemas, crd_dirs)
        for release in (r for r in cluster.releases if r.readable):
            try:
                objects = renderer.render(release, ctx.version_of(cluster), apis)
            except ChartProblem as problem:
                if problem.rule == NOT_RENDERED:
                    key = (release.source.chart, release.source.version)
                    not_rendered.setdefault(key, (release, problem, []))[2].append(f"{cluster.env}/{release.app.name}")
                else:
                    ctx.add(_problem_finding(ctx, release, problem))
                continue
            cluster.chart_objects.extend(objects)
            for obj in objects:
                validate_object(ctx, cluster, obj.rendered, crd_dirs, _at_application(ctx, obj), obj.label, obj.release)
                ctx.objects_validated += 1
        chart_policy.run(ctx, cluster)
    for first, missing, apps in not_rendered.values():
        file, line = application_location(ctx, first)
        make = error if ctx.require_render else warning
        ctx.add(make(missing.rule, file, f"[{', '.join(apps)}] {missing.message}", missing.fix, line))


def _at_application(ctx: CheckContext, obj: ChartObject) -> chart_policy.Where:
    def where(_: list[PathPart]) -> tuple[str, int | None]:
        return application_location(ctx, obj.release)

    return where


def _problem_finding(ctx: CheckContext, release: ChartRelease, problem: ChartProblem) -> Finding:
    if problem.values_path:
        file, line = ctx.value_location(release, problem.values_path)
    else:
        file, line = application_location(ctx, release)
    return error(problem.rule, file, f"[{release.env}] Application {release.app.name}: {problem.message}", problem.fix, line)
