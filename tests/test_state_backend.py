"""Planning the Terraform state bucket: pure, no S3."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_gitops.model.findings import UsageError
from airflow_gitops.model.repo import ClusterConfig
from airflow_gitops.platform.state_backend import (
    BucketState,
    Change,
    KeyState,
    StatePrincipals,
    admitted,
    bucket_statements,
    key_statements,
    normalize_statement,
    plan_backend,
    plan_bucket,
    plan_key,
    plan_policy,
    registry_stack,
    state_bucket_name,
    state_principals,
    tls_statement,
)

BUCKET = "airflow-dev-tfstate-111111111111"
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/0b1c2d3e-0000-4000-8000-000000000000"
PRINCIPALS = StatePrincipals(
    "arn:aws:iam::111111111111:role/airflow-dev-github-terraform-plan",
    "arn:aws:iam::111111111111:role/airflow-dev-github-terraform-apply",
    "arn:aws:iam::111111111111:role/platform-break-glass",
)
GOOD = BucketState(
    exists=True,
    versioning="Enabled",
    encryption_rules=[
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN}, "BucketKeyEnabled": True}
    ],
    public_access_block={
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    },
    ownership="BucketOwnerEnforced",
    policy={"Version": "2012-10-17", "Statement": bucket_statements(BUCKET, PRINCIPALS)},
)
GOOD_KEY = KeyState(
    True, KEY_ARN, rotation=True, policy={"Version": "2012-10-17", "Statement": key_statements("111111111111", PRINCIPALS)}
)


def changes(state: BucketState) -> dict[str, Change]:
    return {
        step.key: step.change for step in plan_bucket(BUCKET, "eu-west-1", state, principals=PRINCIPALS, key_arn=KEY_ARN).steps
    }


def cluster(name: str, account: str = "111111111111", break_glass: str | None = "platform-break-glass") -> ClusterConfig:
    aws = {"account_id": account, "region": "eu-west-1", **({"break_glass_role": break_glass} if break_glass else {})}
    return ClusterConfig("dev", "clusters/dev/cluster.yaml", {"cluster": {"name": name}, "aws": aws})


def test_bucket_name_follows_the_convention() -> None:
    assert state_bucket_name(cluster("airflow-dev")) == BUCKET


@pytest.mark.parametrize("name", ["Airflow-Dev", "a" * 43, "airflow_dev"])
def test_a_cluster_name_s3_would_refuse_is_a_usage_error(name: str) -> None:
    with pytest.raises(UsageError, match="clusters/dev/cluster.yaml: cluster.name"):
        state_bucket_name(cluster(name))


def test_a_missing_bucket_gets_everything_created_in_order() -> None:
    plan = plan_bucket(BUCKET, "eu-west-1", BucketState(exists=False))
    assert [s.key for s in plan.steps] == ["bucket", "ownership", "public_access_block", "encryption", "versioning", "policy"]
    assert all(s.change is Change.CREATE for s in plan.steps)
    assert plan.steps[-1].policy == {"Version": "2012-10-17", "Statement": [tls_statement(BUCKET)]}


def test_a_bucket_as_wanted_needs_nothing() -> None:
    plan = plan_bucket(BUCKET, "eu-west-1", GOOD, principals=PRINCIPALS, key_arn=KEY_ARN)
    assert plan.changes == []
    assert {s.change.done for s in plan.steps} == {"already so"}


@pytest.mark.parametrize(
    ("field", "value", "key", "change"),
    [
        ("versioning", "Suspended", "versioning", Change.UPDATE),
        ("versioning", None, "versioning", Change.CREATE),
        ("ownership", "BucketOwnerPreferred", "ownership", Change.UPDATE),
        ("public_access_block", {"BlockPublicAcls": True, "IgnorePublicAcls": True}, "public_access_block", Change.UPDATE),
        ("encryption_rules", [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}], "encryption", Change.UPDATE),
        (
            "encryption_rules",
            [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": False}],
            "encryption",
            Change.UPDATE,
        ),
        (
            "encryption_rules",
            [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": "arn:aws:kms:eu-west-1:111111111111:key/1",
                    },
                    "BucketKeyEnabled": True,
                }
            ],
            "encryption",
            Change.UPDATE,
        ),
    ],
)
def test_a_drifted_setting_is_updated_alone(field: str, value: Any, key: str, change: Change) -> None:
    state = BucketState(**{**GOOD.__dict__, field: value})
    assert changes(state) == {**changes(GOOD), key: change}


@pytest.mark.parametrize("key_id", [None, "alias/aws/s3", "arn:aws:kms:eu-west-1:111111111111:key/another"])
def test_any_key_but_the_state_key_is_drift(key_id: str | None) -> None:
    default = {"SSEAlgorithm": "aws:kms", **({"KMSMasterKeyID": key_id} if key_id else {})}
    rules = [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]
    assert changes(BucketState(**{**GOOD.__dict__, "encryption_rules": rules}))["encryption"] is Change.UPDATE


def test_the_state_key_named_by_its_id_is_as_wanted() -> None:
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN.rsplit("/", 1)[-1]}
    rules = [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]
    assert changes(BucketState(**{**GOOD.__dict__, "encryption_rules": rules}))["encryption"] is Change.NONE


def test_the_principals_are_the_stacks_ci_roles_and_the_break_glass_role() -> None:
    assert state_principals(cluster("airflow-dev")) == PRINCIPALS
    registry = ClusterConfig(
        "dev",
        "clusters/dev/cluster.yaml",
        {
            "cluster": {"name": "airflow-dev"},
            "registry": {"account_id": "444444444444", "region": "eu-west-1", "break_glass_role": "ops/bg"},
        },
    )
    assert state_principals(registry_stack(registry)).all == [
        "arn:aws:iam::444444444444:role/airflow-registry-github-terraform-plan",
        "arn:aws:iam::444444444444:role/airflow-registry-github-terraform-apply",
        "arn:aws:iam::444444444444:role/ops/bg",
    ]


def test_without_a_break_glass_role_the_backend_is_not_planned() -> None:
    with pytest.raises(UsageError, match="aws.break_glass_role is not set"):
        state_principals(cluster("airflow-dev", break_glass=None))
    with pytest.raises(UsageError, match="is not an IAM role name"):
        state_principals(cluster("airflow-dev", break_glass="arn:aws:iam::111111111111:role/x"))


@pytest.mark.parametrize(
    ("caller", "ok"),
    [
        ("arn:aws:sts::111111111111:assumed-role/platform-break-glass/alice", True),
        ("arn:aws:iam::111111111111:root", True),
        ("arn:aws:sts::111111111111:assumed-role/airflow-dev-github-terraform-apply/ci", False),
        ("arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0123/alice", False),
        ("arn:aws:iam::111111111111:user/moto", False),
    ],
)
def test_only_the_break_glass_role_or_root_may_change_the_backend(caller: str, ok: bool) -> None:
    assert admitted(caller, PRINCIPALS) is ok


def test_a_new_key_is_made_rotated_and_given_its_policy() -> None:
    steps = plan_key("alias/airflow-dev-tfstate", KeyState(exists=False), key_statements("111111111111", PRINCIPALS))
    assert [(s.key, s.change) for s in steps] == [
        ("key", Change.CREATE),
        ("key_rotation", Change.CREATE),
        ("key_policy", Change.CREATE),
    ]
    assert steps[2].policy is not None
    deny = steps[2].policy["Statement"][1]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": PRINCIPALS.all}}


def test_a_key_as_wanted_needs_nothing_and_a_default_policy_is_completed() -> None:
    wanted = key_statements("111111111111", PRINCIPALS)
    assert [s.change for s in plan_key("alias/a", GOOD_KEY, wanted)] == [Change.NONE] * 3
    default = KeyState(True, KEY_ARN, rotation=False, policy={"Version": "2012-10-17", "Statement": [wanted[0]]})
    steps = plan_key("alias/a", default, wanted)
    assert [s.change for s in steps] == [Change.NONE, Change.UPDATE, Change.UPDATE]
    assert steps[2].policy is not None and [s["Sid"] for s in steps[2].policy["Statement"]] == [
        "EnableIamPolicies",
        "StateRolesOnly",
    ]


@pytest.mark.parametrize(
    ("manager", "state", "message"), [("AWS", "Enabled", "AWS-managed"), ("CUSTOMER", "Disabled", "Disabled")]
)
def test_a_key_of_another_kind_behind_the_alias_is_refused(manager: str, state: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan_key("alias/a", KeyState(True, KEY_ARN, manager=manager, state=state), [])


def test_the_backend_plans_the_key_before_the_bucket() -> None:
    plan = plan_backend(cluster("airflow-dev"), BucketState(exists=False), KeyState(exists=False))
    assert [s.key for s in plan.steps] == [
        "key",
        "key_rotation",
        "key_policy",
        "bucket",
        "ownership",
        "public_access_block",
        "encryption",
        "versioning",
        "policy",
    ]
    assert plan.alias == "alias/airflow-dev-tfstate" and plan.key_arn is None and plan.principals == PRINCIPALS
    assert plan_backend(cluster("airflow-dev"), GOOD, GOOD_KEY).changes == []


def test_the_plan_role_may_read_the_state_and_write_lock_files_only() -> None:
    statements = {s["Sid"]: s for s in bucket_statements(BUCKET, PRINCIPALS)}
    assert statements["StateRolesOnly"]["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": PRINCIPALS.all}}
    assert statements["PlanRoleReadsTheState"]["NotAction"] == [
        "s3:DeleteObject",
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    ]
    assert statements["PlanRoleWritesLockFilesOnly"]["NotResource"] == f"arn:aws:s3:::{BUCKET}/*.tflock"


def test_the_same_statement_written_differently_is_as_wanted() -> None:
    arn = f"arn:aws:s3:::{BUCKET}"
    same = {
        "Sid": "SomethingElse",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": ["s3:*"],
        "Resource": [f"{arn}/*", arn],
        "Condition": {"Bool": {"aws:SecureTransport": ["false"]}},
    }
    assert normalize_statement(same) == normalize_statement(tls_statement(BUCKET))
    assert plan_policy({"Statement": same}, tls_statement(BUCKET)) == (Change.NONE, None)


def test_our_statement_is_replaced_and_the_others_kept() -> None:
    other = {"Sid": "NoDelete", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket", "Resource": "*"}
    stale = {**tls_statement(BUCKET), "Resource": "*"}
    change, policy = plan_policy({"Version": "2012-10-17", "Id": "p", "Statement": [other, stale]}, tls_statement(BUCKET))
    assert change is Change.UPDATE
    assert policy == {"Version": "2012-10-17", "Id": "p", "Statement": [other, tls_statement(BUCKET)]}


def test_the_partition_comes_from_the_caller() -> None:
    plan = plan_bucket(BUCKET, "cn-north-1", BucketState(exists=False), partition="aws-cn")
    assert plan.steps[-1].policy is not None
    assert plan.steps[-1].policy["Statement"][0]["Resource"] == [f"arn:aws-cn:s3:::{BUCKET}", f"arn:aws-cn:s3:::{BUCKET}/*"]
