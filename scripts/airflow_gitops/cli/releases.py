"""Entry points that release and observe: promote, rollback, hold, history, status and verify."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import EXIT_FINDINGS


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
    from ..model.repo import Repo
    from ..releases.release import run_promotion

    repo = Repo.discover(cwd)
    print(f"promote {options.app} → {options.to_env} ({options.mode}{', dry run' if options.dry_run else ''})")
    result = run_promotion(repo.root, options, os.environ, _step_printer(), print)
    _print_outcome(result.outcome, result.changes)
    return 0


def rollback(options: Any, cwd: Path | None = None) -> int:
    from ..model.repo import Repo
    from ..releases.release import run_rollback

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
    from ..model.repo import Repo
    from ..releases.release import run_hold

    repo = Repo.discover(cwd)
    outcome = run_hold(repo.root, env, app, reason, release, mode, os.environ)
    _print_outcome(outcome, [])
    print(f"{env}/{app}: hold {'released' if release else 'set'}")
    return 0


def history(env: str | None, app: str | None, fmt: str, cwd: Path | None = None) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from ..model.repo import Repo
    from ..releases.history import read
    from ..rendering.diff import require_format

    require_format(fmt, ("table", "json"))
    repo = Repo.discover(cwd)
    if env is not None:
        repo.select_envs(env)
    found = read(repo.root, env, app)
    if fmt == "json":
        print(json.dumps([p.to_json() for p in found], indent=2))
        return 0
    table = Table(title=f"{len(found)} promotions and rollbacks")
    for column in ("when", "kind", "app", "from", "to", "tag", "digest", "who", "commit", "soak", "smoke run", "break-glass"):
        table.add_column(column, overflow="fold")
    for p in found:
        table.add_row(
            p.when, p.kind, p.app, p.source, p.target, p.tag, p.digest[:19], p.who, p.commit[:12], p.soak, p.smoke, p.break_glass
        )
    Console(highlight=False, width=260).print(table)
    return 0


def status(env: str | None, fmt: str, kubeconfig: str | None, context: str | None, cwd: Path | None = None) -> int:
    """Each environment's Applications, from its own Argo CD (or its cluster's Kubernetes API); every Application the
    rendered cluster has and the answer lacks is Missing. Exit 1 unless every one is Synced and Healthy."""
    import json
    import sys

    from rich.console import Console
    from rich.table import Table

    from ..model.findings import UsageError
    from ..model.repo import Repo
    from ..releases.observe import argocd_for, expected_applications, statuses_from_argocd, statuses_from_kubernetes
    from ..rendering.diff import require_format

    require_format(fmt, ("table", "json"))
    repo = Repo.discover(cwd)
    envs = repo.select_envs(env)
    if kubeconfig and env is None:
        raise UsageError("--kubeconfig reads one cluster; name its environment with --env")
    if env is None and os.environ.get("ARGOCD_SERVER"):
        print(
            "note: ARGOCD_SERVER names one Argo CD, so it applies only with --env; each environment's argocd.server is asked",
            file=sys.stderr,
        )
    rows = []
    for name in envs:
        expected = expected_applications(repo, name)
        server = None if kubeconfig else argocd_for(os.environ, repo, name, env is not None)
        if server is not None:
            rows += statuses_from_argocd(server, name, expected)
        else:
            rows += statuses_from_kubernetes(repo, name, expected, kubeconfig, context)
    healthy = bool(rows) and all(r.healthy for r in rows)
    freezes = _freezes(repo, sorted({r.env for r in rows}, key=repo.envs.index))
    if fmt == "json":
        print(json.dumps([{**r.to_json(), **freezes[r.env][1]} for r in rows], indent=2))
        return 0 if healthy else EXIT_FINDINGS
    table = Table(title="Argo CD Applications")
    for column in ("env", "app", "sync", "health", "revision"):
        table.add_column(column)
    for r in rows:
        style = "red" if r.sync == "Missing" else ""
        table.add_row(r.env, r.app, r.sync, r.health, r.revision[:12], style=style)
    console = Console(highlight=False)
    console.print(table)
    for r in rows:
        if r.note:
            console.print(f"{r.env}/{r.app}: {r.note}")
    for name, (line, _) in freezes.items():
        print(f"{name}: {line}")
    return 0 if healthy else EXIT_FINDINGS


def _freezes(repo: Any, envs: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per environment: a line saying whether it is frozen and until when, and the same as JSON fields."""
    from ..model import windows
    from ..upgrades.freeze import utcnow

    now = utcnow()
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for env in envs:
        freeze = windows.frozen(repo.cluster(env).freeze, now)
        if freeze is None:
            found[env] = ("not frozen", {"frozen": False, "frozen_until": None, "freeze_reason": None})
        else:
            found[env] = (
                f"frozen until {freeze.until_text()}: {freeze.reasons}",
                {"frozen": True, "frozen_until": windows.utc_text(freeze.until), "freeze_reason": freeze.reasons},
            )
    return found


def verify(
    env: str,
    app: str,
    timeout: float,
    kubeconfig: str | None,
    context: str | None,
    cwd: Path | None = None,
    smoke_timeout: float = 1800,
    no_smoke: bool = False,
    poll_s: float = 5.0,
) -> int:
    from ..model.repo import Repo
    from ..releases.observe import verify as wait
    from ..releases.smoke import SMOKE_APP

    repo = Repo.discover(cwd)

    def progress(pending: Any) -> None:
        for state, reason in pending:
            print(f"  {state.kind}/{state.name}: {reason or 'rolled out'}", flush=True)

    states = wait(repo, env, app, timeout, kubeconfig, context, progress, poll_s=poll_s)
    print(f"{env}/{app}: {len(states)} workloads run the pinned digest, fully rolled out")
    if app == SMOKE_APP and not no_smoke:
        _smoke(repo, env, app, smoke_timeout, poll_s)
    return 0


def _smoke(repo: Any, env: str, app: str, timeout: float, poll_s: float) -> None:
    """Trigger platform_smoke for the digest the environment now runs, wait for it, fail on a failed run."""
    from ..adapters.airflow import AirflowApi
    from ..model.findings import UsageError
    from ..releases import smoke
    from ..releases.observe import expected_image

    image, tag, digest = expected_image(repo, env, app)
    cluster = repo.cluster(env)
    api = AirflowApi.resolve(os.environ, cluster.get("airflow.hostname"), cluster.file)
    seen: list[str] = []

    def progress(run: Any) -> None:
        if run.state not in seen[-1:]:
            seen.append(run.state)
            print(f"  {smoke.DAG_ID} {run.run_id}: {run.state}", flush=True)

    run = smoke.trigger_and_wait(api, smoke.conf(image, tag, digest, None), timeout, poll_s, progress)
    short = digest.split(":", 1)[-1][:12]
    if run.state != "success":
        raise UsageError(
            f"the smoke run of {short} in {env} failed: {smoke.describe(run)}; see {api.url}/dags/{smoke.DAG_ID}/runs/{run.run_id}, "
            f"fix it, then {smoke.rerun_hint(env)}"
        )
    print(f"{env}/{app}: smoke {smoke.describe(run)} for {image}@{digest}")
