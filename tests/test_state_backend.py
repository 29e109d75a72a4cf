"""Planning the Terraform state bucket: pure, no S3."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_gitops.model.findings import UsageError
from airflow_gitops.model.repo import ClusterConfig
from airflow_gitops.platform.state_backend import (
    BucketState,
    Change,
    normalize_statement,
    plan_bucket,
    plan_policy,
    state_bucket_name,
    tls_statement,
)

BUCKET = "airflow-dev-tfstate-111111111111"
GOOD = BucketState(
    exists=True,
    versioning="Enabled",
    encryption_rules=[{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}],
    public_access_block={
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    },
    ownership="BucketOwnerEnforced",
    policy={"Version": "2012-10-17", "Statement": [tls_statement(BUCKET)]},
)


def changes(state: BucketState) -> dict[str, Change]:
    return {step.key: step.change for step in plan_bucket(BUCKET, "eu-west-1", state).steps}


def cluster(name: str, account: str = "111111111111") -> ClusterConfig:
    return ClusterConfig("dev", "clusters/dev/cluster.yaml", {"cluster": {"name": name}, "aws": {"account_id": account}})


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
    plan = plan_bucket(BUCKET, "eu-west-1", GOOD)
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


@pytest.mark.parametrize("key_id", ["alias/aws/s3", "arn:aws:kms:eu-west-1:111111111111:alias/aws/s3"])
def test_the_aws_managed_key_named_explicitly_is_as_wanted(key_id: str) -> None:
    rules = [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}, "BucketKeyEnabled": True}
    ]
    assert changes(BucketState(**{**GOOD.__dict__, "encryption_rules": rules}))["encryption"] is Change.NONE


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
