"""Argo CD's REST API as the promotion health gate reads it: the sync and health of one Application.

Written against the vendored spec schemas/argo-cd/3.5.1/swagger.json: `GET /api/v1/applications/{name}`
(optional query `appNamespace`) answers a `v1alpha1Application`, errors a `runtimeError`. The server is
ARGOCD_SERVER, else cluster.yaml `argocd.server`; like the argocd CLI it takes `host[:port]` (HTTPS) or a
URL with its scheme. The token is ARGOCD_AUTH_TOKEN_<ENV> (ARGOCD_AUTH_TOKEN_DEV, ...), else ARGOCD_AUTH_TOKEN,
sent as a Bearer token and never printed: each environment's Argo CD has accounts and tokens of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ..model.findings import UsageError
from . import http

SERVER_ENV = "ARGOCD_SERVER"
TOKEN_ENV = "ARGOCD_AUTH_TOKEN"
SERVER_KEY = "argocd.server"
TIMEOUT = (5.0, 30.0)  # seconds to connect, seconds to wait between bytes
RETRY_STATUSES = (429, 502, 503, 504)
SKIP = "or pass --no-health-gate to skip the gate"


@dataclass(frozen=True)
class ArgoCdServer:
    url: str  # scheme://host[:port][/root-path], no trailing slash
    token: str = field(repr=False)

    @classmethod
    def resolve(
        cls, environ: Mapping[str, str], configured: str | None, config_file: str = "cluster.yaml", env: str | None = None
    ) -> ArgoCdServer:
        """ARGOCD_SERVER, else `argocd.server` of the environment's cluster.yaml; the environment's token."""
        server = environ.get(SERVER_ENV, "").strip() or (configured or "").strip()
        if not server:
            raise UsageError(f"no Argo CD server for the health gate; set {SERVER_ENV} or {SERVER_KEY} in {config_file}, {SKIP}")
        token = token_for(environ, env)
        if not token:
            named = f"{token_variable(env)} or {TOKEN_ENV}" if env else TOKEN_ENV
            raise UsageError(
                f"{named} is not set; set it to an Argo CD API token for {server_url(server)} "
                f"(argocd account generate-token), {SKIP}"
            )
        return cls(server_url(server), token)


def token_variable(env: str) -> str:
    """The variable that holds one environment's Argo CD token: ARGOCD_AUTH_TOKEN_DEV for dev."""
    return f"{TOKEN_ENV}_{re.sub(r'[^A-Z0-9]', '_', env.upper())}"


def token_for(environ: Mapping[str, str], env: str | None) -> str:
    """ARGOCD_AUTH_TOKEN_<ENV>, else ARGOCD_AUTH_TOKEN ('' when neither is set)."""
    own = environ.get(token_variable(env), "").strip() if env else ""
    return own or environ.get(TOKEN_ENV, "").strip()


def server_url(server: str) -> str:
    """'argocd.example.com[:443]' -> 'https://argocd.example.com[:443]'; a URL with a scheme is kept."""
    value = server.strip() if "://" in server else f"https://{server.strip()}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"Argo CD server '{server}' is neither host[:port] nor an http(s) URL; fix {SERVER_ENV} or {SERVER_KEY}")
    return value.rstrip("/")


@dataclass(frozen=True)
class ApplicationState:
    name: str
    namespace: str | None
    sync_status: str | None  # Synced, OutOfSync, Unknown
    health_status: str | None  # Healthy, Progressing, Degraded, Suspended, Missing, Unknown
    revision: str | None  # status.sync.revision: the synced revision of a single-source app
    revisions: tuple[str, ...]  # status.sync.revisions: one per source of a multi-source app
    operation_phase: str | None  # Running, Terminating, Failed, Error, Succeeded; None when no operation ran
    operation_message: str | None
    source_repos: tuple[str, ...]  # repoURL of each source, in the order of `revisions`
    history: tuple[HistoryEntry, ...] = ()  # status.history: the last syncs, oldest first


@dataclass(frozen=True)
class HistoryEntry:
    """One entry of status.history: a sync Argo CD performed, and when it finished deploying."""

    id: int
    revision: str | None  # a single-source app's
    revisions: tuple[str, ...]  # one per source of a multi-source app
    source_repos: tuple[str, ...]
    deployed_at: str | None  # RFC 3339
    deploy_started_at: str | None


