"""Entry points behind tasks.py. Each returns an exit code; none lets a traceback reach the user."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from .findings import UsageError

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


def check(env: str | None, all_tools: bool, fmt: str, cwd: Path | None = None) -> int:
    from .check import run_check
    from .repo import Repo
    from .report import FORMATS, print_check

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    repo = Repo.discover(cwd)
    result = run_check(repo, env, include_slow=all_tools)
    print_check(result, fmt, sys.stdout)
    return 0 if result.ok else EXIT_FINDINGS


def render(env: str, out: str | None, cwd: Path | None = None) -> int:
    from .rendering import render_env, write_tree
    from .repo import Repo

    repo = Repo.discover(cwd)
    repo.select_envs(env)
    target = Path(out) if out else repo.root / "out" / env
    files = render_env(repo, env)
    write_tree(files, target)
    groups = sorted({f.group for f in files})
    print(f"wrote {len(files)} files for {env} into {target} ({len(groups)} groups: {', '.join(groups)})")
    return 0


def diff(base: str, env: str | None, fmt: str, cwd: Path | None = None) -> int:
    import json

    from rich.console import Console
    from rich.syntax import Syntax
    from rich.table import Table

    from .diff import diff_against, require_format, summary_markdown, to_json
    from .repo import Repo

    require_format(fmt, ("text", "markdown", "json"))
    repo = Repo.discover(cwd)
    commit, diffs = diff_against(repo, base, env)
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
