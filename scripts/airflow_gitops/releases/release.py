"""Promote and roll back: the gates, in order, then the edit and its delivery through git.

Gates: a clean tree level with its upstream (gitflow), no hold on the target, the tag resolved to a
digest in ECR, the scan under the threshold, and the source environment Synced and Healthy in its
Argo CD at a revision that contains the pin. Each gate runs again on every delivery attempt.
Before the image gates, the target must not be frozen; after health, the source must have soaked and
(for Airflow) have a successful smoke run of the digest since its last sync (gates.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from ..adapters import git
from ..adapters.argocd import ApplicationState, ArgoCd, ArgoCdServer, revision_for_repo
from ..adapters.ecr import DEFAULT_MAX_SEVERITY, Ecr, ImageRef, Registry, ScanSummary, severity_gate, severity_rank
from ..adapters.github import GitHub, repository_from_remote
from ..model import windows
from ..model.findings import UsageError
from ..model.repo import Repo
from ..upgrades import edit, holds, pins
from ..upgrades.edit import Change, FileEdit
from ..upgrades.freeze import refuse_if_frozen, utcnow
from . import gates as later_gates
from . import gitflow, promote

Report = Callable[[str, str, float], None]  # (step, result, seconds)


@dataclass(frozen=True)
class Options:
    app: str
    to_env: str
    from_env: str | None = None
    tag: str | None = None
    charts: bool = False
    mode: str = "pr"
    dry_run: bool = False
    health_gate: bool = True
    max_severity: str = DEFAULT_MAX_SEVERITY
    reason: str = ""
    skip_soak: bool = False  # break glass: promote before the source has soaked (needs reason)
    break_glass: bool = False  # rollback only: roll back during a freeze (needs reason)


@dataclass
class Gates:
    """What the gates found, for the plan, the commit and the PR body."""

    image: ImageRef | None = None
    scan: ScanSummary | None = None
    chart_images: dict[pins.Pin, str] = field(default_factory=dict)  # source pin -> digest in the target's registry
    source_revision: str | None = None
    notes: list[str] = field(default_factory=list)
    source_state: ApplicationState | None = None  # the source's Application as the health gate read it
    trailers: dict[str, str] = field(default_factory=dict)  # what the later gates record in the commit


@dataclass(frozen=True)
class Result:
    plan: promote.Plan
    changes: list[Change]
    edits: list[FileEdit]
    gates: Gates
    outcome: gitflow.Outcome | None


@dataclass
class Planned:
    """What the latest planning attempt decided: a rejected push plans again, and the last plan is the result."""

    plan: promote.Plan | None = None
    changes: list[Change] = field(default_factory=list)
    edits: list[FileEdit] = field(default_factory=list)
    gates: Gates = field(default_factory=Gates)

    def record(self, plan: promote.Plan, changes: list[Change], edits: list[FileEdit], gates: Gates) -> None:
        self.plan, self.changes, self.edits, self.gates = plan, changes, edits, gates


def _execute(
    root: Path,
    options: Options,
    plan_attempt: Callable[[Repo, gitflow.Tree], gitflow.Delivery],
    planned: Planned,
    environ: Mapping[str, str],
    show: Callable[[str], None],
) -> Result:
    """Deliver through git; or, in a dry run, plan once on the checked tree and show the diffs."""
    outcome: gitflow.Outcome | None = None
    if options.dry_run:
        for file_edit in plan_attempt(Repo(root), gitflow.check_tree(root, options.mode)).edits:
            show(file_edit.diff())
    else:
        outcome = gitflow.deliver(root, options.mode, plan_attempt, _open_pull(environ) if options.mode == "pr" else None)
    assert planned.plan is not None  # every path that returns has planned at least once
    return Result(planned.plan, planned.changes, planned.edits, planned.gates, outcome)


def _timed(report: Report, step: str, action: Callable[[], str]) -> None:
    start = time.perf_counter()
    result = action()
    report(step, result, time.perf_counter() - start)


def image_gates(repo: Repo, plan: promote.Plan, env: str, max_severity: str, gates: Gates, report: Report) -> None:
    """The tag resolves in the cluster's registry, and its scan is under the threshold."""
    move = plan.image
    if move is None:
        return
    registry = Registry.of(repo.cluster(env))
    if move.registry_host != registry.host:
        raise UsageError(
            f"{move.source.file}:{move.source.line}: image {move.source.dependency} is not in the registry {registry.host} "
            f"that {repo.cluster_file(env)} names; fix the pin or registry.account_id/region"
        )
    ecr = Ecr.connect(registry)

    def resolve() -> str:
        gates.image = ecr.resolve_tag(move.repository, move.tag)
        if move.source.digest and move.source.digest != gates.image.digest:
            raise UsageError(
                f"{move.source.file}:{move.source.line + 1}: {move.repository}:{move.tag} now resolves to {gates.image.digest}, "
                f"but {plan.route.source} runs {move.source.digest}; the tag was pushed again, so promote by a new tag"
            )
        return f"{move.repository}:{move.tag} = {gates.image.digest}"

    def scan() -> str:
        assert gates.image is not None
        gates.scan = ecr.scan_summary(move.repository, gates.image.digest)
        refusal = severity_gate(gates.scan, max_severity)
        if refusal:
            raise UsageError(refusal)
        counts = ", ".join(f"{n} {s}" for s, n in gates.scan.counts.items() if n) or "no findings"
        return f"{gates.scan.status}: {counts}"

    _timed(report, "ECR tag", resolve)
    _timed(report, f"scan (blocks {max_severity.upper()} and above)", scan)


