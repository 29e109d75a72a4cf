"""Entry points that prove and show the repository: check, render, diff and ci."""

from __future__ import annotations

import sys
from pathlib import Path

from ..model.findings import UsageError
from .common import EXIT_FINDINGS, chart_renderer, guarded


def check(
    env: str | None,
    all_tools: bool,
    fmt: str,
    cwd: Path | None = None,
    render_charts: bool = False,
    require_render: bool = False,
    chart_cache: str | None = None,
    kubernetes_version: str | None = None,
    base: str | None = None,
) -> int:
    from ..check import run_check
    from ..model.repo import Repo
    from .report import FORMATS, print_check

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    repo = Repo.discover(cwd, load_clusters=False)  # a broken cluster.yaml is a finding here, not a stop
    charts = chart_renderer(chart_cache) if render_charts or all_tools or require_render else None
    try:
        result = run_check(
            repo,
            env,
            include_slow=all_tools,
            charts=charts,
            require_render=require_render,
            kubernetes_version=kubernetes_version,
            base_ref=base,
        )
    finally:
        if charts is not None:
            charts.source.session.close()
    print_check(result, fmt, sys.stdout)
    return 0 if result.ok else EXIT_FINDINGS


def render(env: str, out: str | None, cwd: Path | None = None, charts: bool = False, chart_cache: str | None = None) -> int:
    from ..model.repo import Repo
    from ..rendering.render import render_env_full, write_tree

    repo = Repo.discover(cwd)
    repo.select_envs(env)
    target = Path(out) if out else repo.root / "out" / env
    renderer = chart_renderer(chart_cache) if charts else None
    try:
        result = render_env_full(repo, env, renderer)
    finally:
        if renderer is not None:
            renderer.source.session.close()
    write_tree(result.files, target)
    groups = sorted({f.group for f in result.files})
    rendered = sum(f.chart for f in result.files)
    print(f"wrote {len(result.files)} files for {env} into {target} ({len(groups)} groups: {', '.join(groups)})")
    if charts:
        print(f"{rendered} objects rendered from charts; {len(result.unrendered)} apps not rendered")
    for app, why in sorted(result.unrendered.items()):
        print(f"warning: {env}/{app}: chart not rendered: {why}", file=sys.stderr)
    return EXIT_FINDINGS if result.unrendered else 0


def diff(
    base: str, env: str | None, fmt: str, cwd: Path | None = None, chart_cache: str | None = None, charts: bool = True
) -> int:
    """Chart objects are compared for the charts in the cache (no download); `invoke render --charts` fills it."""
    import json

    from rich.console import Console
    from rich.markup import escape
    from rich.syntax import Syntax
    from rich.table import Table

    from ..model.repo import Repo
    from ..rendering.diff import diff_against, require_format, summary_markdown, to_json

    require_format(fmt, ("text", "markdown", "json"))
    repo = Repo.discover(cwd)
    renderer = chart_renderer(chart_cache, offline=True) if charts else None
    try:
        commit, diffs = diff_against(repo, base, env, renderer)
    finally:
        if renderer is not None:
            renderer.source.session.close()
    if fmt == "json":
        print(json.dumps(to_json(commit, diffs), indent=2))
        return 0
    if fmt == "markdown":
        print(summary_markdown(commit, diffs), end="")
        return 0
    console = Console(highlight=False)
    table = Table(title=f"cluster changes against {commit[:12]} ({base})")
    for column in ("cluster", "added", "removed", "changed"):
        table.add_column(column)
    for d in diffs:
        table.add_row(d.env, str(len(d.added)), str(len(d.removed)), str(len(d.changed)))
    console.print(table)
    for d in diffs:
        for refused in d.refused:
            console.print(
                f"[red]! {d.env}: the API server would refuse this update: {escape(refused)}[/red]", markup=True, highlight=False
            )
        for key in d.added:
            console.print(f"[green]+ {d.env}/{key}[/green]", markup=True)
        for key in d.removed:
            console.print(f"[red]- {d.env}/{key}[/red]", markup=True)
        for text in d.changed.values():
            console.print(Syntax(text, "diff", theme="ansi_dark", background_color="default"))
    skipped = sorted(f"{d.env}/{app}" for d in diffs for app in d.charts_not_compared)
    if skipped:
        console.print(
            f"chart objects not compared for {len(skipped)} apps (chart not in the cache, or not renderable): {', '.join(skipped)}"
        )
    return 0


def ci(base: str | None, skip_tests: bool, cwd: Path | None = None) -> int:
    from rich.console import Console

    from ..check import ci as workflow
    from ..model.repo import Repo

    repo = Repo.discover(cwd, load_clusters=False)  # its check step reports a broken cluster.yaml
    console = Console(highlight=False)
    ref, note = workflow.resolve_base(repo.root, base)
    if note:
        console.print(note)
    steps = workflow.plan(
        repo.root,
        ref,
        skip_tests,
        check=lambda: guarded(lambda: check(None, True, "table", repo.root, base=ref)),
        diff=lambda: guarded(lambda: diff(ref, None, "markdown", repo.root)),
    )
    outcomes = workflow.run_steps(steps, console)
    console.print(workflow.summary(outcomes))
    return workflow.exit_code(outcomes)
