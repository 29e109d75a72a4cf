"""`invoke status` and `invoke verify`: what the clusters run, read from Argo CD or Kubernetes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..adapters.argocd import SERVER_ENV, SERVER_KEY, TOKEN_ENV, ArgoCd, ArgoCdServer, token_for, token_variable
from ..adapters.ecr import Ecr, Registry
from ..model.findings import UsageError
from ..model.repo import APPS_DIR, CLUSTERS_DIR, Repo
from . import promote

MISSING = "Missing"


@dataclass(frozen=True)
class AppRow:
    env: str
    app: str
    sync: str
    health: str
    revision: str
    note: str = ""  # why a row says what it says, when that is not plain (a 403, an Application not rendered)

    def to_json(self) -> dict[str, str]:
        row = {"env": self.env, "app": self.app, "sync": self.sync, "health": self.health, "revision": self.revision}
        return {**row, "note": self.note} if self.note else row

    @property
    def healthy(self) -> bool:
        return self.sync == "Synced" and self.health == "Healthy"


def expected_applications(repo: Repo, env: str) -> list[str]:
    """The Applications the environment's rendered cluster has (kubectl kustomize clusters/<env>)."""
    from ..adapters.kustomize import KustomizeError, render

    try:
        objects = render(repo.root, env, repo.path(f"{CLUSTERS_DIR}/{env}"))
    except KustomizeError as exc:
        raise UsageError(f"{CLUSTERS_DIR}/{env}: kubectl kustomize failed ({exc.message[-300:]}); run invoke check") from None
    return sorted({o.name for o in objects if o.kind == "Application" and o.group == "argoproj.io"})


def argocd_for(environ: Mapping[str, str], repo: Repo, env: str, env_given: bool) -> ArgoCdServer | None:
    """The Argo CD API to ask about one environment, or None to read its cluster's Kubernetes API instead.

    The environment's own Argo CD: `argocd.server` of its cluster.yaml. ARGOCD_SERVER names one Argo CD,
    so it stands in only when one environment is asked about (--env). The API is used when there is a
    token for it (ARGOCD_AUTH_TOKEN_<ENV>, else ARGOCD_AUTH_TOKEN), or when ARGOCD_SERVER asks for it.
    """
    cluster = repo.cluster(env)
    explicit = environ.get(SERVER_ENV, "").strip() if env_given else ""
    if not explicit and not (cluster.get(SERVER_KEY) and token_for(environ, env)):
        return None
    if not token_for(environ, env):
        raise UsageError(
            f"{SERVER_ENV} names the Argo CD of {env}, but there is no token for it: set {token_variable(env)} or "
            f"{TOKEN_ENV} (argocd account generate-token), or unset {SERVER_ENV} to read the cluster instead"
        )
    environ = {k: v for k, v in environ.items() if k != SERVER_ENV or env_given}
    return ArgoCdServer.resolve(environ, cluster.get(SERVER_KEY), cluster.file, env)


def statuses_from_argocd(server: ArgoCdServer, env: str, expected: list[str]) -> list[AppRow]:
    """Each Application the rendered cluster has, as this environment's Argo CD reports it; Missing if it has none."""
    client = ArgoCd(server)
    rows = []
    for app in expected:
        state = client.find_application(app)
        if state is None:
            note = f"Argo CD at {server.url} has no Application {app} (or the token may not read it)"
            rows.append(AppRow(env, app, MISSING, MISSING, "", note))
            continue
        revision = state.revisions[-1] if state.revisions else (state.revision or "")
        rows.append(AppRow(env, app, state.sync_status or "Unknown", state.health_status or "Unknown", revision))
    return rows


def statuses_from_kubernetes(
    repo: Repo, env: str, expected: list[str], kubeconfig: str | None, context: str | None
) -> list[AppRow]:
    """The Application resources in the cluster's argocd namespace: each rendered one (Missing if absent), then the rest."""
    from ..adapters.kube import application_statuses, connect

    cluster = repo.cluster(env)
    api = connect(cluster.name, cluster.region, kubeconfig, context)
    found = {s.name: s for s in application_statuses(api, "argocd", cluster=cluster.name)}
    rows = []
    for app in expected:
        status = found.pop(app, None)
        if status is None:
            rows.append(AppRow(env, app, MISSING, MISSING, "", "no Application resource in namespace argocd"))
        else:
            rows.append(AppRow(env, app, status.sync, status.health, status.revisions[-1] if status.revisions else ""))
    for name, status in sorted(found.items()):  # the root Application, or one not rendered from clusters/<env>
        revision = status.revisions[-1] if status.revisions else ""
        rows.append(AppRow(env, name, status.sync, status.health, revision, f"not rendered from {CLUSTERS_DIR}/{env}"))
    return rows


def app_namespace(repo: Repo, app: str) -> str:
    """Where an app's workloads run: its Application's destination namespace."""
    rel = f"{APPS_DIR}/{app}/application.yaml"
    doc = repo.yaml_doc(rel) if repo.exists(rel) else None
    namespace = ((doc or {}).get("spec") or {}).get("destination", {}).get("namespace") if isinstance(doc, dict) else None
    if not namespace:
        raise UsageError(f"{rel}: no spec.destination.namespace; cannot tell where {app} runs")
    return str(namespace)


def expected_image(repo: Repo, env: str, app: str) -> tuple[str, str, str]:
    """(image repository, tag, digest) the environment pins; the digest from ECR when only a tag is pinned."""
    own = promote.Route(app, env, env)
    move = promote.image_move(promote.route_pins(repo, own), own, None, promote.cache_prefixes(repo, own.source))
    if move is None:
        raise UsageError(f"{promote.app_files(env, app)[1]}: {app} pins no image; verify follows images")
    pin = move.target
    digest = pin.digest or Ecr.connect(Registry.of(repo.cluster(env))).resolve_tag(move.repository, pin.version).digest
    return pin.dependency, pin.version, digest


def verify(
    repo: Repo,
    env: str,
    app: str,
    timeout_s: float,
    kubeconfig: str | None,
    context: str | None,
    on_progress: Callable[[Any], None] | None = None,
    poll_s: float = 5.0,
) -> list[Any]:
    from ..adapters.kube import connect, wait_for_rollout

    repo.select_envs(env)
    if app not in promote.known_apps(repo, env):
        raise UsageError(f"--app {app}: no file {promote.app_files(env, app)[0]}")
    image, _tag, digest = expected_image(repo, env, app)
    cluster = repo.cluster(env)
    api = connect(cluster.name, cluster.region, kubeconfig, context)
    return wait_for_rollout(
        api, app_namespace(repo, app), image, digest, timeout_s, poll_s, on_progress=on_progress, cluster=cluster.name
    )
