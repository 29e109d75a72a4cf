"""Airflow's own database role (apps/airflow/manifests/db/airflow-role.sql), proven against a real
PostgreSQL server that the test starts with initdb and pg_ctl on 127.0.0.1 in a temporary folder.

The script runs as RDS runs the Job's psql: as a master user that is not a superuser but has CREATEROLE
and CREATEDB (RDS's rds_superuser), connected over TCP with a SCRAM password to a metadata database it
owns, where Airflow's tables already exist (they were created while PgBouncer logged in as the master
user). A first run, a second run and a changed password; and the runs it must refuse.

`make test` installs Debian's postgresql where initdb is missing (the Makefile's `postgres` step).
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "apps/airflow/manifests/db/airflow-role.sql"
JOB_FILE = REPO_ROOT / "apps/airflow/manifests/airflow-db.yaml"
SUPERUSER = "postgres"


def postgres_bin() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<major>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return candidates[-1].parent if candidates else None


BIN = postgres_bin()
pytestmark = pytest.mark.skipif(BIN is None, reason="PostgreSQL's initdb is missing: `make test` installs Debian's postgresql")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    port: int
    superuser_password: str

    def psql(
        self, user: str, password: str, database: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        assert BIN is not None
        environment = {
            "PATH": os.environ.get("PATH", ""),
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": user,
            "PGPASSWORD": password,
            "PGDATABASE": database,
            "PGSSLMODE": "disable",
            "PGCONNECT_TIMEOUT": "5",
            **(env or {}),
        }
        return subprocess.run(
            [str(BIN / "psql"), "--no-psqlrc", *args], capture_output=True, text=True, env=environment, timeout=60
        )

    def query(self, user: str, password: str, database: str, sql: str) -> str:
        proc = self.psql(user, password, database, "--tuples-only", "--no-align", "--set=ON_ERROR_STOP=1", "--command", sql)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def admin(self, sql: str, database: str = "postgres") -> str:
        return self.query(SUPERUSER, self.superuser_password, database, sql)

    def can_log_in(self, user: str, password: str, database: str) -> bool:
        proc = self.psql(user, password, database, "--tuples-only", "--no-align", "--command", "SELECT current_user")
        return proc.returncode == 0 and proc.stdout.strip() == user


def _as_postgres_user() -> dict[str, Any]:
    """initdb and postgres refuse to run as root: then they run as Debian's postgres user."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam("postgres")
    return {"user": account.pw_uid, "group": account.pw_gid}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    assert BIN is not None
    # A folder of its own under the system's temporary directory: pytest's own is private to the user
    # running the tests, and the server may run as another one.
    folder = Path(tempfile.mkdtemp(prefix="airflow-db-role-"))
    run_as = _as_postgres_user()
    if run_as:
        os.chown(folder, run_as["user"], run_as["group"])
    password = secrets.token_urlsafe(24)
    (folder / "pwfile").write_text(password + "\n")
    if run_as:
        os.chown(folder / "pwfile", run_as["user"], run_as["group"])
    data, port = folder / "data", free_port()
    subprocess.run(
        [str(BIN / "initdb"), "--pgdata", str(data), "--username", SUPERUSER, "--pwfile", str(folder / "pwfile"),
         "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-instructions", "--no-sync"],
        check=True, capture_output=True, text=True, **run_as,
    )  # fmt: skip
    # A throwaway server: no durability asked of the disk.
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} -c password_encryption=scram-sha-256"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    subprocess.run(
        [str(BIN / "pg_ctl"), "--pgdata", str(data), "--log", str(folder / "server.log"), "--options", options, "--wait", "start"],
        check=True, capture_output=True, text=True, **run_as,
    )  # fmt: skip
    try:
        yield Server(port, password)
    finally:
        subprocess.run(
            [str(BIN / "pg_ctl"), "--pgdata", str(data), "--mode", "immediate", "--wait", "stop"], capture_output=True, **run_as
        )
        shutil.rmtree(folder, ignore_errors=True)


# What Airflow left in the metadata database while PgBouncer logged in as the master user: tables with
# serial and identity columns, an index, a standalone sequence, a view, an enum type and a function.
EXISTING_SCHEMA = """
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('29ce7909c52b');
CREATE TABLE dag (dag_id varchar(250) PRIMARY KEY, is_paused boolean);
CREATE TABLE task_instance (id serial PRIMARY KEY, dag_id varchar(250) REFERENCES dag, state varchar(20));
CREATE TABLE log (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, event varchar(60));
CREATE INDEX ti_state ON task_instance (state);
CREATE SEQUENCE standalone_seq;
CREATE VIEW running AS SELECT * FROM task_instance WHERE state = 'running';
CREATE TYPE run_state AS ENUM ('queued', 'running', 'success', 'failed');
CREATE FUNCTION touch() RETURNS integer LANGUAGE sql AS 'SELECT 1';
INSERT INTO dag VALUES ('platform_smoke', false);
"""


