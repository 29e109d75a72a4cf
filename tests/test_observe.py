"""`invoke status` and `invoke verify` against Argo CD API stand-ins on pytest-httpserver (every body checked
against the vendored spec) and a Kubernetes API emulator (kmock), through the same functions the tasks call."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_gitops.cli import common, releases
from tests.adapters.argocd_spec import conforming
from tests.adapters.kube_fixtures import APPLICATIONS, DEPLOYMENTS, STATEFULSETS, Emulator, running_emulator
from tests.adapters.test_argocd import runtime_error
from tests.adapters.test_kube import workload

IMAGE = "444444444444.dkr.ecr.eu-west-1.amazonaws.com/airflow"
REPO_URL = "https://github.com/example-org/airflow-eks-platform.git"
REVISION = "4fabf2ee79ff0c1c6d0d1f8f1c4f1b7e5b0a6c3d"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator() as emu:
        yield emu


def _pinned_digest(root: Path, env: str) -> str:
    for line in (root / f"clusters/{env}/values/airflow.yaml").read_text().splitlines():
        if line.strip().startswith("digest:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"clusters/{env}/values/airflow.yaml pins no digest")


def application(name: str, sync: str = "Synced", health: str = "Healthy") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "platform",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            "sources": [
                {"repoURL": "https://charts.example.com", "chart": name, "targetRevision": "1.0.0"},
                {"repoURL": REPO_URL, "targetRevision": "main", "ref": "values"},
            ],
        },
        "status": {"sync": {"status": sync, "revisions": ["1.0.0", REVISION]}, "health": {"status": health}},
    }


def _run(capsys: pytest.CaptureFixture[str], action: Any) -> tuple[int, str, str]:
    code = common.guarded(action)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


ENVS = ("dev", "staging", "prod")


def rendered_apps(root: Path, env: str) -> list[str]:
    """The Applications `kubectl kustomize clusters/<env>` renders, independently of the code under test."""
    out = subprocess.run(["kubectl", "kustomize", f"clusters/{env}"], cwd=root, capture_output=True, text=True, check=True)
    return sorted(d["metadata"]["name"] for d in yaml.safe_load_all(out.stdout) if d and d.get("kind") == "Application")


def revision_of(env: str) -> str:
    return hashlib.sha1(env.encode()).hexdigest()


class ArgoCds:
    """One Argo CD per environment, each under its own path of one pytest-httpserver: GET
    /<env>/api/v1/applications/<name> answers that environment's Application (or a 404), both checked
    against the vendored spec, and only for the environment's own token."""

    def __init__(self, httpserver: HTTPServer) -> None:
        self.httpserver = httpserver
        self.absent: dict[str, set[str]] = {env: set() for env in ENVS}
        self.health: dict[tuple[str, str], str] = {}
        httpserver.expect_request(re.compile(r"^/[a-z]+/api/v1/applications/[^/]+$"), method="GET").respond_with_handler(
            self.handle
        )

    def url(self, env: str) -> str:
        return f"http://127.0.0.1:{self.httpserver.port}/{env}"

    def handle(self, request: Request) -> Response:
        env, _, _, _, name = request.path.strip("/").split("/")
        if request.headers.get("Authorization") != f"Bearer token-of-{env}":
            body, status = conforming(runtime_error(16, "invalid session"), "runtimeError"), 401
        elif name in self.absent[env]:
            message = f'applications.argoproj.io "{name}" not found'
            body, status = conforming(runtime_error(5, message), "runtimeError"), 404
        else:
            app = application(name, health=self.health.get((env, name), "Healthy"))
            app["status"]["sync"]["revisions"] = ["1.0.0", revision_of(env)]
            body, status = conforming(app, "v1alpha1Application"), 200
        return Response(json.dumps(body), status=status, content_type="application/json")

    def asked(self) -> set[str]:
        return {r.path.split("/")[1] for r, _ in self.httpserver.log}


