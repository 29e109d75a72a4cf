"""A real AWS stand-in for the online tasks: moto in server mode, one process per session.

`aws` points the standard AWS variables at a moto server whose one account is the dev account of
clusters/dev/cluster.yaml, reset before each test. `foreign_aws` is a second server without a fixed
account: there the account follows the access key, so a bucket can belong to another account than
the caller's. Both can enforce IAM (`enforce_iam`), which moto does after a reset of its auth count.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import yaml

from tests.conftest import REPO_ROOT

_DEV = yaml.safe_load((REPO_ROOT / "clusters/dev/cluster.yaml").read_text(encoding="utf-8"))
DEV_ACCOUNT = str(_DEV["aws"]["account_id"])
DEV_REGION = str(_DEV["aws"]["region"])
DEV_CLUSTER = str(_DEV["cluster"]["name"])
OTHER_ACCOUNT = "999999999999"
MOTO_SERVER = str(Path(sys.executable).with_name("moto_server"))
# Everything from the developer's own AWS setup that could leak into a test.
_HOST_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@dataclass(frozen=True)
class Moto:
    url: str

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        self._set_auth_count("inf")

    def _set_auth_count(self, count: str) -> None:
        requests.post(f"{self.url}/moto-api/reset-auth", data=count.encode(), timeout=10).raise_for_status()

    @contextmanager
    def enforce_iam(self) -> Iterator[None]:
        """From here on every request must be signed by a known IAM user and allowed by its policies."""
        self._set_auth_count("0")
        try:
            yield
        finally:
            self._set_auth_count("inf")

    def client(
        self, service: str, key: str = "test", secret: str = "test", account: str | None = None, session_token: str | None = None
    ) -> Any:
        """A boto3 client; `account` sends moto's x-moto-account-id (honoured only without MOTO_ACCOUNT_ID)."""
        session = boto3.session.Session(
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=session_token, region_name=DEV_REGION
        )
        client = session.client(service, endpoint_url=self.url)  # type: ignore[call-overload]
        if account:

            def add_account(request: Any, **_: Any) -> None:
                request.headers["x-moto-account-id"] = account

            client.meta.events.register("before-sign.*.*", add_account)
        return client

    def iam_user(self, name: str, statements: list[dict[str, Any]], account: str | None = None) -> dict[str, str]:
        """An IAM user with one inline policy; returns its keys as the variables the tasks read."""
        iam = self.client("iam", account=account)
        iam.create_user(UserName=name)
        policy = {"Version": "2012-10-17", "Statement": statements}
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    def role_session(self, name: str, statements: list[dict[str, Any]], account: str = DEV_ACCOUNT) -> dict[str, str]:
        """A role of the account with one inline policy (`<name>-policy`, replaced by a later call), and
        the variables of a session of it, as one has after assuming it."""
        iam = self.client("iam")
        trust = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
        try:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}))
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        policy = {"Version": "2012-10-17", "Statement": statements}
        iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
        role_arn = f"arn:aws:iam::{account}:role/{name}"
        credentials = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="pytest")["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _moto_server(log: Path, account: str | None) -> Iterator[Moto]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MOTO_ACCOUNT_ID"}
    if account:
        env["MOTO_ACCOUNT_ID"] = account
    with log.open("wb") as out:
        proc = subprocess.Popen([MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    moto = Moto(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto_server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                moto.reset()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer on port {port} within 30 s")
                time.sleep(0.1)
        yield moto
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    with _moto_server(tmp_path_factory.mktemp("moto") / "moto.log", DEV_ACCOUNT) as moto:
        yield moto


@pytest.fixture(scope="session")
def foreign_moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    with _moto_server(tmp_path_factory.mktemp("moto-foreign") / "moto.log", None) as moto:
        yield moto


def _point_at(moto: Moto, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Moto:
    moto.reset()
    for name in _HOST_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "aws-credentials").write_text("")
    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", DEV_REGION)
    return moto


@pytest.fixture
def aws(moto_server: Moto, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Moto:
    """The dev account, empty; the AWS variables point at it with credentials for that account."""
    return _point_at(moto_server, monkeypatch, tmp_path)


@pytest.fixture
def foreign_aws(foreign_moto_server: Moto, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Moto:
    """A moto with several accounts; the test supplies credentials for the dev account (`iam_user`)."""
    return _point_at(foreign_moto_server, monkeypatch, tmp_path)
