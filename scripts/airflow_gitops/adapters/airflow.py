"""Airflow's REST API (v2, Airflow 3) as the smoke run uses it: trigger a DAG run, follow it, list the runs.

The server is AIRFLOW_API_URL, else `https://<airflow.hostname>` of the environment's cluster.yaml. The
token is AIRFLOW_API_TOKEN (a JWT the auth manager issued), else one fetched from `POST /auth/token` with
AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD. Neither is ever printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ..model.findings import UsageError
from . import http

SERVER_ENV = "AIRFLOW_API_URL"
TOKEN_ENV = "AIRFLOW_API_TOKEN"
USER_ENV = "AIRFLOW_API_USERNAME"
PASSWORD_ENV = "AIRFLOW_API_PASSWORD"
TIMEOUT = (5.0, 30.0)
RETRY_STATUSES = (429, 502, 503, 504)
TERMINAL = ("success", "failed")


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class DagRun:
    dag_id: str
    run_id: str
    state: str  # queued, running, success, failed
    run_after: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    conf: Mapping[str, Any]
    note: str

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @property
    def when(self) -> datetime | None:
        """When it was asked for: run_after (Airflow 3), else the start."""
        return self.run_after or self.start_date


def parse_run(body: Any) -> DagRun:
    if not isinstance(body, Mapping) or "dag_run_id" not in body:
        raise ValueError("not a DAG run")
    conf = body.get("conf")
    return DagRun(
        dag_id=str(body.get("dag_id", "")),
        run_id=str(body["dag_run_id"]),
        state=str(body.get("state") or "queued"),
        run_after=parse_time(body.get("run_after")),
        start_date=parse_time(body.get("start_date")),
        end_date=parse_time(body.get("end_date")),
        conf=conf if isinstance(conf, Mapping) else {},
        note=str(body.get("note") or ""),
    )


def make_session(retries: int = 3, backoff: float = 0.5) -> requests.Session:
    return http.make_session("airflow-gitops", {"GET"}, RETRY_STATUSES, retries, backoff)


@dataclass
class AirflowApi:
    url: str
    token: str = field(repr=False)
    session: requests.Session = field(default_factory=make_session)
    timeout: float | tuple[float, float] = TIMEOUT

    @classmethod
    def resolve(
        cls, environ: Mapping[str, str], hostname: str | None, where: str, session: requests.Session | None = None
    ) -> AirflowApi:
        """The API of one environment's Airflow, with a token (fetched once if a user and password are given)."""
        server = environ.get(SERVER_ENV, "").strip() or (f"https://{hostname}" if hostname else "")
        if not server:
            raise UsageError(f"no Airflow API for the smoke run; set {SERVER_ENV} or airflow.hostname in {where}")
        url = server.rstrip("/") if "://" in server else f"https://{server.rstrip('/')}"
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise UsageError(f"Airflow API '{server}' is not an http(s) URL; fix {SERVER_ENV}")
        session = session or make_session()
        token = environ.get(TOKEN_ENV, "").strip()
        if token:
            return cls(url, token, session)
        user, password = environ.get(USER_ENV, "").strip(), environ.get(PASSWORD_ENV, "")
        if not user or not password:
            raise UsageError(
                f"{TOKEN_ENV} is not set (nor {USER_ENV} and {PASSWORD_ENV}); set it to an Airflow API token for {url} "
                "of a user who may trigger and read platform_smoke"
            )
        return cls(url, _fetch_token(session, url, user, password), session)

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        try:
            response = self.session.request(
                method,
                f"{self.url}{path}",
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
                timeout=self.timeout,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise UsageError(
                f"Airflow at {self.url} did not answer {what}: {http.network_problem(exc, self.timeout)}; check {SERVER_ENV} "
                "and the network path"
            ) from exc
        if response.status_code == 401:
            raise UsageError(f"Airflow at {self.url} refused the token (HTTP 401) {what}; set {TOKEN_ENV} to a valid token")
        if response.status_code == 403:
            raise UsageError(f"Airflow at {self.url} denied {what} (HTTP 403); give the token's user access to the DAG")
        if response.status_code == 404:
            raise UsageError(f"Airflow at {self.url} has no such DAG or run {what} (HTTP 404{_detail(response)})")
        if response.status_code >= 300:
            raise UsageError(f"Airflow at {self.url} answered HTTP {response.status_code} {what}{_detail(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise UsageError(
                f"Airflow at {self.url} answered {what} with a body that is not JSON; point {SERVER_ENV} at the API server"
            ) from exc

    def is_paused(self, dag_id: str) -> bool:
        body = self._call("GET", f"/api/v2/dags/{quote(dag_id, safe='')}", f"for DAG {dag_id}")
        return bool(body.get("is_paused")) if isinstance(body, Mapping) else False

    def trigger(self, dag_id: str, conf: Mapping[str, Any], note: str) -> DagRun:
        body = {"logical_date": None, "conf": dict(conf), "note": note}
        return self._parsed(
            self._call("POST", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns", f"triggering {dag_id}", json=body)
        )

    def run(self, dag_id: str, run_id: str) -> DagRun:
        path = f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        return self._parsed(self._call("GET", path, f"for run {run_id} of {dag_id}"))

    def runs(self, dag_id: str, limit: int = 100) -> list[DagRun]:
        """The newest runs of a DAG, newest first."""
        body = self._call(
            "GET",
            f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns",
            f"listing the runs of {dag_id}",
            params={"order_by": "-run_after", "limit": limit},
        )
        listed = body.get("dag_runs") if isinstance(body, Mapping) else None
        if not isinstance(listed, list):
            raise UsageError(f"Airflow at {self.url} answered the runs of {dag_id} without dag_runs; is it Airflow 3's API?")
        return [self._parsed(item) for item in listed]

    def _parsed(self, body: Any) -> DagRun:
        try:
            return parse_run(body)
        except ValueError:
            raise UsageError(f"Airflow at {self.url} answered with a body that is not a DAG run") from None


def _fetch_token(session: requests.Session, url: str, user: str, password: str) -> str:
    try:
        response = session.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise UsageError(f"Airflow at {url} did not answer for a token: {http.network_problem(exc, TIMEOUT)}") from exc
    if response.status_code in (400, 401, 403):
        raise UsageError(f"Airflow at {url} refused {USER_ENV} and {PASSWORD_ENV} (HTTP {response.status_code}); check them")
    try:
        token = response.json().get("access_token") if response.status_code < 300 else None
    except ValueError:
        token = None
    if not token:
        raise UsageError(f"Airflow at {url} gave no token (HTTP {response.status_code}); set {TOKEN_ENV} instead")
    return str(token)


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, Mapping) else None
    return f": {' '.join(str(detail).split())[:200]}" if detail else ""
