"""The Terraform state bucket of an environment: `<cluster.name>-tfstate-<aws.account_id>`, encrypted
with a customer-managed KMS key of its own (`alias/<cluster.name>-tfstate`, rotated yearly).

Only three roles may use either: the stack's terraform-plan and terraform-apply roles (made by the
stack, `<cluster.name>-github-terraform-plan|apply`) and the break-glass role named in cluster.yaml
(`aws.break_glass_role`). The plan role reads the state and writes its lock files, nothing else.

Planning (`plan_key`, `plan_bucket`) is pure: it compares what the key and the bucket have with what
they should have. The adapter (`check_ownership`, `observe`, `observe_key`, `apply`) reads and writes
KMS and S3. Settings already as wanted are never written again, so a second run makes read calls only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, cast

from botocore.exceptions import ClientError

from ..adapters.aws import AwsAccount, aws_call, error_code, http_status
from ..model.facts import REGISTRY_STATE_NAME, state_bucket
from ..model.findings import UsageError
from ..model.repo import ClusterConfig

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import (
        OwnershipControlsTypeDef,
        ServerSideEncryptionByDefaultTypeDef,
        ServerSideEncryptionConfigurationTypeDef,
    )

T = TypeVar("T")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
TLS_STATEMENT_SID = "DenyInsecureTransport"
_ROLE_NAME = re.compile(r"^(?:[A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$")
# What the key may do for the state: S3 asks KMS for these with the caller's identity.
KEY_USE = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
# What the plan role may do in the bucket: read the state, take and release the lock.
PLAN_ACTIONS = ["s3:DeleteObject", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]
OWNERSHIP = "BucketOwnerEnforced"
PUBLIC_ACCESS_BLOCKS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
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
    aws = {"account_id": registry["account_id"], "region": registry["region"]}
    if registry.get("break_glass_role"):
        aws["break_glass_role"] = registry["break_glass_role"]
    data = {"cluster": {"name": REGISTRY_STACK}, "aws": aws, "source": "registry"}
    return ClusterConfig("registry", cluster.file, data)


@dataclass(frozen=True)
class StatePrincipals:
    """The roles the state bucket and its key admit, as aws:PrincipalArn values."""

    plan: str
    apply: str
    break_glass: str

    @property
    def all(self) -> list[str]:
        return [self.plan, self.apply, self.break_glass]


def state_principals(cluster: ClusterConfig, partition: str = "aws") -> StatePrincipals:
    """The stack's plan and apply roles (modules/github-oidc names them `<name>-github-<role>`) and
    the break-glass role of cluster.yaml, all in the stack's account."""
    section = "registry" if cluster.get("source") == "registry" else "aws"
    role = cluster.get("aws.break_glass_role")
    if not role:
        raise UsageError(
            f"{cluster.file}: {section}.break_glass_role is not set; the state bucket admits only the plan and apply roles "
            f"and that role (an IAM role of account {cluster.account_id} for people, e.g. platform-break-glass); add it"
        )
    if not _ROLE_NAME.match(str(role)):
        raise UsageError(f"{cluster.file}: {section}.break_glass_role '{role}' is not an IAM role name (path/name)")
    prefix = f"arn:{partition}:iam::{cluster.account_id}:role/"
    ci = f"{cluster.name}-github"
    return StatePrincipals(f"{prefix}{ci}-terraform-plan", f"{prefix}{ci}-terraform-apply", f"{prefix}{role}")


def state_key_alias(cluster: ClusterConfig) -> str:
    return f"alias/{cluster.name}-tfstate"


def admitted(caller_arn: str, principals: StatePrincipals) -> bool:
    """Whether the caller is the break-glass role (an assumed-role session of it) or the account root:
    the only ones who may change the bucket, the key or their policies."""
    if caller_arn.endswith(":root"):
        return True
    parts = caller_arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    if not resource.startswith("assumed-role/"):
        return False
    return resource.split("/")[1] == principals.break_glass.rsplit("/", 1)[-1]


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
    alias: str = ""
    key_arn: str | None = None  # None until the key is made
    principals: StatePrincipals | None = None

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


def plan_policy(
    current: dict[str, Any] | None, wanted: dict[str, Any] | list[dict[str, Any]]
) -> tuple[Change, dict[str, Any] | None]:
    """Add or replace our statements (by Sid), keeping every other statement of an existing policy."""
    ours = wanted if isinstance(wanted, list) else [wanted]
    if current is None:
        return Change.CREATE, {"Version": "2012-10-17", "Statement": list(ours)}
    statements = [s for s in _as_list(current.get("Statement", [])) if isinstance(s, dict)]
    present = [normalize_statement(s) for s in statements]
    missing = [w for w in ours if normalize_statement(w) not in present]
    if not missing:
        return Change.NONE, None
    replaced = {w["Sid"] for w in missing}
    kept = [s for s in statements if s.get("Sid") not in replaced]
    return Change.UPDATE, {**current, "Statement": [*kept, *missing]}


