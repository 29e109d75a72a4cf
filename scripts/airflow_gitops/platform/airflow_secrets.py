"""The Airflow secrets that are generated once: `<cluster.name>/airflow/<name>` in Secrets Manager.

Terraform creates each secret without a value; `invoke secrets-init` fills the empty ones and never
touches one that has a value. Whether a secret has a value is read from its metadata
(DescribeSecret: a version labelled AWSCURRENT), so no value is ever read, and a value is generated
only at the moment it is written. Nothing here prints, logs or returns a value.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from ..adapters.aws import aws_call, describe, error_code
from ..model.findings import UsageError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


def fernet_key() -> str:
    """A Fernet key: 32 random bytes, urlsafe base64 (what cryptography's Fernet.generate_key makes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def random_token() -> str:
    """48 random bytes, urlsafe base64 without padding (64 characters): no quote, no character a URL,
    pgbouncer's users.txt or a Redis URL would need to escape."""
    return secrets.token_urlsafe(48)


# The one list of generated secrets (apps/airflow/README.md, "How secrets flow"): name under
# <cluster.name>/airflow/ -> how its value is made. Each is read by an ExternalSecret in
# apps/airflow/manifests/external-secrets.yaml.
GENERATED: Mapping[str, Callable[[], str]] = MappingProxyType(
    {
        "fernet-key": fernet_key,
        "api-secret-key": random_token,
        "jwt-secret": random_token,
        "redis-password": random_token,
        "pgbouncer-client-password": random_token,
        # The password of Airflow's own database role "airflow", which PgBouncer logs in to RDS with
        # and the Job airflow-db-role sets (apps/airflow/manifests/airflow-db.yaml).
        "metadata-db-password": random_token,
    }
)
# Identifies the one initial version this task may write to a secret: a concurrent second run gets
# ResourceExistsException instead of overwriting the first run's value.
_INITIAL_VERSION = "airflow-gitops-initial-value"


def secret_id(cluster_name: str, name: str) -> str:
    return f"{cluster_name}/airflow/{name}"


class SecretState(StrEnum):
    MISSING = "missing"
    DELETED = "scheduled for deletion"
    EMPTY = "empty"
    SET = "set"


@dataclass(frozen=True)
class Observed:
    """A secret's metadata; never its value."""

    state: SecretState
    arn: str = ""


@dataclass(frozen=True)
class SecretStep:
    name: str
    secret_id: str
    arn: str
    fill: bool


@dataclass(frozen=True)
class FillResult:
    secret_id: str
    filled: bool

    @property
    def result(self) -> str:
        return "filled" if self.filled else "already set"


def initial_version_token(arn: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}#{_INITIAL_VERSION}"))


def plan_secrets(cluster_name: str, observed: Mapping[str, Observed], where: str, stack: str) -> list[SecretStep]:
    """One step per generated secret; refuse (nothing written) if any is missing or being deleted."""
    steps: list[SecretStep] = []
    missing: list[str] = []
    deleted: list[str] = []
    for name in GENERATED:
        sid = secret_id(cluster_name, name)
        seen = observed[sid]
        if seen.state is SecretState.MISSING:
            missing.append(sid)
        elif seen.state is SecretState.DELETED:
            deleted.append(sid)
        else:
            steps.append(SecretStep(name, sid, seen.arn, fill=seen.state is SecretState.EMPTY))
    if missing:
        raise UsageError(
            f"Secrets Manager in {where} has no secret {', '.join(missing)}; apply the platform stack first ({stack}), "
            "which creates the secrets empty; nothing was written"
        )
    if deleted:
        raise UsageError(
            f"secret {', '.join(deleted)} is scheduled for deletion; restore it (aws secretsmanager restore-secret) "
            f"or apply the platform stack ({stack}); nothing was written"
        )
    return steps


# --- adapter: Secrets Manager -----------------------------------------------------------------


def observe(client: SecretsManagerClient, sid: str) -> Observed:
    try:
        meta = client.describe_secret(SecretId=sid)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return Observed(SecretState.MISSING)
        raise UsageError(f"{sid}: DescribeSecret: {describe(exc)}") from None
    if meta.get("DeletedDate"):
        return Observed(SecretState.DELETED, meta["ARN"])
    stages = meta.get("VersionIdsToStages") or {}
    current = any("AWSCURRENT" in labels for labels in stages.values())
    return Observed(SecretState.SET if current else SecretState.EMPTY, meta["ARN"])


def observe_all(client: SecretsManagerClient, cluster_name: str) -> dict[str, Observed]:
    with aws_call("Secrets Manager"):
        return {sid: observe(client, sid) for sid in (secret_id(cluster_name, n) for n in GENERATED)}


def fill(client: SecretsManagerClient, step: SecretStep) -> FillResult:
    """Write a fresh value into an empty secret, as its first AWSCURRENT version."""
    if not step.fill:
        return FillResult(step.secret_id, filled=False)
    try:
        client.put_secret_value(
            SecretId=step.arn,
            SecretString=GENERATED[step.name](),
            ClientRequestToken=initial_version_token(step.arn),
        )
    except ClientError as exc:
        if error_code(exc) == "ResourceExistsException":  # another run wrote the initial version first
            return FillResult(step.secret_id, filled=False)
        # AWS's own code and message only: they never contain the value sent.
        raise UsageError(f"{step.secret_id}: PutSecretValue: {describe(exc)}; stopped here, run again once fixed") from None
    except Exception as exc:  # noqa: BLE001 - a botocore error text may quote request parameters
        raise UsageError(
            f"{step.secret_id}: PutSecretValue failed ({type(exc).__name__}); stopped here, run again once fixed"
        ) from None
    return FillResult(step.secret_id, filled=True)


def apply(client: SecretsManagerClient, steps: list[SecretStep]) -> list[FillResult]:
    return [fill(client, step) for step in steps]
