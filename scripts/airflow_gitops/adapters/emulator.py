"""A local AWS for rehearsals: a moto server on 127.0.0.1, one AWS account per server.

The server runs in its own process group and is stopped, with everything it started, when the
`with` block ends, however it ends. Its state is in memory only, so stopping it leaves nothing.
With `tls`, it serves HTTPS with a certificate made for the run, so that bucket policies denying
insecure transport (aws:SecureTransport) hold as they do in AWS.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
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
import requests

from ..model.findings import UsageError

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
# Static credentials the server accepts; they open nothing outside it.
ACCESS_KEY = "test"
SECRET_KEY = "test"
# Variables of the caller's own AWS setup that would otherwise reach a rehearsal's tools.
HOST_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
)


@dataclass(frozen=True)
class EmulatedAccount:
    """One running moto server, standing in for one AWS account."""

    url: str
    account_id: str
    pid: int
    ca_bundle: Path | None = None

    def environment(self, region: str, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default: this process's environment) pointed at this account only: boto3, the AWS CLI
        and terraform's backend read these; the caller's profiles and tokens are removed."""
        env = {k: v for k, v in (base if base is not None else os.environ).items() if k not in HOST_AWS_VARIABLES}
        env.update(
            {
                "AWS_ENDPOINT_URL": self.url,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_CONFIG_FILE": os.devnull,
            }
        )
        if self.ca_bundle is not None:
            env["AWS_CA_BUNDLE"] = str(self.ca_bundle)
        else:
            env.pop("AWS_CA_BUNDLE", None)
        return env

    def client(self, service: str, region: str) -> Any:
        """A boto3 client of this account, trusting only the emulator's own certificate."""
        session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=region)
        verify = str(self.ca_bundle) if self.ca_bundle else None
        return session.client(service, endpoint_url=self.url, verify=verify)  # type: ignore[call-overload]


def moto_server_binary() -> str:
    """moto's server from this interpreter's environment first, then from PATH."""
    beside = Path(sys.executable).with_name("moto_server")
    if beside.is_file():
        return str(beside)
    found = shutil.which("moto_server")
    if not found:
        raise UsageError("moto_server not found; install the package with `make test` or `pip install 'moto[server]'`")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(account_id: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MOTO_ACCOUNT_ID"] = account_id
    # AWS managed policies (AmazonEKSClusterPolicy, ...) exist in every real account.
    env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    return env


def write_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day; (certificate, key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aws-emulator.localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "emulator.crt", folder / "emulator.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _wait_until_ready(proc: subprocess.Popen[bytes], url: str, log: Path, ca_bundle: Path | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-500:].strip().replace("\n", " | ")
            raise UsageError(f"moto_server exited with {proc.returncode} before answering; its log ends: {tail}")
        try:
            verify: str | bool = str(ca_bundle) if ca_bundle else True
            requests.get(f"{url}/moto-api/data.json", timeout=2, verify=verify).raise_for_status()
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise UsageError(f"moto_server did not answer on {url} within {START_TIMEOUT_SECONDS:.0f} s; see {log}") from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


@contextmanager
def emulated_account(account_id: str, log: Path, tls: bool = False) -> Iterator[EmulatedAccount]:
    """A moto server for `account_id` on a free port of 127.0.0.1, its output in `log` (and, with
    `tls`, its certificate beside it)."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [moto_server_binary(), "-H", "127.0.0.1", "-p", str(port)]
    ca_bundle = None
    if tls:
        ca_bundle, key = write_certificate(log.parent / f"tls-{port}")
        command += ["--ssl-cert", str(ca_bundle), "--ssl-key", str(key)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env=server_environment(account_id),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        _wait_until_ready(proc, url, log, ca_bundle)
        yield EmulatedAccount(url, account_id, proc.pid, ca_bundle)
    finally:
        _stop(proc)
