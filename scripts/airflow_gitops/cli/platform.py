"""Entry points for an environment's AWS side: tf-backend, secrets-init, registry-credentials and rehearse."""

from __future__ import annotations

from pathlib import Path


def tf_backend(env: str, cwd: Path | None = None, registry: bool = False) -> int:
    from rich.console import Console
    from rich.table import Table

    from ..adapters.aws import connect
    from ..model.repo import Repo
    from ..platform.state_backend import ensure_state_bucket, registry_stack

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
    if plan.principals is not None:
        print(f"{plan.alias} = {plan.key_arn}; bucket and key admit only {', '.join(plan.principals.all)}")
    if plan.changes:
        print(f"s3://{plan.bucket}: {len(plan.changes)} of {len(plan.steps)} settings created or updated")
    else:
        print(f"s3://{plan.bucket}: already as wanted; nothing changed")
    print(f'backend "s3": bucket = "{plan.bucket}", region = "{plan.region}", key = "{env}/<layer>.tfstate", use_lockfile = true')
    return 0


def secrets_init(env: str, cwd: Path | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    from ..adapters.aws import connect
    from ..model.repo import Repo
    from ..platform.airflow_secrets import apply, observe_all, plan_secrets

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


def registry_credentials(env: str, upstream: str, username: str, token_text: str, cwd: Path | None = None) -> int:
    from ..adapters.aws import connect
    from ..model.repo import Repo
    from ..platform.registry_credentials import parse_login, upstream_of, write_login
    from ..platform.state_backend import registry_stack

    repo = Repo.discover(cwd)
    repo.select_envs(env)
    cluster = repo.cluster(env)
    host = upstream_of(cluster, upstream)
    login = parse_login(username, token_text)
    registry = registry_stack(cluster)
    result = write_login(connect(registry).secretsmanager(), upstream, login)
    what = "written" if result == "written" else "already held; nothing changed"
    print(f"{upstream} ({host}) login for {login.username}: {what} (registry account {registry.account_id}, {registry.region})")
    return 0


def rehearse(env: str, logs: str | None = None, cwd: Path | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    from ..model.repo import Repo
    from ..platform.rehearse import Outcome, StepRecord
    from ..platform.rehearse import rehearse as run_rehearsal

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
