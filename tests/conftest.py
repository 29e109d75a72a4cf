"""Shared fixtures: copies of this repository in temporary git repos, so tests can break them."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from airflow_gitops.model.findings import Finding, Severity
from tests.apply_jobs import STARTERS, WORKERS, ApplyJobs

REPO_ROOT = Path(__file__).resolve().parent.parent
# What a check needs from the repo; the rest (tests, docs, venvs) is left behind to keep copies small.
COPIED = (".github", "apps", "clusters", "components", "schemas", "terraform", "renovate.json")


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout


def init_git(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")


def digest_pending(finding: Finding) -> bool:
    """The shipped repository's known warnings: images cluster.yaml lists in promotion.digest_pending."""
    return finding.rule == "image-digest-required" and finding.severity is Severity.WARNING


def copy_repo(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (REPO_ROOT / name).is_file():
            shutil.copy2(REPO_ROOT / name, target / name)
            continue
        shutil.copytree(REPO_ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__", ".terraform", "*.tfstate*"))
    init_git(target)
    return target


@pytest.fixture(scope="session")
def pristine_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One committed copy per session; tests that mutate take `repo_copy` instead."""
    return copy_repo(tmp_path_factory.mktemp("pristine") / "repo")


@pytest.fixture
def repo_copy(pristine_repo: Path, tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(pristine_repo, target, symlinks=True)
    return target


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests marked `apply` share one pool of jobs (tests/apply_jobs.py), started by the first of them:
    they need a pytest process of their own. Under pytest-xdist every worker would start every job, so
    there they are refused; `make test` runs `pytest -m apply` beside `pytest -n 2 -m "not apply"`."""
    if hasattr(config, "workerinput") and any(item.get_closest_marker("apply") for item in items):
        raise pytest.UsageError(
            'the apply tests run in one process: pytest -m apply, and pytest -n N -m "not apply" for the rest'
        )


@pytest.fixture(scope="session")
def apply_jobs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplyJobs]:
    """Every selected `apply` job, started at first use, side by side."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures: dict[str, Future[Any]] = {}
        for start in STARTERS:
            futures.update(start(request.session, pool, tmp_path_factory))
        yield ApplyJobs(futures)
