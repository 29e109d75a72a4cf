"""The AWS side shared by the online tasks: a fresh session, the account check, errors as one line.

Credentials and endpoint come from boto3's standard chain (AWS_PROFILE, AWS_ENDPOINT_URL, SSO,
instance and container roles). The region is AWS_REGION, else what boto3 finds (AWS_DEFAULT_REGION,
the profile), else cluster.yaml `aws.region`; botocore itself does not read AWS_REGION, the other
SDKs and the AWS CLI do. Each run builds its own session, so no credential or token outlives the
command.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from ..model.findings import UsageError
from ..model.repo import ClusterConfig

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

_ACCOUNT_ID = re.compile(r"^\d{12}$")
# What STS answers when the credentials themselves are refused (unknown, expired, badly signed).
_REFUSED_CREDENTIALS = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "AccessDenied",
}
NO_CREDENTIALS_HINT = (
    "set AWS_PROFILE to a profile for account {account} (aws sso login if it uses SSO), "
    "or provide credentials through the standard chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "an instance or container role)"
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def describe(exc: ClientError) -> str:
    """`Code: message` of an AWS error, on one line."""
    message = str(exc.response.get("Error", {}).get("Message", "")) or f"HTTP {http_status(exc)}"
    return " ".join(f"{error_code(exc)}: {message}".split())


@contextmanager
def aws_call(what: str, quote_client_errors: bool = True) -> Iterator[None]:
    """Turn an AWS failure inside the block into a UsageError: `<what>: <code>: <message>`.

    With quote_client_errors=False only AWS's own error code and message are quoted, never the
    text botocore builds from the request (which can echo parameter values).
    """
    try:
        yield
    except ClientError as exc:
        raise UsageError(f"{what}: {describe(exc)}") from None
    except BotoCoreError as exc:
        detail = " ".join(str(exc).split()) if quote_client_errors else type(exc).__name__
        raise UsageError(f"{what}: {detail}") from None


@dataclass(frozen=True)
class AwsAccount:
    """A checked session: the credentials are for the environment's account, in its region."""

    session: boto3.session.Session
    account_id: str
    arn: str
    region: str

    @property
    def partition(self) -> str:
        """`aws`, `aws-cn` or `aws-us-gov`, from the caller's ARN."""
        parts = self.arn.split(":")
        return parts[1] if len(parts) > 1 and parts[1] else "aws"

    def s3(self) -> S3Client:
        return self.session.client("s3", region_name=self.region)

    def secretsmanager(self) -> SecretsManagerClient:
        return self.session.client("secretsmanager", region_name=self.region)

    def kms(self) -> KMSClient:
        return self.session.client("kms", region_name=self.region)


def _expected(cluster: ClusterConfig) -> tuple[str, str]:
    """The account and region cluster.yaml names, checked for shape."""
    account, region = cluster.account_id, cluster.region
    if not _ACCOUNT_ID.match(account):
        raise UsageError(f"{cluster.file}: aws.account_id '{account}' is not a 12-digit AWS account id (quote it in YAML)")
    if not region:
        raise UsageError(f"{cluster.file}: aws.region is not set")
    if not cluster.name:
        raise UsageError(f"{cluster.file}: cluster.name is not set")
    return account, region


def connect(cluster: ClusterConfig) -> AwsAccount:
    """A fresh session from the standard chain, proven (STS) to be for cluster.yaml's account and region."""
    account, region = _expected(cluster)
    try:
        session = boto3.session.Session()
    except ProfileNotFound as exc:
        raise UsageError(f"AWS_PROFILE: {exc}; choose a profile from your AWS config for account {account}") from None
    configured = os.environ.get("AWS_REGION") or session.region_name
    try:
        identity = session.client("sts", region_name=configured or region).get_caller_identity()
    except NoCredentialsError:
        raise UsageError("no AWS credentials found: " + NO_CREDENTIALS_HINT.format(account=account)) from None
    except ClientError as exc:
        if error_code(exc) in _REFUSED_CREDENTIALS:
            raise UsageError(
                f"AWS refused the credentials ({describe(exc)}); refresh them, or " + NO_CREDENTIALS_HINT.format(account=account)
            ) from None
        raise UsageError(f"STS GetCallerIdentity: {describe(exc)}") from None
    except BotoCoreError as exc:
        raise UsageError(f"cannot get an AWS identity: {' '.join(str(exc).split())}") from None
    actual, arn = str(identity.get("Account", "")), str(identity.get("Arn", ""))
    if actual != account:
        raise UsageError(
            f"the AWS credentials are for account {actual} ({arn}), but {cluster.file} aws.account_id is {account}; "
            f"use credentials for account {account} (AWS_PROFILE)"
        )
    if configured and configured != region:
        raise UsageError(
            f"the AWS region is {configured} (AWS_REGION, AWS_DEFAULT_REGION or the profile), but {cluster.file} "
            f"aws.region is {region}; unset it or set AWS_REGION={region}"
        )
    return AwsAccount(session, actual, arn, region)
