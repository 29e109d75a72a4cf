"""`invoke status` and `invoke verify`: what the clusters run, read from Argo CD or Kubernetes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..adapters.argocd import ArgoCd, ArgoCdServer
from ..adapters.ecr import Ecr, Registry
from ..model.findings import UsageError
from ..model.repo import APPS_DIR, Repo
from . import promote


@dataclass(frozen=True)
class AppRow:
    env: str
    app: str
    sync: str
    health: str
    revision: str

    def to_json(self) -> dict[str, str]:
        return {"env": self.env, "app": self.app, "sync": self.sync, "health": self.health, "revision": self.revision}


def statuses_from_argocd(repo: Repo, env: str, environ: Mapping[str, str]) -> list[AppRow]:
    cluster = repo.cluster(env)
    client = ArgoCd(ArgoCdServer.resolve(environ, cluster.get("argocd.server"), cluster.file))
    rows = []
    for app in promote.known_apps(repo, env):
        state = client.get_application(app)
        revision = state.revisions[-1] if state.revisions else (state.revision or "")
        rows.append(AppRow(env, app, state.sync_status or "Unknown", state.health_status or "Unknown", revision))
    return rows


def statuses_from_kubernetes(repo: Repo, env: str, kubeconfig: str | None, context: str | None) -> list[AppRow]:
    from ..adapters.kube import application_statuses, connect

    cluster = repo.cluster(env)
    api = connect(cluster.name, cluster.region, kubeconfig, context)
    return [
        AppRow(env, s.name, s.sync, s.health, s.revisions[-1] if s.revisions else "")
        for s in application_statuses(api, "argocd", cluster=cluster.name)
    ]


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