def bucket_statements(bucket: str, principals: StatePrincipals, partition: str = "aws") -> list[dict[str, Any]]:
    """TLS only; nobody but the three roles; the plan role reads the state and writes lock files only."""
    arn = f"arn:{partition}:s3:::{bucket}"
    return [
        tls_statement(bucket, partition),
        {
            "Sid": "StateRolesOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": principals.all}},
        },
        {
            "Sid": "PlanRoleReadsTheState",
            "Effect": "Deny",
            "Principal": "*",
            "NotAction": PLAN_ACTIONS,
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"ArnEquals": {"aws:PrincipalArn": principals.plan}},
        },
        {
            "Sid": "PlanRoleWritesLockFilesOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:PutObject"],
            "NotResource": f"{arn}/*.tflock",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": principals.plan}},
        },
    ]


def key_statements(account_id: str, principals: StatePrincipals, partition: str = "aws") -> list[dict[str, Any]]:
    """The account administers the key through IAM (so no policy locks it out); only the three roles
    may have it encrypt or decrypt, which S3 does with the caller's identity."""
    return [
        {
            "Sid": "EnableIamPolicies",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "StateRolesOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": KEY_USE,
            "Resource": "*",
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": principals.all}},
        },
    ]


def _encryption_ok(rules: list[dict[str, Any]], key_arn: str | None) -> bool:
    """SSE-KMS with the state key (by ARN or id), bucket key on. A key not yet made is never as wanted."""
    if len(rules) != 1 or key_arn is None:
        return False
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    key = str(default.get("KMSMasterKeyID") or "")
    ours = key in (key_arn, key_arn.rsplit("/", 1)[-1])
    return default.get("SSEAlgorithm") == "aws:kms" and ours and rules[0].get("BucketKeyEnabled") is True


def _change(present: bool, ok: bool) -> Change:
    return Change.NONE if ok else Change.UPDATE if present else Change.CREATE


@dataclass(frozen=True)
class KeyState:
    """What KMS reports for the key behind the alias; `exists` False if the alias names none."""

    exists: bool
    arn: str | None = None
    manager: str = "CUSTOMER"
    state: str = "Enabled"
    rotation: bool | None = None
    policy: dict[str, Any] | None = None


def plan_key(alias: str, key: KeyState, wanted: list[dict[str, Any]]) -> list[Step]:
    """The state key, its rotation and its policy; a key of another kind behind the alias is refused."""
    if key.exists and key.manager != "CUSTOMER":
        raise UsageError(
            f"{alias} names an AWS-managed key ({key.arn}); the state needs a customer-managed one; nothing was changed"
        )
    if key.exists and key.state != "Enabled":
        raise UsageError(f"{alias} names key {key.arn}, which is {key.state}; enable it or delete the alias; nothing was changed")
    policy_change, policy = plan_policy(key.policy if key.exists else None, wanted)
    return [
        Step("key", "state key", f"customer-managed KMS key {alias}", Change.NONE if key.exists else Change.CREATE),
        Step("key_rotation", "key rotation", "automatic, yearly", _change(key.exists, key.rotation is True)),
        Step("key_policy", "key policy", "only the plan, apply and break-glass roles use it", policy_change, policy),
    ]


def plan_bucket(
    bucket: str,
    region: str,
    state: BucketState,
    partition: str = "aws",
    principals: StatePrincipals | None = None,
    key_arn: str | None = None,
) -> BucketPlan:
    """Every setting of the state bucket, in the order they are applied, each with what it needs.
    Without principals (a bare bucket, as the tests of its settings plan it) the policy is TLS only."""
    wanted = bucket_statements(bucket, principals, partition) if principals else [tls_statement(bucket, partition)]
    policy_change, policy = plan_policy(state.policy, wanted)
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
            "SSE-KMS, the state key, bucket key on",
            _change(rules is not None, rules is not None and _encryption_ok(rules, key_arn)),
        ),
        Step("versioning", "versioning", "Enabled", _change(state.versioning is not None, state.versioning == "Enabled")),
        Step(
            "policy",
            "bucket policy",
            "TLS only; the plan, apply and break-glass roles only" if principals else "deny any request without TLS",
            policy_change,
            policy,
        ),
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