def chart_image_gate(repo: Repo, plan: promote.Plan, env: str, gates: Gates, report: Report) -> None:
    """Each third-party image moving with the chart resolves, by its tag, in the pull-through cache the target
    pulls from; the digest found there is what the target pins."""
    if not plan.chart_images:
        return
    registry = Registry.of(repo.cluster(env))
    ecr = Ecr.connect(registry)

    def resolve() -> str:
        for move in plan.chart_images:
            where = f"{move.source.file}:{move.source.line}"
            if move.registry_host != registry.host:
                raise UsageError(
                    f"{where}: image {move.source.dependency} is not in the registry {registry.host} that "
                    f"{repo.cluster_file(env)} names; pull it through that registry's cache"
                )
            fix = (
                f"the cache has not pulled it yet: pull {move.source.dependency}:{move.tag} once through it "
                "(or let the source environment run it), then run again"
            )
            digest = ecr.resolve_tag(move.repository, move.tag, missing_fix=fix).digest
            if move.source.digest and move.source.digest != digest:
                raise UsageError(
                    f"{where}: {move.repository}:{move.tag} is {digest} in the cache, but {plan.route.source} runs "
                    f"{move.source.digest}; the upstream tag moved, so move {plan.route.source} to it first"
                )
            gates.chart_images[move.source] = digest
        return f"{len(plan.chart_images)} images resolved in {registry.host}"

    _timed(report, "chart images", resolve)


def health_gate(repo: Repo, plan: promote.Plan, environ: Mapping[str, str], gates: Gates, report: Report) -> None:
    """The source runs the pins: its Application is Synced and Healthy at a revision holding them."""
    route = plan.route
    cluster = repo.cluster(route.source)

    def check() -> str:
        server = ArgoCdServer.resolve(environ, cluster.get("argocd.server"), cluster.file, route.source)
        state = ArgoCd(server).get_application(route.app)
        where = f"Argo CD {server.url}: {route.source}/{route.app}"
        if state.sync_status != "Synced" or state.health_status != "Healthy":
            raise UsageError(
                f"{where} is {state.sync_status or 'Unknown'}/{state.health_status or 'Unknown'}, not Synced/Healthy; "
                "wait for it to settle or fix it, or pass --no-health-gate"
            )
        revision = revision_for_repo(state, cluster.repo_url) or state.revision
        if not revision:
            raise UsageError(f"{where} reports no synced revision of {cluster.repo_url}; check gitops.repo_url in {cluster.file}")
        _require_pins_at(repo, plan, revision, where)
        gates.source_revision = revision
        gates.source_state = state
        return f"Synced/Healthy at {revision[:12]}"

    _timed(report, f"health of {route.source}", check)


def _require_pins_at(repo: Repo, plan: promote.Plan, revision: str, where: str) -> None:
    if not git.has_commit(repo.root, revision):
        raise UsageError(f"{where} runs {revision[:12]}, which this clone does not have; git fetch, then run again")
    moving = ([plan.image.source] if plan.image else []) + [m.source for m in plan.charts] + [m.source for m in plan.chart_images]
    for pin in moving:
        text = git.show_file(repo.root, revision, pin.file)
        then = pins.collect_file(repo.overlay(pin.file, text), pin.file) if text is not None else []
        if not any(p.dependency == pin.dependency and p.version == pin.version for p in then):
            raise UsageError(
                f"{where} runs {revision[:12]}, which does not yet hold {pin.dependency} {pin.version} ({pin.file}); "
                "wait for Argo CD to sync it, or pass --no-health-gate"
            )


