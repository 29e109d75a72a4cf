"""A fork is correct when `invoke check` says so.

For each fact a fork sets (aws.region, aws.account_id, cluster.name, dns.zone), one copy of the repository
gets a new value in every environment's cluster.yaml. Then only what `invoke check` names is changed: each
finding's replacement (`actual` -> `expected` on its line), applied as a machine would, until check names
nothing. A finding without a replacement fails the test: a fork could not follow it without thinking.
Afterwards no file an environment renders or applies still holds its old value: the objects
`kubectl kustomize clusters/<env>` renders, the values files its Applications name, and its Terraform stacks.

Each fact is one copy, and the four run side by side in processes of their own (check runs in-process there).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from airflow_gitops.check import run_check
from airflow_gitops.model import yamlio
from airflow_gitops.model.findings import Finding
from airflow_gitops.model.repo import ClusterConfig, Repo
from tests.conftest import copy_repo, digest_pending

ENVS = ("dev", "staging", "prod")
# The new value of each fact per environment (prod's zone is the apex of the other two).
NEW: dict[str, dict[str, str]] = {
    "aws.region": {"dev": "us-east-1", "staging": "us-east-2", "prod": "us-west-2"},
    "aws.account_id": {"dev": "555555555555", "staging": "666666666666", "prod": "777777777777"},
    "cluster.name": {"dev": "data-dev", "staging": "data-staging", "prod": "data-prod"},
    "dns.zone": {"dev": "dev.fork.example.net", "staging": "staging.fork.example.net", "prod": "fork.example.net"},
}
MAX_ROUNDS = 4  # a hostname follows its zone in one round, the values that follow the hostname in the next


def set_fact(root: Path, env: str, dotted: str, value: str) -> str:
    """Write a new value on the fact's own line of cluster.yaml (comments kept); return the old one."""
    path = root / f"clusters/{env}/cluster.yaml"
    text = path.read_text(encoding="utf-8")
    old = str(ClusterConfig(env, "", yaml.safe_load(text)).get(dotted))
    line = yamlio.line_of(text, dotted.split("."))
    assert line is not None
    lines = text.split("\n")
    assert old in lines[line - 1], lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, value)
    path.write_text("\n".join(lines), encoding="utf-8")
    return old


def apply_fixes(root: Path, findings: list[Finding]) -> None:
    """Each finding's replacement, mechanically: on its line, `actual` becomes `expected`."""
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        assert finding.replacement, f"a finding a fork cannot apply mechanically: {finding.to_json()}"
        by_file[finding.file].append(finding)
    for rel, found in by_file.items():
        path = root / rel
        lines = path.read_text(encoding="utf-8").split("\n")
        for finding in found:
            assert finding.line is not None and finding.actual is not None and finding.expected is not None
            text = lines[finding.line - 1]
            assert finding.actual in text, f"{rel}:{finding.line} does not hold {finding.actual!r}: {text!r}"
            lines[finding.line - 1] = text.replace(finding.actual, finding.expected)
        path.write_text("\n".join(lines), encoding="utf-8")


def fix_until_clean(root: Path) -> list[list[str]]:
    """Run check in-process and apply what it names until it names nothing; the rules of each round."""
    rounds: list[list[str]] = []
    for _ in range(MAX_ROUNDS):
        # the shipped repository's known warnings (promotion.digest_pending) are no fork's to fix
        findings = [f for f in run_check(Repo(root)).findings if not digest_pending(f)]
        if not findings:
            return rounds
        rounds.append(sorted({f.rule for f in findings}))
        apply_fixes(root, findings)
    raise AssertionError(f"invoke check still names findings after {MAX_ROUNDS} rounds: {rounds}")


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [str(node)] if node is not None else []


def _without_comments(tf: str) -> str:
    return "\n".join(re.sub(r'\s*(#|//)(?=(?:[^"]*"[^"]*")*[^"]*$).*', "", line) for line in tf.splitlines())


def applied_texts(root: Path, env: str) -> dict[str, str]:
    """What the environment renders or applies, by where it comes from: rendered objects, values, Terraform."""
    rendered = subprocess.run(["kubectl", "kustomize", f"clusters/{env}"], cwd=root, capture_output=True, text=True, check=True)
    texts = {f"kubectl kustomize clusters/{env}": rendered.stdout}
    for doc in yamlio.load_all(rendered.stdout):
        if doc.get("kind") != "Application":
            continue
        for source in (doc.get("spec") or {}).get("sources") or []:
            for value_file in (source.get("helm") or {}).get("valueFiles") or []:
                rel = value_file.removeprefix("$values/")
                texts[rel] = "\n".join(_strings(yaml.safe_load((root / rel).read_text(encoding="utf-8"))))
    for path in sorted((root / f"terraform/stacks/{env}").rglob("*.tf")):
        texts[path.relative_to(root).as_posix()] = _without_comments(path.read_text(encoding="utf-8"))
    return texts


@dataclass(frozen=True)
class Outcome:
    rounds: list[list[str]]  # the rules check named, round by round
    leftovers: list[str]  # where an environment still holds its old value


def fork_and_fix(fact: str, folder: str) -> Outcome:
    """Copy the repository, give every environment a new value of the fact, follow check until it is quiet."""
    root = copy_repo(Path(folder) / "fork")
    old = {env: set_fact(root, env, fact, NEW[fact][env]) for env in ENVS}
    rounds = fix_until_clean(root)
    repo = Repo(root)
    leftovers = []
    for env in ENVS:
        config = repo.cluster(env)
        if config.get(fact) != NEW[fact][env]:
            leftovers.append(f"clusters/{env}/cluster.yaml: {fact} is no longer the fork's {NEW[fact][env]!r}")
        for where, text in applied_texts(root, env).items():
            # The registry is a fact of its own (registry.region may stay the old aws.region).
            if old[env] in text.replace(config.registry, "<registry>"):
                leftovers.append(f"{where} still holds {env}'s old {fact} {old[env]!r}")
    return Outcome(rounds, leftovers)


@pytest.fixture(scope="module")
def forks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Outcome]]]:
    """The four forks side by side, one process each (up to the machine's cores): each is a few runs of check."""
    workers = max(1, min(len(NEW), os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield {fact: pool.submit(fork_and_fix, fact, str(tmp_path_factory.mktemp(fact))) for fact in NEW}


@pytest.mark.parametrize("fact", list(NEW))
def test_a_fork_that_changes_a_fact_is_led_by_check_to_every_place_that_holds_it(
    fact: str, forks: dict[str, Future[Outcome]]
) -> None:
    outcome = forks[fact].result()
    assert outcome.rounds, "check named nothing after the facts changed"
    assert outcome.leftovers == []
