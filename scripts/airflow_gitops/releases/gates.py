"""The promotion gates after health: soak in the source, a smoke run of the digest, and freeze windows.

They read what the health gate fetched (the source's Application, with its sync history) and, for the
smoke run, the source's Airflow API. Each refusal is one line: what it found, when, and what to do.
The Application is the same document whether it came from Argo CD's API or the Kubernetes API, so the
gates take the parsed state, not a client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from ..adapters import git
from ..adapters.airflow import AirflowApi, parse_time
from ..adapters.argocd import ApplicationState, history_revision
from ..model import windows
from ..model.findings import UsageError
from ..model.repo import Repo
from ..upgrades import freeze, pins
from . import promote, smoke

Report = Callable[[str, str, float], None]
Timed = Callable[[Report, str, Callable[[], str]], None]


def holds_pins(repo: Repo, plan: promote.Plan, revision: str) -> bool:
    """The revision of this repository holds every pin the plan moves (False for a revision this clone lacks)."""
    if not git.has_commit(repo.root, revision):
        return False
    moving = ([plan.image.source] if plan.image else []) + [m.source for m in plan.charts]
    for pin in moving:
        text = git.show_file(repo.root, revision, pin.file)
        then = pins.collect_file(repo.overlay(pin.file, text), pin.file) if text is not None else []
        if not any(p.dependency == pin.dependency and p.version == pin.version for p in then):
            return False
    return True


def syncs(state: ApplicationState, repo_url: str) -> list[windows.Sync]:
    """The Application's sync history as (revision of this repository, deployed at), oldest first."""
    found = []
    for entry in state.history:
        revision, deployed = history_revision(entry, repo_url), parse_time(entry.deployed_at)
        if revision and deployed:
            found.append(windows.Sync(revision, deployed))
    return found


def _what(plan: promote.Plan) -> str:
    if plan.image:
        return f"{plan.route.app} {plan.image.tag}"
    return ", ".join(f"{m.source.dependency} {m.source.version}" for m in plan.charts)


def refuse_frozen_target(repo: Repo, plan_route: promote.Route, now: datetime, report: Report) -> None:
    freeze.refuse_if_frozen(
        repo,
        plan_route.target,
        f"promoting into {plan_route.target}",
        now,
        "Promote after the window ends (a rollback may break glass: invoke rollback --break-glass --reason ...)",
    )
    report("freeze", f"{plan_route.target} not frozen", 0.0)


def soak_gate(
    repo: Repo,
    plan: promote.Plan,
    state: ApplicationState,
    where: str,
    now: datetime,
    skip_reason: str | None,
    trailers: dict[str, str],
    report: Report,
    timed: Timed,
) -> None:
    """The source has run the pins for its promotion.soak since Argo CD first synced a revision holding them."""
    env = plan.route.source
    cluster = repo.cluster(env)
    required = cluster.soak
    step = f"soak in {env}"
    if skip_reason is not None:
        trailers["Soak"] = f"skipped (required {windows.format_duration(required)})"
        trailers["Break-Glass"] = f"--skip-soak: {skip_reason}"
        report(step, f"skipped (--skip-soak): {skip_reason}", 0.0)
        return

    def check() -> str:
        start = windows.soak_start(syncs(state, cluster.repo_url), lambda revision: holds_pins(repo, plan, revision))
        soak = windows.Soak(required, start, now)
        if start is None:
            raise UsageError(
                f"{where}: no sync in its history holds {_what(plan)}, so its soak has not begun; wait for Argo CD to sync it, "
                'or break glass: --skip-soak --reason "..."'
            )
        if not soak.done:
            assert soak.ready_at is not None
            raise UsageError(
                f"{where} has run {_what(plan)} for {windows.human(soak.had)}, since Argo CD first synced it at "
                f"{windows.utc_text(start)}; {env} soaks {windows.human(required)} (promotion.soak in {cluster.file}): "
                f'promote after {windows.utc_text(soak.ready_at)}, or break glass: --skip-soak --reason "..."'
            )
        trailers["Soak"] = (
            f"{windows.human(soak.had)} in {env} since {windows.utc_text(start)} (required {windows.format_duration(required)})"
        )
        return f"{windows.human(soak.had)} since {windows.utc_text(start)} (required {windows.human(required)})"

    timed(report, step, check)


def smoke_gate(
    repo: Repo,
    plan: promote.Plan,
    state: ApplicationState,
    digest: str | None,
    environ: Mapping[str, str],
    trailers: dict[str, str],
    report: Report,
    timed: Timed,
) -> None:
    """A successful platform_smoke run of exactly the digest, in the source, after its last sync."""
    if plan.route.app != smoke.SMOKE_APP or plan.image is None or not digest:
        return
    env = plan.route.source
    cluster = repo.cluster(env)
    history = syncs(state, cluster.repo_url)
    since = history[-1].deployed_at if history else None
    synced = (
        f"at {windows.utc_text(history[-1].deployed_at)} ({history[-1].revision[:12]})" if history else "(none in its history)"
    )

    def check() -> str:
        api = AirflowApi.resolve(environ, cluster.get("airflow.hostname"), cluster.file)
        verdict = smoke.judge(api.runs(smoke.DAG_ID), env, digest, since, synced)
        if not verdict.ok or verdict.run is None:
            raise UsageError(verdict.message)
        run = verdict.run
        finished = run.end_date or run.when
        trailers["Smoke-Run"] = f"{env} {run.run_id} {run.state}" + (f" at {windows.utc_text(finished)}" if finished else "")
        return smoke.describe(run)

    timed(report, f"smoke in {env}", check)
