"""Runs the stages in order and collects what they found."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..model.findings import Finding, Severity, UsageError
from ..model.repo import Repo
from ..model.schemas import SchemaStore, bundled_kubernetes_versions, kube_minor
from . import base, chart_render, parse, render, slow
from .context import NEXT_MINOR, CheckContext, next_minor
from .rules import contracts, isolation, policy, upgrades, validate

if TYPE_CHECKING:
    from ..charts.renderer import ChartRenderer

Stage = Callable[[CheckContext], None]
STAGES: tuple[tuple[str, Stage], ...] = (
    ("parse", parse.run),
    ("render", render.run),
    ("base", base.run),  # only with --base: the clusters at the base ref, for transition rules
    ("validate", validate.run),
    ("contracts", contracts.run),
    ("policy", policy.run),
    ("upgrades", upgrades.run),
    ("charts", chart_render.run),  # only with a ChartRenderer (--render-charts)
    ("isolation", isolation.run),  # after charts: with --render-charts it sees what they render too
)


@dataclass
class CheckResult:
    clusters: list[str]
    objects_validated: int
    findings: list[Finding]
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was checked how, for the summary
    stats: dict[str, object] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, object]:
        return {
            "clusters": self.clusters,
            "objects_validated": self.objects_validated,
            "findings": [f.to_json() for f in self.findings],
            "notes": self.notes,
            "stats": self.stats,
        }


def run_check(
    repo: Repo,
    env: str | None = None,
    include_slow: bool = False,
    charts: ChartRenderer | None = None,
    require_render: bool = False,
    kubernetes_version: str | None = None,
    base_ref: str | None = None,
) -> CheckResult:
    """charts: render every chart release with it and check what the charts render.
    kubernetes_version: validate built-in kinds (and render charts) for 'X.Y', or each cluster's next minor
    ('next'), instead of the version in cluster.yaml. base_ref: evaluate CRD transition rules against it."""
    ctx = CheckContext(repo=repo, schemas=SchemaStore(repo.root), envs=repo.select_envs(env, readable_only=True))
    ctx.charts, ctx.require_render = charts, require_render
    ctx.kubernetes_version, ctx.base_ref = _kubernetes_version(repo, ctx.envs, kubernetes_version), base_ref
    stages = list(STAGES) + ([("slow", slow.run)] if include_slow else [])
    timings = {}
    try:
        for name, stage in stages:
            started = time.perf_counter()
            stage(ctx)
            timings[name] = time.perf_counter() - started
    finally:
        for cleanup in ctx.cleanups:
            cleanup()
    unique = sorted(set(ctx.findings), key=lambda f: (f.severity.value, f.file, f.line or 0, f.rule, f.message))
    return CheckResult(list(ctx.envs), ctx.objects_validated, unique, timings, _notes(ctx), _stats(ctx, timings))


def _kubernetes_version(repo: Repo, envs: list[str], wanted: str | None) -> str | None:
    """The --kubernetes-version, refused unless kubernetes-validate bundles the schemas of every version it asks for."""
    if wanted is None:
        return None
    bundled = bundled_kubernetes_versions()
    span = f"{bundled[0]} to {bundled[-1]}" if bundled else "none"
    if wanted == NEXT_MINOR:
        asked = {next_minor(repo.cluster(e).kubernetes_version) for e in envs}
    elif kube_minor(wanted).count(".") == 1 and all(p.isdigit() for p in kube_minor(wanted).split(".")):
        wanted = kube_minor(wanted)
        asked = {wanted}
    else:
        raise UsageError(f"--kubernetes-version {wanted}: give a version as X.Y (e.g. 1.35), or 'next'")
    missing = sorted(v for v in asked if v not in bundled)
    if missing:
        raise UsageError(
            f"--kubernetes-version: no bundled schemas for Kubernetes {', '.join(missing)} "
            f"(kubernetes-validate has {span}); upgrade kubernetes-validate in requirements.lock"
        )
    return wanted


def _notes(ctx: CheckContext) -> list[str]:
    notes = []
    if ctx.kubernetes_version:
        versions = sorted({ctx.version_of(c) for c in ctx.clusters.values()})
        notes.append(
            f"built-in kinds validated for Kubernetes {', '.join(versions)} (--kubernetes-version), not the clusters' own"
        )
    stats = ctx.cel_stats
    if stats is not None and stats.objects:
        notes.append(
            f"CRD rules: {stats.rules_evaluated} CEL rule evaluations over {stats.objects} custom resources "
            f"(defaults and list semantics applied; CEL cost limits not enforced)"
        )
        if ctx.base is not None:
            notes.append(
                f"transition rules: {stats.transitions_evaluated} evaluated against {ctx.base.ref} ({ctx.base.commit[:12]}); "
                f"{stats.transitions_skipped} skipped, the object or field being new since then"
            )
        elif stats.transitions_skipped:
            notes.append(
                f"transition rules: {stats.transitions_skipped} not evaluated (they compare with the object as it was): "
                "pass --base <ref> to evaluate them"
            )
    return notes


def _stats(ctx: CheckContext, timings: dict[str, float]) -> dict[str, object]:
    stats = ctx.cel_stats
    cel = {
        "custom_resources": stats.objects if stats else 0,
        "rule_evaluations": stats.rules_evaluated if stats else 0,
        "transition_rules_evaluated": stats.transitions_evaluated if stats else 0,
        "transition_rules_skipped": stats.transitions_skipped if stats else 0,
        "seconds": round(stats.seconds, 4) if stats else 0.0,
    }
    return {"stage_seconds": {k: round(v, 4) for k, v in timings.items()}, "crd_rules": cel}
