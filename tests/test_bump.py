"""`invoke bump`: the planning rules, and the task on a copy of the repo (nothing half-written)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from airflow_gitops.cli import common, upgrades
from airflow_gitops.model.findings import UsageError
from airflow_gitops.model.repo import Repo
from airflow_gitops.upgrades import holds
from airflow_gitops.upgrades.bump import plan_bump
from airflow_gitops.upgrades.pins import collect
from tests.conftest import git

IMAGE = "444444444444.dkr.ecr.eu-west-1.amazonaws.com/airflow"


def _state(root: Path) -> tuple[str, str]:
    """What a failed bump must leave as it was: the tree and the files' content."""
    status = git(root, "status", "--porcelain")
    content = subprocess.run(["git", "diff", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout
    return status, content


def _bump(root: Path, capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    dependency, version = str(args[0]), str(args[1])
    env = str(args[2]) if len(args) > 2 else "dev"
    allow = bool(args[3]) if len(args) > 3 else False
    code = common.guarded(lambda: upgrades.bump(dependency, version, env, allow, run_check=False, cwd=root))
    return code, capsys.readouterr().err


# --- planning, without servers ----------------------------------------------------------------


def test_a_chart_moves_in_dev_only(pristine_repo: Path) -> None:
    repo = Repo(pristine_repo)
    plan = plan_bump(repo, collect(repo), "metrics-server", "3.13.2", "dev")
    assert [(c.pin.file, c.version) for c in plan.changes] == [("clusters/dev/apps/metrics-server.yaml", "3.13.2")]
    assert plan.charts


def test_a_shared_pin_moves_everywhere_it_is_shared(pristine_repo: Path) -> None:
    repo = Repo(pristine_repo)
    plan = plan_bump(repo, collect(repo), "awslabs/amazon-eks-ami", "v20261101", "dev")
    assert sorted(c.pin.file for c in plan.changes) == [
        "apps/karpenter/ec2nodeclass.yaml",
        "clusters/dev/patches/ec2nodeclass.yaml",
    ]


def test_the_same_version_changes_nothing(pristine_repo: Path) -> None:
    repo = Repo(pristine_repo)
    assert plan_bump(repo, collect(repo), "metrics-server", "3.13.1", "dev").changes == []


@pytest.mark.parametrize(
    ("dependency", "version", "env", "says"),
    [
        ("metrics-servr", "3.13.2", "dev", "did you mean metrics-server"),
        ("metrics-server", "3.13.2", "staging", "changes only through promotion"),
        ("metrics-server", "3.13.2", "prod", "invoke promote --app <app> --to prod"),
        ("metrics-server", "3.13.2", "qa", "no file clusters/qa/cluster.yaml"),
        ("metrics-server", "not a version!", "dev", "is not a version"),
        ("metrics-server", "3.12.0", "dev", "--allow-downgrade"),
        ("hashicorp/terraform", "1.12.0", "dev", "a range or a non-version"),
    ],
)
def test_refusals_name_the_fix(pristine_repo: Path, dependency: str, version: str, env: str, says: str) -> None:
    repo = Repo(pristine_repo)
    with pytest.raises(UsageError, match=says.replace("(", r"\(").replace("?", r"\?")):
        plan_bump(repo, collect(repo), dependency, version, env)


def test_a_downgrade_is_allowed_when_asked(pristine_repo: Path) -> None:
    repo = Repo(pristine_repo)
    plan = plan_bump(repo, collect(repo), "metrics-server", "3.12.0", "dev", allow_downgrade=True)
    assert [c.version for c in plan.changes] == ["3.12.0"]


# --- the task on a copy -------------------------------------------------------------------------


def test_bump_edits_one_line_keeps_comments_and_checks(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (repo_copy / "clusters/dev/values/airflow.yaml").read_text()
    code = common.guarded(lambda: upgrades.bump(IMAGE, "3.2.1-1", "dev", False, run_check=True, cwd=repo_copy))
    out = capsys.readouterr().out
    assert code == 0, out
    after = (repo_copy / "clusters/dev/values/airflow.yaml").read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [('    tag: "3.2.0-1"', '    tag: "3.2.1-1"')]
    assert "deployable: dev" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("no-such-chart", "1.0.0"), "no pin of that dependency"),
        (("metrics-server", "3.13.x y"), "is not a version"),
        (("metrics-server", "3.0.0"), "older than metrics-server 3.13.1"),
        (("metrics-server", "3.13.2", "staging"), "only dev is bumped"),
        (("metrics-server", "3.13.2", "prod"), "only dev is bumped"),
        ((IMAGE, "3.2.1-1", "dev", False), "on hold"),
    ],
)
def test_bad_input_leaves_the_tree_unchanged(
    repo_copy: Path, capsys: pytest.CaptureFixture[str], args: tuple[object, ...], says: str
) -> None:
    if says == "on hold":
        repo = Repo(repo_copy)
        hold = holds.Hold(
            "dev", "airflow", "3.2.0-1 breaks the scheduler", "Jane <jane@example.com>", "2026-11-25T00:00:00Z", "3.2.0-1"
        )
        for edit in holds.plan_set(repo, hold):
            (repo_copy / edit.file).write_text(edit.new_text)
        git(repo_copy, "add", "-A")
        git(repo_copy, "commit", "-qm", "hold")
    before = _state(repo_copy)
    code, err = _bump(repo_copy, capsys, *args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err, err
    assert _state(repo_copy) == before


def test_uncommitted_changes_in_the_file_are_never_overwritten(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = repo_copy / "clusters/dev/apps/metrics-server.yaml"
    target.write_text(target.read_text() + "# work in progress\n")
    before = _state(repo_copy)
    code, err = _bump(repo_copy, capsys, "metrics-server", "3.13.2")
    assert code == 2 and "uncommitted changes" in err
    assert _state(repo_copy) == before


def test_a_chart_whose_schemas_cannot_be_vendored_is_put_back(
    repo_copy: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Airflow chart publishes a values schema: a new version without one is refused, pin restored."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    httpserver.expect_request("/index.yaml").respond_with_data("not found", status=404)
    app = repo_copy / "clusters/dev/apps/airflow.yaml"
    app.write_text(app.read_text().replace("https://airflow.apache.org", httpserver.url_for("/").rstrip("/")))
    git(repo_copy, "commit", "-qam", "local chart repository")
    before = _state(repo_copy)
    code, err = _bump(repo_copy, capsys, "airflow", "1.21.1")
    assert code == 2
    assert "invoke schemas --env dev" in err and err.count("\n") == 1, err
    assert _state(repo_copy) == before
