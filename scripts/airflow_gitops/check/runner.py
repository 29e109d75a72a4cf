"""Runs the stages in order and collects what they found."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..model.findings import Finding, Severity
from ..model.repo import Repo
from ..model.schemas import SchemaStore
from . import chart_render, parse, render, slow
from .context import CheckContext
from .rules import contracts, isolation, policy, upgrades, validate

if TYPE_CHECKING:
    from ..charts.renderer import ChartRenderer

Stage = Callable[[CheckContext], None]
STAGES: tuple[tuple[str, Stage], ...] = (
    ("parse", parse.run),
    ("render", render.run),
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
        }


def run_check(
    repo: Repo,
    env: str | None = None,
    include_slow: bool = False,
    charts: ChartRenderer | None = None,
    require_render: bool = False,
) -> CheckResult:
    """charts: render every chart release with it and check what the charts render."""
    ctx = CheckContext(repo=repo, schemas=SchemaStore(repo.root), envs=repo.select_envs(env))
    ctx.charts, ctx.require_render = charts, require_render
    stages = list(STAGES) + ([("slow", slow.run)] if include_slow else [])
    timings = {}
    for name, stage in stages:
        started = time.perf_counter()
        stage(ctx)
        timings[name] = time.perf_counter() - started
    unique = sorted(set(ctx.findings), key=lambda f: (f.severity.value, f.file, f.line or 0, f.rule, f.message))
    return CheckResult(list(ctx.envs), ctx.objects_validated, unique, timings)
