"""The smoke run against the real thing: Airflow 3's API server from .venv-airflow, on 127.0.0.1 with SQLite.

The server runs its public API app only (`airflow api-server --apps core`): the execution API app, which task
workers call, does not start in .venv-airflow (pydantic 2.14 rejects one of its models), so no task runs
here. What a scheduler and its workers would decide, the test decides through the same public API
(`PATCH .../dagRuns/{id}` with the run's final state), while `invoke verify`'s code triggers the run, follows
it, and the promotion gate's code reads the runs back and judges them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from airflow_gitops.adapters.airflow import AirflowApi
from airflow_gitops.model.findings import UsageError
from airflow_gitops.releases import smoke
from tests.conftest import REPO_ROOT

AIRFLOW = REPO_ROOT / ".venv-airflow" / "bin" / "airflow"
USER = "verify"
IMAGE = "444444444444.dkr.ecr.eu-west-1.amazonaws.com/airflow"
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
# A stand-in for the image's platform_smoke: same DAG id, same conf; parsing it needs nothing but Airflow.
DAG = """
import pendulum
from airflow.sdk import DAG, task

with DAG("platform_smoke", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
         tags=["platform", "smoke"], default_args={"owner": "platform", "retries": 0}):
    @task
    def check() -> str:
        return "ok"

    check()
"""


class Server:
    def __init__(self, url: str, home: Path, password: str) -> None:
        self.url, self.home, self.password = url, home, password

    def api(self) -> AirflowApi:
        return AirflowApi.resolve(
            {"AIRFLOW_API_URL": self.url, "AIRFLOW_API_USERNAME": USER, "AIRFLOW_API_PASSWORD": self.password}, None, "t"
        )

    def finish(self, run_id: str, state: str) -> None:
        """What the scheduler would do when the run's tasks end: set the run's final state."""
        api = self.api()
        response = requests.patch(
            f"{self.url}/api/v2/dags/platform_smoke/dagRuns/{run_id}",
            json={"state": state},
            headers={"Authorization": f"Bearer {api.token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text

    def unpause(self, paused: bool = False) -> None:
        api = self.api()
        response = requests.patch(
            f"{self.url}/api/v2/dags/platform_smoke",
            json={"is_paused": paused},
            headers={"Authorization": f"Bearer {api.token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not AIRFLOW.is_file():
        pytest.fail(f"{AIRFLOW} is missing: make test builds .venv-airflow", pytrace=False)
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    (home / "dags" / "platform_smoke.py").write_text(DAG, encoding="utf-8")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USER}:admin",
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
    )
    log = (home / "server.log").open("w")
    for step in (["db", "migrate"], ["dags", "reserialize"]):
        subprocess.run([str(AIRFLOW), *step], env=env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=300)
    proc = subprocess.Popen(
        [str(AIRFLOW), "api-server", "--apps", "core", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Airflow API server did not start: {(home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        passwords = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())
        yield Server(url, home, passwords[USER])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_a_token_from_user_and_password_and_refusals_in_one_line(airflow: Server) -> None:
    assert airflow.api().token.count(".") == 2  # a JWT
    with pytest.raises(UsageError, match=r"refused AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD \(HTTP 401\)"):
        AirflowApi.resolve(
            {"AIRFLOW_API_URL": airflow.url, "AIRFLOW_API_USERNAME": USER, "AIRFLOW_API_PASSWORD": "wrong"}, None, "t"
        )
    bad = AirflowApi.resolve({"AIRFLOW_API_URL": airflow.url, "AIRFLOW_API_TOKEN": "not-a-token"}, None, "t")
    with pytest.raises(UsageError, match=r"denied listing the runs of platform_smoke \(HTTP 403\); give the token's user access"):
        bad.runs(smoke.DAG_ID)
    with pytest.raises(
        UsageError, match=r"has no such DAG or run for DAG nope \(HTTP 404: The Dag with ID: `nope` was not found\)"
    ):
        airflow.api().is_paused("nope")


def test_a_paused_dag_is_refused_before_a_run_that_would_never_start(airflow: Server) -> None:
    airflow.unpause(paused=True)
    with pytest.raises(UsageError, match="platform_smoke is paused in Airflow at .*; unpause it, then run again"):
        smoke.trigger_and_wait(airflow.api(), smoke.conf(IMAGE, "3.3.0-1", DIGEST, None), timeout_s=5, poll_s=0.2)


@pytest.mark.parametrize("outcome", ["success", "failed"])
def test_verify_triggers_the_smoke_run_follows_it_and_the_gate_judges_it(airflow: Server, outcome: str) -> None:
    airflow.unpause()
    api = airflow.api()
    synced = datetime.now(UTC) - timedelta(seconds=1)
    seen: list[str] = []

    def scheduler() -> None:  # the run finishes a moment after verify triggered it
        for _ in range(100):
            runs = [r for r in api.runs(smoke.DAG_ID) if r.conf.get("digest") == DIGEST and not r.finished]
            if runs:
                time.sleep(0.5)
                airflow.finish(runs[0].run_id, outcome)
                return
            time.sleep(0.1)

    worker = threading.Thread(target=scheduler)
    worker.start()
    run = smoke.trigger_and_wait(
        api, smoke.conf(IMAGE, "3.3.0-1", DIGEST, "a" * 40), timeout_s=60, poll_s=0.2, on_progress=lambda r: seen.append(r.state)
    )
    worker.join()
    assert run.state == outcome and seen[0] == "queued" and seen[-1] == outcome
    assert dict(run.conf) == {
        "image": f"{IMAGE}@{DIGEST}",
        "tag": "3.3.0-1",
        "digest": DIGEST,
        "by": "invoke verify",
        "revision": "a" * 40,
    }
    assert run.note == smoke.NOTE

    # the gate reads the runs back from the same server
    verdict = smoke.judge(api.runs(smoke.DAG_ID), "dev", DIGEST, synced, "at then (abc)")
    assert verdict.ok is (outcome == "success"), verdict
    assert verdict.run is not None and verdict.run.run_id == run.run_id
    if outcome == "failed":
        assert verdict.message.startswith(f"the smoke run of {DIGEST[7:19]} in dev failed: platform_smoke run {run.run_id} (")
        assert verdict.message.endswith("fix it, then run it again: invoke verify --env dev")
    # a digest nobody smoke-tested since the sync
    other = smoke.judge(api.runs(smoke.DAG_ID), "dev", OTHER, synced, "at then (abc)")
    assert not other.ok and f"tested {DIGEST[7:19]}, not {OTHER[7:19]} being promoted" in other.message
    # a sync after every run: no evidence at all
    later = smoke.judge(api.runs(smoke.DAG_ID), "dev", DIGEST, datetime.now(UTC) + timedelta(minutes=1), "at later (def)")
    assert not later.ok and later.message.startswith(f"no smoke run of {DIGEST[7:19]} in dev since the sync at later (def)")


def test_a_run_that_does_not_finish_in_time(airflow: Server) -> None:
    airflow.unpause()
    with pytest.raises(UsageError, match=r"platform_smoke run manual__.* is still queued after 1 s; follow it in the Airflow UI"):
        smoke.trigger_and_wait(airflow.api(), smoke.conf(IMAGE, "3.3.0-1", OTHER, None), timeout_s=1, poll_s=0.2)