def _plan_promotion(repo: Repo, options: Options, environ: Mapping[str, str], report: Report) -> tuple[promote.Plan, Gates]:
    route = promote.route(repo, options.app, options.to_env, options.from_env)
    holds.refuse_if_held(repo, route.target, route.app, f"promoting into {route.target}")
    report("hold", f"{route.target}/{route.app} not held", 0.0)
    now = utcnow()
    later_gates.refuse_frozen_target(repo, route, now, report)
    plan = promote.plan(repo, promote.route_pins(repo, route), route, options.tag, options.charts)
    gates = Gates()
    image_gates(repo, plan, route.target, options.max_severity, gates, report)
    chart_image_gate(repo, plan, route.target, gates, report)
    if options.health_gate:
        health_gate(repo, plan, environ, gates, report)
        if gates.source_state is not None:
            where = f"{route.source}/{route.app}"
            skip = options.reason.strip() if options.skip_soak else None
            later_gates.soak_gate(repo, plan, gates.source_state, where, now, skip, gates.trailers, report, _timed)
            digest = gates.image.digest if gates.image else None
            later_gates.smoke_gate(repo, plan, gates.source_state, digest, environ, gates.trailers, report, _timed)
    else:
        report(f"health of {route.source}", "skipped (--no-health-gate)", 0.0)
        gates.trailers["Gates-Skipped"] = "health, soak, smoke (--no-health-gate)"
    return plan, gates


def _pr_body(result_plan: promote.Plan, changes: list[Change], gates: Gates, source_commit: str, diff_summary: str) -> str:
    route = result_plan.route
    lines = [
        f"Promotes **{route.app}** from **{route.source}** to **{route.target}**.",
        "",
        "| pin | file | from | to |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.pin.dependency} | `{c.pin.file}` | {c.pin.version} | {c.version} |" for c in changes]
    if gates.image:
        lines += ["", f"- Image digest: `{gates.image.digest}`"]
    if gates.scan:
        counts = ", ".join(f"{n} {s}" for s, n in gates.scan.counts.items() if n) or "no findings"
        lines.append(f"- Scan: {gates.scan.status}, {counts}")
    lines.append(
        f"- Source commit: `{source_commit}`"
        + (f" (synced in {route.source}: `{gates.source_revision}`)" if gates.source_revision else "")
    )
    lines += ["", diff_summary]
    return "\n".join(lines)


def _diff_summary(repo: Repo, env: str) -> str:
    from ..rendering.diff import diff_against, summary_markdown

    commit, diffs = diff_against(repo, "HEAD~1", env)
    return summary_markdown(commit, diffs)


def _open_pull(environ: Mapping[str, str]) -> Callable[[gitflow.Tree, gitflow.Delivery, Repo], tuple[str, bool]]:
    def open_pull(tree: gitflow.Tree, delivery: gitflow.Delivery, repo: Repo) -> tuple[str, bool]:
        assert tree.remote is not None and tree.remote_branch is not None
        owner, name = repository_from_remote(git.remote_url(repo.root, tree.remote))
        pull = GitHub.from_env(environ).ensure_pull(
            owner, name, delivery.branch, tree.remote_branch, delivery.title, delivery.body(repo)
        )
        return pull.url, pull.created

    return open_pull


def run_promotion(
    root: Path, options: Options, environ: Mapping[str, str], report: Report, show: Callable[[str], None]
) -> Result:
    """Gates, plan and delivery (or, with dry_run, the plan and its diff only)."""
    if options.mode not in gitflow.MODES:
        raise UsageError(f"--mode {options.mode}: choose one of {', '.join(gitflow.MODES)}")
    severity_rank(options.max_severity)
    if options.skip_soak and not options.reason.strip():
        raise UsageError('--skip-soak needs --reason "...": breaking glass is recorded in the commit and shown by invoke history')
    if options.break_glass:
        raise UsageError("--break-glass is for invoke rollback during a freeze; a promotion waits for the window to end")
    if options.mode == "pr" and not options.dry_run:
        GitHub.from_env(environ)  # fail before any gate if the PR cannot be opened
    planned = Planned()

    def plan_attempt(repo: Repo, tree: gitflow.Tree) -> gitflow.Delivery:
        plan, gates = _plan_promotion(repo, options, environ, report)
        target = repo.cluster(plan.route.target)
        changes = plan.changes(gates.image.digest if gates.image else None, target.pins_by_digest, gates.chart_images)
        if not changes:
            raise UsageError(
                f"{plan.route.target} already runs what {plan.route.source} runs for {plan.route.app}; nothing to promote"
            )
        edits = edit.plan(repo, changes)
        who = environ.get("PROMOTED_BY") or git.identity(repo.root)
        message = promote.commit_message(plan, changes, gates.image.digest if gates.image else None, who, extra=gates.trailers)
        source_commit = git.head(repo.root)
        planned.record(plan, changes, edits, gates)

        def body(after: Repo) -> str:
            return _pr_body(plan, changes, gates, source_commit, _diff_summary(after, plan.route.target))

        return gitflow.Delivery(edits, message, promote.branch_name(plan.route, plan), message.splitlines()[0], body)

    return _execute(root, options, plan_attempt, planned, environ, show)


