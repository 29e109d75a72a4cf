"""The scripts the workflows run (.github/scripts), and the SARIF output of `invoke check --all`'s checkov scans."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_gitops.check import slow
from airflow_gitops.check.context import CheckContext
from airflow_gitops.model.rendered import RenderedObject
from airflow_gitops.model.repo import Repo
from tests.conftest import REPO_ROOT

SCRIPTS = REPO_ROOT / ".github/scripts"

needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (GitHub's runners have it)")
needs_terraform = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")


def script(name: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / name), *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


# --- checkov's SARIF: slow.py writes it, checkov-sarif.sh makes one upload of it ------------------------------------

BUCKET = """\
resource "aws_s3_bucket" "open" {
  bucket = "example-open"
}
"""
PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "debug-shell", "namespace": "airflow"},
    "spec": {"containers": [{"name": "shell", "image": "busybox:1.37", "securityContext": {"privileged": True}}]},
}


@pytest.fixture
def checkov() -> str:
    found = slow.find_checkov(REPO_ROOT)
    assert found, "checkov is missing: run `make tools`"
    return found


def scan(root: Path, checkov: str) -> CheckContext:
    """checkov over one rendered object of dev and over terraform/, as `invoke check --all` runs it."""
    (root / "terraform").mkdir(parents=True)
    (root / "terraform/main.tf").write_text(BUCKET)
    (root / "apps/debug").mkdir(parents=True)
    (root / "apps/debug/pod.yaml").write_text(json.dumps(PRIVILEGED_POD))
    ctx = CheckContext(Repo(root), None, [])  # type: ignore[arg-type]  # the scans read only the repo
    slow._scan(ctx, checkov, "dev", [RenderedObject("dev", PRIVILEGED_POD, "apps/debug/pod.yaml")])
    slow._scan_terraform(ctx, checkov)
    return ctx


def test_checkov_writes_sarif_per_scan_when_asked(tmp_path: Path, checkov: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "sarif"
    monkeypatch.setenv(slow.SARIF_DIR_ENV, str(out))
    ctx = scan(tmp_path / "repo", checkov)
    assert sorted(p.name for p in out.iterdir()) == ["checkov-dev.sarif", "checkov-terraform.sarif"]
    # The findings still come from checkov's JSON on stdout, one per failed check.
    rules = {f.rule for f in ctx.findings}
    assert "checkov:CKV_K8S_16" in rules  # privileged container
    assert any(f.file == "terraform/main.tf" for f in ctx.findings)
    for name, findings in (("dev", [f for f in ctx.findings if f.file != "terraform/main.tf"]), ("terraform", None)):
        report = json.loads((out / f"checkov-{name}.sarif").read_text())
        [run] = report["runs"]
        assert run["tool"]["driver"]["name"] == "Checkov"
        if findings is not None:
            assert {r["ruleId"] for r in run["results"]} == {f.rule.removeprefix("checkov:") for f in findings}
    terraform = json.loads((out / "checkov-terraform.sarif").read_text())["runs"][0]["results"]
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in terraform} == {"terraform/main.tf"}


def test_checkov_writes_no_sarif_by_default(tmp_path: Path, checkov: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(slow.SARIF_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    ctx = scan(tmp_path / "repo", checkov)
    assert ctx.findings
    assert not list(tmp_path.rglob("*.sarif"))


@needs_jq
def test_checkov_sarif_makes_one_upload_with_a_category_per_scan(
    tmp_path: Path, checkov: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sarif"
    monkeypatch.setenv(slow.SARIF_DIR_ENV, str(out))
    scan(tmp_path / "repo", checkov)
    proc = script("checkov-sarif.sh", str(out), str(tmp_path / "checkov.sarif"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    merged = json.loads((tmp_path / "checkov.sarif").read_text())
    assert merged["version"] == "2.1.0"
    ids = [run["automationDetails"]["id"] for run in merged["runs"]]
    assert ids == ["checkov/dev/", "checkov/terraform/"]
    dev, terraform = (run["results"] for run in merged["runs"])
    # A rendered object lives in a temporary folder: its result points at the cluster's kustomization.yaml.
    for result in dev:
        location = result["locations"][0]["physicalLocation"]
        assert location == {"artifactLocation": {"uri": "clusters/dev/kustomization.yaml"}, "region": {"startLine": 1}}
        assert result["message"]["text"].startswith("[dev] pod-debug-shell.yaml: ")
        assert result["partialFingerprints"]["renderedObject/v1"] == "dev/pod-debug-shell.yaml"
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in terraform} == {"terraform/main.tf"}


@needs_jq
def test_checkov_sarif_refuses_an_empty_folder(tmp_path: Path) -> None:
    proc = script("checkov-sarif.sh", str(tmp_path), str(tmp_path / "out.sarif"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "no checkov-*.sarif" in proc.stderr


# --- terraform-plan.sh and terraform-apply.sh -------------------------------------------------------------------------

# terraform_data is built into Terraform: these stacks need no provider, so no registry.
ONE_RESOURCE = 'resource "terraform_data" "marker" {\n  input = "one"\n}\n'


def stack(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.tf").write_text(text)
    return root


@needs_terraform
@pytest.mark.parametrize(
    ("config", "code", "verdict"),
    [
        (ONE_RESOURCE, 0, "Plan: 1 to add, 0 to change, 0 to destroy."),
        ("", 0, "No changes."),
        ('resource "terraform_data" "broken" {\n  no_such_argument = 1\n}\n', 1, "The plan failed"),
    ],
    ids=["changes", "no-changes", "broken"],
)
def test_terraform_plan_writes_the_verdict_and_the_plan(tmp_path: Path, config: str, code: int, verdict: str) -> None:
    directory = stack(tmp_path / "stack", config)
    proc = script("terraform-plan.sh", str(directory), str(tmp_path / "plan.md"), cwd=tmp_path)
    assert proc.returncode == code, proc.stdout + proc.stderr
    markdown = (tmp_path / "plan.md").read_text()
    assert markdown.startswith(f"#### `{directory}`: {verdict}")
    assert "<details><summary>terraform plan</summary>" in markdown
    if code == 0 and config:
        assert "terraform_data.marker will be created" in markdown


@needs_terraform
def test_terraform_apply_applies_changes_then_nothing(tmp_path: Path) -> None:
    first, second = stack(tmp_path / "platform", ONE_RESOURCE), stack(tmp_path / "bootstrap", "")
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    proc = script("terraform-apply.sh", str(first), str(second), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = summary.read_text()
    assert f"#### `{first}`: changes" in text and "Applied." in text
    assert f"#### `{second}`: no changes" in text
    assert (first / "terraform.tfstate").is_file()
    summary.unlink()
    proc = script("terraform-apply.sh", str(first), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary.read_text() == f"#### `{first}`: no changes\n"


# --- pr-comment.sh, against a stand-in for gh --------------------------------------------------------------------------

FAKE_GH = """\
import json, sys
from pathlib import Path

