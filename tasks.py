"""Tasks for the Airflow on EKS platform. Each parses its arguments and calls scripts/airflow_gitops."""

from __future__ import annotations

import getpass
import sys

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from airflow_gitops.cli import checks, common, platform, releases, upgrades


def _finish(code: int) -> None:
    if code:
        raise Exit(code=code)


CHART_CACHE_HELP = "the chart archive cache (default: $XDG_CACHE_HOME/airflow-gitops/charts or ~/.cache/...)"


@task(
    help={
        "env": "check one environment (default: all under clusters/)",
        "all": "also run the slow real tools (checkov on rendered manifests) and --render-charts",
        "format": "table (default) or json",
        "render-charts": "render every chart as Argo CD would (cache first, else pulled) and check what it renders",
        "require-render": "a chart that cannot be rendered is an error, not a warning (implies --render-charts)",
        "chart-cache": CHART_CACHE_HELP,
        "kubernetes-version": "validate built-in kinds (and render charts) for X.Y, or 'next' (each cluster's next minor): "
        "can the clusters move to it?",
        "base": "a git ref: CRD transition rules (oldSelf) compare each custom resource with the object there",
    }
)
def check(
    c: Context,
    env: str | None = None,
    all: bool = False,  # noqa: A002
    format: str = "table",  # noqa: A002
    render_charts: bool = False,
    require_render: bool = False,
    chart_cache: str | None = None,
    kubernetes_version: str | None = None,
    base: str | None = None,
) -> None:
    """Prove the repository deployable, offline: parse, render, validate, contracts, policy."""
    _finish(
        common.guarded(
            lambda: checks.check(env, all, format, None, render_charts, require_render, chart_cache, kubernetes_version, base)
        )
    )


@task(
    help={
        "env": "the environment to render (required)",
        "out": "output folder (default: out/<env>)",
        "charts": "also write the objects each chart renders (cache first, else pulled)",
        "chart-cache": CHART_CACHE_HELP,
    }
)
def render(c: Context, env: str = "", out: str | None = None, charts: bool = False, chart_cache: str | None = None) -> None:
    """Write every object Argo CD would apply to an environment, grouped by Application."""
    _finish(common.guarded(lambda: common.require(env=env) or checks.render(env, out, None, charts, chart_cache)))


@task(
    help={
        "base": "the git ref to compare with (default: HEAD)",
        "env": "one environment (default: all)",
        "format": "text (default), markdown (for a PR comment) or json",
        "chart-cache": CHART_CACHE_HELP + "; charts in it are rendered and compared, none is downloaded",
    }
)
def diff(c: Context, base: str = "HEAD", env: str | None = None, format: str = "text", chart_cache: str | None = None) -> None:  # noqa: A002
    """Show what the working tree changes in each cluster against a git ref, object by object."""
    _finish(common.guarded(lambda: checks.diff(base, env, format, None, chart_cache)))


@task(
    help={
        "env": "vendor for one environment's pins (default: all)",
        "force": "download and write again even what is already vendored",
        "plain-http": "reach OCI registries over http:// (registries without TLS)",
    }
)
def schemas(c: Context, env: str | None = None, force: bool = False, plain_http: bool = False) -> None:
    """Vendor the values schemas and CRDs `invoke check` needs for every pinned chart version (online)."""
    _finish(common.guarded(lambda: upgrades.schemas(env, force, plain_http)))


@task(
    help={
        "env": "the environment whose state bucket to create (required)",
        "registry": "create the shared registry stack's state bucket instead (cluster.yaml registry)",
    }
)
def tf_backend(c: Context, env: str = "", registry: bool = False) -> None:
    """Create the Terraform state bucket <cluster.name>-tfstate-<account> for an environment (online, idempotent)."""
    _finish(common.guarded(lambda: common.require(env=env) or platform.tf_backend(env, registry=registry)))


@task(
    help={
        "env": "the environment to rehearse (default dev); it is promoted into the next one",
        "logs": "a folder to keep the emulators' and terraform's logs in (default: none kept)",
    }
)
def rehearse(c: Context, env: str = "dev", logs: str | None = None) -> None:
    """Apply the platform against local AWS emulators: tf-backend, stacks, secrets-init, an image, promote, destroy."""
    _finish(common.guarded(lambda: platform.rehearse(env, logs)))


