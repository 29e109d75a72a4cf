"""The generated Airflow secrets: the one list, the generators and the plan. Pure, no AWS."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.fernet import Fernet

from airflow_gitops.model import yamlio
from airflow_gitops.model.findings import UsageError
from airflow_gitops.platform.airflow_secrets import (
    GENERATED,
    Observed,
    SecretState,
    fernet_key,
    initial_version_token,
    plan_secrets,
    random_token,
    secret_id,
)
from tests.conftest import REPO_ROOT

CLUSTER = "airflow-dev"
ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:airflow-dev/airflow/{}-AbCdEf"


def test_the_list_is_the_one_the_airflow_readme_documents() -> None:
    readme = (REPO_ROOT / "apps/airflow/README.md").read_text(encoding="utf-8")
    paragraph = next(p for p in readme.split("\n- ") if "generated once by `invoke`" in p)
    assert re.findall(r"`airflow/([a-z0-9-]+)`", paragraph) == list(GENERATED)


def test_every_generated_secret_is_read_by_an_external_secret() -> None:
    docs = yamlio.load_all((REPO_ROOT / "apps/airflow/manifests/external-secrets.yaml").read_text(encoding="utf-8"))
    keys = {item["remoteRef"]["key"] for doc in docs for item in doc["spec"].get("data", [])}
    assert {f"airflow/{name}" for name in GENERATED} <= keys


def test_a_fernet_key_is_32_random_bytes_fernet_accepts() -> None:
    key = fernet_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    Fernet(key.encode())
    assert fernet_key() != key


def test_a_token_is_long_and_urlsafe() -> None:
    token = random_token()
    assert len(token) >= 48 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert random_token() != token


def observed(**states: SecretState) -> dict[str, Observed]:
    return {secret_id(CLUSTER, n): Observed(states.get(n.replace("-", "_"), SecretState.EMPTY), ARN.format(n)) for n in GENERATED}


def test_only_empty_secrets_are_filled() -> None:
    steps = plan_secrets(CLUSTER, observed(fernet_key=SecretState.SET), "eu-west-1", "terraform/stacks/dev/platform")
    assert [(s.secret_id, s.fill) for s in steps] == [
        ("airflow-dev/airflow/fernet-key", False),
        ("airflow-dev/airflow/api-secret-key", True),
        ("airflow-dev/airflow/jwt-secret", True),
        ("airflow-dev/airflow/redis-password", True),
        ("airflow-dev/airflow/pgbouncer-client-password", True),
        ("airflow-dev/airflow/metadata-db-password", True),
    ]
    assert steps[1].arn == ARN.format("api-secret-key")


def test_missing_secrets_are_named_with_the_fix() -> None:
    states = observed(jwt_secret=SecretState.MISSING, redis_password=SecretState.MISSING)
    with pytest.raises(UsageError) as err:
        plan_secrets(CLUSTER, states, "eu-west-1 of account 111111111111", "terraform/stacks/dev/platform")
    message = str(err.value)
    assert "airflow-dev/airflow/jwt-secret, airflow-dev/airflow/redis-password" in message
    assert "apply the platform stack first (terraform/stacks/dev/platform)" in message
    assert "\n" not in message


def test_a_secret_scheduled_for_deletion_is_refused() -> None:
    with pytest.raises(UsageError, match="airflow-dev/airflow/fernet-key is scheduled for deletion; restore it"):
        plan_secrets(CLUSTER, observed(fernet_key=SecretState.DELETED), "eu-west-1", "terraform/stacks/dev/platform")


def test_the_initial_version_token_is_fixed_per_secret() -> None:
    token = initial_version_token(ARN.format("jwt-secret"))
    assert token == initial_version_token(ARN.format("jwt-secret"))
    assert token != initial_version_token(ARN.format("redis-password"))
    assert 32 <= len(token) <= 64  # what PutSecretValue accepts
