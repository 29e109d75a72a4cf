"""Every task reads clusters/<env>/cluster.yaml through the guarded loader `invoke check` parses it with:
a broken file is exit 2 and one line that names the file and the line, before the task does anything.
(`invoke check` itself reports it as a finding, with the same line.) Each task runs in-process, through
the same entry point and guard as `invoke <task>`."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_gitops.check import run_check
from airflow_gitops.cli import checks, common, platform, releases, upgrades
from airflow_gitops.model.repo import Repo
from airflow_gitops.releases.release import Options

# How a cluster.yaml breaks: its text, and the line a reader must look at.
BROKEN = {
    "syntax": ("environment: dev\naws:\n  account_id: '111111111111'\n  region: : eu-west-1\n", 4),
    "not-a-mapping": ("- environment: dev\n", 1),
}
Task = Callable[[Path], int]
TASKS: dict[str, Task] = {
    "render": lambda root: checks.render("dev", str(root / "out"), cwd=root),
    "diff": lambda root: checks.diff("HEAD", None, "text", cwd=root),
    "status": lambda root: releases.status(None, "table", None, None, cwd=root),
    "verify": lambda root: releases.verify("dev", "airflow", 1, None, None, cwd=root),
    "tf-backend": lambda root: platform.tf_backend("dev", cwd=root),
    "secrets-init": lambda root: platform.secrets_init("dev", cwd=root),
    "pins": lambda root: upgrades.pins(None, "table", cwd=root),
    "bump": lambda root: upgrades.bump("metrics-server", "3.13.2", "dev", False, cwd=root),
    "promote": lambda root: releases.promote(Options("airflow", "staging"), cwd=root),
    "rollback": lambda root: releases.rollback(Options("airflow", "dev", reason="broken"), cwd=root),
    "hold": lambda root: releases.hold("dev", "airflow", "broken", False, "commit", cwd=root),
    "history": lambda root: releases.history(None, None, "table", cwd=root),
    "rehearse": lambda root: platform.rehearse("dev", None, cwd=root),
    "schemas": lambda root: upgrades.schemas(None, False, False, cwd=root),
}


@pytest.fixture(scope="module", params=list(BROKEN))
def broken(request: pytest.FixtureRequest, pristine_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A copy of the repository whose dev cluster.yaml is broken one way; and the line to name."""
    root = tmp_path_factory.mktemp(f"broken-{request.param}") / "repo"
    shutil.copytree(pristine_repo, root, symlinks=True)
    text, line = BROKEN[request.param]
    (root / "clusters/dev/cluster.yaml").write_text(text, encoding="utf-8")
    return root, line


def one_error_line(capsys: pytest.CaptureFixture[str], code: int) -> str:
    captured = capsys.readouterr()
    assert code == 2, (captured.out, captured.err)
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_names_the_broken_file_and_line(
    task: str, broken: tuple[Path, int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root, line = broken
    for name in ("ARGOCD_SERVER", "ARGOCD_AUTH_TOKEN", "GITHUB_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    error = one_error_line(capsys, common.guarded(lambda: TASKS[task](root)))
    assert error.startswith(f"error: clusters/dev/cluster.yaml:{line}: the dev environment's file is "), error
    assert "internal error" not in error and "promotion" not in error


def test_check_reports_the_same_file_and_line_as_a_finding(broken: tuple[Path, int]) -> None:
    root, line = broken
    result = run_check(Repo(root))
    found = [(f.rule, f.file, f.line) for f in result.errors if f.file == "clusters/dev/cluster.yaml"]
    assert found in (
        [("yaml-syntax", "clusters/dev/cluster.yaml", line)],
        [("cluster-config", "clusters/dev/cluster.yaml", line)],
    )


def test_promote_into_an_environment_whose_file_is_broken_says_so(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo_copy / "clusters/staging/cluster.yaml"
    path.write_text(re.sub(r"(?m)^promotion:\n", "promotion: [\n", path.read_text(encoding="utf-8"), count=1))
    error = one_error_line(capsys, common.guarded(lambda: releases.promote(Options("airflow", "staging"), cwd=repo_copy)))
    assert re.match(r"error: clusters/staging/cluster\.yaml:\d+: the staging environment's file is not valid YAML", error), error
