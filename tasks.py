"""Tasks for the Airflow on EKS platform. Each parses its arguments and calls scripts/airflow_gitops."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from airflow_gitops import cli


def _finish(code: int) -> None:
    if code:
        raise Exit(code=code)


@task(
    help={
        "env": "check one environment (default: all under clusters/)",
        "all": "also run the slow real tools (checkov on rendered manifests)",
        "format": "table (default) or json",
    }
)
def check(c: Context, env: str | None = None, all: bool = False, format: str = "table") -> None:  # noqa: A002
    """Prove the repository deployable, offline: parse, render, validate, contracts, policy."""
    _finish(cli.guarded(lambda: cli.check(env, all, format)))


@task(help={"env": "the environment to render (required)", "out": "output folder (default: out/<env>)"})
def render(c: Context, env: str, out: str | None = None) -> None:
    """Write every object Argo CD would apply to an environment, grouped by Application."""
    _finish(cli.guarded(lambda: cli.render(env, out)))


@task(
    help={
        "base": "the git ref to compare with (default: HEAD)",
        "env": "one environment (default: all)",
        "format": "text (default), markdown (for a PR comment) or json",
    }
)
def diff(c: Context, base: str = "HEAD", env: str | None = None, format: str = "text") -> None:  # noqa: A002
    """Show what the working tree changes in each cluster against a git ref, object by object."""
    _finish(cli.guarded(lambda: cli.diff(base, env, format)))


@task(
    help={
        "env": "vendor for one environment's pins (default: all)",
        "force": "download and write again even what is already vendored",
        "plain-http": "reach OCI registries over http:// (registries without TLS)",
    }
)
def schemas(c: Context, env: str | None = None, force: bool = False, plain_http: bool = False) -> None:
    """Vendor the values schemas and CRDs `invoke check` needs for every pinned chart version (online)."""
    _finish(cli.guarded(lambda: cli.schemas(env, force, plain_http)))


@task(
    help={
        "env": "the environment whose state bucket to create (required)",
        "registry": "create the shared registry stack's state bucket instead (cluster.yaml registry)",
    }
)
def tf_backend(c: Context, env: str, registry: bool = False) -> None:
    """Create the Terraform state bucket <cluster.name>-tfstate-<account> for an environment (online, idempotent)."""
    _finish(cli.guarded(lambda: cli.tf_backend(env, registry=registry)))


@task(help={"env": "the environment whose Airflow secrets to fill (required)"})
def secrets_init(c: Context, env: str) -> None:
    """Fill each generated Airflow secret in Secrets Manager that has no value yet; never overwrites or prints one."""
    _finish(cli.guarded(lambda: cli.secrets_init(env)))
