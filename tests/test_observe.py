"""`invoke status` and `invoke verify` against an Argo CD API on pytest-httpserver and a Kubernetes API
emulator (kmock), through the same functions the tasks call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from airflow_gitops.cli import common, releases
from airflow_gitops.model.repo import Repo
from airflow_gitops.releases.promote import known_apps
from tests.adapters.argocd_spec import conforming
from tests.adapters.kube_fixtures import APPLICATIONS, DEPLOYMENTS, STATEFULSETS, Emulator, running_emulator
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


def test_status_through_argo_cd_lists_every_app(
    pristine_repo: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    apps = known_apps(Repo(pristine_repo), "staging")
    for app in apps:
        body = application(app, health="Degraded" if app == "keda" else "Healthy")
        httpserver.expect_request(f"/api/v1/applications/{app}").respond_with_json(conforming(body, "v1alpha1Application"))
    monkeypatch.setenv("ARGOCD_SERVER", httpserver.url_for("/").rstrip("/"))
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", "token")
    code, out, err = _run(capsys, lambda: releases.status("staging", "json", None, None, cwd=pristine_repo))
    rows = json.loads(out)
    assert [r["app"] for r in rows] == apps
    assert {r["revision"] for r in rows} == {REVISION}
    assert [r["app"] for r in rows if r["health"] != "Healthy"] == ["keda"]
    assert code == 1, err  # not everything is Synced and Healthy


def test_status_through_kubernetes_reads_the_application_resources(
    pristine_repo: Path, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ARGOCD_SERVER", raising=False)
    for name in ("airflow", "karpenter"):
        emulator.put(APPLICATIONS, "argocd", application(name))
    config = emulator.kubeconfig(tmp_path / "kubeconfig", "token")
    code, out, err = _run(capsys, lambda: releases.status("dev", "table", str(config), None, cwd=pristine_repo))
    assert code == 0, err
    assert "airflow" in out and "karpenter" in out and "Synced" in out


def test_verify_passes_when_every_workload_runs_the_pinned_digest(
    pristine_repo: Path, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = _pinned_digest(pristine_repo, "staging")
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "airflow-scheduler", f"{IMAGE}:3.2.0-1@{digest}"))
    emulator.put(STATEFULSETS, "airflow", workload("StatefulSet", "airflow-worker", f"{IMAGE}@{digest}"))
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "airflow-statsd", "quay.io/prometheus/statsd-exporter:v0.28.0"))
    config = emulator.kubeconfig(tmp_path / "kubeconfig", "token")
    code, out, err = _run(capsys, lambda: releases.verify("staging", "airflow", 5, str(config), None, cwd=pristine_repo))
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