class _Shape(ValueError):
    """The response is JSON but not shaped like a v1alpha1Application."""


def _object(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Shape(f"{path}{key} is {type(value).__name__}, not an object")
    return value


def _text(parent: Mapping[str, Any], key: str, path: str) -> str | None:
    value = parent.get(key)
    if value is None or isinstance(value, str):
        return value or None
    raise _Shape(f"{path}{key} is {type(value).__name__}, not a string")


def _sources(parent: Mapping[str, Any], path: str) -> tuple[str, ...] | None:
    """repoURLs of `sources` (multi-source) or `source`; None if the object names neither."""
    listed = parent.get("sources")
    if listed:
        if not isinstance(listed, list) or not all(isinstance(s, Mapping) for s in listed):
            raise _Shape(f"{path}sources is not a list of objects")
        return tuple(_text(s, "repoURL", f"{path}sources[{i}].") or "" for i, s in enumerate(listed))
    single = _object(parent, "source", path)
    return (_text(single, "repoURL", f"{path}source.") or "",) if single else None


def parse_application(document: Any) -> ApplicationState:
    """A v1alpha1Application (JSON) -> ApplicationState. Raises ValueError if it is not shaped like one."""
    if not isinstance(document, Mapping):
        raise _Shape(f"the body is {type(document).__name__}, not an Application object")
    metadata = _object(document, "metadata", "")
    status = _object(document, "status", "")
    sync = _object(status, "sync", "status.")
    operation = _object(status, "operationState", "status.")
    revisions = sync.get("revisions") or []
    if not isinstance(revisions, list) or not all(isinstance(r, str) for r in revisions):
        raise _Shape("status.sync.revisions is not a list of strings")
    # The revisions belong to the sources the last comparison used; the spec may have changed since.
    compared = _sources(_object(sync, "comparedTo", "status.sync."), "status.sync.comparedTo.")
    return ApplicationState(
        name=_text(metadata, "name", "metadata.") or "",
        namespace=_text(metadata, "namespace", "metadata."),
        sync_status=_text(sync, "status", "status.sync."),
        health_status=_text(_object(status, "health", "status."), "status", "status.health."),
        revision=_text(sync, "revision", "status.sync."),
        revisions=tuple(revisions),
        operation_phase=_text(operation, "phase", "status.operationState."),
        operation_message=_text(operation, "message", "status.operationState."),
        source_repos=compared if compared is not None else (_sources(_object(document, "spec", ""), "spec.") or ()),
        history=_history(status),
    )


def _history(status: Mapping[str, Any]) -> tuple[HistoryEntry, ...]:
    listed = status.get("history") or []
    if not isinstance(listed, list) or not all(isinstance(h, Mapping) for h in listed):
        raise _Shape("status.history is not a list of objects")
    entries = []
    for i, item in enumerate(listed):
        path = f"status.history[{i}]."
        revisions = item.get("revisions") or []
        if not isinstance(revisions, list) or not all(isinstance(r, str) for r in revisions):
            raise _Shape(f"{path}revisions is not a list of strings")
        ident = item.get("id", 0)
        entries.append(
            HistoryEntry(
                id=int(ident) if isinstance(ident, int | str) and str(ident).isdigit() else 0,
                revision=_text(item, "revision", path),
                revisions=tuple(revisions),
                source_repos=_sources(item, path) or (),
                deployed_at=_text(item, "deployedAt", path),
                deploy_started_at=_text(item, "deployStartedAt", path),
            )
        )
    return tuple(entries)


def history_revision(entry: HistoryEntry, repo_url: str) -> str | None:
    """The revision of repo_url that a history entry synced; None if no source of it is that repository."""
    wanted = normalise_repo_url(repo_url)
    revisions = entry.revisions or ((entry.revision or "",) if len(entry.source_repos) <= 1 else ())
    repos = entry.source_repos or (repo_url,) * len(revisions)
    for repo, revision in zip(repos, revisions, strict=False):
        if normalise_repo_url(repo) == wanted:
            return revision or None
    return None


def normalise_repo_url(url: str) -> str:
    """Compare git URLs as Argo CD does: no trailing '/' or '.git', case-insensitive."""
    return url.strip().rstrip("/").removesuffix(".git").rstrip("/").lower()


def make_session(retries: int = 3, backoff: float = 0.5) -> requests.Session:
    """GETs retried on connection errors, read timeouts, 429 and 502-504, with backoff and Retry-After."""
    return http.make_session("airflow-gitops-promote", {"GET"}, RETRY_STATUSES, retries, backoff)


def revision_for_repo(state: ApplicationState, repo_url: str) -> str | None:
    """The synced revision of the first source whose repoURL is repo_url; None if no source is."""
    wanted = normalise_repo_url(repo_url)
    revisions = state.revisions or ((state.revision or "",) if len(state.source_repos) == 1 else ())
    for repo, revision in zip(state.source_repos, revisions, strict=False):
        if normalise_repo_url(repo) == wanted:
            return revision or None
    return None


@dataclass
class ArgoCd:
    """Reads Applications from one Argo CD API server. One instance per run."""

    server: ArgoCdServer
    session: requests.Session = field(default_factory=make_session)
    timeout: float | tuple[float, float] = TIMEOUT

    def find_application(self, name: str, app_namespace: str | None = None) -> ApplicationState | None:
        """The Application, or None when Argo CD has none of that name: HTTP 404, or the 403 it answers a
        token that may not know whether it exists (an account without get on every Application)."""
        return self._application(name, app_namespace, absent=(403, 404))

    def get_application(self, name: str, app_namespace: str | None = None) -> ApplicationState:
        state = self._application(name, app_namespace, absent=())
        assert state is not None
        return state

    def _application(self, name: str, app_namespace: str | None, absent: tuple[int, ...]) -> ApplicationState | None:
        url = f"{self.server.url}/api/v1/applications/{quote(name, safe='')}"
        app = f"Application '{name}'" + (f" in namespace {app_namespace}" if app_namespace else "")
        try:
            response = self.session.get(
                url,
                params={"appNamespace": app_namespace} if app_namespace else None,
                headers={"Authorization": f"Bearer {self.server.token}", "Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise UsageError(
                f"Argo CD at {self.server.url} did not answer for {app}: {http.network_problem(exc, self.timeout)}; "
                f"check {SERVER_ENV} or {SERVER_KEY}, the network path (VPN) and the argocd-server pods, {SKIP}"
            ) from exc
        if response.status_code in absent:
            return None
        if response.status_code != 200:
            raise UsageError(self._refusal(response, app))
        try:
            return parse_application(response.json())
        except ValueError as exc:  # also the JSON decoder's errors
            kind = response.headers.get("Content-Type", "no content type")
            raise UsageError(
                f"Argo CD at {self.server.url} answered {app} with a body that is not an Application ({kind}: {exc}); "
                f"point {SERVER_ENV} at the Argo CD API server, not a proxy or login page, {SKIP}"
            ) from exc

    def _refusal(self, response: requests.Response, app: str) -> str:
        code, at = response.status_code, self.server.url
        said = _error_message(response)
        if code == 401:
            return (
                f"Argo CD refused the token (HTTP 401) at {at}; set {TOKEN_ENV} to a valid token (argocd account generate-token)"
            )
        if code == 403:
            return (
                f"Argo CD at {at} denied the token access to {app} (HTTP 403{said}); it answers so too for an Application that does "
                f"not exist: check the name, and that the token's account may get applications in its project (argocd-rbac-cm)"
            )
        if code == 404:
            return f"Argo CD at {at} has no {app} (HTTP 404{said}); check the Application name and that {SERVER_ENV} is the right server"
        if code >= 500 or code == 429:
            return f"Argo CD at {at} answered HTTP {code} for {app} after retrying{said}; check the argocd-server pods and try again, {SKIP}"
        return f"Argo CD at {at} answered HTTP {code} for {app}{said}; check {SERVER_ENV} and the Application name"


def _error_message(response: requests.Response) -> str:
    """': <message>' of an Argo CD runtimeError body, on one line; '' if the body has none."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = (body.get("message") or body.get("error")) if isinstance(body, dict) else None
    return f": {' '.join(str(message).split())[:200]}" if message else ""
