"""Benchmark rendering and validating every chart app of each environment (`invoke check --render-charts`).

The chart cache holds, by default, stand-in charts built here under the pinned names and versions
(tests/charts/standins.py): they render a few objects per app, far fewer than the upstream charts.
With --chart-cache DIR holding the real archives, the same run measures the real charts.
Prints, per environment: charts rendered, objects, seconds for the chart stage and objects per second.
Run: `make bench`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT / "scripts"), str(REPO_ROOT)]

from airflow_gitops.adapters.chart_repository import ChartRepo, make_session  # noqa: E402
from airflow_gitops.adapters.helm_engine import SdkEngine  # noqa: E402
from airflow_gitops.charts.renderer import ChartRenderer  # noqa: E402
from airflow_gitops.check import chart_render, parse, render  # noqa: E402
from airflow_gitops.check.context import CheckContext  # noqa: E402
from airflow_gitops.model.repo import Repo  # noqa: E402
from airflow_gitops.model.schemas import SchemaStore  # noqa: E402


def measure(repo: Repo, env: str, cache: Path) -> tuple[int, int, float, int]:
    """Charts rendered, objects validated, seconds of the chart stage, error findings."""
    renderer = ChartRenderer(SdkEngine(), ChartRepo(make_session(retries=0), cache), offline=True)
    ctx = CheckContext(repo=repo, schemas=SchemaStore(repo.root), envs=[env], charts=renderer)
    parse.run(ctx)
    render.run(ctx)
    started = time.perf_counter()
    chart_render.run(ctx)
    seconds = time.perf_counter() - started
    cluster = ctx.clusters[env]
    charts = len({(o.release.app.name, o.release.source.index) for o in cluster.chart_objects})
    errors = sum(f.severity.value == "error" for f in ctx.findings)
    return charts, len(cluster.chart_objects), seconds, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chart-cache", help="a cache with the real chart archives (default: stand-in charts)")
    args = parser.parse_args()
    repo = Repo(REPO_ROOT)
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        if args.chart_cache:
            cache, what = Path(args.chart_cache), f"charts from {args.chart_cache}"
        else:
            from tests.charts.standins import standin_cache

            cache, what = Path(tmp), "stand-in charts (tests/charts/standins.py), not the upstream charts"
            standin_cache(REPO_ROOT, cache)
        print(f"render and validate every chart app, embedded Helm engine; {what}")
        print(f"{'env':<10}{'charts':>8}{'objects':>9}{'seconds':>10}{'objects/s':>11}{'errors':>8}")
        for env in repo.envs:
            charts, objects, seconds, errors = measure(repo, env, cache)
            rate = objects / seconds if seconds else 0.0
            print(f"{env:<10}{charts:>8}{objects:>9}{seconds:>10.3f}{rate:>11.0f}{errors:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
