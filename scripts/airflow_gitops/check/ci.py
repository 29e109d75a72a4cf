"""`invoke ci`: what the check workflow (.github/workflows/check.yml) runs, here, in order.

The steps are the test suite (what `make test` runs once the virtualenvs exist), `invoke check --all` and
`invoke diff --base <base> --format markdown`. Each prints as it runs and ends with its result and time;
a table sums them up. Every step runs even when one before it failed, as the workflow's jobs do, and the
exit code is 1 when any failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..adapters import git

DEFAULT_BASE = "origin/main"
FALLBACK_BASE = "HEAD"


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[], int]


@dataclass(frozen=True)
class Outcome:
    name: str
    code: int | None  # None: skipped
    seconds: float

    @property
    def ok(self) -> bool:
        return self.code in (0, None)

    @property
    def result(self) -> str:
        if self.code is None:
            return "skipped"
        return "ok" if self.code == 0 else f"failed (exit {self.code})"


def resolve_base(root: Path, base: str | None) -> tuple[str, str | None]:
    """The ref to diff against, and a note when the default was not there.

    An explicit --base is used as given (`invoke diff` names a missing one); the default, origin/main, falls back
    to HEAD in a clone without that remote branch, so the diff shows the working tree's changes."""
    if base:
        return base, None
    if git.ok(root, "rev-parse", "--verify", "--quiet", f"{DEFAULT_BASE}^{{commit}}"):
        return DEFAULT_BASE, None
    return FALLBACK_BASE, f"no {DEFAULT_BASE} in this clone; diffing against {FALLBACK_BASE}"


def pytest_command(root: Path, python: str = sys.executable) -> tuple[list[str], dict[str, str]]:
    """The test suite as `make test` runs it: pytest of this virtualenv, node_modules/.bin first on PATH."""
    env = {**os.environ, "PATH": f"{root / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    return [python, "-m", "pytest"], env


def plan(
    root: Path,
    base: str,
    skip_tests: bool,
    check: Callable[[], int],
    diff: Callable[[], int],
    python: str = sys.executable,
) -> list[Step | str]:
    """The steps in the workflow's order; a skipped step is just its name."""

    def tests() -> int:
        command, env = pytest_command(root, python)
        return subprocess.run(command, cwd=root, env=env).returncode

    return [
        "pytest (make test)" if skip_tests else Step("pytest (make test)", tests),
        Step("invoke check --all", check),
        Step(f"invoke diff --base {base} --format markdown", diff),
    ]


def run_steps(steps: Sequence[Step | str], console: Console, clock: Callable[[], float] = time.monotonic) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for number, step in enumerate(steps, start=1):
        label = f"[{number}/{len(steps)}]"
        if isinstance(step, str):
            console.print(f"{label} {step}: skipped")
            outcomes.append(Outcome(step, None, 0.0))
            continue
        console.print(f"{label} {step.name}", style="bold")
        sys.stdout.flush()
        started = clock()
        code = step.run()
        sys.stdout.flush()
        outcome = Outcome(step.name, code, clock() - started)
        console.print(f"{label} {step.name}: {outcome.result} ({outcome.seconds:.1f} s)", style="green" if outcome.ok else "red")
        outcomes.append(outcome)
    return outcomes


def summary(outcomes: Sequence[Outcome]) -> Table:
    failed = sum(not o.ok for o in outcomes)
    table = Table(title="invoke ci: " + (f"{failed} of {len(outcomes)} steps failed" if failed else "every step passed"))
    table.add_column("step")
    table.add_column("result")
    table.add_column("time", justify="right")
    for o in outcomes:
        style = "red" if not o.ok else ("dim" if o.code is None else "green")
        table.add_row(o.name, o.result, "" if o.code is None else f"{o.seconds:.1f} s", style=style)
    table.add_row("total", "", f"{sum(o.seconds for o in outcomes):.1f} s", style="bold")
    return table


def exit_code(outcomes: Sequence[Outcome]) -> int:
    return 0 if all(o.ok for o in outcomes) else 1