@dataclass
class Rds:
    """One metadata database and its master user, as RDS creates them; names unique per test."""

    server: Server
    master: str
    master_password: str
    database: str
    role: str
    secrets: Path  # what the Job mounts from its Secret: the service file and the role's password

    def run(self, password: str | None, role: str | None = None) -> subprocess.CompletedProcess[str]:
        """The script as the Job runs it: the connection from a libpq service file, the password from a file."""
        service = self.secrets / "pg_service.conf"
        service.write_text(
            f"[airflow-db-admin]\nhost=127.0.0.1\nport={self.server.port}\ndbname={self.database}\n"
            f"user={self.master}\npassword={self.master_password}\nsslmode=disable\n"
        )
        password_file = self.secrets / "role-password"
        password_file.unlink(missing_ok=True)
        if password is not None:
            password_file.write_text(password)
        env = {
            "AIRFLOW_DB_ROLE": role if role is not None else self.role,
            "AIRFLOW_DB_ROLE_PASSWORD_FILE": str(password_file),
            "PGSERVICEFILE": str(service),
            "PGSERVICE": "airflow-db-admin",
        }
        assert BIN is not None
        environment = {"PATH": os.environ.get("PATH", ""), "PGCONNECT_TIMEOUT": "5", **env}
        return subprocess.run(
            [str(BIN / "psql"), "--no-psqlrc", "--set=ON_ERROR_STOP=1", f"--file={SCRIPT}"],
            capture_output=True, text=True, env=environment, timeout=60,
        )  # fmt: skip

    def query(self, sql: str) -> str:
        return self.server.query(self.master, self.master_password, self.database, sql)

    def owners(self) -> dict[str, str]:
        """The owner of every object of the public schema, and of the database itself."""
        rows = self.server.admin(
            """
            SELECT 'class ' || c.relname || ' ' || pg_get_userbyid(c.relowner) FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
            UNION ALL SELECT 'type ' || t.typname || ' ' || pg_get_userbyid(t.typowner) FROM pg_type t
              JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e'
            UNION ALL SELECT 'function ' || p.proname || ' ' || pg_get_userbyid(p.proowner) FROM pg_proc p
              JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
            UNION ALL SELECT 'database ' || datname || ' ' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()
            """,
            self.database,
        )
        pairs = (line.rsplit(" ", 1) for line in rows.splitlines())
        return {what: owner for what, owner in pairs}

    def state(self) -> dict[str, Any]:
        """Everything a run may change, but the password's salted verifier."""
        attributes = self.server.admin(
            "SELECT rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, "
            f"rolconnlimit, rolvaliduntil FROM pg_roles WHERE rolname = '{self.role}'"
        )
        members = self.server.admin(
            "SELECT pg_get_userbyid(member) || ' in ' || pg_get_userbyid(roleid) FROM pg_auth_members "
            f"WHERE roleid = (SELECT oid FROM pg_roles WHERE rolname = '{self.role}') ORDER BY 1"
        )
        acl = self.server.admin(f"SELECT datacl FROM pg_database WHERE datname = '{self.database}'")
        return {"attributes": attributes, "members": members, "acl": acl, "owners": self.owners()}


@pytest.fixture
def rds(server: Server, tmp_path: Path) -> Rds:
    suffix = secrets.token_hex(4)
    master, database, role = f"admin_{suffix}", f"airflow_{suffix}", f"airflow_role_{suffix}"
    master_password = secrets.token_urlsafe(24)
    server.admin(f"CREATE ROLE {master} LOGIN CREATEROLE CREATEDB PASSWORD '{master_password}'")
    server.admin(f"CREATE DATABASE {database} OWNER {master}")
    server.query(master, master_password, database, EXISTING_SCHEMA)
    return Rds(server, master, master_password, database, role, tmp_path)


def password() -> str:
    return secrets.token_urlsafe(48)  # what invoke secrets-init generates


