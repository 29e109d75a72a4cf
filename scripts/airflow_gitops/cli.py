"""Entry points behind tasks.py. Each returns an exit code; none lets a traceback reach the user."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .findings import UsageError

if TYPE_CHECKING:
    from .charts import ChartRenderer
    from .repo import Repo

EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
DEBUG_ENV = "AIRFLOW_GITOPS_DEBUG"


def guarded(action: Callable[[], int]) -> int:
    """Turn failures into one line on stderr and an exit code."""
    try:
        return action()
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the user gets one line; the traceback is opt-in
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def require(**flags: str) -> int:
    """0 when every named option has a value; else a usage error naming the first missing one."""
    for name, value in flags.items():
        if not value:
            raise UsageError(f"--{name.replace('_', '-')} is required; see invoke --help <task>")
    return 0


def chart_renderer(chart_cache: str | None, offline: bool = False) -> ChartRenderer:
    """Charts from `chart_cache` (default: the user's cache directory), pulled on a miss unless offline."""
    from .chart_repo import ChartRepo, cache_dir, make_session
    from .charts import ChartRenderer
    from .helm_engine import ChartError, make_engine

    try:
        engine = make_engine(os.environ)
    except ChartError as exc:
        raise UsageError(exc.message) from exc
    cache = Path(chart_cache).expanduser() if chart_cache else cache_dir(os.environ)
    if cache.exists() and not cache.is_dir():
        raise UsageError(f"--chart-cache {cache}: not a directory")
    return ChartRenderer(engine, ChartRepo(make_session(retries=1), cache), offline=offline)  # offline shows fast


def check(
    env: str | None,
    all_tools: bool,
    fmt: str,
    cwd: Path | None = None,
    render_charts: bool = False,
    require_render: bool = False,
    chart_cache: str | None = None,
) -> int:
    from .check import run_check
    from .repo import Repo
    from .report import FORMATS, print_check

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    repo = Repo.discover(cwd)
    charts = chart_renderer(chart_cache) if render_charts or all_tools or require_render else None
    try:
        result = run_check(repo, env, include_slow=all_tools, charts=charts, require_render=require_render)
    finally:
        if charts is not None:
            charts.source.session.close()
    print_check(result, fmt, sys.stdout)
    return 0 if result.ok else EXIT_FINDINGS


def render(env: str, out: str | None, cwd: Path | None = None, charts: bool = False, chart_cache: str | None = None) -> int:
    from .rendering import render_env_full, write_tree
    from .repo import Repo

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
    from rich.syntax import Syntax
    from rich.table import Table

    from .diff import diff_against, require_format, summary_markdown, to_json
    from .repo import Repo

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


def schemas(env: str | None, force: bool, plain_http: bool, cwd: Path | None = None) -> int:
    import datetime

    from rich.console import Console
    from rich.table import Table

    from .chart_repo import ChartRepo, cache_dir, make_session
    from .repo import Repo
    from .schema_vendor import still_missing, vendor

    repo = Repo.discover(cwd)
    envs = repo.select_envs(env)
    with make_session() as session:
        source = ChartRepo(session, cache_dir(os.environ), plain_http=plain_http)
        outcomes = vendor(repo, envs, force, source, datetime.date.today().isoformat())
    console = Console(highlight=False)
    table = Table(title=f"chart schemas for {', '.join(envs)}")
    for column in ("chart", "version", "values schema", "CRDs", "archive", "pinned by"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(o.pin.chart, o.pin.version, o.values_schema, o.crds, o.archive, ", ".join(o.pin.files))
    console.print(table)
    missing = still_missing(repo, envs)
    for need in missing:
        print(f"error: {need.pin.chart} {need.pin.version} still lacks its schemas after vendoring", file=sys.stderr)
    return EXIT_FINDINGS if missing else 0


def tf_backend(env: str, cwd: Path | None = None, registry: bool = False) -> int:
    from rich.console import Console
    from rich.table import Table

    from .aws import connect
    from .repo import Repo
    from .state_backend import ensure_state_bucket, registry_stack

    repo = Repo.discover(cwd)
    repo.select_envs(env)
    cluster = registry_stack(repo.cluster(env)) if registry else repo.cluster(env)
    plan = ensure_state_bucket(cluster, connect(cluster))
    console = Console(highlight=False)
    table = Table(title=f"Terraform state bucket s3://{plan.bucket} ({env}, account {cluster.account_id})")
    for column in ("setting", "wanted", "result"):
        table.add_column(column)
    for step in plan.steps:
        table.add_row(step.setting, step.wanted, step.change.done)
    console.print(table)
    if plan.changes:
        print(f"s3://{plan.bucket}: {len(plan.changes)} of {len(plan.steps)} settings created or updated")
    else:
        print(f"s3://{plan.bucket}: already as wanted; nothing changed")
    print(f'backend "s3": bucket = "{plan.bucket}", region = "{plan.region}", key = "{env}/<layer>.tfstate", use_lockfile = true')
    return 0


def secrets_init(env: str, cwd: Path | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    from .airflow_secrets import apply, observe_all, plan_secrets
    from .aws import connect
    from .repo import Repo

    repo = Repo.discover(cwd)
    repo.select_envs(env)
    cluster = repo.cluster(env)
    client = connect(cluster).secretsmanager()
    observed = observe_all(client, cluster.name)
    steps = plan_secrets(
        cluster.name, observed, f"{cluster.region} of account {cluster.account_id}", f"terraform/stacks/{env}/platform"
    )
    results = apply(client, steps)
    console = Console(highlight=False)
    table = Table(title=f"generated Airflow secrets for {env} (account {cluster.account_id}, {cluster.region})")
    for column in ("secret", "result"):
        table.add_column(column)
    for result in results:
        table.add_row(result.secret_id, result.result)
    console.print(table)
    filled = sum(r.filled for r in results)
    if filled:
        print(f"filled {filled} of {len(results)} secrets; {len(results) - filled} already had a value")
    else:
        print(f"all {len(results)} generated secrets already have a value; nothing changed")
    return 0


def rehearse(env: str, logs: str | None = None, cwd: Path | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    from .rehearse import Outcome, StepRecord
    from .rehearse import rehearse as run_rehearsal
    from .repo import Repo

    repo = Repo.discover(cwd)
    console = Console(highlight=False)

    def report(step: StepRecord) -> None:
        mark = "[green]ok[/green]  " if step.ok else "[red]FAIL[/red]"
        console.print(f"  {mark} {step.name:<16} {step.seconds:7.1f} s  {step.detail}", soft_wrap=True)

    console.print(f"rehearsing {env} against local AWS emulators (moto), then promoting into the next environment")
    outcome: Outcome = run_rehearsal(repo, env, report, Path(logs).resolve() if logs else None)
    table = Table(title=f"rehearsal of {env} → {outcome.target_env}: {'passed' if outcome.ok else 'FAILED'}")
    for column, justify in (("step", "left"), ("seconds", "right"), ("result", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for step in outcome.steps:
        table.add_row(step.name, f"{step.seconds:.1f}", ("" if step.ok else "FAILED: ") + step.detail)
    table.add_row("total", f"{outcome.seconds:.1f}", "emulators stopped, workspace removed")
    console.print(table)
    return 0 if outcome.ok else 1


def pins(env: str | None, fmt: str, cwd: Path | None = None) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from .diff import require_format
    from .pins import collect
    from .repo import Repo

    require_format(fmt, ("table", "json"))
    repo = Repo.discover(cwd)
    if env is not None:
        repo.select_envs(env)
    found = collect(repo, env)
    if fmt == "json":
        print(json.dumps([p.to_json() for p in found], indent=2))
        return 0
    table = Table(title=f"{len(found)} version pins" + (f" ({env} and shared)" if env else ""))
    for column in ("file:line", "dependency", "datasource", "version", "env"):
        table.add_column(column)
    for p in found:
        table.add_row(f"{p.file}:{p.line}", p.dependency, p.datasource, p.version, p.env or "shared")
    Console(highlight=False, width=200).print(table)
    return 0


def bump(dependency: str, version: str, env: str, allow_downgrade: bool, run_check: bool = True, cwd: Path | None = None) -> int:
    from . import edit, git
    from .bump import plan_bump
    from .pins import collect
    from .repo import Repo

    repo = Repo.discover(cwd)
    plan = plan_bump(repo, collect(repo), dependency, version, env, allow_downgrade)
    if not plan.changes:
        print(f"{dependency} is already at {version} in {env} and the shared files; nothing to change")
        return 0
    dirty = set(git.dirty_files(repo.root)) & {c.pin.file for c in plan.changes}
    if dirty:
        raise UsageError(f"{', '.join(sorted(dirty))}: uncommitted changes; commit or stash them before bumping")
    edits = edit.plan(repo, plan.changes)
    edit.apply(repo, edits)
    try:
        if plan.charts:
            _vendor_chart_schemas(repo, env)
    except UsageError:
        edit.apply(repo, [edit.FileEdit(e.file, e.new_text, e.old_text) for e in edits])  # put the pins back
        raise
    for change in plan.changes:
        print(f"{change.pin.file}:{change.pin.line}: {dependency} {change.pin.version} -> {version}")
    return check(env, False, "table", cwd) if run_check else 0


def _vendor_chart_schemas(repo: Repo, env: str) -> None:
    import datetime

    from .chart_repo import ChartRepo, cache_dir, make_session
    from .schema_vendor import current_plan, still_missing, vendor

    if not current_plan(repo, [env], False):
        return
    try:
        with make_session() as session:
            vendor(repo, [env], False, ChartRepo(session, cache_dir(os.environ)), datetime.date.today().isoformat())
    except UsageError as exc:
        raise UsageError(
            f"the new chart's schemas could not be vendored ({exc}); run `invoke schemas --env {env}` where the chart repository is reachable"
        ) from None
    missing = still_missing(repo, [env])
    if missing:
        names = ", ".join(f"{m.pin.chart} {m.pin.version}" for m in missing)
        raise UsageError(
            f"no schemas vendored for {names}; run `invoke schemas --env {env}` where the chart repository is reachable"
        )


def _step_printer() -> Callable[[str, str, float], None]:
    def report(step: str, result: str, seconds: float) -> None:
        print(f"  ok  {step:<34} {result}  ({seconds:.2f} s)", flush=True)

    return report


def _print_outcome(outcome: Any, changes: list[Any]) -> None:
    for change in changes:
        digest = f" @ {change.digest[:19]}…" if change.digest else ""
        print(f"  {change.pin.file}:{change.pin.line}: {change.pin.dependency} {change.pin.version} -> {change.version}{digest}")
    if outcome is None:
        print("dry run: nothing written, committed or pushed")
        return
    where = {
        "commit": f"committed {outcome.commit[:12]} on {outcome.branch}",
        "push": f"pushed {outcome.branch} ({outcome.commit[:12]})",
    }
    if outcome.mode == "pr":
        print(
            f"{'opened' if outcome.pull_created else 'updated'} pull request {outcome.pull_url} from {outcome.branch} ({outcome.commit[:12]})"
        )
    else:
        pushed = " and pushed" if outcome.mode == "commit" and outcome.pushed else ""
        print(where[outcome.mode] + pushed)
    if outcome.attempts > 1:
        print(f"(after {outcome.attempts} attempts: someone pushed in between; the gates ran again on their change)")


def promote(options: Any, cwd: Path | None = None) -> int:
    from .release import run_promotion
    from .repo import Repo

    repo = Repo.discover(cwd)
    print(f"promote {options.app} → {options.to_env} ({options.mode}{', dry run' if options.dry_run else ''})")
    result = run_promotion(repo.root, options, os.environ, _step_printer(), print)
    _print_outcome(result.outcome, result.changes)
    return 0


def rollback(options: Any, cwd: Path | None = None) -> int:
    from .release import run_rollback
    from .repo import Repo

    repo = Repo.discover(cwd)
    print(f"roll back {options.app} in {options.to_env} ({options.mode}{', dry run' if options.dry_run else ''})")
    result = run_rollback(repo.root, options, os.environ, _step_printer(), print)
    _print_outcome(result.outcome, result.changes)
    if result.outcome is not None:
        print(
            f"{options.to_env}/{options.app} is on hold; release it with: invoke hold --release --env {options.to_env} --app {options.app}"
        )
    return 0


def hold(env: str, app: str, reason: str, release: bool, mode: str, cwd: Path | None = None) -> int:
    from .release import run_hold
    from .repo import Repo

    repo = Repo.discover(cwd)
    outcome = run_hold(repo.root, env, app, reason, release, mode, os.environ)
    _print_outcome(outcome, [])
    print(f"{env}/{app}: hold {'released' if release else 'set'}")
    return 0


def history(env: str | None, app: str | None, fmt: str, cwd: Path | None = None) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from .diff import require_format
    from .history import read
    from .repo import Repo

    require_format(fmt, ("table", "json"))
    repo = Repo.discover(cwd)
    if env is not None:
        repo.select_envs(env)
    found = read(repo.root, env, app)
    if fmt == "json":
        print(json.dumps([p.to_json() for p in found], indent=2))
        return 0
    table = Table(title=f"{len(found)} promotions and rollbacks")
    for column in ("when", "kind", "app", "from", "to", "tag", "digest", "who", "commit"):
        table.add_column(column)
    for p in found:
        table.add_row(p.when, p.kind, p.app, p.source, p.target, p.tag, p.digest[:19], p.who, p.commit[:12])
    Console(highlight=False, width=220).print(table)
    return 0


def status(env: str | None, fmt: str, kubeconfig: str | None, context: str | None, cwd: Path | None = None) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from .diff import require_format
    from .observe import statuses_from_argocd, statuses_from_kubernetes
    from .repo import Repo

    require_format(fmt, ("table", "json"))
    repo = Repo.discover(cwd)
    rows = []
    for name in repo.select_envs(env):
        if os.environ.get("ARGOCD_SERVER"):
            rows += statuses_from_argocd(repo, name, os.environ)
        else:
            rows += statuses_from_kubernetes(repo, name, kubeconfig, context)
    healthy = all(r.sync == "Synced" and r.health == "Healthy" for r in rows)
    if fmt == "json":
        print(json.dumps([r.to_json() for r in rows], indent=2))
        return 0 if healthy else EXIT_FINDINGS
    table = Table(title="Argo CD Applications")
    for column in ("env", "app", "sync", "health", "revision"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.env, r.app, r.sync, r.health, r.revision[:12])
    Console(highlight=False).print(table)
    return 0 if healthy else EXIT_FINDINGS


def verify(env: str, app: str, timeout: float, kubeconfig: str | None, context: str | None, cwd: Path | None = None) -> int:
    from .observe import verify as wait
    from .repo import Repo

    repo = Repo.discover(cwd)

    def progress(pending: Any) -> None:
        for state, reason in pending:
            print(f"  {state.kind}/{state.name}: {reason or 'rolled out'}", flush=True)

    states = wait(repo, env, app, timeout, kubeconfig, context, progress)
    print(f"{env}/{app}: {len(states)} workloads run the pinned digest, fully rolled out")
    return 0


def ci(base: str | None, skip_tests: bool, cwd: Path | None = None) -> int:
    from rich.console import Console

    from . import ci as workflow
    from .repo import Repo

    repo = Repo.discover(cwd)
    console = Console(highlight=False)
    ref, note = workflow.resolve_base(repo.root, base)
    if note:
        console.print(note)
    steps = workflow.plan(
        repo.root,
        ref,
        skip_tests,
        check=lambda: guarded(lambda: check(None, True, "table", repo.root)),
        diff=lambda: guarded(lambda: diff(ref, None, "markdown", repo.root)),
    )
    outcomes = workflow.run_steps(steps, console)
    console.print(workflow.summary(outcomes))
    return workflow.exit_code(outcomes)
