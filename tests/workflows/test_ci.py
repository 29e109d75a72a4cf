"""`invoke ci`: the check workflow's steps, run locally, each with its time, and a summary."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from airflow_gitops.adapters.terraform import MIRROR_ENV
from airflow_gitops.check import ci, renovate_slow, slow
from airflow_gitops.cli import checks
from tests.conftest import REPO_ROOT, git

INVOKE = str(Path(sys.executable).with_name("invoke"))
# The Makefile's default for the offline provider mirror, where a machine has one.
MAKEFILE_MIRROR = Path("/opt/tf-plugins")


def recording_console() -> Console:
    return Console(record=True, width=160, highlight=False, force_terminal=False)


def fake_clock(*ticks: float) -> Callable[[], float]:
    times = iter(ticks)
    return lambda: next(times)


def test_steps_run_in_order_and_all_run_after_a_failure() -> None:
    ran: list[str] = []

    def step(name: str, code: int) -> ci.Step:
        def run() -> int:
            ran.append(name)
            return code

        return ci.Step(name, run)

    console = recording_console()
    outcomes = ci.run_steps(
        ["pytest (make test)", step("invoke check --all", 1), step("invoke diff", 0)],
        console,
        clock=fake_clock(0.0, 2.5, 10.0, 10.25),
    )
    assert ran == ["invoke check --all", "invoke diff"]
    assert [(o.name, o.code, o.seconds) for o in outcomes] == [
        ("pytest (make test)", None, 0.0),
        ("invoke check --all", 1, 2.5),
        ("invoke diff", 0, 0.25),
    ]
    assert ci.exit_code(outcomes) == 1
    printed = console.export_text()
    assert "[1/3] pytest (make test): skipped" in printed
    assert "[2/3] invoke check --all: failed (exit 1) (2.5 s)" in printed
    assert "[3/3] invoke diff: ok (0.2 s)" in printed


def test_summary_table_names_each_step_its_result_and_time() -> None:
    outcomes = [ci.Outcome("pytest (make test)", 0, 61.0), ci.Outcome("invoke check --all", 1, 12.3), ci.Outcome("diff", None, 0)]
    console = recording_console()
    console.print(ci.summary(outcomes))
    text = console.export_text()
    assert "invoke ci: 1 of 3 steps failed" in text
    for row in (("pytest (make test)", "ok", "61.0 s"), ("invoke check --all", "failed (exit 1)", "12.3 s"), ("diff", "skipped")):
        line = next(line for line in text.splitlines() if row[0] in line)
        assert all(cell in line for cell in row), line
    assert "73.3 s" in text  # the total
    assert ci.exit_code([ci.Outcome("a", 0, 1), ci.Outcome("b", None, 0)]) == 0


def test_base_is_origin_main_else_head(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.email=ci@example.com", "-c", "user.name=CI", "commit", "-q", "--allow-empty", "-m", "one")
    assert ci.resolve_base(root, None) == ("HEAD", "no origin/main in this clone; diffing against HEAD")
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    assert ci.resolve_base(root, None) == ("origin/main", None)
    assert ci.resolve_base(root, "v1.0.0") == ("v1.0.0", None)


def test_the_tests_run_as_make_test_runs_them(tmp_path: Path) -> None:
    command, env = ci.pytest_command(tmp_path, "/venv/bin/python")
    assert command == ["/venv/bin/python", "-m", "pytest"]
    assert env["PATH"].split(os.pathsep)[0] == str(tmp_path / "node_modules" / ".bin")
    steps = ci.plan(tmp_path, "origin/main", True, check=lambda: 0, diff=lambda: 0)
    assert [s if isinstance(s, str) else s.name for s in steps] == [
        "pytest (make test)",
        "invoke check --all",
        "invoke diff --base origin/main --format markdown",
    ]


def test_a_missing_base_fails_the_diff_step_and_the_run(
    pristine_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(checks, "check", lambda *args, **kwargs: 0)  # the real one is the slow test below
    code = checks.ci("no-such-ref", skip_tests=True, cwd=pristine_repo)
    assert code == 1
    out, err = capsys.readouterr()
    assert "--base no-such-ref: no such commit" in err
    assert "invoke diff --base no-such-ref --format markdown: failed (exit 2)" in out
    assert "1 of 3 steps failed" in out


@pytest.mark.slow
def test_invoke_ci_skip_tests_prints_each_step_and_the_summary(pristine_repo: Path) -> None:
    checkov = slow.find_checkov(REPO_ROOT)
    assert checkov, "checkov is missing: run `make tools`"
    env = {
        **os.environ,
        slow.CHECKOV_ENV: checkov,
        renovate_slow.VALIDATOR_ENV: str(REPO_ROOT / "node_modules/.bin/renovate-config-validator"),
        "COLUMNS": "160",
    }
    if MIRROR_ENV not in env and MAKEFILE_MIRROR.is_dir():
        env[MIRROR_ENV] = str(MAKEFILE_MIRROR)
    proc = subprocess.run(
        [INVOKE, "--search-root", str(REPO_ROOT), "ci", "--skip-tests"],
        cwd=pristine_repo,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    out = proc.stdout
    assert "no origin/main in this clone; diffing against HEAD" in out
    assert "[1/3] pytest (make test): skipped" in out
    assert "[2/3] invoke check --all: ok (" in out
    assert "deployable: dev, staging, prod;" in out
    assert "[3/3] invoke diff --base HEAD --format markdown: ok (" in out
    assert "### Cluster changes against" in out
    assert "invoke ci: every step passed" in out
    assert out.index("[1/3]") < out.index("[2/3]") < out.index("[3/3]") < out.index("invoke ci: every step passed")
