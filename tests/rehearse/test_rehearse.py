"""`invoke rehearse` end to end, as a user runs it: real terraform, real moto servers, a real clone.

The full run applies and destroys the registry and dev platform stacks and promotes into staging; the
others prove that a run failing halfway, or stopped by a signal, leaves nothing behind either.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_gitops.platform.rehearse import clone_working_tree
from tests.apply_jobs import ApplyJobs, selected, starter
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.apply

INVOKE = str(Path(sys.executable).with_name("invoke"))
STEPS = (
    "emulators",
    "workspace",
    "dns zone",
    "tf-backend",
    "registry stack",
    "platform stack",
    "secrets-init",
    "seed image",
    "promote",
    "destroy",
)


def _environment(tmp: Path) -> dict[str, str]:
    """Scratch space of our own, so the test can prove the rehearsal removed everything it wrote."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["TMPDIR"] = str(tmp)
    # A provider cache of the run's own: a `terraform init` elsewhere in the suite (the module apply
    # tests) may replace an entry of a shared cache while this run links to it.
    env["XDG_CACHE_HOME"] = str(tmp.parent / "cache")
    env.setdefault("TF_PLUGIN_MIRROR", "/opt/tf-plugins")
    if not Path(env["TF_PLUGIN_MIRROR"]).is_dir():
        env.pop("TF_PLUGIN_MIRROR")
    return env