def previous_version(repo: Repo, pin: pins.Pin) -> pins.Pin:
    """The newest version of the pin, in the file's git history, that differs from today's."""
    commits = git.run(repo.root, "log", "--format=%H", "--", pin.file).split()
    for commit in commits:
        text = git.show_file(repo.root, commit, pin.file)
        if text is None:
            continue
        for old in pins.collect_file(repo.overlay(pin.file, text), pin.file):
            if old.dependency == pin.dependency and old.version != pin.version:
                return old
    raise UsageError(f"{pin.file}: git history holds no other version of {pin.dependency} than {pin.version}; name one with --to")


def run_rollback(root: Path, options: Options, environ: Mapping[str, str], report: Report, show: Callable[[str], None]) -> Result:
    """Pin an older image in an environment and hold it there."""
    if not options.reason.strip():
        raise UsageError("--reason is required: say why, so whoever finds the hold knows when to release it")
    severity_rank(options.max_severity)
    planned = Planned()

    def plan_attempt(repo: Repo, tree: gitflow.Tree) -> gitflow.Delivery:
        env = options.to_env
        repo.select_envs(env)
        if options.app not in promote.known_apps(repo, env):
            raise UsageError(f"--app {options.app}: no file {promote.app_files(env, options.app)[0]}")
        route = promote.Route(options.app, env, env)
        current = promote.image_move(promote.route_pins(repo, route), route, None, promote.cache_prefixes(repo, route.source))
        if current is None:
            raise UsageError(f"{promote.app_files(env, options.app)[1]}: {options.app} has no image pin to roll back")
        now, extra = utcnow(), {}
        frozen = windows.frozen(repo.cluster(env).freeze, now)
        if frozen is None:
            report("freeze", f"{env} not frozen", 0.0)
        elif not options.break_glass:
            refuse_if_frozen(
                repo,
                env,
                f"rolling back {options.app}",
                now,
                "To roll back anyway, break glass: add --break-glass (the --reason is recorded)",
            )
        else:
            which = ", ".join(f"promotion.freeze[{w.index}]" for w in frozen.windows)
            extra["Break-Glass"] = (
                f"--break-glass in the freeze until {frozen.until_text()} ({which}: {frozen.reasons}): {options.reason}"
            )
            report("freeze", f"{env} frozen until {frozen.until_text()}; --break-glass: {options.reason}", 0.0)
        wanted = options.tag or previous_version(repo, current.target).version
        older = replace(current.target, version=wanted, digest=None)
        plan = promote.Plan(route, promote.ImageMove(older, current.target), [])
        gates = Gates()
        image_gates(repo, plan, env, options.max_severity, gates, report)
        assert gates.image is not None
        changes = plan.changes(gates.image.digest, repo.cluster(env).pins_by_digest)
        who = environ.get("PROMOTED_BY") or git.identity(repo.root)
        hold = holds.Hold(env, options.app, options.reason, who, _now(), wanted)
        edits = (edit.plan(repo, changes) if changes else []) + holds.plan_set(repo, hold)
        message = promote.commit_message(plan, changes, gates.image.digest, who, kind="rollback", extra=extra)
        message = message.replace("\n\n", f"\n\nHeld: {options.reason}\n\n", 1)
        planned.record(plan, changes, edits, gates)
        branch = f"rollback/{options.app}/{env}/{wanted}"
        return gitflow.Delivery(edits, message, branch, message.splitlines()[0], lambda _repo: message)

    return _execute(root, options, plan_attempt, planned, environ, show)


def run_hold(
    root: Path, env: str, app: str, reason: str, release: bool, mode: str, environ: Mapping[str, str]
) -> gitflow.Outcome:
    def plan_attempt(repo: Repo, tree: gitflow.Tree) -> gitflow.Delivery:
        repo.select_envs(env)
        if app not in promote.known_apps(repo, env):
            raise UsageError(f"--app {app}: no file {promote.app_files(env, app)[0]}")
        who = environ.get("PROMOTED_BY") or git.identity(repo.root)
        if release:
            edits = holds.plan_release(repo, env, app)
            title = f"release the hold on {env}/{app}"
        else:
            if not reason.strip():
                raise UsageError("--reason is required: say why the pins must not move")
            own = promote.Route(app, env, env)
            image = promote.image_move(promote.route_pins(repo, own), own, None, promote.cache_prefixes(repo, own.source))
            version = image.target.version if image else ""
            edits = holds.plan_set(repo, holds.Hold(env, app, reason, who, _now(), version))
            title = f"hold {env}/{app}: {reason}"
        message = f"{title}\n\nHold-Env: {env}\nHold-App: {app}\nHold-By: {who}\n"
        return gitflow.Delivery(edits, message, f"hold/{app}/{env}", title, lambda _repo: message)

    return gitflow.deliver(root, mode, plan_attempt, _open_pull(environ) if mode == "pr" else None)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
