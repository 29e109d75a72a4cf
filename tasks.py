"""Tasks for the Airflow on EKS platform. Each parses its arguments and calls scripts/airflow_gitops."""

from __future__ import annotations

from invoke import Context, Exit, task

from airflow_gitops import cli


def _finish(code: int) -> None:
    if code:
        raise Exit(code=code)


@task(help={
    "env": "check one environment (default: all under clusters/)",
    "all": "also run the slow real tools (checkov on rendered manifests)",
    "format": "table (default) or json",
})
def check(c: Context, env: str | None = None, all: bool = False, format: str = "table") -> None:  # noqa: A002
    """Prove the repository deployable, offline: parse, render, validate, contracts, policy."""
    _finish(cli.guarded(lambda: cli.check(env, all, format)))