def _ports(output: str) -> list[int]:
    return [int(p) for p in re.findall(r"https://127\.0\.0\.1:(\d+)", output)]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _status(root: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--ignored"], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def _assert_nothing_left(output: str, scratch: Path) -> None:
    ports = _ports(output)
    assert ports, output
    assert not [p for p in ports if _listening(p)], "an emulator is still running"
    assert list(scratch.iterdir()) == [], "the rehearsal left files in its temporary folder"


@dataclass(frozen=True)
class Run:
    """One `invoke rehearse` run: its exit code and output, and the folders it was given."""

    returncode: int
    output: str
    scratch: Path
    logs: Path


def _folders(tmp: Path) -> tuple[Path, Path]:
    scratch = tmp / "tmp"
    scratch.mkdir()
    return scratch, tmp / "logs"


def _clone(tmp: Path) -> Path:
    (tmp / "source").mkdir()
    return clone_working_tree(REPO_ROOT, tmp / "source")[0]


def full_run(tmp: Path) -> Run:
    scratch, logs = _folders(tmp)
    args = [INVOKE, "rehearse", "--env", "dev", "--logs", str(logs)]
    proc = subprocess.run(args, cwd=REPO_ROOT, env=_environment(scratch), capture_output=True, text=True, timeout=1800)
    return Run(proc.returncode, proc.stdout + proc.stderr, scratch, logs)


def broken_run(tmp: Path) -> Run:
    """A clone whose platform stack does not parse, so the run fails after the registry stack applied."""
    scratch, logs = _folders(tmp)
    clone = _clone(tmp)
    with (clone / "terraform/stacks/dev/platform/main.tf").open("a", encoding="utf-8") as tf:
        tf.write('\nresource "aws_s3_bucket" "broken" {\n')
    proc = subprocess.run([INVOKE, "rehearse"], cwd=clone, env=_environment(scratch), capture_output=True, text=True, timeout=900)
    return Run(proc.returncode, proc.stdout + proc.stderr, scratch, logs)


def stopped_run(tmp: Path) -> Run:
    """SIGTERM while terraform init of the registry stack is under way."""
    scratch, logs = _folders(tmp)
    clone = _clone(tmp)
    proc = subprocess.Popen(
        [INVOKE, "rehearse"], cwd=clone, env=_environment(scratch), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if re.search(r"ok\s+tf-backend\s", line):
            time.sleep(3)
            proc.send_signal(signal.SIGTERM)
            break
    rest, _ = proc.communicate(timeout=300)
    return Run(proc.returncode, "".join(lines) + rest, scratch, logs)


JOBS = {"rehearse-full": full_run, "rehearse-broken": broken_run, "rehearse-stopped": stopped_run}
TEST_JOB = {
    "test_the_full_rehearsal_applies_promotes_and_destroys": "rehearse-full",
    "test_a_run_failing_halfway_destroys_what_it_applied_and_leaves_nothing": "rehearse-broken",
    "test_a_signal_stops_the_run_and_leaves_nothing": "rehearse-stopped",
}


@starter
def start(session: pytest.Session, pool: ThreadPoolExecutor, tmp: pytest.TempPathFactory) -> dict[str, Future[Any]]:
    names = [TEST_JOB[item.name] for item in selected(session, __file__) if item.name in TEST_JOB]
    if not Path(INVOKE).is_file():
        return {}
    return {name: pool.submit(JOBS[name], tmp.mktemp(name)) for name in names}


def _run(apply_jobs: ApplyJobs, name: str) -> Run:
    if name not in apply_jobs.futures:
        pytest.skip("invoke is not installed beside this interpreter")
    run: Run = apply_jobs.result(name)
    return run


def test_the_full_rehearsal_applies_promotes_and_destroys(apply_jobs: ApplyJobs) -> None:
    before = _status(REPO_ROOT)
    run = _run(apply_jobs, "rehearse-full")
    output = run.output
    assert run.returncode == 0, output
    for step in STEPS:
        assert re.search(rf"^\s+ok\s+{re.escape(step)}\s", output, re.MULTILINE), f"step {step} did not pass:\n{output}"
    assert "rehearsal of dev → staging: passed" in output
    # The platform stack applied all it could, and said what the emulator cannot create.
    applied = re.search(r"ok\s+platform stack\s+[\d.]+ s\s+(\d+) resources applied; left out: (\d+) not emulated", output)
    assert applied and int(applied.group(1)) > 100 and int(applied.group(2)) > 0, output
    # The registry stack's only gap: the pull-through cache, which moto does not serve.
    registry = re.search(
        r"ok\s+registry stack\s+[\d.]+ s\s+\d+ resources applied; left out: \d+ not emulated \(([^)]*)\)", output
    )
    assert registry, output
    assert registry.group(1) == "aws_ecr_pull_through_cache_rule, aws_ecr_registry_policy, aws_ecr_repository_creation_template"
    destroyed = re.search(r"ok\s+destroy\s+[\d.]+ s\s+(\d+) resources destroyed, none left in state", output)
    assert destroyed and int(destroyed.group(1)) > int(applied.group(1)), output
    # What the promotion committed names the digest the emulated ECR holds for the tag.
    promoted = re.search(r"staging pins (\S+)@(sha256:[0-9a-f]{12})…, committed and pushed to origin", output)
    seeded = re.search(r"airflow:(\S+) pushed as (sha256:[0-9a-f]{12})…", output)
    assert promoted and seeded and promoted.groups() == seeded.groups(), output
    # Nothing behind: no emulator, no scratch files, the repository as it was.
    _assert_nothing_left(output, run.scratch)
    assert _status(REPO_ROOT) == before
    # The logs asked for are kept: terraform's of both stacks and each emulator's.
    assert sorted(p.name for p in run.logs.glob("*.log")) == [
        "moto-111111111111.log",
        "moto-444444444444.log",
        "terraform-platform.log",
        "terraform-registry.log",
    ]
    assert "Destroy complete!" in (run.logs / "terraform-platform.log").read_text(encoding="utf-8")


def test_a_run_failing_halfway_destroys_what_it_applied_and_leaves_nothing(apply_jobs: ApplyJobs) -> None:
    run = _run(apply_jobs, "rehearse-broken")
    output = run.output
    assert run.returncode == 1, output
    assert re.search(r"ok\s+registry stack\s", output), output
    assert re.search(r"FAIL\s+platform stack\s+[\d.]+ s\s+platform/main.tf:\d+ does not parse", output), output
    # The registry stack was applied, so it is destroyed; the platform stack never got a state.
    assert re.search(r"ok\s+destroy\s+[\d.]+ s\s+(\d+) resources destroyed, none left in state", output), output
    assert "rehearsal of dev → staging: FAILED" in output
    _assert_nothing_left(output, run.scratch)


def test_a_signal_stops_the_run_and_leaves_nothing(apply_jobs: ApplyJobs) -> None:
    run = _run(apply_jobs, "rehearse-stopped")
    assert run.returncode == 130, run.output  # as after Ctrl-C
    assert "interrupted" in run.output
    _assert_nothing_left(run.output, run.scratch)
    stray = subprocess.run(["pgrep", "-f", f"terraform.*{run.scratch}"], capture_output=True, text=True).stdout.split()
    assert stray == [], f"terraform processes outlived the run: {stray}"
