"""`invoke tf-backend` as users run it, against a real moto server."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.aws.conftest import DEV_ACCOUNT, DEV_CLUSTER, DEV_REGION, OTHER_ACCOUNT, Moto
from tests.test_tasks import invoke

BUCKET = f"{DEV_CLUSTER}-tfstate-{DEV_ACCOUNT}"
ALIAS = f"alias/{DEV_CLUSTER}-tfstate"
BREAK_GLASS = "platform-break-glass"  # aws.break_glass_role of clusters/dev/cluster.yaml
ROLE_PREFIX = f"arn:aws:iam::{DEV_ACCOUNT}:role/"
ADMITTED = [
    f"{ROLE_PREFIX}{DEV_CLUSTER}-github-terraform-plan",
    f"{ROLE_PREFIX}{DEV_CLUSTER}-github-terraform-apply",
    f"{ROLE_PREFIX}{BREAK_GLASS}",
]
SETTINGS = (
    "state key",
    "key rotation",
    "key policy",
    "bucket",
    "object ownership",
    "public access block",
    "default encryption",
    "versioning",
    "bucket policy",
)
ADMIN = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
# What a role that may only look needs. moto names the action of HeadBucket s3:HeadBucket (AWS checks
# s3:ListBucket, which s3:List* covers).
READ_ONLY = [
    {
        "Effect": "Allow",
        "Action": ["sts:GetCallerIdentity", "s3:Get*", "s3:List*", "s3:HeadBucket", "kms:Describe*", "kms:Get*", "kms:List*"],
        "Resource": "*",
    }
]


def break_glass(aws: Moto, statements: list[dict[str, Any]] = ADMIN) -> dict[str, str]:
    """A session of the break-glass role, the one tf-backend writes as."""
    return aws.role_session(BREAK_GLASS, statements)


def strip(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def bucket_state(s3: Any, bucket: str = BUCKET) -> dict[str, Any]:
    """Every setting tf-backend manages, as S3 reports it (absent settings as their error code)."""
    state: dict[str, Any] = {}
    for call in (
        "get_bucket_location",
        "get_bucket_versioning",
        "get_bucket_encryption",
        "get_public_access_block",
        "get_bucket_ownership_controls",
        "get_bucket_policy",
    ):
        try:
            state[call] = strip(getattr(s3, call)(Bucket=bucket))
        except s3.exceptions.ClientError as exc:
            state[call] = exc.response["Error"]["Code"]
    return state


def key_state(kms: Any) -> dict[str, Any]:
    key = kms.describe_key(KeyId=ALIAS)["KeyMetadata"]
    return {
        "key": {k: v for k, v in key.items() if k != "CreationDate"},
        "rotation": strip(kms.get_key_rotation_status(KeyId=key["Arn"])),
        "policy": kms.get_key_policy(KeyId=key["Arn"], PolicyName="default")["Policy"],
        "aliases": kms.list_aliases(KeyId=key["Arn"])["Aliases"],
    }


def result_of(stdout: str, setting: str) -> str:
    """The result column of a setting's row in the rich table."""
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 3 and cells[1] == setting:
            return cells[3]
    raise AssertionError(f"no row for {setting} in:\n{stdout}")


