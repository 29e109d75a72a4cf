"""The package is typed and linted: mypy --strict and ruff run as part of the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True)


def test_mypy_strict_on_the_package_and_tasks() -> None:
    proc = run(str(BIN / "mypy"), "--strict", "scripts/airflow_gitops", "tasks.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_lint_and_format() -> None:
    lint = run(str(BIN / "ruff"), "check", "scripts", "tests", "tasks.py", "bench", "images")
    assert lint.returncode == 0, lint.stdout
    fmt = run(str(BIN / "ruff"), "format", "--check", "scripts", "tests", "tasks.py", "bench", "images")
    assert fmt.returncode == 0, fmt.stdout
