"""The Terraform state bucket of an environment: `<cluster.name>-tfstate-<aws.account_id>`.

Planning (`plan_bucket`) is pure: it compares what the bucket has with what it should have. The
adapter (`check_ownership`, `observe`, `apply`) reads and writes S3. Settings already as wanted are
never written again, so a second run makes read calls only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, cast

from botocore.exceptions import ClientError

from ..adapters.aws import AwsAccount, aws_call, error_code, http_status
from ..model.facts import REGISTRY_STATE_NAME, state_bucket
from ..model.findings import UsageError
from ..model.repo import ClusterConfig

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import OwnershipControlsTypeDef

T = TypeVar("T")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
TLS_STATEMENT_SID = "DenyInsecureTransport"
OWNERSHIP = "BucketOwnerEnforced"
PUBLIC_ACCESS_BLOCKS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_AWS_MANAGED_KEY = "alias/aws/s3"
# Absent settings, as S3 reports them.
_ABSENT = {
    "encryption": "ServerSideEncryptionConfigurationNotFoundError",
    "public_access_block": "NoSuchPublicAccessBlockConfiguration",
    "ownership": "OwnershipControlsNotFoundError",
    "policy": "NoSuchBucketPolicy",
}


REGISTRY_STACK = REGISTRY_STATE_NAME  # the shared registry stack, as a pseudo-environment


def registry_stack(cluster: ClusterConfig) -> ClusterConfig:
    """The shared registry's stack as a pseudo-environment: its account and region from `registry`
    in cluster.yaml, so its state bucket is `airflow-registry-tfstate-<registry account>`."""
    registry = cluster.get("registry") or {}
    if not registry.get("account_id") or not registry.get("region"):
        raise UsageError(f"{cluster.file}: registry.account_id and registry.region are needed for --registry; add them")
    data = {"cluster": {"name": REGISTRY_STACK}, "aws": {"account_id": registry["account_id"], "region": registry["region"]}}
    return ClusterConfig("registry", cluster.file, data)


def state_bucket_name(cluster: ClusterConfig) -> str:
    name = state_bucket(cluster)
    if not _BUCKET_NAME.match(name) or ".." in name:
        raise UsageError(
            f"{cluster.file}: cluster.name '{cluster.name}' gives the state bucket name '{name}', which S3 does not accept"
        )
    return name


class Change(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    NONE = "none"

    @property
    def done(self) -> str:
        return {"create": "created", "update": "updated", "none": "already so"}[self.value]


@dataclass(frozen=True)
class BucketState:
    """What S3 reports for the bucket; None where a setting is absent."""

    exists: bool
    versioning: str | None = None  # "Enabled" or "Suspended"
    encryption_rules: list[dict[str, Any]] | None = None
    public_access_block: dict[str, bool] | None = None
    ownership: str | None = None
    policy: dict[str, Any] | None = None


@dataclass(frozen=True)
class Step:
    key: str  # bucket, ownership, public_access_block, encryption, versioning, policy
    setting: str
    wanted: str
    change: Change
    policy: dict[str, Any] | None = field(default=None, compare=False)  # the whole policy to write, for key "policy"


@dataclass(frozen=True)
class BucketPlan:
    bucket: str
    region: str
    steps: list[Step]

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.change is not Change.NONE]


def tls_statement(bucket: str, partition: str = "aws") -> dict[str, Any]:
    arn = f"arn:{partition}:s3:::{bucket}"
    return {
        "Sid": TLS_STATEMENT_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _scalar(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def normalize_statement(statement: Mapping[str, Any]) -> dict[str, Any]:
    """A statement in a form where equal meaning compares equal: no Sid, lists sorted, one value as a list."""
    out: dict[str, Any] = {}
    for key, value in statement.items():
        if key == "Sid":
            continue
        if key in ("Action", "NotAction", "Resource", "NotResource"):
            out[key] = sorted(_scalar(v) for v in _as_list(value))
        elif key in ("Principal", "NotPrincipal"):
            mapping = {"AWS": value} if value == "*" else value
            out[key] = {k: sorted(_scalar(v) for v in _as_list(v)) for k, v in dict(mapping).items()}
        elif key == "Condition" and isinstance(value, Mapping):
            out[key] = {
                op: {k: sorted(_scalar(v) for v in _as_list(v)) for k, v in dict(cond).items()} for op, cond in value.items()
            }
        else:
            out[key] = value
    return out


def plan_policy(current: dict[str, Any] | None, wanted: dict[str, Any]) -> tuple[Change, dict[str, Any] | None]:
    """Add or replace our statement, keeping every other statement of an existing policy."""
    if current is None:
        return Change.CREATE, {"Version": "2012-10-17", "Statement": [wanted]}
    statements = [s for s in _as_list(current.get("Statement", [])) if isinstance(s, dict)]
    target = normalize_statement(wanted)
    if any(normalize_statement(s) == target for s in statements):
        return Change.NONE, None
    kept = [s for s in statements if s.get("Sid") != wanted["Sid"]]
    return Change.UPDATE, {**current, "Statement": [*kept, wanted]}


def _encryption_ok(rules: list[dict[str, Any]]) -> bool:
    if len(rules) != 1:
        return False
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    key = str(default.get("KMSMasterKeyID") or "")
    aws_managed = key == "" or key == _AWS_MANAGED_KEY or key.endswith(f":{_AWS_MANAGED_KEY}")
    return default.get("SSEAlgorithm") == "aws:kms" and aws_managed and rules[0].get("BucketKeyEnabled") is True


def _change(present: bool, ok: bool) -> Change:
    return Change.NONE if ok else Change.UPDATE if present else Change.CREATE


def plan_bucket(bucket: str, region: str, state: BucketState, partition: str = "aws") -> BucketPlan:
    """Every setting of the state bucket, in the order they are applied, each with what it needs."""
    policy_change, policy = plan_policy(state.policy, tls_statement(bucket, partition))
    pab = state.public_access_block
    rules = state.encryption_rules
    steps = [
        Step("bucket", "bucket", f"in {region}", Change.NONE if state.exists else Change.CREATE),
        Step("ownership", "object ownership", OWNERSHIP, _change(state.ownership is not None, state.ownership == OWNERSHIP)),
        Step(
            "public_access_block",
            "public access block",
            "all four blocks on",
            _change(pab is not None, pab is not None and all(pab.get(k) is True for k in PUBLIC_ACCESS_BLOCKS)),
        ),
        Step(
            "encryption",
            "default encryption",
            "SSE-KMS, key aws/s3, bucket key on",
            _change(rules is not None, rules is not None and _encryption_ok(rules)),
        ),
        Step("versioning", "versioning", "Enabled", _change(state.versioning is not None, state.versioning == "Enabled")),
        Step("policy", "bucket policy", "deny any request without TLS", policy_change, policy),
    ]
    return BucketPlan(bucket, region, steps)


# --- adapter: S3 -------------------------------------------------------------------------------


def check_ownership(s3: S3Client, bucket: str, account: AwsAccount, source: str) -> bool:
    """True if the bucket exists and is ours, False if it does not exist; refuse anything else."""
    try:
        head = s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account.account_id)
    except ClientError as exc:
        status = http_status(exc)
        if status == 404 or error_code(exc) in ("404", "NoSuchBucket"):
            return False
        if status == 403:
            raise UsageError(
                f"s3://{bucket} (the state bucket named after {source}) exists in another account or is not "
                f"accessible to {account.arn}; nothing was changed"
            ) from None
        raise UsageError(f"s3://{bucket}: HeadBucket: {error_code(exc)} (HTTP {status})") from None
    with aws_call("S3 ListBuckets"):
        ours = {b.get("Name") for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in ours:
        raise UsageError(
            f"s3://{bucket} (the state bucket named after {source}) is readable but not owned by account "
            f"{account.account_id}; nothing was changed"
        )
    found_region = head.get("BucketRegion")
    if found_region and found_region != account.region:
        raise UsageError(f"s3://{bucket} is in {found_region}, but {source} aws.region is {account.region}; nothing was changed")
    return True


def _absent_or(s3_call: str, absent_code: str, read: Callable[[], T]) -> T | None:
    try:
        return read()
    except ClientError as exc:
        if error_code(exc) == absent_code:
            return None
        raise UsageError(f"{s3_call}: {error_code(exc)} (HTTP {http_status(exc)})") from None


def observe(s3: S3Client, bucket: str, owner: str, exists: bool) -> BucketState:
    """The bucket's settings; every call names the owner, so S3 refuses if the bucket changed hands."""
    if not exists:
        return BucketState(exists=False)
    with aws_call(f"s3://{bucket}: GetBucketVersioning"):
        versioning = s3.get_bucket_versioning(Bucket=bucket, ExpectedBucketOwner=owner).get("Status")
    encryption = _absent_or(
        f"s3://{bucket}: GetBucketEncryption",
        _ABSENT["encryption"],
        lambda: s3.get_bucket_encryption(Bucket=bucket, ExpectedBucketOwner=owner)["ServerSideEncryptionConfiguration"].get(
            "Rules", []
        ),
    )
    pab = _absent_or(
        f"s3://{bucket}: GetPublicAccessBlock",
        _ABSENT["public_access_block"],
        lambda: s3.get_public_access_block(Bucket=bucket, ExpectedBucketOwner=owner)["PublicAccessBlockConfiguration"],
    )
    ownership_rules = _absent_or(
        f"s3://{bucket}: GetBucketOwnershipControls",
        _ABSENT["ownership"],
        lambda: s3.get_bucket_ownership_controls(Bucket=bucket, ExpectedBucketOwner=owner)["OwnershipControls"].get("Rules", []),
    )
    policy_text = _absent_or(
        f"s3://{bucket}: GetBucketPolicy",
        _ABSENT["policy"],
        lambda: s3.get_bucket_policy(Bucket=bucket, ExpectedBucketOwner=owner).get("Policy"),
    )
    return BucketState(
        exists=True,
        versioning=versioning,
        encryption_rules=[dict(r) for r in encryption] if encryption is not None else None,
        public_access_block={k: v is True for k, v in pab.items()} if pab is not None else None,
        ownership=str(ownership_rules[0].get("ObjectOwnership")) if ownership_rules else None,
        policy=json.loads(policy_text) if policy_text else None,
    )


