"""Benchmark `invoke promote --mode push` from dev to staging, end to end, against local stand-ins.

The stand-ins: moto as the shared ECR registry (both tags pushed and scanned), a bare git repository as the remote,
and a small HTTP server answering Argo CD's Application API with a body checked against the vendored spec. The
hold, freeze, ECR and scan gates run; health, soak and smoke are skipped (`--no-health-gate`), as they need Argo CD's
sync history and Airflow's API, which tests/release covers. Each run promotes from a fresh clone in a process of its own (interpreter start included) and prints
the time of each gate as the command reports it, then the median, min and max over the runs. Target: under 2 s end to
end. Run: `make bench`, or `python bench/bench_promote.py --runs 10`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.adapters.argocd_spec import conforming  # noqa: E402 - the repository root is on the path from here
from tests.adapters.test_argocd import CHART_VERSION, application  # noqa: E402
from tests.aws.conftest import _moto_server  # noqa: E402
from tests.conftest import git  # noqa: E402
from tests.release.conftest import NEW_TAG, OLD_TAG, make_seed_remote, push_image  # noqa: E402

INVOKE = Path(sys.executable).with_name("invoke")
ACCOUNT = "444444444444"  # the registry account of cluster.yaml
TARGET_SECONDS = 2.0
BRANCH = f"promote/airflow/staging/{NEW_TAG}"
STEP = re.compile(r"^  ok  (?P<step>.+?)\s{2,}(?P<result>.*)  \((?P<seconds>\d+\.\d+) s\)$")


@contextmanager
def argocd(revision: str) -> Iterator[str]:
    """Argo CD's GET /api/v1/applications/<name>: Synced and Healthy at the revision; the server's URL."""
    body = application()
    body["status"]["sync"]["revisions"] = [CHART_VERSION, revision]
    body["status"]["operationState"]["operation"]["sync"]["revisions"] = [CHART_VERSION, revision]
    payload = json.dumps(conforming(body, "v1alpha1Application")).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            found = self.path.startswith("/api/v1/applications/")
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload) if found else 2))
            self.end_headers()
            self.wfile.write(payload if found else b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def environment(folder: Path, moto_url: str, argocd_url: str) -> dict[str, str]:
    """This process's environment with AWS and Argo CD pointed at the stand-ins (and nothing of the developer's AWS)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ARGOCD_", "GITHUB_")) and k != "PROMOTED_BY"}
    for name in ("aws-credentials", "aws-config"):
        (folder / name).write_text("")
    env.update(
        AWS_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_REGION="eu-west-1",
        AWS_SHARED_CREDENTIALS_FILE=str(folder / "aws-credentials"),
        AWS_CONFIG_FILE=str(folder / "aws-config"),
        AWS_EC2_METADATA_DISABLED="true",
        ARGOCD_SERVER=argocd_url,
        ARGOCD_AUTH_TOKEN="bench-token",
        GIT_CONFIG_GLOBAL="/dev/null",
    )
    return env


def promote_once(folder: Path, remote: Path, index: int, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Wall seconds of one promotion from a fresh clone, and the seconds of each gate it reported."""
    clone = folder / f"run-{index}"
    git(folder, "clone", "-q", str(remote), str(clone))
    git(clone, "config", "user.name", "Bench")
    git(clone, "config", "user.email", "bench@example.com")
    subprocess.run(["git", "update-ref", "-d", f"refs/heads/{BRANCH}"], cwd=remote, check=False)
    command = [str(INVOKE), "-r", str(REPO_ROOT), "promote", "--app", "airflow", "--to", "staging"]
    # health, soak and smoke need Argo CD's sync history and Airflow's API: their tests cover them, the benchmark skips them
    command += ["--mode", "push", "--max-severity", "CRITICAL", "--no-health-gate"]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0 or f"pushed {BRANCH}" not in proc.stdout:
        raise SystemExit(f"promote failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    steps = {m["step"]: float(m["seconds"]) for m in map(STEP.match, proc.stdout.splitlines()) if m}
    shutil.rmtree(clone)
    return wall, steps


def startup_seconds(folder: Path, env: dict[str, str]) -> float:
    """What the interpreter and invoke take to load tasks.py and do nothing (`invoke --list`)."""
    started = time.perf_counter()
    subprocess.run([str(INVOKE), "-r", str(REPO_ROOT), "--list"], cwd=folder, env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def row(label: str, values: list[float]) -> str:
    return f"{label:<36}{statistics.median(values):>9.3f}{min(values):>9.3f}{max(values):>9.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="promotions to time (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-promote-") as tmp:
        folder = Path(tmp)
        remote, synced = make_seed_remote(folder)
        with _moto_server(folder / "moto.log", ACCOUNT) as moto, argocd(synced) as argocd_url:
            ecr = moto.client("ecr")
            ecr.create_repository(repositoryName="airflow")
            for tag in (OLD_TAG, NEW_TAG):
                push_image(ecr, tag)
            env = environment(folder, moto.url, argocd_url)
            promote_once(folder, remote, 0, env)  # warm-up: caches of the OS and of moto
            walls: list[float] = []
            steps: dict[str, list[float]] = {}
            for index in range(1, args.runs + 1):
                wall, reported = promote_once(folder, remote, index, env)
                walls.append(wall)
                for step, seconds in reported.items():
                    steps.setdefault(step, []).append(seconds)
            startup = [startup_seconds(folder, env) for _ in range(3)]
    print(f"invoke promote --mode push, dev -> staging, {args.runs} runs (seconds)")
    print(f"{'step':<36}{'median':>9}{'min':>9}{'max':>9}")
    for step, values in steps.items():
        print(row(step, values))
    rest = [w - sum(values[i] for values in steps.values()) for i, w in enumerate(walls)]
    print(row("everything else (start, git, edit)", rest))
    print(row("end to end", walls))
    print(row("reference: invoke --list", startup))
    median = statistics.median(walls)
    verdict = "within" if median < TARGET_SECONDS else "OVER"
    print(f"median end to end {median:.2f} s: {verdict} the {TARGET_SECONDS:.0f} s target")
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