def assert_one_line_usage_error(proc: Any, *expected: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for text in expected:
        assert text in proc.stderr


def test_creates_the_state_bucket_with_every_setting(aws: Moto, pristine_repo: Path) -> None:
    proc = invoke(pristine_repo, "tf-backend", "--env", "dev", env=break_glass(aws))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [result_of(proc.stdout, s) for s in SETTINGS] == ["created"] * len(SETTINGS)
    assert f"s3://{BUCKET}: 9 of 9 settings created or updated" in proc.stdout

    kms = aws.client("kms")
    key = kms.describe_key(KeyId=ALIAS)["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER" and key["KeyState"] == "Enabled"
    assert kms.get_key_rotation_status(KeyId=key["Arn"])["KeyRotationEnabled"] is True
    assert f"{ALIAS} = {key['Arn']}; bucket and key admit only {', '.join(ADMITTED)}" in proc.stdout
    key_policy = {
        s["Sid"]: s for s in json.loads(kms.get_key_policy(KeyId=key["Arn"], PolicyName="default")["Policy"])["Statement"]
    }
    assert key_policy["EnableIamPolicies"]["Principal"] == {"AWS": f"arn:aws:iam::{DEV_ACCOUNT}:root"}
    assert key_policy["StateRolesOnly"]["Effect"] == "Deny"
    assert key_policy["StateRolesOnly"]["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": ADMITTED}}
    assert "kms:Decrypt" in key_policy["StateRolesOnly"]["Action"]

    s3 = aws.client("s3")
    assert s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == DEV_REGION
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    [rule] = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}
    assert rule["BucketKeyEnabled"] is True
    assert strip(s3.get_public_access_block(Bucket=BUCKET))["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    ownership = s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    statements = {s["Sid"]: s for s in json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]}
    assert list(statements) == ["DenyInsecureTransport", "StateRolesOnly", "PlanRoleReadsTheState", "PlanRoleWritesLockFilesOnly"]
    tls = statements["DenyInsecureTransport"]
    assert (tls["Effect"], tls["Principal"], tls["Action"]) == ("Deny", "*", "s3:*")
    assert sorted(tls["Resource"]) == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Nobody but the three roles, whatever their IAM policies say.
    only = statements["StateRolesOnly"]
    assert (only["Effect"], only["Principal"], only["Action"]) == ("Deny", "*", "s3:*")
    assert only["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": ADMITTED}}
    # The plan role reads the state and writes lock files, nothing else.
    plan = {"ArnEquals": {"aws:PrincipalArn": ADMITTED[0]}}
    assert statements["PlanRoleReadsTheState"]["Condition"] == plan
    assert statements["PlanRoleReadsTheState"]["NotAction"] == [
        "s3:DeleteObject",
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    ]
    assert statements["PlanRoleWritesLockFilesOnly"]["Condition"] == plan
    assert statements["PlanRoleWritesLockFilesOnly"]["NotResource"] == f"arn:aws:s3:::{BUCKET}/*.tflock"


def test_only_the_break_glass_role_may_write(aws: Moto, pristine_repo: Path) -> None:
    # The policies would lock out whoever ran it as anyone else (here moto's default user).
    proc = invoke(pristine_repo, "tf-backend", "--env", "dev")
    assert_one_line_usage_error(
        proc, "run tf-backend as the break-glass role", f"{ROLE_PREFIX}{BREAK_GLASS}", "nothing was changed"
    )
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert ALIAS not in {a["AliasName"] for a in aws.client("kms").list_aliases()["Aliases"]}


def test_without_a_break_glass_role_in_cluster_yaml_nothing_is_made(aws: Moto, repo_copy: Path) -> None:
    cluster_yaml = repo_copy / "clusters/dev/cluster.yaml"
    cluster_yaml.write_text(cluster_yaml.read_text().replace(f"  break_glass_role: {BREAK_GLASS}\n", "", 1))
    proc = invoke(repo_copy, "tf-backend", "--env", "dev", env=break_glass(aws))
    assert_one_line_usage_error(proc, "aws.break_glass_role is not set")
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_a_second_run_only_reads_and_changes_nothing(aws: Moto, pristine_repo: Path) -> None:
    first = invoke(pristine_repo, "tf-backend", "--env", "dev", env=break_glass(aws))
    assert first.returncode == 0, first.stdout + first.stderr
    s3 = aws.client("s3")
    before = bucket_state(s3), key_state(aws.client("kms"))
    # The break-glass role again, now allowed to read only: the one the bucket policy admits.
    reader = break_glass(aws, READ_ONLY)
    with aws.enforce_iam():
        # The guard works: these credentials cannot write, so any write call would fail the run.
        denied = aws.client(
            "s3", reader["AWS_ACCESS_KEY_ID"], reader["AWS_SECRET_ACCESS_KEY"], session_token=reader["AWS_SESSION_TOKEN"]
        )
        with pytest.raises(denied.exceptions.ClientError, match="AccessDenied"):
            denied.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        proc = invoke(pristine_repo, "tf-backend", "--env", "dev", env=reader)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [result_of(proc.stdout, s) for s in SETTINGS] == ["already so"] * len(SETTINGS)
    assert "already as wanted; nothing changed" in proc.stdout
    assert (bucket_state(s3), key_state(aws.client("kms"))) == before


