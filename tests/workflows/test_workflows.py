"""The GitHub workflows, the pre-commit config and the YAML lint: each linter finds nothing on the repository, and
each is shown to fail on a broken copy."""

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

from tests.conftest import REPO_ROOT, init_git

BIN = Path(sys.executable).parent
WORKFLOWS = sorted((REPO_ROOT / ".github/workflows").glob("*.yml"))
SCRIPTS = sorted((REPO_ROOT / ".github/scripts").glob("*.sh"))

SHA = re.compile(r"[0-9a-f]{40}")
VERSION = re.compile(r"v?\d+(\.\d+)+")
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*))?$")


def tool(name: str) -> str:
    path = BIN / name
    assert path.is_file(), f"{path} is missing: `make test` installs the test extras of pyproject.toml"
    return str(path)


def run(*args: str, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})


def with_venv_path() -> dict[str, str]:
    """.venv/bin first on PATH, so that actionlint finds shellcheck and runs it on every `run:` script."""
    return {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def workflow_repo(root: Path, workflow: str) -> Path:
    """A git repository holding one workflow and the repository's zizmor config."""
    (root / ".github/workflows").mkdir(parents=True)
    shutil.copy(REPO_ROOT / ".github/zizmor.yml", root / ".github/zizmor.yml")
    (root / ".github/workflows/broken.yml").write_text(workflow)
    init_git(root)
    return root


# --- the rules of .github/README.md, checked on the files -----------------------------------------------------------


def pin_problems(text: str, where: str) -> list[str]:
    """Every `uses:` of a remote action pinned by a full commit SHA, with its version in a trailing comment."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = USES.match(line)
        if not match:
            continue
        ref, comment = match.group("ref").strip("\"'"), (match.group("comment") or "").strip()
        if ref.startswith("./"):
            continue
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                problems.append(f"{where}:{number}: {ref} is not pinned by digest")
            continue
        action, _, pin = ref.partition("@")
        if not SHA.fullmatch(pin):
            problems.append(f"{where}:{number}: {action}@{pin} is not pinned by a 40-hex commit SHA")
        if not VERSION.fullmatch(comment):
            problems.append(f"{where}:{number}: {action} has no version comment (`# v1.2.3`) after its SHA")
    return problems


def job_problems(doc: dict[Any, Any], where: str) -> list[str]:
    """`permissions: {}` at the top; each job its own permissions and a timeout; no pull_request_target."""
    problems = []
    triggers = doc.get("on", doc.get(True))  # PyYAML reads the key `on` as true
    names = set(triggers) if isinstance(triggers, dict) else set(triggers if isinstance(triggers, list) else [triggers])
    if "pull_request_target" in names:
        problems.append(f"{where}: pull_request_target")
    if doc.get("permissions") != {}:
        problems.append(f"{where}: top-level permissions are {doc.get('permissions')!r}, not {{}}")
    for name, job in (doc.get("jobs") or {}).items():
        if "permissions" not in job:
            problems.append(f"{where}: job {name} has no permissions of its own")
        if "uses" not in job and "timeout-minutes" not in job:  # a reusable workflow's call takes no timeout
            problems.append(f"{where}: job {name} has no timeout-minutes")
        for step in job.get("steps") or []:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                if (step.get("with") or {}).get("persist-credentials") is not False:
                    problems.append(f"{where}: job {name} checks out without persist-credentials: false")
    return problems


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"check.yml", "terraform.yml", "image.yml", "promote.yml", "renovate.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_sha_with_its_version(workflow: Path) -> None:
    text = workflow.read_text()
    assert "uses:" in text
    assert pin_problems(text, workflow.name) == []


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_timeouts_and_checkouts(workflow: Path) -> None:
    assert job_problems(yaml.safe_load(workflow.read_text()), workflow.name) == []


def test_one_action_has_one_pin_everywhere() -> None:
    """Renovate moves an action in every workflow at once; two SHAs or two versions of one action mean a half-done edit."""
    pins: dict[str, set[tuple[str, str]]] = {}
    for workflow in WORKFLOWS:
        for line in workflow.read_text().splitlines():
            if (match := USES.match(line)) and "@" in match.group("ref"):
                action, _, sha = match.group("ref").partition("@")
                pins.setdefault(action, set()).add((sha, (match.group("comment") or "").strip()))
    assert {action: found for action, found in pins.items() if len(found) > 1} == {}


BROKEN_PINS = """\
jobs:
  build:
    steps:
      - uses: actions/checkout@v4
      - uses: docker/build-push-action@53b7df96c91f9c12dcc8a07bcb9ccacbed38856a
      - uses: ./.github/actions/local
      - uses: docker://alpine:3.20
"""


def test_the_pin_rule_fails_on_tags_and_missing_comments() -> None:
    assert pin_problems(BROKEN_PINS, "broken.yml") == [
        "broken.yml:4: actions/checkout@v4 is not pinned by a 40-hex commit SHA",
        "broken.yml:4: actions/checkout has no version comment (`# v1.2.3`) after its SHA",
        "broken.yml:5: docker/build-push-action has no version comment (`# v1.2.3`) after its SHA",
        "broken.yml:7: docker://alpine:3.20 is not pinned by digest",
    ]


def test_the_job_rules_fail_on_a_loose_workflow() -> None:
    doc = yaml.safe_load(
        """\
on: [pull_request_target]
permissions: write-all
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
"""
    )
    assert job_problems(doc, "loose.yml") == [
        "loose.yml: pull_request_target",
        "loose.yml: top-level permissions are 'write-all', not {}",
        "loose.yml: job build has no permissions of its own",
        "loose.yml: job build has no timeout-minutes",
        "loose.yml: job build checks out without persist-credentials: false",
    ]


# --- actionlint, with shellcheck on the run: scripts ----------------------------------------------------------------


def test_actionlint_finds_nothing() -> None:
    proc = run(tool("actionlint"), "-no-color", *map(str, WORKFLOWS), env=with_venv_path())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_actionlint_runs_shellcheck_on_run_scripts(tmp_path: Path) -> None:
    workflow = tmp_path / "broken.yml"
    workflow.write_text(
        """\
on: push
permissions: {}
jobs:
  clean:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions: {}
    steps:
      - run: rm -rf $TARGET/*
"""
    )
    assert shutil.which("shellcheck", path=with_venv_path()["PATH"]), "shellcheck is missing from .venv/bin"
    proc = run(tool("actionlint"), "-no-color", str(workflow), env=with_venv_path())
    assert proc.returncode == 1
    assert "shellcheck reported issue" in proc.stdout, proc.stdout


# --- zizmor, offline ------------------------------------------------------------------------------------------------


def test_zizmor_finds_nothing_at_the_default_persona() -> None:
    proc = run(tool("zizmor"), "--offline", "--no-progress", "--format", "json", ".github/workflows", ".pre-commit-config.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == []


CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"


@pytest.mark.parametrize(
    ("audit", "step"),
    [
        ("template-injection", 'run: echo "${{ github.event.pull_request.title }}"'),
        ("unpinned-uses", "uses: actions/setup-python@v7"),
    ],
)
def test_zizmor_flags_a_broken_workflow(tmp_path: Path, audit: str, step: str) -> None:
    repo = workflow_repo(
        tmp_path / "repo",
        f"""\
name: broken
on: pull_request
permissions: {{}}
jobs:
  build:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
      - {step}
""",
    )
    proc = run(tool("zizmor"), "--offline", "--no-progress", "--format", "json", ".github/workflows", cwd=repo)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert audit in {finding["ident"] for finding in json.loads(proc.stdout)}


# --- pre-commit -----------------------------------------------------------------------------------------------------


def pre_commit_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    return config


def test_pre_commit_config_is_valid() -> None:
    proc = run(tool("pre-commit"), "validate-config", ".pre-commit-config.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pre_commit_has_the_hooks_and_pins_remote_repositories_by_tag() -> None:
    hooks = {hook["id"] for repo in pre_commit_config()["repos"] for hook in repo["hooks"]}
    assert hooks >= {"ruff-check", "ruff-format", "yamllint", "terraform_fmt", "checkov", "hadolint", "shellcheck"}
    for repo in pre_commit_config()["repos"]:
        if repo["repo"] not in ("local", "meta"):
            assert VERSION.fullmatch(str(repo["rev"])), f"{repo['repo']}: rev {repo['rev']} is not a release tag"


def test_local_hooks_run_clean_on_a_copy(tmp_path: Path) -> None:
    """The local hooks (tools of .venv) on every file, as `pre-commit run --all-files` runs them; the remote ones
    need their repositories cloned, which pre-commit does once, online."""
    copy = tmp_path / "repo"
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout.split("\0")
    for name in filter(None, listed):
        if (REPO_ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, copy / name)
    (copy / ".venv").symlink_to(BIN.parent)
    init_git(copy)
    config = pre_commit_config()
    config["repos"] = [repo for repo in config["repos"] if repo["repo"] == "local"]
    local = tmp_path / "local-hooks.yaml"
    local.write_text(yaml.safe_dump(config))
    proc = run(
        tool("pre-commit"),
        "run",
        "--config",
        str(local),
        "--all-files",
        cwd=copy,
        env={"PRE_COMMIT_HOME": str(tmp_path / "home")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("Passed") == len(config["repos"][0]["hooks"]), proc.stdout


# --- yamllint and shellcheck ----------------------------------------------------------------------------------------


def test_yamllint_passes_on_the_repository() -> None:
    proc = run(tool("yamllint"), "--config-file", ".yamllint.yaml", "--format", "parsable", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_yamllint_reads_the_workflows_and_clusters() -> None:
    proc = run(tool("yamllint"), "--config-file", ".yamllint.yaml", "--list-files", ".")
    listed = set(proc.stdout.split())
    assert {"./.github/workflows/check.yml", "./.pre-commit-config.yaml", "./clusters/prod/cluster.yaml"} <= listed
    assert not [name for name in listed if name.startswith(("./schemas/", "./node_modules/", "./.venv"))]


def test_yamllint_fails_on_a_long_line_and_mixed_sequence_indentation(tmp_path: Path) -> None:
    bad = tmp_path / "values.yaml"
    bad.write_text(f"key: {'x' * 140}\nindented:\n  - a\nnot_indented:\n- b\n")
    proc = run(tool("yamllint"), "--config-file", str(REPO_ROOT / ".yamllint.yaml"), "--format", "parsable", str(bad))
    assert proc.returncode == 1
    assert "(line-length)" in proc.stdout
    assert "(indentation)" in proc.stdout


def test_shellcheck_passes_on_the_scripts() -> None:
    assert SCRIPTS, "no scripts under .github/scripts"
    proc = run(tool("shellcheck"), *map(str, SCRIPTS), str(REPO_ROOT / ".ci/run"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