def _create_bucket(s3: S3Client, bucket: str, region: str) -> None:
    try:
        if region == "us-east-1":  # the one region that takes no location constraint
            s3.create_bucket(Bucket=bucket)
        else:
            location = cast("BucketLocationConstraintType", region)
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": location})
    except ClientError as exc:
        if error_code(exc) == "BucketAlreadyOwnedByYou":  # created meanwhile by another run of ours
            return
        if error_code(exc) == "BucketAlreadyExists":
            raise UsageError(f"s3://{bucket} was just created by another account; nothing was changed") from None
        raise UsageError(f"s3://{bucket}: CreateBucket: {error_code(exc)} (HTTP {http_status(exc)})") from None


def apply(s3: S3Client, plan: BucketPlan, owner: str) -> None:
    """Write the settings that differ, in plan order; stop at the first failure."""
    bucket = plan.bucket
    for step in plan.changes:
        if step.key == "bucket":
            _create_bucket(s3, bucket, plan.region)
            continue
        with aws_call(f"s3://{bucket}: setting {step.setting}"):
            if step.key == "ownership":
                controls: OwnershipControlsTypeDef = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
                s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=controls, ExpectedBucketOwner=owner)
            elif step.key == "public_access_block":
                s3.put_public_access_block(
                    Bucket=bucket,
                    ExpectedBucketOwner=owner,
                    PublicAccessBlockConfiguration={
                        "BlockPublicAcls": True,
                        "IgnorePublicAcls": True,
                        "BlockPublicPolicy": True,
                        "RestrictPublicBuckets": True,
                    },
                )
            elif step.key == "encryption":
                s3.put_bucket_encryption(
                    Bucket=bucket,
                    ExpectedBucketOwner=owner,
                    # No KMSMasterKeyID: S3 uses the AWS-managed key aws/s3.
                    ServerSideEncryptionConfiguration={
                        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]
                    },
                )
            elif step.key == "versioning":
                s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}, ExpectedBucketOwner=owner)
            elif step.key == "policy" and step.policy is not None:
                s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(step.policy), ExpectedBucketOwner=owner)
            else:
                raise AssertionError(f"unknown step {step.key}")


def ensure_state_bucket(cluster: ClusterConfig, account: AwsAccount) -> BucketPlan:
    """Check, plan and apply; returns the plan, whose steps say what was done."""
    bucket = state_bucket_name(cluster)
    s3 = account.s3()
    exists = check_ownership(s3, bucket, account, cluster.file)
    plan = plan_bucket(bucket, account.region, observe(s3, bucket, account.account_id, exists), account.partition)
    apply(s3, plan, account.account_id)
    return plan