@pytest.fixture
def argocds(repo_copy: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> ArgoCds:
    """Each cluster.yaml's argocd.server points at its own stand-in; a token per environment."""
    stand_ins = ArgoCds(httpserver)
    for env in ENVS:
        path = repo_copy / f"clusters/{env}/cluster.yaml"
        text = path.read_text()
        path.write_text(re.sub(r"(?m)^  server: \S+", f"  server: {stand_ins.url(env)}", text, count=1))
        monkeypatch.setenv(f"ARGOCD_AUTH_TOKEN_{env.upper()}", f"token-of-{env}")
    monkeypatch.delenv("ARGOCD_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("ARGOCD_SERVER", raising=False)
    return stand_ins


def test_status_asks_each_environment_its_own_argo_cd(
    argocds: ArgoCds, repo_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # One Argo CD for all three would be wrong: without --env, ARGOCD_SERVER is not asked (it does not answer).
    monkeypatch.setenv("ARGOCD_SERVER", "http://127.0.0.1:9/nobody")
    code, out, err = _run(capsys, lambda: releases.status(None, "json", None, None, cwd=repo_copy))
    assert code == 0, err
    assert "ARGOCD_SERVER names one Argo CD, so it applies only with --env" in err
    rows = json.loads(out)
    assert argocds.asked() == set(ENVS)
    for env in ENVS:
        mine = [r for r in rows if r["env"] == env]
        assert [r["app"] for r in mine] == rendered_apps(repo_copy, env)
        assert {r["revision"] for r in mine} == {revision_of(env)}, f"{env} was answered by another environment's Argo CD"


def test_status_reports_an_application_argo_cd_lacks_as_missing(
    argocds: ArgoCds, repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argocds.absent["prod"] = {"keda", "reloader"}
    argocds.health[("staging", "airflow")] = "Degraded"
    code, out, err = _run(capsys, lambda: releases.status(None, "table", None, None, cwd=repo_copy))
    assert code == 1, err
    assert "prod/keda: Argo CD at " + argocds.url("prod") + " has no Application keda" in out
    code, out, _ = _run(capsys, lambda: releases.status("prod", "json", None, None, cwd=repo_copy))
    missing = [r["app"] for r in json.loads(out) if r["sync"] == "Missing" and r["health"] == "Missing"]
    assert (code, missing) == (1, ["keda", "reloader"])


def test_status_of_one_environment_may_name_its_argo_cd_in_ARGOCD_SERVER(
    argocds: ArgoCds, repo_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARGOCD_SERVER", argocds.url("staging"))  # staging's cluster.yaml names another server
    path = repo_copy / "clusters/staging/cluster.yaml"
    path.write_text(path.read_text().replace(argocds.url("staging"), "argocd.staging.example.com"))
    code, out, err = _run(capsys, lambda: releases.status("staging", "json", None, None, cwd=repo_copy))
    assert code == 0, err
    assert {r["revision"] for r in json.loads(out)} == {revision_of("staging")}
    assert argocds.asked() == {"staging"}


@pytest.fixture
def kube(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("ARGOCD_SERVER", "ARGOCD_AUTH_TOKEN", "ARGOCD_AUTH_TOKEN_DEV"):
        monkeypatch.delenv(name, raising=False)
    return emulator.kubeconfig(tmp_path / "kubeconfig", "token")


def test_status_through_kubernetes_reads_the_application_resources(
    pristine_repo: Path, emulator: Emulator, kube: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in rendered_apps(pristine_repo, "dev"):
        emulator.put(APPLICATIONS, "argocd", application(name))
    emulator.put(APPLICATIONS, "argocd", application("root"))  # made by Terraform, not rendered from clusters/dev
    code, out, err = _run(capsys, lambda: releases.status("dev", "json", str(kube), None, cwd=pristine_repo))
    assert code == 0, err
    rows = json.loads(out)
    assert [r["app"] for r in rows] == [*rendered_apps(pristine_repo, "dev"), "root"]
    assert rows[-1]["note"] == "not rendered from clusters/dev"


def test_status_through_kubernetes_reports_the_applications_the_cluster_lacks(
    pristine_repo: Path, emulator: Emulator, kube: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("airflow", "karpenter"):
        emulator.put(APPLICATIONS, "argocd", application(name))
    code, out, err = _run(capsys, lambda: releases.status("dev", "json", str(kube), None, cwd=pristine_repo))
    rows = {r["app"]: r for r in json.loads(out)}
    assert code == 1, err
    assert {a for a, r in rows.items() if r["sync"] == r["health"] == "Missing"} == set(rendered_apps(pristine_repo, "dev")) - {
        "airflow",
        "karpenter",
    }
    assert rows["airflow"]["sync"] == "Synced"


def test_status_through_kubernetes_with_no_application_is_not_healthy(
    pristine_repo: Path, emulator: Emulator, kube: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, lambda: releases.status("dev", "table", str(kube), None, cwd=pristine_repo))
    assert code == 1, err
    assert out.count("Missing") == 2 * len(rendered_apps(pristine_repo, "dev"))


def test_ARGOCD_SERVER_for_one_environment_needs_its_token(
    pristine_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("ARGOCD_AUTH_TOKEN", "ARGOCD_AUTH_TOKEN_STAGING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARGOCD_SERVER", "http://127.0.0.1:9")
    code, _out, err = _run(capsys, lambda: releases.status("staging", "table", None, None, cwd=pristine_repo))
    assert code == 2, err
    assert "ARGOCD_SERVER names the Argo CD of staging, but there is no token for it: set ARGOCD_AUTH_TOKEN_STAGING" in err


def test_a_kubeconfig_needs_an_environment(pristine_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(capsys, lambda: releases.status(None, "table", "/nonexistent", None, cwd=pristine_repo))
    assert code == 2 and "--kubeconfig reads one cluster; name its environment with --env" in err


def test_verify_passes_when_every_workload_runs_the_pinned_digest(
    pristine_repo: Path, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = _pinned_digest(pristine_repo, "staging")
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "airflow-scheduler", f"{IMAGE}:3.2.0-1@{digest}"))
    emulator.put(STATEFULSETS, "airflow", workload("StatefulSet", "airflow-worker", f"{IMAGE}@{digest}"))
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "airflow-statsd", "quay.io/prometheus/statsd-exporter:v0.28.0"))
    config = emulator.kubeconfig(tmp_path / "kubeconfig", "token")
    code, out, err = _run(
        capsys, lambda: releases.verify("staging", "airflow", 5, str(config), None, cwd=pristine_repo, no_smoke=True)
    )
    assert code == 0, err
    assert "2 workloads run the pinned digest" in out
    assert "Deployment/airflow-scheduler: rolled out" in out


def test_verify_times_out_naming_each_workload_not_done(
    pristine_repo: Path, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = _pinned_digest(pristine_repo, "staging")
    old = "sha256:" + "0" * 64
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "airflow-scheduler", f"{IMAGE}@{old}"))
    emulator.put(STATEFULSETS, "airflow", workload("StatefulSet", "airflow-worker", f"{IMAGE}@{digest}", updated=1))
    config = emulator.kubeconfig(tmp_path / "kubeconfig", "token")
    code, _out, err = _run(capsys, lambda: releases.verify("staging", "airflow", 0.5, str(config), None, cwd=pristine_repo))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Deployment/airflow-scheduler: wrong image" in err and "StatefulSet/airflow-worker" in err


def test_verify_of_an_unknown_app_is_a_usage_error(pristine_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(capsys, lambda: releases.verify("staging", "no-such-app", 1, "/nonexistent", None, cwd=pristine_repo))
    assert code == 2 and "--app no-such-app" in err