@task(
    help={
        "upstream": "the cache prefix of the upstream registry (cluster.yaml registry.pull_through_cache): docker-hub or ghcr",
        "username": "the upstream account's user name",
        "env": "the environment whose cluster.yaml names the registry (default dev; all name the same one)",
    }
)
def registry_credentials(c: Context, upstream: str = "", username: str = "", env: str = "dev") -> None:
    """Store an upstream registry's login for the pull-through cache; the access token is read from standard input."""
    _finish(
        common.guarded(
            lambda: (
                common.require(upstream=upstream, username=username)
                or platform.registry_credentials(env, upstream, username, _token_from_stdin())
            )
        )
    )


def _token_from_stdin() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("access token: ")
    return sys.stdin.read()


@task(help={"env": "the environment whose Airflow secrets to fill (required)"})
def secrets_init(c: Context, env: str = "") -> None:
    """Fill each generated Airflow secret in Secrets Manager that has no value yet; never overwrites or prints one."""
    _finish(common.guarded(lambda: common.require(env=env) or platform.secrets_init(env)))


@task(help={"env": "one environment's pins and the shared ones (default: every pin)", "format": "table (default) or json"})
def pins(c: Context, env: str | None = None, format: str = "table") -> None:  # noqa: A002
    """List every version pin in the repo: file, line, dependency, datasource, version, environment."""
    _finish(common.guarded(lambda: upgrades.pins(env, format)))


@task(
    positional=["dependency", "version"],
    help={
        "dependency": "the dependency, as invoke pins names it (a chart, an image, a provider...)",
        "version": "the exact version to pin",
        "env": "the environment to bump (default: dev; staging and prod move only by promote)",
        "allow-downgrade": "allow a version older than the pinned one",
        "no-check": "skip the invoke check that runs afterwards",
    },
)
def bump(
    c: Context, dependency: str, version: str, env: str = "dev", allow_downgrade: bool = False, no_check: bool = False
) -> None:
    """Move DEPENDENCY to VERSION in dev and the shared files, keeping comments; vendor a chart's schemas; check."""
    _finish(
        common.guarded(
            lambda: (
                common.require(dependency=dependency, version=version)
                or upgrades.bump(dependency, version, env, allow_downgrade, run_check=not no_check)
            )
        )
    )


@task(help={"env": "one environment (default: all)"})
def sync_windows(c: Context, env: str | None = None) -> None:
    """Render cluster.yaml promotion.freeze into the AppProjects' syncWindows (clusters/<env>/patches/sync-windows.yaml)."""
    _finish(common.guarded(lambda: upgrades.sync_windows(env)))


@task(
    help={
        "app": "the app to promote (a file clusters/<env>/apps/<app>.yaml)",
        "to": "the environment to promote into",
        "from": "the environment to promote from (default: the one before --to)",
        "tag": "refuse unless the source runs this tag",
        "charts": "move the app's chart versions too",
        "mode": "pr (default: push a branch and open or update a pull request), push (a branch) or commit (on this branch)",
        "dry-run": "print the plan and the diff; change nothing",
        "no-health-gate": "skip the gates read from the source's Argo CD and Airflow: health, soak and smoke (recorded)",
        "max-severity": "lowest scan severity that blocks: CRITICAL, HIGH (default), MEDIUM, LOW, INFORMATIONAL or NONE",
        "skip-soak": "break glass: promote before the source has soaked (needs --reason; recorded in the commit)",
        "reason": "why the glass is broken (with --skip-soak)",
    }
)
def promote(
    c: Context,
    app: str = "",
    to: str = "",
    from_: str | None = None,
    tag: str | None = None,
    charts: bool = False,
    mode: str = "pr",
    dry_run: bool = False,
    no_health_gate: bool = False,
    max_severity: str = "HIGH",
    skip_soak: bool = False,
    reason: str = "",
) -> None:
    """Move an app's image (and with --charts its chart) from one environment to the next, after the gates."""
    from airflow_gitops.releases.release import Options

    options = Options(app, to, from_, tag, charts, mode, dry_run, not no_health_gate, max_severity, reason, skip_soak)
    _finish(common.guarded(lambda: common.require(app=app, to=to) or releases.promote(options)))


