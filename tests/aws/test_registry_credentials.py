"""`invoke registry-credentials` as users run it, against a real moto server: the registry account
holds the upstream logins of the pull-through cache; the token comes from standard input only."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.aws.conftest import DEV_ACCOUNT, Moto
from tests.conftest import REPO_ROOT
from tests.test_tasks import INVOKE

SECRET = "ecr-pullthroughcache/docker-hub"
TOKEN = "dckr_pat_2b3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a"


@pytest.fixture
def registry_repo(repo_copy: Path) -> Path:
    """One account for everything: the registry lives in the emulated dev account."""
    for env in ("dev", "staging", "prod"):
        cluster_yaml = repo_copy / f"clusters/{env}/cluster.yaml"
        cluster_yaml.write_text(cluster_yaml.read_text().replace('account_id: "444444444444"', f'account_id: "{DEV_ACCOUNT}"'))
    return repo_copy


def store(cwd: Path, upstream: str, token: str, username: str = "platform-bot") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, "--search-root", str(REPO_ROOT), "registry-credentials", "--upstream", upstream, "--username", username],
        cwd=cwd,
        input=token,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )


def versions(sm: Any) -> dict[str, list[str]]:
    return dict(sm.describe_secret(SecretId=SECRET).get("VersionIdsToStages", {}))


def assert_refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0]
    assert TOKEN not in proc.stdout + proc.stderr


def test_writes_the_login_as_ecr_reads_it_and_prints_no_token(aws: Moto, registry_repo: Path) -> None:
    sm = aws.client("secretsmanager")
    sm.create_secret(Name=SECRET)  # as Terraform makes it: no value
    proc = store(registry_repo, "docker-hub", TOKEN + "\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "docker-hub (registry-1.docker.io) login for platform-bot: written" in proc.stdout
    assert json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"]) == {"username": "platform-bot", "accessToken": TOKEN}
    assert TOKEN not in proc.stdout + proc.stderr and TOKEN[:12] not in proc.stdout + proc.stderr


def test_the_same_login_again_adds_no_version_and_a_new_token_becomes_current(aws: Moto, registry_repo: Path) -> None:
    sm = aws.client("secretsmanager")
    sm.create_secret(Name=SECRET)
    assert store(registry_repo, "docker-hub", TOKEN).returncode == 0
    before = versions(sm)
    again = store(registry_repo, "docker-hub", TOKEN)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already held; nothing changed" in again.stdout
    assert versions(sm) == before

    rotated = store(registry_repo, "docker-hub", TOKEN[::-1])
    assert rotated.returncode == 0 and "written" in rotated.stdout
    assert json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"])["accessToken"] == TOKEN[::-1]
    assert len(versions(sm)) == 2


def test_a_missing_secret_says_to_apply_the_registry_stack(aws: Moto, registry_repo: Path) -> None:
    assert_refused(store(registry_repo, "docker-hub", TOKEN), SECRET, "does not exist", "terraform/stacks/shared/registry")


def test_a_secret_scheduled_for_deletion_is_refused_and_left_alone(aws: Moto, registry_repo: Path) -> None:
    sm = aws.client("secretsmanager")
    sm.create_secret(Name=SECRET)
    sm.delete_secret(SecretId=SECRET, RecoveryWindowInDays=7)
    assert_refused(store(registry_repo, "docker-hub", TOKEN), "scheduled for deletion", "restore-secret")
    assert versions(sm) == {}


@pytest.mark.parametrize(
    ("upstream", "token", "needles"),
    [
        ("quay", TOKEN, ["quay.io is pulled through without a login", "docker-hub, ghcr"]),
        ("gcr", TOKEN, ["--upstream gcr: not in clusters/dev/cluster.yaml registry.pull_through_cache"]),
        ("docker-hub", "", ["no access token on standard input"]),
        ("docker-hub", "two words", ["white space inside it"]),
    ],
    ids=["needs-no-login", "unknown-upstream", "no-token", "token-with-space"],
)
def test_bad_input_is_refused_before_aws_is_called(
    aws: Moto, registry_repo: Path, upstream: str, token: str, needles: list[str]
) -> None:
    sm = aws.client("secretsmanager")
    sm.create_secret(Name=SECRET)
    assert_refused(store(registry_repo, upstream, token), *needles)
    assert versions(sm) == {}