def observe_key(kms: KMSClient, alias: str) -> KeyState:
    """The key behind the alias, its rotation and its policy."""
    try:
        meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
    except ClientError as exc:
        if error_code(exc) == "NotFoundException":
            return KeyState(exists=False)
        raise UsageError(f"{alias}: DescribeKey: {error_code(exc)} (HTTP {http_status(exc)})") from None
    arn = str(meta.get("Arn"))
    manager, state = str(meta.get("KeyManager", "")), str(meta.get("KeyState", ""))
    if manager != "CUSTOMER" or state != "Enabled":
        return KeyState(exists=True, arn=arn, manager=manager, state=state)
    with aws_call(f"{alias}: GetKeyRotationStatus"):
        rotation = bool(kms.get_key_rotation_status(KeyId=arn).get("KeyRotationEnabled"))
    with aws_call(f"{alias}: GetKeyPolicy"):
        policy = kms.get_key_policy(KeyId=arn, PolicyName="default").get("Policy")
    return KeyState(True, arn, manager, state, rotation, json.loads(policy) if policy else None)


def _create_key(kms: KMSClient, alias: str, bucket: str, tags: Mapping[str, str]) -> str:
    with aws_call(f"{alias}: CreateKey"):
        key = kms.create_key(
            Description=f"Terraform state in s3://{bucket}",
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()],
        )["KeyMetadata"]
    with aws_call(f"{alias}: CreateAlias"):
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return str(key["Arn"])


def apply(s3: S3Client, plan: BucketPlan, owner: str, kms: KMSClient | None = None) -> str | None:
    """Write the settings that differ, in plan order; stop at the first failure. Returns the key's ARN."""
    bucket = plan.bucket
    key_arn = plan.key_arn
    for step in plan.changes:
        if step.key == "bucket":
            _create_bucket(s3, bucket, plan.region)
            continue
        if step.key.startswith("key"):
            assert kms is not None, "key steps need a KMS client"
            if step.key == "key":
                key_arn = _create_key(kms, plan.alias, bucket, {"platform.airflow/state-bucket": bucket})
            elif step.key == "key_rotation":
                with aws_call(f"{plan.alias}: EnableKeyRotation"):
                    kms.enable_key_rotation(KeyId=str(key_arn))
            elif step.key == "key_policy" and step.policy is not None:
                with aws_call(f"{plan.alias}: PutKeyPolicy"):
                    kms.put_key_policy(KeyId=str(key_arn), PolicyName="default", Policy=json.dumps(step.policy))
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
                default: ServerSideEncryptionByDefaultTypeDef = {"SSEAlgorithm": "aws:kms"}
                if key_arn:  # without one (a bare bucket) S3 uses the AWS-managed key aws/s3
                    default["KMSMasterKeyID"] = key_arn
                encryption: ServerSideEncryptionConfigurationTypeDef = {
                    "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]
                }
                s3.put_bucket_encryption(Bucket=bucket, ExpectedBucketOwner=owner, ServerSideEncryptionConfiguration=encryption)
            elif step.key == "versioning":
                s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}, ExpectedBucketOwner=owner)
            elif step.key == "policy" and step.policy is not None:
                s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(step.policy), ExpectedBucketOwner=owner)
            else:
                raise AssertionError(f"unknown step {step.key}")
    return key_arn


def plan_backend(cluster: ClusterConfig, bucket: BucketState, key: KeyState, partition: str = "aws") -> BucketPlan:
    """The key's steps, then the bucket's: what `invoke tf-backend` does, planned without AWS."""
    name = state_bucket_name(cluster)
    principals = state_principals(cluster, partition)
    alias = state_key_alias(cluster)
    key_steps = plan_key(alias, key, key_statements(cluster.account_id, principals, partition))
    bucket_plan = plan_bucket(name, cluster.region, bucket, partition, principals, key.arn if key.exists else None)
    return BucketPlan(name, cluster.region, key_steps + bucket_plan.steps, alias, key.arn if key.exists else None, principals)


def ensure_state_bucket(cluster: ClusterConfig, account: AwsAccount) -> BucketPlan:
    """Check, plan and apply; returns the plan, whose steps say what was done."""
    bucket = state_bucket_name(cluster)
    principals = state_principals(cluster, account.partition)  # before any call: a missing role is a usage error
    s3, kms = account.s3(), account.kms()
    exists = check_ownership(s3, bucket, account, cluster.file)
    plan = plan_backend(
        cluster, observe(s3, bucket, account.account_id, exists), observe_key(kms, state_key_alias(cluster)), account.partition
    )
    if plan.changes and not admitted(account.arn, principals):
        raise UsageError(
            f"s3://{bucket} and {plan.alias} would admit only the plan and apply roles and {principals.break_glass}, "
            f"but these credentials are {account.arn}: run tf-backend as the break-glass role "
            f"({cluster.file} break_glass_role), so that you keep access; nothing was changed"
        )
    key_arn = apply(s3, plan, account.account_id, kms)
    return replace(plan, key_arn=key_arn)
