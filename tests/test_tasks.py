"""The tasks as users run them: real `invoke` processes against copies of the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from airflow_gitops.check.slow import find_checkov
from tests.conftest import REPO_ROOT, git

INVOKE = str(Path(sys.executable).with_name("invoke"))


def invoke(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, "--search-root", str(REPO_ROOT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_check_json_reports_clusters_objects_and_no_errors(pristine_repo: Path) -> None:
    proc = invoke(pristine_repo, "check", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == {"clusters", "objects_validated", "findings", "notes", "stats"}
    assert report["clusters"] == ["dev", "staging", "prod"]
    assert report["objects_validated"] > 50
    assert report["stats"]["crd_rules"]["custom_resources"] > 50
    assert report["stats"]["crd_rules"]["transition_rules_skipped"] == 27
    for finding in report["findings"]:
        assert set(finding) == {"rule", "severity", "file", "line", "message", "fix", "expected", "actual"}
        assert finding["severity"] == "warning"


def test_check_table_names_the_verdict(pristine_repo: Path) -> None:
    proc = invoke(pristine_repo, "check", "--env", "dev")
    assert proc.returncode == 0
    assert "deployable: dev;" in proc.stdout


def test_check_exits_1_on_findings(repo_copy: Path) -> None:
    values = repo_copy / "clusters/prod/values/airflow.yaml"
    values.write_text(values.read_text().replace("tag:", "tag: latest #", 1))
    proc = invoke(repo_copy, "check", "--env", "prod", "--format", "json")
    assert proc.returncode == 1
    rules = {f["rule"] for f in json.loads(proc.stdout)["findings"]}
    assert "image-latest" in rules


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("check", "--env", "qa"), "--env qa: no file clusters/qa/cluster.yaml"),
        (("check", "--format", "xml"), "--format xml: choose one of table, json"),
        (("diff", "--base", "no-such-ref"), "--base no-such-ref: no such commit"),
        (("render", "--env", "qa"), "--env qa"),
    ],
)
def test_usage_errors_exit_2_with_one_line(pristine_repo: Path, args: tuple[str, ...], expected: str) -> None:
    proc = invoke(pristine_repo, *args)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr


def test_outside_a_git_repository_is_a_usage_error(tmp_path: Path) -> None:
    proc = invoke(tmp_path, "check")
    assert proc.returncode == 2
    assert "not inside a git repository" in proc.stderr


def test_render_writes_objects_grouped_by_application(pristine_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    proc = invoke(pristine_repo, "render", "--env", "prod", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    groups = {p.name for p in out.iterdir()}
    assert {"root", "airflow", "karpenter", "argo-cd"} <= groups
    app = yaml.safe_load((out / "root" / "application-argoproj_io-argocd-airflow.yaml").read_text())
    assert app["spec"]["sources"][0]["chart"] == "airflow"
    values = yaml.safe_load((out / "airflow" / "values.yaml").read_text())
    assert values["images"]["airflow"]["digest"].startswith("sha256:")
    # a second render replaces the folder whole: nothing stale survives
    (out / "root" / "stale.yaml").write_text("x: 1\n")
    assert invoke(pristine_repo, "render", "--env", "prod", "--out", str(out)).returncode == 0
    assert not (out / "root" / "stale.yaml").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rendered")]


def test_diff_shows_what_a_change_does_per_cluster(repo_copy: Path) -> None:
    values = repo_copy / "clusters/staging/values/airflow.yaml"
    data = yaml.safe_load(values.read_text())
    data["scheduler"]["replicas"] = 7
    values.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = invoke(repo_copy, "diff", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["base"] == git(repo_copy, "rev-parse", "HEAD").strip()
    by_env = {c["env"]: c for c in report["clusters"]}
    assert list(by_env["staging"]["changed"]) == ["airflow/values.yaml"]
    assert "+  replicas: 7" in by_env["staging"]["changed"]["airflow/values.yaml"]
    assert by_env["dev"]["changed"] == {} and by_env["prod"]["changed"] == {}
    markdown = invoke(repo_copy, "diff", "--format", "markdown").stdout
    assert "| staging | 0 | 0 | 1 |" in markdown


def test_diff_sees_added_and_removed_objects(repo_copy: Path) -> None:
    kust = repo_copy / "clusters/dev/kustomization.yaml"
    data = yaml.safe_load(kust.read_text())
    data["resources"].remove("../../apps/metrics-server")
    data["patches"] = [p for p in data["patches"] if p["path"] != "apps/metrics-server.yaml"]
    kust.write_text(yaml.safe_dump(data, sort_keys=False))
    git(repo_copy, "commit", "-qam", "drop metrics-server in dev")
    proc = invoke(repo_copy, "diff", "--base", "HEAD~1", "--env", "dev", "--format", "json")
    [dev] = json.loads(proc.stdout)["clusters"]
    assert "root/application-argoproj_io-argocd-metrics-server.yaml" in dev["removed"]
    assert "metrics-server/values.yaml" in dev["removed"]


PRIVILEGED_POD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: debug-shell
  namespace: airflow
spec:
  selector:
    matchLabels: {app: debug-shell}
  template:
    metadata:
      labels: {app: debug-shell}
    spec:
      containers:
        - name: shell
          image: busybox:1.37
          securityContext: {privileged: true}
"""


@pytest.mark.slow
def test_check_all_runs_checkov_on_rendered_manifests(repo_copy: Path) -> None:
    checkov = find_checkov(REPO_ROOT)
    assert checkov, "checkov is missing: run `make tools`"
    (repo_copy / "apps/airflow/debug-shell.yaml").write_text(PRIVILEGED_POD)
    kust = repo_copy / "apps/airflow/kustomization.yaml"
    data = yaml.safe_load(kust.read_text())
    data["resources"].append("debug-shell.yaml")
    kust.write_text(yaml.safe_dump(data, sort_keys=False))
    validator = str(REPO_ROOT / "node_modules/.bin/renovate-config-validator")
    env = {"CHECKOV": checkov, "RENOVATE_CONFIG_VALIDATOR": validator}
    proc = invoke(repo_copy, "check", "--all", "--env", "dev", "--format", "json", env=env)
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    privileged = [f for f in findings if f["rule"] == "checkov:CKV_K8S_16"]
    assert privileged and privileged[0]["file"] == "apps/airflow/debug-shell.yaml", findings
    assert not [f for f in findings if f["rule"] in ("tool-missing", "checkov")]


@pytest.mark.slow
def test_check_all_without_checkov_says_how_to_install_it(pristine_repo: Path) -> None:
    proc = invoke(
        pristine_repo,
        "check",
        "--all",
        "--env",
        "dev",
        "--format",
        "json",
        env={"CHECKOV": "/nonexistent/checkov"},
    )
    assert proc.returncode == 1
    [missing] = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "tool-missing"]
    assert "make tools" in missing["fix"]
