"""Running the real Renovate (from node_modules/, installed by `make test`) against committed copies of this repository.

Renovate's `local` platform reads only the files git knows, so every run works on a temporary git repository holding a
committed copy of what Renovate reads. The product's renovate.json is copied as it is; tests append to the copy's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, git, init_git

NODE_BIN = REPO_ROOT / "node_modules" / ".bin"
# What Renovate's managers read (renovate.json's enabledManagers), and renovate.json itself.
COPIED = (
    "apps",
    "clusters",
    "schemas",
    "terraform",
    ".github/workflows",
    ".pre-commit-config.yaml",
    "images",
    "renovate.json",
    "pyproject.toml",
    "requirements.lock",
    "requirements-tools.lock",
    "package.json",
    "package-lock.json",
)
NOT_COPIED = shutil.ignore_patterns("node_modules", ".venv*", ".terraform", "__pycache__", "*.tfstate*")
# How long one run may take before the test gives up on it (a lookup against the local registry takes seconds).
TIMEOUT_SECONDS = 300
# Log lines shown when a run fails.
TAIL = 40

# (what ran, seconds), in order, for the timing summary.
TIMINGS: list[tuple[str, float]] = []


def tool(name: str) -> str:
    """The path of a Node.js tool from node_modules/.bin; the test fails (it is the proof) when it is not installed."""
    path = NODE_BIN / name
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: run `make test`, which installs Renovate from package-lock.json into node_modules/",
            pytrace=False,
        )
    return str(path)


def environment(cache: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment of a run: this machine's, less any Renovate settings, plus the test's own."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("RENOVATE_") and k not in ("LOG_LEVEL", "LOG_FORMAT")}
    return {
        **inherited,
        # node_modules/.bin first: the Node.js 24 that package-lock.json pins, not whatever node the machine has.
        "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # The re2 native module is optional; without this Renovate warns on every regex it compiles.
        "RENOVATE_X_IGNORE_RE2": "true",
        # Caches and clones go under the test's own folder, never the user's.
        "RENOVATE_BASE_DIR": str(cache),
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "json",
        **(extra or {}),
    }


def copy_repo(target: Path) -> Path:
    """A committed copy of what Renovate reads, in a new git repository at target."""
    target.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=NOT_COPIED)
        elif source.is_file():
            shutil.copy2(source, target / name)
    init_git(target)
    return target


def commit(repo: Path, message: str) -> None:
    """Commit every change in a copy, since Renovate reads only what git knows."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def read_config(repo: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((repo / "renovate.json").read_text())
    return config


def write_config(repo: Path, config: dict[str, Any], message: str) -> None:
    (repo / "renovate.json").write_text(json.dumps(config, indent=2) + "\n")
    commit(repo, message)


@dataclass
class Run:
    """One finished Renovate process: its JSON log records, its report (lookup only) and its duration."""

    label: str
    returncode: int
    records: list[dict[str, Any]] = field(repr=False)
    seconds: float
    report: dict[str, Any] | None = field(default=None, repr=False)
    tail: list[str] = field(default_factory=list, repr=False)

    def record(self, msg: str) -> dict[str, Any]:
        """The one log record with this message; the test fails when Renovate logged none."""
        for record in self.records:
            if record.get("msg") == msg:
                return record
        pytest.fail(f"renovate {self.label}: no log record {msg!r}; the last log lines:\n{self.show_tail()}", pytrace=False)

    def records_with(self, msg: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.records if r.get("msg") == msg)

    def show_tail(self) -> str:
        """The last log lines, one record a line: level, message and the error or the other fields, cut short."""
        shown = []
        for line in self.tail:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                shown.append(line)
                continue
            details = {
                k: v for k, v in record.items() if k not in ("name", "hostname", "pid", "level", "logContext", "msg", "time", "v")
            }
            shown.append(f"[{record.get('level')}] {record.get('msg')} {json.dumps(details)[:400]}")
        return "\n".join(shown)


def run(
    label: str,
    args: list[str],
    repo: Path,
    cache: Path,
    env: dict[str, str] | None = None,
    report: Path | None = None,
    check: bool = True,
    keep: Collection[str] | None = None,
) -> Run:
    """Run a Node.js tool (`renovate`, `renovate-config-validator`) in a copy and parse its JSON log as it streams.

    keep: the messages whose records to hold on to (a trace log runs to hundreds of megabytes); every record when None.
    """
    cache.mkdir(parents=True, exist_ok=True)
    if report is not None:
        report.unlink(missing_ok=True)
    records: list[dict[str, Any]] = []
    tail: deque[str] = deque(maxlen=TAIL)
    started = time.monotonic()
    with subprocess.Popen(
        args, cwd=repo, env=environment(cache, env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        timer = threading.Timer(TIMEOUT_SECONDS, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail.append(line.rstrip("\n"))
                if keep is not None and not any(f'"msg":"{msg}"' in line for msg in keep):
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
            returncode = proc.wait()
        finally:
            timed_out = not timer.is_alive()
            timer.cancel()
    seconds = time.monotonic() - started
    TIMINGS.append((label, seconds))
    print(f"\nrenovate {label}: {seconds:.1f} s")
    result = Run(label, returncode, records, seconds, tail=list(tail))
    if timed_out:
        pytest.fail(
            f"renovate {label}: killed after {TIMEOUT_SECONDS} s; the last log lines:\n{result.show_tail()}", pytrace=False
        )
    if check and returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {returncode} in {repo}; the last log lines:\n{result.show_tail()}", pytrace=False)
    if report is not None and returncode == 0:
        if not report.is_file():
            pytest.fail(
                f"renovate {label}: wrote no report at {report}; the last log lines:\n{result.show_tail()}", pytrace=False
            )
        result.report = json.loads(report.read_text())
    return result


def extract(label: str, repo: Path, cache: Path) -> Run:
    """`renovate --dry-run=extract`: finds the dependencies, looks nothing up."""
    return run(label, [tool("renovate"), "--platform=local", "--dry-run=extract"], repo, cache)


def lookup(label: str, repo: Path, cache: Path, env: dict[str, str] | None = None, keep: Collection[str] | None = None) -> Run:
    """`renovate --dry-run=lookup`: finds the dependencies and looks each up; the updates it would propose are in the report."""
    report = cache / f"report-{len(TIMINGS)}.json"
    args = [tool("renovate"), "--platform=local", "--dry-run=lookup", "--report-type=file", f"--report-path={report}"]
    return run(label, args, repo, cache, env=env, report=report, keep=keep)


def validate(label: str, repo: Path, cache: Path, check: bool = False) -> Run:
    """`renovate-config-validator --strict`, without a file: it validates the repository's renovate.json as repo config."""
    return run(label, [tool("renovate-config-validator"), "--strict"], repo, cache, check=check)


def extracted_deps(result: Run) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(manager, packageFile, dep) for every dependency of an extract run's `Extracted dependencies` record."""
    for manager, files in result.record("Extracted dependencies")["packageFiles"].items():
        for package_file in files:
            for dep in package_file["deps"]:
                yield manager, package_file["packageFile"], dep


def report_deps(result: Run) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(manager, packageFile, dep) for every dependency in a lookup run's report; each looked-up dep has its `updates`."""
    assert result.report is not None
    for repository in result.report["repositories"].values():
        for manager, files in repository["packageFiles"].items():
            for package_file in files:
                for dep in package_file["deps"]:
                    yield manager, package_file["packageFile"], dep
