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
from pathlib import Path

import pytest

from airflow_gitops.rehearse import clone_working_tree
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


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.mark.skipif(not Path(INVOKE).is_file(), reason="invoke is not installed beside this interpreter")
def test_the_full_rehearsal_applies_promotes_and_destroys(scratch: Path, tmp_path: Path) -> None:
    before = _status(REPO_ROOT)
    logs = tmp_path / "logs"
    proc = subprocess.run(
        [INVOKE, "rehearse", "--env", "dev", "--logs", str(logs)],
        cwd=REPO_ROOT,
        env=_environment(scratch),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = proc.stdout + proc.stderr
    print(output)
    assert proc.returncode == 0, output
    for step in STEPS:
        assert re.search(rf"^\s+ok\s+{re.escape(step)}\s", output, re.MULTILINE), f"step {step} did not pass:\n{output}"
    assert "rehearsal of dev → staging: passed" in output
    # The platform stack applied all it could, and said what the emulator cannot create.
    applied = re.search(r"ok\s+platform stack\s+[\d.]+ s\s+(\d+) resources applied; left out: (\d+) not emulated", output)
    assert applied and int(applied.group(1)) > 100 and int(applied.group(2)) > 0, output
    assert re.search(r"ok\s+registry stack\s+[\d.]+ s\s+\d+ resources applied; left out: 0 not emulated", output), output
    destroyed = re.search(r"ok\s+destroy\s+[\d.]+ s\s+(\d+) resources destroyed, none left in state", output)
    assert destroyed and int(destroyed.group(1)) > int(applied.group(1)), output
    # What the promotion committed names the digest the emulated ECR holds for the tag.
    promoted = re.search(r"staging pins (\S+)@(sha256:[0-9a-f]{12})…, committed and pushed to origin", output)
    seeded = re.search(r"airflow:(\S+) pushed as (sha256:[0-9a-f]{12})…", output)
    assert promoted and seeded and promoted.groups() == seeded.groups(), output
    # Nothing behind: no emulator, no scratch files, the repository exactly as it was.
    _assert_nothing_left(output, scratch)
    assert _status(REPO_ROOT) == before
    # The logs asked for are kept: terraform's of both stacks and each emulator's.
    assert sorted(p.name for p in logs.glob("*.log")) == [
        "moto-111111111111.log",
        "moto-444444444444.log",
        "terraform-platform.log",
        "terraform-registry.log",
    ]
    assert "Destroy complete!" in (logs / "terraform-platform.log").read_text(encoding="utf-8")


def _clone(tmp_path: Path) -> Path:
    (tmp_path / "source").mkdir()
    return clone_working_tree(REPO_ROOT, tmp_path / "source")[0]


def _broken_clone(tmp_path: Path) -> Path:
    """A clone whose platform stack does not parse, so the run fails after the registry stack applied."""
    clone = _clone(tmp_path)
    with (clone / "terraform/stacks/dev/platform/main.tf").open("a", encoding="utf-8") as tf:
        tf.write('\nresource "aws_s3_bucket" "broken" {\n')
    return clone


def test_a_run_failing_halfway_destroys_what_it_applied_and_leaves_nothing(scratch: Path, tmp_path: Path) -> None:
    clone = _broken_clone(tmp_path)
    proc = subprocess.run([INVOKE, "rehearse"], cwd=clone, env=_environment(scratch), capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert re.search(r"ok\s+registry stack\s", output), output
    assert re.search(r"FAIL\s+platform stack\s+[\d.]+ s\s+platform/main.tf:\d+ does not parse", output), output
    # The registry stack was applied, so it is destroyed; the platform stack had nothing in its state.
    assert re.search(r"ok\s+destroy\s+[\d.]+ s\s+(\d+) resources destroyed, none left in state", output), output
    assert "rehearsal of dev → staging: FAILED" in output
    _assert_nothing_left(output, scratch)


def test_a_signal_stops_the_run_and_leaves_nothing(scratch: Path, tmp_path: Path) -> None:
    clone = _clone(tmp_path)
    proc = subprocess.Popen(
        [INVOKE, "rehearse"], cwd=clone, env=_environment(scratch), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if re.search(r"ok\s+tf-backend\s", line):
            time.sleep(3)  # terraform init of the registry stack is under way
            proc.send_signal(signal.SIGTERM)
            break
    rest, _ = proc.communicate(timeout=120)
    output = "".join(lines) + rest
    assert proc.returncode == 130, output  # as after Ctrl-C
    assert "interrupted" in output
    _assert_nothing_left(output, scratch)
    time.sleep(1)
    stray = subprocess.run(["pgrep", "-f", f"terraform.*{scratch}"], capture_output=True, text=True).stdout.split()
    assert stray == [], f"terraform processes outlived the run: {stray}"