def test_the_job_runs_this_script_with_the_inputs_it_reads() -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all(JOB_FILE.read_text())}
    pod = docs["Job"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["psql", "--no-psqlrc", "--set=ON_ERROR_STOP=1", f"--file=/sql/{SCRIPT.name}"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert set(re.findall(r"\\getenv \w+ (\w+)", SCRIPT.read_text())) <= set(env)
    # The Secret is mounted as files, never as environment variables: the service file with the
    # master login, and the role's password, both keys of the ExternalSecret's template.
    assert "envFrom" not in container
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "admin"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "admin"]
    assert volume["secret"]["secretName"] == docs["ExternalSecret"]["spec"]["target"]["name"]
    template = docs["ExternalSecret"]["spec"]["target"]["template"]["data"]
    assert env["PGSERVICEFILE"] == f"{mount['mountPath']}/pg_service.conf" and "pg_service.conf" in template
    assert env["AIRFLOW_DB_ROLE_PASSWORD_FILE"] == f"{mount['mountPath']}/role-password" and "role-password" in template
    assert f"[{env['PGSERVICE']}]" in template["pg_service.conf"]
    # The role PgBouncer logs in as (apps/airflow/manifests/external-secrets.yaml) is the one the Job keeps.
    assert env["AIRFLOW_DB_ROLE"] == "airflow"
    ini = (REPO_ROOT / "apps/airflow/manifests/external-secrets.yaml").read_text()
    assert f"user={env['AIRFLOW_DB_ROLE']} password=" in ini


def test_first_run_creates_the_role_and_hands_it_the_database(rds: Rds) -> None:
    secret = password()
    assert rds.owners()[f"database {rds.database}"] == rds.master
    proc = rds.run(secret)
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr

    # It logs in with the password, over TCP with SCRAM, and may do nothing beyond its database.
    assert rds.server.can_log_in(rds.role, secret, rds.database)
    flags = rds.server.admin(
        f"SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname = '{rds.role}'"
    )
    assert flags == "f|f|f|t"
    verifier = rds.server.admin(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{rds.role}'")
    assert verifier.startswith("SCRAM-SHA-256$")

    # It owns the database and everything Airflow had created in it as the master user.
    owners = rds.owners()
    assert owners, "no objects found"
    assert set(owners.values()) == {rds.role}, owners
    assert owners["class task_instance_id_seq"] == rds.role and owners["class standalone_seq"] == rds.role

    # So Airflow's migrations work through it: alter an existing table, create a new one.
    role = rds.server
    assert role.query(rds.role, secret, rds.database, "ALTER TABLE dag ADD COLUMN owners varchar(2000)") == "ALTER TABLE"
    assert role.query(rds.role, secret, rds.database, "CREATE TABLE new_table (id int)") == "CREATE TABLE"
    assert role.query(rds.role, secret, rds.database, "SELECT dag_id FROM dag") == "platform_smoke"

    # Nobody else may connect to the database; the master user still can (break-glass).
    other, other_password = f"other_{secrets.token_hex(4)}", password()
    rds.server.admin(f"CREATE ROLE {other} LOGIN PASSWORD '{other_password}'")
    assert not rds.server.can_log_in(other, other_password, rds.database)
    assert rds.query("SELECT count(*) FROM dag") == "1"


def test_a_second_run_changes_nothing(rds: Rds) -> None:
    secret = password()
    assert rds.run(secret).returncode == 0
    before = rds.state()
    proc = rds.run(secret)
    assert proc.returncode == 0, proc.stderr
    assert rds.state() == before
    assert rds.server.can_log_in(rds.role, secret, rds.database)


def test_a_changed_password_replaces_the_old_one(rds: Rds) -> None:
    old, new = password(), password()
    assert rds.run(old).returncode == 0
    proc = rds.run(new)
    assert proc.returncode == 0, proc.stderr
    assert new not in proc.stdout + proc.stderr
    assert rds.server.can_log_in(rds.role, new, rds.database)
    assert not rds.server.can_log_in(rds.role, old, rds.database)
    assert set(rds.owners().values()) == {rds.role}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no password", "missing or shorter than 16 characters"),
        ("short password", "missing or shorter than 16 characters"),
        ("the master itself", "names the user that runs this script"),
    ],
)
def test_bad_inputs_are_refused_and_change_nothing(rds: Rds, case: str, message: str) -> None:
    before = rds.owners()
    if case == "no password":
        proc = rds.run(None)
    elif case == "short password":
        proc = rds.run("too-short")
    else:
        proc = rds.run(password(), role=rds.master)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert rds.server.admin(f"SELECT count(*) FROM pg_roles WHERE rolname = '{rds.role}'") == "0"
    assert rds.owners() == before
    assert rds.server.can_log_in(rds.master, rds.master_password, rds.database)
