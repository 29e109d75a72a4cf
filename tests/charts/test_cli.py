"""The real `invoke check --render-charts`, `invoke render --charts` and `invoke diff` on a copy of this
repository whose chart cache holds stand-in charts under the pinned names and versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.charts.standins import standin_cache
from tests.test_tasks import invoke

SCHEDULER = "airflow/deployment-apps-airflow-airflow-scheduler.yaml"


@pytest.fixture
def cache(repo_copy: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "chart-cache"
    standin_cache(repo_copy, folder)
    return folder


def test_check_render_charts_validates_every_chart_app_with_no_errors(repo_copy: Path, cache: Path) -> None:
    proc = invoke(repo_copy, "check", "--render-charts", "--chart-cache", str(cache), "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    # only the images cluster.yaml lists as waiting for a digest (promotion.digest_pending) are reported
    assert {(f["rule"], f["severity"]) for f in report["findings"]} == {("image-digest-required", "warning")}
    assert all("promotion.digest_pending" in f["message"] for f in report["findings"])
    plain = json.loads(invoke(repo_copy, "check", "--format", "json").stdout)
    assert report["objects_validated"] > plain["objects_validated"]


def test_check_render_charts_finds_a_single_prod_scheduler_in_the_values_file(repo_copy: Path, cache: Path) -> None:
    values = repo_copy / "clusters/prod/values/airflow.yaml"
    values.write_text(values.read_text().replace("scheduler:\n  replicas: 3", "scheduler:\n  replicas: 1"))
    proc = invoke(repo_copy, "check", "--render-charts", "--chart-cache", str(cache), "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [finding] = [f for f in json.loads(proc.stdout)["findings"] if f["severity"] == "error"]
    assert (finding["rule"], finding["file"]) == ("chart-ha-replicas", "clusters/prod/values/airflow.yaml")
    assert "Deployment airflow/airflow-scheduler" in finding["message"]


def test_require_render_without_the_charts_is_an_error_and_no_traceback(repo_copy: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    proc = invoke(
        repo_copy, "check", "--require-render", "--env", "dev", "--chart-cache", str(empty), "--format", "json",
        env={"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    assert {(f["rule"], f["severity"]) for f in findings} == {("chart-not-rendered", "error")}


def test_render_charts_writes_the_rendered_objects(repo_copy: Path, cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = invoke(repo_copy, "render", "--env", "prod", "--charts", "--chart-cache", str(cache), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (out / SCHEDULER).read_text()
    assert text.startswith("# airflow 1.21.0 renders this from airflow/templates/components.yaml")
    assert "replicas: 3" in text
    assert (out / "airflow/values.yaml").is_file()


def test_diff_shows_a_values_change_as_the_deployment_change(repo_copy: Path, cache: Path) -> None:
    values = repo_copy / "clusters/prod/values/airflow.yaml"
    values.write_text(values.read_text().replace("scheduler:\n  replicas: 3", "scheduler:\n  replicas: 4"))
    proc = invoke(repo_copy, "diff", "--env", "prod", "--chart-cache", str(cache), "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [cluster] = json.loads(proc.stdout)["clusters"]
    assert set(cluster["changed"]) == {"airflow/values.yaml", SCHEDULER}
    assert "-  replicas: 3\n+  replicas: 4" in cluster["changed"][SCHEDULER]
    assert cluster["charts_not_compared"] == {}
