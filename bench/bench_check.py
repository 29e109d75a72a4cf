"""Benchmark `invoke check`: the shipped repo, then fleets of 10, 50 and 100 copies of dev.

Prints wall seconds (interpreter start included), objects validated per second, peak RSS, the
ratio to the time libyaml's C loader needs just to parse the same files, and the cost of the CRD
rules stage (defaults, list semantics and CEL over every custom resource): its seconds, and
milliseconds per custom resource. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
COPIED = ("apps", "clusters", "components", "schemas", "terraform", "renovate.json")  # holds are checked against renovate.json
FLEETS = (10, 50, 100)


@dataclass
class Measurement:
    label: str
    clusters: int
    wall: float
    objects: int
    peak_rss_mb: float
    parse_only: float
    cel_seconds: float = 0.0
    custom_resources: int = 0

    @property
    def cel_ms_per_object(self) -> float:
        return 1000 * self.cel_seconds / self.custom_resources if self.custom_resources else 0.0

    @property
    def rate(self) -> float:
        return self.objects / self.wall if self.wall else 0.0

    @property
    def ratio(self) -> float:
        return self.wall / self.parse_only if self.parse_only else float("inf")


def make_repo(target: Path, with_terraform: bool = True) -> Path:
    for name in COPIED:
        if name == "terraform" and not with_terraform:
            continue
        if (REPO_ROOT / name).is_file():
            shutil.copy2(REPO_ROOT / name, target / name)
            continue
        shutil.copytree(REPO_ROOT / name, target / name, ignore=shutil.ignore_patterns(".terraform"))
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    return target


def make_fleet(target: Path, size: int) -> Path:
    """N copies of dev named dev-001..., each with its own cluster name, replacing the shipped envs.

    Only the cluster side is copied: no Terraform stacks are generated for the copies."""
    make_repo(target, with_terraform=False)
    clusters = target / "clusters"
    template = clusters / "dev"
    for name in ("dev", "staging", "prod"):
        if name != "dev":
            shutil.rmtree(clusters / name)
    for index in range(1, size + 1):
        env = f"dev-{index:03d}"
        dest = clusters / env
        shutil.copytree(template, dest)
        for file in dest.rglob("*.yaml"):
            text = file.read_text()
            text = text.replace("clusters/dev/", f"clusters/{env}/").replace("airflow-dev", f"airflow-{env}")
            # the environment's name wherever it is written: cluster.yaml, its facts, the AWS tags
            text = re.sub(r"^(\s*)(environment|Environment): dev$", rf"\1\2: {env}", text, flags=re.M)
            if file.name == "cluster.yaml":
                text = re.sub(r"order: 1\b", f"order: {index}", text)
            file.write_text(text)
    shutil.rmtree(template)
    return target


def parse_only_seconds(repo: Path) -> float:
    """libyaml C loader over every file the check reads (YAML), plus the JSON schemas."""
    files = [p for top in ("apps", "clusters") for p in (repo / top).rglob("*.yaml")]
    crds = list((repo / "schemas" / "crds").rglob("*.yaml"))
    schemas = list((repo / "schemas").rglob("*.json"))
    started = time.perf_counter()
    for path in files + crds:
        list(yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader))
    for path in schemas:
        json.loads(path.read_text())
    return time.perf_counter() - started


def run_check(repo: Path) -> tuple[float, int, float, dict[str, float]]:
    """Wall time, objects validated, peak RSS (MB) and the CRD rules' stats of one `invoke check` process tree."""
    invoke = Path(sys.executable).with_name("invoke")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(invoke), "--search-root", str(REPO_ROOT), "check", "--format", "json"],
            cwd=repo,
            stdout=out,
            stderr=err,
            text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not the session's
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code not in (0, 1):
        raise SystemExit(f"invoke check failed in {repo}: {stderr.strip()}")
    report = json.loads(stdout)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    if errors:
        raise SystemExit(f"invoke check found errors in {repo}: {errors[:3]}")
    crd_rules = (report.get("stats") or {}).get("crd_rules") or {}
    return wall, int(report["objects_validated"]), usage.ru_maxrss / 1024, crd_rules


def measure(label: str, repo: Path, clusters: int) -> Measurement:
    wall, objects, rss, crd_rules = run_check(repo)
    return Measurement(
        label,
        clusters,
        wall,
        objects,
        rss,
        parse_only_seconds(repo),
        float(crd_rules.get("seconds", 0.0)),
        int(crd_rules.get("custom_resources", 0)),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fleets", default=",".join(map(str, FLEETS)), help="fleet sizes, comma separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.fleets.split(",") if s]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        results.append(measure("shipped repo", make_repo(Path(tmp) / "shipped"), 3))
        for size in sizes:
            results.append(measure(f"fleet of {size}", make_fleet(Path(tmp) / f"fleet-{size}", size), size))
    print(
        f"{'run':<16}{'clusters':>9}{'wall s':>9}{'objects':>9}{'objects/s':>11}{'peak RSS MB':>13}{'parse-only s':>14}{'ratio':>8}"
        f"{'CRs':>6}{'CRD rules s':>13}{'ms/CR':>8}"
    )
    for m in results:
        print(
            f"{m.label:<16}{m.clusters:>9}{m.wall:>9.2f}{m.objects:>9}{m.rate:>11.0f}{m.peak_rss_mb:>13.0f}{m.parse_only:>14.3f}{m.ratio:>8.1f}"
            f"{m.custom_resources:>6}{m.cel_seconds:>13.3f}{m.cel_ms_per_object:>8.2f}"
        )
    fleets = [m for m in results if m.label.startswith("fleet")]
    if len(fleets) >= 2:
        first, last = fleets[0], fleets[-1]
        slope = (last.wall - first.wall) / (last.clusters - first.clusters)
        print(
            f"marginal cost: {slope:.3f} s per cluster; "
            f"{first.clusters}->{last.clusters} clusters costs x{last.wall / first.wall:.1f} time for x{last.clusters / first.clusters:.0f} clusters"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