state = Path(__file__).with_name("comments.json")
comments = json.loads(state.read_text()) if state.exists() else []
args = sys.argv[1:]
assert args[0] == "api", args
method = args[args.index("--method") + 1] if "--method" in args else "GET"
path = next(a for a in args[1:] if a.startswith("repos/"))
if method == "GET":
    assert "--paginate" in args
    # Two pages, as gh --paginate prints them: one JSON array after the other.
    print(json.dumps(comments[:1]))
    print(json.dumps(comments[1:]))
    sys.exit(0)
body = json.loads(Path(args[args.index("--input") + 1]).read_text())["body"]
if method == "POST":
    comments.append({"id": 100 + len(comments), "user": {"login": "github-actions[bot]"}, "body": body})
    number = comments[-1]["id"]
else:
    number = int(path.rsplit("/", 1)[1])
    [comment] = [c for c in comments if c["id"] == number]
    comment["body"] = body
state.write_text(json.dumps(comments))
print(f"https://github.example/comment/{number}")
"""


@pytest.fixture
def gh(tmp_path: Path) -> Path:
    """A gh on PATH that keeps the pull request's comments in comments.json beside it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gh"
    fake.write_text(f"#!{sys.executable}\n{FAKE_GH}")
    fake.chmod(0o755)
    return bin_dir


def comment(gh: Path, tmp_path: Path, key: str, body: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "body.md").write_text(body)
    env = {"PATH": f"{gh}{os.pathsep}{os.environ['PATH']}", "GITHUB_REPOSITORY": "example-org/platform", "PR_NUMBER": "7"}
    return script("pr-comment.sh", key, str(tmp_path / "body.md"), cwd=tmp_path, env=env)


