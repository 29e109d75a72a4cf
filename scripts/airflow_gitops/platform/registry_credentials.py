"""Upstream logins of the pull-through cache: `ecr-pullthroughcache/<prefix>` in the registry account.

Docker Hub and ghcr.io serve ECR's pull-through cache only with a login. Terraform creates each
secret without a value (terraform/modules/registry), so no login is in its state; `invoke
registry-credentials` writes it, in the JSON ECR reads (`username`, `accessToken`). The token comes
from standard input, never from an argument, so it stays out of shell history and process lists.
A version's request token is derived from the value, so writing the same login again adds no
version. Nothing here prints, logs or returns the token.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from ..adapters.aws import aws_call, describe, error_code
from ..model.findings import UsageError
from ..model.repo import ClusterConfig

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

SECRET_PREFIX = "ecr-pullthroughcache/"
# The upstreams ECR pulls through from only with a login (terraform/modules/registry says the same).
NEED_LOGIN = frozenset({"registry-1.docker.io", "ghcr.io"})
_VERSIONS = uuid.UUID("6f1d1b5e-3c1a-4c55-9c07-5a4b1f0c2e11")  # namespace of the value-derived request tokens


@dataclass(frozen=True)
class Login:
    username: str
    access_token: str

    def secret_string(self) -> str:
        return json.dumps({"username": self.username, "accessToken": self.access_token}, sort_keys=True)

    def request_token(self) -> str:
        """The same login gives the same token, which Secrets Manager treats as the same version."""
        return str(uuid.uuid5(_VERSIONS, hashlib.sha256(self.secret_string().encode()).hexdigest()))


def upstream_of(cluster: ClusterConfig, prefix: str) -> str:
    """The upstream host cached under `prefix`, refused unless it is one that needs a login."""
    rules = cluster.get("registry.pull_through_cache") or {}
    if not isinstance(rules, dict) or not rules:
        raise UsageError(
            f"{cluster.file}: registry.pull_through_cache names no upstream; add the upstreams the platform pulls from"
        )
    if prefix not in rules:
        raise UsageError(
            f"--upstream {prefix}: not in {cluster.file} registry.pull_through_cache; choose one of: {', '.join(sorted(rules))}"
        )
    host = str(rules[prefix])
    if host not in NEED_LOGIN:
        needing = sorted(p for p, h in rules.items() if h in NEED_LOGIN)
        raise UsageError(
            f"--upstream {prefix}: {host} is pulled through without a login; only {', '.join(needing) or 'none'} need one"
        )
    return host


def parse_login(username: str, token_text: str) -> Login:
    token = token_text.strip()
    if not username.strip():
        raise UsageError("--username is empty; give the upstream account's user name")
    if not token:
        raise UsageError("no access token on standard input; pipe it in, e.g. `invoke registry-credentials ... < token-file`")
    if any(c.isspace() for c in token):
        raise UsageError("the access token on standard input holds white space inside it; give the token alone, on one line")
    return Login(username.strip(), token)


def write_login(client: SecretsManagerClient, prefix: str, login: Login) -> str:
    """Put the login into the secret Terraform made: 'written', or 'unchanged' when it already holds it."""
    secret_id = SECRET_PREFIX + prefix
    try:
        meta = client.describe_secret(SecretId=secret_id)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise UsageError(
                f"secret {secret_id} does not exist in the registry account; apply terraform/stacks/shared/registry first"
            ) from None
        raise UsageError(f"Secrets Manager DescribeSecret {secret_id}: {describe(exc)}") from None
    if meta.get("DeletedDate"):
        raise UsageError(
            f"secret {secret_id} is scheduled for deletion ({meta['DeletedDate']:%Y-%m-%d}); restore it "
            f"(aws secretsmanager restore-secret --secret-id {secret_id}) or apply terraform/stacks/shared/registry"
        )
    token = login.request_token()
    if "AWSCURRENT" in (meta.get("VersionIdsToStages") or {}).get(token, []):
        return "unchanged"
    # the request is never quoted back: it holds the token
    with aws_call(f"Secrets Manager PutSecretValue {secret_id}", quote_client_errors=False):
        client.put_secret_value(SecretId=secret_id, SecretString=login.secret_string(), ClientRequestToken=token)
    return "written"
