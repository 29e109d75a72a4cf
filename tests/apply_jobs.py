"""The suite's long jobs: Terraform applied against local AWS emulators (tests marked `apply`).

They mostly wait on the provider's polling, so they all start at once, ahead of every other test,
and each test then waits for its own job. A test module registers a starter with `@starter`; the
session fixture `apply_jobs` (tests/conftest.py) calls every starter once, with one shared pool.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

# Enough for every job at once on two cores: they spend their time waiting.
WORKERS = 8

Starter = Callable[[pytest.Session, ThreadPoolExecutor, pytest.TempPathFactory], dict[str, "Future[Any]"]]
STARTERS: list[Starter] = []


def starter(fn: Starter) -> Starter:
    """Register a function that submits a test module's jobs, keyed by name."""
    STARTERS.append(fn)
    return fn


@dataclass
class ApplyJobs:
    futures: dict[str, Future[Any]]

    def result(self, name: str) -> Any:
        return self.futures[name].result()


def selected(session: pytest.Session, module_file: str) -> list[pytest.Item]:
    """The items of one test module that this session runs."""
    return [item for item in session.items if str(item.path) == module_file]
