"""Entry points that move pins forward: pins, bump and schemas."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..model.findings import UsageError
from .checks import check
from .common import EXIT_FINDINGS

if TYPE_CHECKING:
    from ..model.repo import Repo


def pins(env: str | None, fmt: str, cwd: Path | None = None) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from ..model.repo import Repo
    from ..rendering.diff import require_format
    from ..upgrades.pins import collect

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
    from ..adapters import git
    from ..model.repo import Repo
    from ..upgrades import edit
    from ..upgrades.bump import plan_bump
    from ..upgrades.freeze import utcnow
    from ..upgrades.pins import collect

    repo = Repo.discover(cwd)
    plan = plan_bump(repo, collect(repo), dependency, version, env, allow_downgrade, now=utcnow())
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

    from ..adapters.chart_repository import ChartRepo, cache_dir, make_session
    from ..upgrades.schema_vendor import current_plan, still_missing, vendor

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


def schemas(env: str | None, force: bool, plain_http: bool, cwd: Path | None = None) -> int:
    import datetime

    from rich.console import Console
    from rich.table import Table

    from ..adapters.chart_repository import ChartRepo, cache_dir, make_session
    from ..model.repo import Repo
    from ..upgrades.schema_vendor import still_missing, vendor

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


def sync_windows(env: str | None, cwd: Path | None = None) -> int:
    """Write promotion.freeze of each cluster.yaml into its AppProjects' syncWindows patch."""
    from ..model.repo import Repo
    from ..upgrades.freeze import write_all

    repo = Repo.discover(cwd)
    changed = write_all(repo.root, env)
    for rel in changed:
        print(f"wrote {rel}")
    if not changed:
        print("sync windows already match promotion.freeze; nothing to change")
    return 0