def comments(gh: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads((gh / "comments.json").read_text())
    return found


@needs_jq
def test_pr_comment_posts_once_then_updates(gh: Path, tmp_path: Path) -> None:
    (gh / "comments.json").write_text(
        json.dumps(
            [
                {"id": 1, "user": {"login": "octocat"}, "body": "<!-- invoke-diff -->\nquoted by a person"},
                {"id": 2, "user": {"login": "github-actions[bot]"}, "body": "<!-- terraform-plan-dev -->\nplan"},
            ]
        )
    )
    first = comment(gh, tmp_path, "invoke-diff", "### first\n")
    assert first.returncode == 0, first.stderr
    second = comment(gh, tmp_path, "invoke-diff", "### second\n")
    assert second.returncode == 0, second.stderr
    assert first.stdout == second.stdout == "https://github.example/comment/102\n"
    bodies = {c["id"]: c["body"] for c in comments(gh)}
    assert bodies == {
        1: "<!-- invoke-diff -->\nquoted by a person",
        2: "<!-- terraform-plan-dev -->\nplan",
        102: "<!-- invoke-diff -->\n### second",
    }


@needs_jq
def test_pr_comment_cuts_a_body_github_would_refuse(gh: Path, tmp_path: Path) -> None:
    proc = comment(gh, tmp_path, "terraform-plan-prod", "x" * 70000)
    assert proc.returncode == 0, proc.stderr
    [posted] = comments(gh)
    assert len(posted["body"]) < 65536
    assert "(cut at 60000 characters" in posted["body"]


def test_pr_comment_needs_its_arguments(tmp_path: Path) -> None:
    proc = script("pr-comment.sh", "only-a-key", cwd=tmp_path)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


# --- image.yml: the image name and tags, from the values file and the Dockerfile -------------------------------------


def image_meta_script() -> str:
    doc = yaml.safe_load((REPO_ROOT / ".github/workflows/image.yml").read_text())
    [step] = [s for s in doc["jobs"]["build"]["steps"] if s.get("id") == "meta"]
    return "set -euo pipefail\n" + str(step["run"])


def image_meta(root: Path, ref: str, tmp_path: Path) -> tuple[int, dict[str, str], str]:
    output = tmp_path / "output"
    output.write_text("")
    env = {
        "ROLE": "arn:aws:iam::444444444444:role/image-push",
        "GITHUB_RUN_NUMBER": "17",
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_REF": ref,
        "GITHUB_REF_NAME": ref.rsplit("/", 1)[-1],
        "GITHUB_OUTPUT": str(output),
    }
    proc = subprocess.run(
        ["bash", "-c", image_meta_script()], cwd=root, capture_output=True, text=True, env={**os.environ, **env}
    )
    values: dict[str, str] = {}
    lines = iter(output.read_text().splitlines())
    for line in lines:
        key, _, value = line.partition("=")
        if "<<" in key:
            key, _, end = key.partition("<<")
            value = "\n".join(iter(lambda: next(lines), end))
        values[key] = value
    return proc.returncode, values, proc.stdout + proc.stderr


needs_yq = pytest.mark.skipif(shutil.which("yq") is None, reason="yq is not installed (GitHub's runners have it)")


@needs_yq
def test_image_tags_on_main_and_on_a_release_tag(tmp_path: Path) -> None:
    dockerfile = (REPO_ROOT / "images/airflow/Dockerfile").read_text()
    version = re.search(r"^FROM apache/airflow:([0-9][^-@\s]*)-python", dockerfile, re.M)
    assert version, "images/airflow/Dockerfile has no FROM apache/airflow:<version>-python<x.y>"
    image = "444444444444.dkr.ecr.eu-west-1.amazonaws.com/airflow"
    sha = "0123456789abcdef0123456789abcdef01234567"

    code, main, log = image_meta(REPO_ROOT, "refs/heads/main", tmp_path)
    assert code == 0, log
    assert main["image"] == image  # clusters/dev/values/airflow.yaml
    assert (main["account"], main["region"], main["repository"]) == ("444444444444", "eu-west-1", "airflow")
    assert main["tag"] == f"{version[1]}-17"
    assert main["tags"].splitlines() == [f"{image}:{sha}", f"{image}:{version[1]}-17"]

    code, release, log = image_meta(REPO_ROOT, "refs/tags/v1.4.0", tmp_path)
    assert code == 0, log
    assert release["release"] == "1.4.0"
    assert release["tags"].splitlines()[-1] == f"{image}:1.4.0"
    assert release["region"] == "eu-west-1"

    code, _, log = image_meta(REPO_ROOT, "refs/tags/version-two", tmp_path)
    assert code == 1
    assert "is not v<major>.<minor>.<patch>" in log


@needs_yq
def test_image_refuses_a_dockerfile_without_the_airflow_base(tmp_path: Path) -> None:
    (tmp_path / "images/airflow").mkdir(parents=True)
    (tmp_path / "images/airflow/Dockerfile").write_text("FROM python:3.12-slim\n")
    shutil.copytree(REPO_ROOT / "clusters/dev/values", tmp_path / "clusters/dev/values")
    code, _, log = image_meta(tmp_path, "refs/heads/main", tmp_path)
    assert code == 1
    assert "no FROM apache/airflow:<airflow version>-python<x.y> line" in log