@task(
    help={
        "app": "the app to roll back",
        "env": "the environment to roll back",
        "to": "the tag to pin (default: the previous one in git history)",
        "reason": "why (kept with the hold)",
        "mode": "pr (default), push or commit",
        "dry-run": "print the plan and the diff; change nothing",
        "max-severity": "lowest scan severity that blocks (default HIGH)",
        "break-glass": "roll back even during a freeze window of the environment (the reason is recorded)",
    }
)
def rollback(
    c: Context,
    app: str = "",
    env: str = "",
    reason: str = "",
    to: str | None = None,
    mode: str = "pr",
    dry_run: bool = False,
    max_severity: str = "HIGH",
    break_glass: bool = False,
) -> None:
    """Pin an app's previous image in an environment and hold it there until `invoke hold --release`."""
    from airflow_gitops.releases.release import Options

    options = Options(app, env, None, to, False, mode, dry_run, False, max_severity, reason, break_glass=break_glass)
    _finish(common.guarded(lambda: common.require(app=app, env=env, reason=reason) or releases.rollback(options)))


@task(
    help={
        "env": "the environment",
        "app": "the app whose pins to hold",
        "reason": "why (required to set a hold)",
        "release": "release the hold instead",
        "mode": "commit (default), push or pr",
    }
)
def hold(c: Context, env: str = "", app: str = "", reason: str = "", release: bool = False, mode: str = "commit") -> None:
    """Hold an app's pins in an environment (promote, bump and Renovate leave them alone), or release the hold."""
    _finish(common.guarded(lambda: common.require(env=env, app=app) or releases.hold(env, app, reason, release, mode)))


@task(help={"env": "promotions into this environment", "app": "promotions of this app", "format": "table (default) or json"})
def history(c: Context, env: str | None = None, app: str | None = None, format: str = "table") -> None:  # noqa: A002
    """Past promotions and rollbacks from the git trailers: when, who, from, to, tag and digest."""
    _finish(common.guarded(lambda: releases.history(env, app, format)))


@task(
    help={
        "env": "one environment (default: all, each from its own Argo CD); ARGOCD_SERVER applies only with it",
        "format": "table (default) or json",
        "kubeconfig": "read the Applications through this kubeconfig instead of Argo CD or EKS (needs --env)",
        "context": "the kubeconfig context",
    }
)
def status(
    c: Context, env: str | None = None, format: str = "table", kubeconfig: str | None = None, context: str | None = None
) -> None:  # noqa: A002
    """Each environment's Applications from its own Argo CD (argocd.server), else its Kubernetes API; Missing ones fail."""
    _finish(common.guarded(lambda: releases.status(env, format, kubeconfig, context)))


@task(
    help={
        "env": "the environment",
        "app": "the app (default: airflow)",
        "timeout": "seconds to wait (default 600)",
        "kubeconfig": "a kubeconfig instead of EKS",
        "context": "the kubeconfig context",
        "smoke-timeout": "seconds to wait for the platform_smoke run (default 1800)",
        "no-smoke": "only wait for the rollout; trigger no smoke run",
    }
)
def verify(
    c: Context,
    env: str = "",
    app: str = "airflow",
    timeout: float = 600,
    kubeconfig: str | None = None,
    context: str | None = None,
    smoke_timeout: float = 1800,
    no_smoke: bool = False,
) -> None:
    """Wait until the app runs the pinned digest, rolled out; for Airflow, then run platform_smoke through its API."""
    _finish(
        common.guarded(
            lambda: (
                common.require(env=env)
                or releases.verify(env, app, timeout, kubeconfig, context, smoke_timeout=smoke_timeout, no_smoke=no_smoke)
            )
        )
    )


@task(
    help={
        "base": "the git ref invoke diff compares with (default: origin/main, else HEAD)",
        "skip-tests": "skip the test suite, for a quick run",
    }
)
def ci(c: Context, base: str | None = None, skip_tests: bool = False) -> None:
    """Run what the check workflow runs: the tests, invoke check --all and invoke diff; a summary with times."""
    _finish(common.guarded(lambda: checks.ci(base, skip_tests)))
