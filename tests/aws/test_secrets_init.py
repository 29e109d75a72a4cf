"""`invoke secrets-init` as users run it, against a real moto server."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from airflow_gitops.adapters.aws import connect
from airflow_gitops.model.repo import Repo
from airflow_gitops.platform.airflow_secrets import GENERATED, SecretStep, fill, observe_all, plan_secrets
from tests.aws.conftest import DEV_CLUSTER, Moto
from tests.conftest import REPO_ROOT
from tests.test_tasks import invoke

NAMES = [
    f"{DEV_CLUSTER}/airflow/{name}"
    for name in (
        "fernet-key",
        "api-secret-key",
        "jwt-secret",
        "redis-password",
        "pgbouncer-client-password",
        "metadata-db-password",
    )
]
FERNET = f"{DEV_CLUSTER}/airflow/fernet-key"
URLSAFE = re.compile(r"^[A-Za-z0-9_-]+$")
# Enough to tell whether a secret has a value, not enough to read one or write one.
METADATA_ONLY = [
    {
        "Effect": "Allow",
        "Action": ["sts:GetCallerIdentity", "secretsmanager:DescribeSecret", "secretsmanager:List*"],
        "Resource": "*",
    }
]


def create_empty(sm: Any, names: list[str]) -> None:
    """As Terraform creates them: a secret without a version."""
    for name in names:
        sm.create_secret(Name=name)


def values(sm: Any) -> dict[str, str]:
    return {name: sm.get_secret_value(SecretId=name)["SecretString"] for name in NAMES}


def versions(sm: Any) -> dict[str, dict[str, list[str]]]:
    return {name: sm.describe_secret(SecretId=name).get("VersionIdsToStages", {}) for name in NAMES}


def result_of(stdout: str, secret: str) -> str:
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 2 and cells[1] == secret:
            return cells[2]
    raise AssertionError(f"no row for {secret} in:\n{stdout}")


def test_the_list_is_the_readme_list() -> None:
    assert [f"{DEV_CLUSTER}/airflow/{name}" for name in GENERATED] == NAMES


def test_fills_each_empty_secret_and_prints_no_value(aws: Moto, pristine_repo: Path) -> None:
    sm = aws.client("secretsmanager")
    create_empty(sm, NAMES)
    proc = invoke(pristine_repo, "secrets-init", "--env", "dev", env={"AIRFLOW_GITOPS_DEBUG": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {name: result_of(proc.stdout, name) for name in NAMES} == dict.fromkeys(NAMES, "filled")
    assert f"filled {len(NAMES)} of {len(NAMES)} secrets" in proc.stdout
    filled = values(sm)
    assert len(base64.urlsafe_b64decode(filled[FERNET])) == 32
    Fernet(filled[FERNET].encode())  # accepted as a key
    for name in NAMES[1:]:
        assert len(filled[name]) >= 48 and URLSAFE.match(filled[name]), name
    assert len(set(filled.values())) == len(NAMES)
    for value in filled.values():
        assert value not in proc.stdout and value not in proc.stderr
        assert value[:16] not in proc.stdout + proc.stderr


def test_a_second_run_reads_no_value_and_changes_nothing(aws: Moto, pristine_repo: Path) -> None:
    sm = aws.client("secretsmanager")
    create_empty(sm, NAMES)
    assert invoke(pristine_repo, "secrets-init", "--env", "dev").returncode == 0
    before_values, before_versions = values(sm), versions(sm)
    watcher = aws.iam_user("watcher", METADATA_ONLY)
    with aws.enforce_iam():
        # These credentials may neither read a value nor write one: a run that tried would fail.
        denied = aws.client("secretsmanager", watcher["AWS_ACCESS_KEY_ID"], watcher["AWS_SECRET_ACCESS_KEY"])
        with pytest.raises(denied.exceptions.ClientError):
            denied.get_secret_value(SecretId=FERNET)
        with pytest.raises(denied.exceptions.ClientError):
            denied.put_secret_value(SecretId=FERNET, SecretString="x" * 64)
        proc = invoke(pristine_repo, "secrets-init", "--env", "dev", env=watcher)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {name: result_of(proc.stdout, name) for name in NAMES} == dict.fromkeys(NAMES, "already set")
    assert f"all {len(NAMES)} generated secrets already have a value; nothing changed" in proc.stdout
    assert values(sm) == before_values
    assert versions(sm) == before_versions


def test_a_secret_with_a_value_keeps_it(aws: Moto, pristine_repo: Path) -> None:
    sm = aws.client("secretsmanager")
    create_empty(sm, NAMES[1:])
    existing = Fernet.generate_key().decode()
    sm.create_secret(Name=FERNET, SecretString=existing)
    version = sm.get_secret_value(SecretId=FERNET)["VersionId"]
    proc = invoke(pristine_repo, "secrets-init", "--env", "dev")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result_of(proc.stdout, FERNET) == "already set"
    assert all(result_of(proc.stdout, name) == "filled" for name in NAMES[1:])
    current = sm.get_secret_value(SecretId=FERNET)
    assert (current["SecretString"], current["VersionId"]) == (existing, version)
    assert existing not in proc.stdout + proc.stderr


def test_a_missing_secret_stops_everything(aws: Moto, pristine_repo: Path) -> None:
    sm = aws.client("secretsmanager")
    jwt = f"{DEV_CLUSTER}/airflow/jwt-secret"
    create_empty(sm, [n for n in NAMES if n != jwt])
    proc = invoke(pristine_repo, "secrets-init", "--env", "dev")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert f"no secret {jwt};" in proc.stderr
    assert "apply the platform stack first (terraform/stacks/dev/platform)" in proc.stderr
    for name in NAMES:
        if name != jwt:
            assert "VersionIdsToStages" not in sm.describe_secret(SecretId=name), f"{name} was written"


def test_a_secret_scheduled_for_deletion_stops_everything(aws: Moto, pristine_repo: Path) -> None:
    """Terraform created them all, then one was deleted (with a recovery window): writing would fail on
    it after filling the others, so nothing is written and the fix is named."""
    sm = aws.client("secretsmanager")
    create_empty(sm, NAMES)
    deleted = NAMES[-1]
    sm.delete_secret(SecretId=deleted, RecoveryWindowInDays=7)
    assert sm.describe_secret(SecretId=deleted).get("DeletedDate")
    proc = invoke(pristine_repo, "secrets-init", "--env", "dev")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert f"secret {deleted} is scheduled for deletion; restore it (aws secretsmanager restore-secret)" in proc.stderr
    assert "nothing was written" in proc.stderr
    for name in NAMES:
        assert "VersionIdsToStages" not in sm.describe_secret(SecretId=name), f"{name} was written"


def test_a_refused_write_names_the_secret_and_prints_no_value(aws: Moto, pristine_repo: Path) -> None:
    sm = aws.client("secretsmanager")
    create_empty(sm, NAMES)
    watcher = aws.iam_user("watcher", METADATA_ONLY)
    with aws.enforce_iam():
        proc = invoke(pristine_repo, "secrets-init", "--env", "dev", env={**watcher, "AIRFLOW_GITOPS_DEBUG": "1"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert f"{FERNET}: PutSecretValue:" in proc.stderr
    # Neither a Fernet key (44 characters) nor a token (64) appears, whole or in part.
    assert not re.search(r"[A-Za-z0-9_=-]{40,}", proc.stdout + proc.stderr), proc.stderr
    assert versions(sm) == dict.fromkeys(NAMES, {})


def test_a_run_racing_another_does_not_overwrite_its_value(aws: Moto) -> None:
    """Two runs that both saw the secrets empty: the second one's writes are refused, not applied."""
    sm = aws.client("secretsmanager")
    create_empty(sm, NAMES)
    client = connect(Repo(REPO_ROOT).cluster("dev")).secretsmanager()
    steps: list[SecretStep] = plan_secrets(DEV_CLUSTER, observe_all(client, DEV_CLUSTER), "here", "the stack")
    assert all(step.fill for step in steps)
    first = [fill(client, step) for step in steps]
    written = values(sm)
    second = [fill(client, step) for step in steps]  # the stale plan still says "empty"
    assert [r.filled for r in first] == [True] * len(NAMES)
    assert [r.filled for r in second] == [False] * len(NAMES)
    assert values(sm) == written