def test_brings_a_drifted_bucket_back_and_keeps_other_policy_statements(aws: Moto, pristine_repo: Path) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": DEV_REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    )
    keep = {
        "Sid": "NoBucketDeletion",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:DeleteBucket",
        "Resource": f"arn:aws:s3:::{BUCKET}",
    }
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [keep]}))
    proc = invoke(pristine_repo, "tf-backend", "--env", "dev", env=break_glass(aws))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {s: result_of(proc.stdout, s) for s in SETTINGS}
    assert results == {
        "state key": "created",
        "key rotation": "created",
        "key policy": "created",
        "bucket": "already so",
        "object ownership": "created",
        "public access block": "created",
        "default encryption": "updated",
        "versioning": "updated",
        "bucket policy": "updated",
    }
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    statements = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == [
        "NoBucketDeletion",
        "DenyInsecureTransport",
        "StateRolesOnly",
        "PlanRoleReadsTheState",
        "PlanRoleWritesLockFilesOnly",
    ]
    assert statements[0] == keep


@pytest.mark.parametrize("task", ["tf-backend", "secrets-init"])
def test_without_credentials_it_says_how_to_get_them(
    aws: Moto, pristine_repo: Path, monkeypatch: pytest.MonkeyPatch, task: str
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    proc = invoke(pristine_repo, task, "--env", "dev")
    assert_one_line_usage_error(proc, "no AWS credentials found", "AWS_PROFILE", DEV_ACCOUNT)
    assert aws.client("s3").list_buckets()["Buckets"] == []


@pytest.mark.parametrize("task", ["tf-backend", "secrets-init"])
def test_credentials_for_another_account_are_refused(aws: Moto, pristine_repo: Path, task: str) -> None:
    staging = "222222222222"
    proc = invoke(pristine_repo, task, "--env", "staging")
    assert_one_line_usage_error(proc, f"for account {DEV_ACCOUNT}", f"clusters/staging/cluster.yaml aws.account_id is {staging}")
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_credentials_come_from_a_named_profile(aws: Moto, pristine_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    session = break_glass(aws)
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[platform-dev]\naws_access_key_id = {session['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {session['AWS_SECRET_ACCESS_KEY']}\naws_session_token = {session['AWS_SESSION_TOKEN']}\n"
    )
    proc = invoke(pristine_repo, "tf-backend", "--env", "dev", env={"AWS_PROFILE": "platform-dev"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]] == [BUCKET]


def test_an_unknown_profile_is_a_usage_error(aws: Moto, pristine_repo: Path) -> None:
    proc = invoke(pristine_repo, "tf-backend", "--env", "dev", env={"AWS_PROFILE": "no-such-profile"})
    assert_one_line_usage_error(proc, "AWS_PROFILE", "no-such-profile")
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_a_region_other_than_cluster_yaml_is_refused(aws: Moto, pristine_repo: Path) -> None:
    proc = invoke(pristine_repo, "tf-backend", "--env", "dev", env={"AWS_REGION": "us-east-1"})
    assert_one_line_usage_error(proc, "us-east-1", f"aws.region is {DEV_REGION}")
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_a_bucket_of_ours_in_another_region_is_left_alone(aws: Moto, pristine_repo: Path) -> None:
    """The state bucket exists and is ours, but in us-west-2 while cluster.yaml says eu-west-1: its
    state would live where nothing else of the environment does, so it is refused, not adopted."""
    elsewhere = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-west-2")
    elsewhere.client("s3", endpoint_url=aws.url).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    s3 = aws.client("s3")
    assert s3.head_bucket(Bucket=BUCKET)["BucketRegion"] == "us-west-2"
    before = bucket_state(s3)
    proc = invoke(pristine_repo, "tf-backend", "--env", "dev")
    assert_one_line_usage_error(
        proc, f"s3://{BUCKET} is in us-west-2, but clusters/dev/cluster.yaml aws.region is {DEV_REGION}", "nothing was changed"
    )
    assert bucket_state(s3) == before


@pytest.mark.parametrize("task", ["tf-backend", "secrets-init"])
def test_an_unknown_environment_is_a_usage_error(aws: Moto, pristine_repo: Path, task: str) -> None:
    proc = invoke(pristine_repo, task, "--env", "qa")
    assert_one_line_usage_error(proc, "--env qa: no file clusters/qa/cluster.yaml")


def test_a_bucket_of_another_account_is_left_alone(foreign_aws: Moto, pristine_repo: Path) -> None:
    # moto answers HeadBucket with 200 for another account's bucket (and ignores ExpectedBucketOwner),
    # as AWS does for a bucket whose policy lets us read it: only ListBuckets tells it is not ours.
    theirs = foreign_aws.client("s3", account=OTHER_ACCOUNT)
    theirs.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": DEV_REGION})
    before = bucket_state(theirs)
    ours = foreign_aws.iam_user("operator", [{"Effect": "Allow", "Action": "*", "Resource": "*"}], account=DEV_ACCOUNT)
    proc = invoke(pristine_repo, "tf-backend", "--env", "dev", env=ours)
    assert_one_line_usage_error(proc, f"s3://{BUCKET}", f"not owned by account {DEV_ACCOUNT}", "nothing was changed")
    assert bucket_state(theirs) == before
    assert foreign_aws.client("s3", account=DEV_ACCOUNT).list_buckets()["Buckets"] == []


def test_a_bucket_we_cannot_access_is_left_alone(foreign_aws: Moto, pristine_repo: Path) -> None:
    theirs = foreign_aws.client("s3", account=OTHER_ACCOUNT)
    theirs.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": DEV_REGION})
    before = bucket_state(theirs)
    # Stands in for another account's bucket that grants us nothing: HeadBucket answers 403.
    ours = foreign_aws.iam_user(
        "operator",
        [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]},
        ],
        account=DEV_ACCOUNT,
    )
    with foreign_aws.enforce_iam():
        proc = invoke(pristine_repo, "tf-backend", "--env", "dev", env=ours)
    assert_one_line_usage_error(proc, f"s3://{BUCKET}", "exists in another account or is not accessible", "nothing was changed")
    assert bucket_state(theirs) == before
    assert foreign_aws.client("s3", account=DEV_ACCOUNT).list_buckets()["Buckets"] == []


def test_registry_creates_the_shared_registry_stack_bucket_in_the_registry_account(aws: Moto, repo_copy: Path) -> None:
    cluster_yaml = repo_copy / "clusters/dev/cluster.yaml"
    # One account for everything: the registry lives in dev's account here.
    cluster_yaml.write_text(cluster_yaml.read_text().replace('account_id: "444444444444"', f'account_id: "{DEV_ACCOUNT}"'))
    proc = invoke(repo_copy, "tf-backend", "--env", "dev", "--registry", env=break_glass(aws))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bucket = f"airflow-registry-tfstate-{DEV_ACCOUNT}"
    assert f"airflow-registry-github-terraform-apply, {ROLE_PREFIX}{BREAK_GLASS}" in proc.stdout
    assert aws.client("kms").describe_key(KeyId="alias/airflow-registry-tfstate")["KeyMetadata"]["KeyManager"] == "CUSTOMER"
    assert aws.client("s3").get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_registry_refuses_credentials_of_another_account(aws: Moto, pristine_repo: Path) -> None:
    proc = invoke(pristine_repo, "tf-backend", "--env", "dev", "--registry")
    assert_one_line_usage_error(proc, "444444444444", DEV_ACCOUNT)
    assert aws.client("s3").list_buckets()["Buckets"] == []
