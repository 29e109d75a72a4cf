"""The local AWS of rehearsals: one account per server, TLS with its own certificate, nothing left running."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import SSLError

from airflow_gitops.adapters.emulator import EmulatedAccount, emulated_account


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _listening(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _sts(account: EmulatedAccount, verify: str | bool | None) -> object:
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="eu-west-1")
    return session.client("sts", endpoint_url=account.url, verify=verify)


def test_a_tls_emulator_is_the_named_account_and_trusted_only_through_its_own_certificate(tmp_path: Path) -> None:
    with emulated_account("444444444444", tmp_path / "moto.log", tls=True) as account:
        assert account.url.startswith("https://127.0.0.1:")
        assert account.ca_bundle is not None and account.ca_bundle.is_file()
        identity = _sts(account, str(account.ca_bundle)).get_caller_identity()  # type: ignore[attr-defined]
        assert identity["Account"] == "444444444444"
        with pytest.raises(SSLError):
            _sts(account, True).get_caller_identity()  # type: ignore[attr-defined]
        env = account.environment("eu-west-1", {"AWS_PROFILE": "admin", "AWS_SESSION_TOKEN": "x", "PATH": "/bin"})
        assert env["AWS_ENDPOINT_URL"] == account.url and env["AWS_CA_BUNDLE"] == str(account.ca_bundle)
        assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env and env["PATH"] == "/bin"
        pid, url = account.pid, account.url
    assert not _running(pid)
    assert not _listening(url)


def test_the_emulator_stops_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), emulated_account("111111111111", tmp_path / "moto.log") as account:
        pid, url = account.pid, account.url
        assert account.url.startswith("http://") and account.ca_bundle is None
        raise RuntimeError("a step failed")
    assert not _running(pid)
    assert not _listening(url)


def test_aws_managed_policies_exist_as_in_every_real_account(tmp_path: Path) -> None:
    with emulated_account("111111111111", tmp_path / "moto.log") as account:
        session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="eu-west-1")
        iam = session.client("iam", endpoint_url=account.url)
        policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
        assert policy["Policy"]["PolicyName"] == "AmazonEKSClusterPolicy"
