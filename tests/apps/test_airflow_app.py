"""The airflow app (apps/airflow/ and its per-environment files) against the chart's values schema,
the vendored CRDs, and the names that clusters/<env>/cluster.yaml determines."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import urllib.parse
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from airflow_gitops.model import yamlio

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "apps" / "airflow"
MANIFESTS = APP / "manifests"
ENVS = ("dev", "staging", "prod")
CHART_VERSION = "1.21.0"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
RELOAD = "secret.reloader.stakater.com/reload"
# Airflow's components, by their values key, and the static login they reach PgBouncer with.
AIRFLOW_COMPONENTS = ("scheduler", "apiServer", "triggerer", "dagProcessor", "workers.celery")
CLIENT_USER = "airflow"
CLIENT_PASSWORD_SECRET = "airflow/pgbouncer-client-password"
# Airflow's own database role, which PgBouncer logs in to RDS as (manifests/airflow-db.yaml).
ROLE_USER = "airflow"
ROLE_PASSWORD_SECRET = "airflow/metadata-db-password"
WAVE = "argocd.argoproj.io/sync-wave"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def deep_merge(base: Any, override: Any) -> Any:
    """Helm's layering of value files: maps merge, the later file wins, lists are replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override


def cluster(env: str) -> dict[str, Any]:
    data: dict[str, Any] = load(REPO_ROOT / "clusters" / env / "cluster.yaml")
    return data


def env_values(env: str) -> dict[str, Any]:
    data: dict[str, Any] = load(REPO_ROOT / "clusters" / env / "values" / "airflow.yaml")
    return data


def merged_values(env: str) -> dict[str, Any]:
    merged: dict[str, Any] = deep_merge(load(APP / "values.yaml"), env_values(env))
    return merged


@cache
def crd_schema(relative: str, version: str) -> dict[str, Any]:
    crd = load(REPO_ROOT / "schemas" / "crds" / relative)
    [entry] = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
    return schema


def manifests(kind: str) -> dict[str, dict[str, Any]]:
    """The app's plain manifests of one kind, by name."""
    return {d["metadata"]["name"]: d for f in sorted(MANIFESTS.glob("*.yaml")) for d in load_all(f) if d.get("kind") == kind}


def env_manifests(env: str) -> str:
    return f"clusters/{env}/manifests/airflow"


@cache
def rendered(env: str) -> tuple[dict[str, Any], ...]:
    """What the Application applies besides the chart, `kubectl kustomize clusters/<env>/manifests/airflow`:
    the shared manifests with the environment's facts."""
    out = subprocess.run(["kubectl", "kustomize", env_manifests(env)], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def external_secrets(env: str | None = None) -> dict[str, dict[str, Any]]:
    """The app's ExternalSecrets: the base files', or as the environment's manifests folder renders them."""
    if env is None:
        return manifests("ExternalSecret")
    return {d["metadata"]["name"]: copy.deepcopy(d) for d in rendered(env) if d["kind"] == "ExternalSecret"}


# --- values --------------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_merged_values_match_the_chart_schema(env: str) -> None:
    schema = json.loads((REPO_ROOT / "schemas" / "charts" / "airflow" / CHART_VERSION / "values.schema.json").read_text())
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(merged_values(env))
    ]
    assert errors == []


@pytest.mark.parametrize("env", ENVS)
def test_values_derived_from_cluster_yaml(env: str) -> None:
    c = cluster(env)
    v = merged_values(env)
    account, region, name = c["aws"]["account_id"], c["aws"]["region"], c["cluster"]["name"]
    registry = c["registry"]
    assert v["images"]["airflow"]["repository"] == (
        f"{registry['account_id']}.dkr.ecr.{registry['region']}.amazonaws.com/{c['airflow']['image_repository']}"
    )
    assert v["config"]["logging"]["remote_base_log_folder"] == f"s3://{name}-logs-{account}/airflow"
    assert v["ingress"]["apiServer"]["hosts"] == [{"name": c["airflow"]["hostname"]}]
    assert v["config"]["api"]["base_url"] == f"https://{c['airflow']['hostname']}"
    env_vars = {e["name"]: e["value"] for e in v["env"]}
    assert env_vars["AWS_REGION"] == env_vars["AWS_DEFAULT_REGION"] == region
    assert env_vars["FORWARDED_ALLOW_IPS"] == c["network"]["vpc_cidr"]


@pytest.mark.parametrize("env", ENVS)
def test_service_accounts_are_the_workload_identities(env: str) -> None:
    v = merged_values(env)
    accounts = {
        v[c]["serviceAccount"]["name"]
        for c in ("scheduler", "apiServer", "triggerer", "dagProcessor")
        if v[c]["serviceAccount"]["create"]
    }
    assert v["workers"]["celery"]["serviceAccount"]["create"] is True
    accounts.add(v["workers"]["celery"]["serviceAccount"]["name"])
    identities = {i["service_account"] for i in cluster(env)["workload_identities"].values() if i["namespace"] == "airflow"}
    assert accounts == identities


@pytest.mark.parametrize("env", ENVS)
def test_image_pins_carry_a_renovate_comment(env: str) -> None:
    path = REPO_ROOT / "clusters" / env / "values" / "airflow.yaml"
    text = path.read_text()
    lines = text.splitlines()
    image = env_values(env)["images"]["airflow"]
    tag_line = yamlio.line_of(text, ["images", "airflow", "tag"])
    assert tag_line is not None
    tag_line -= 1  # the index of the tag's line
    assert lines[tag_line - 1].strip() == f"# renovate: datasource=docker depName={image['repository']}"
    assert isinstance(image["tag"], str) and image["tag"] not in ("", "latest")
    if env == "dev":
        assert "digest" not in image  # Renovate moves dev by tag; promotion adds the digest
    else:
        assert DIGEST.match(image["digest"])
        assert lines[tag_line + 1].strip() == f"digest: {image['digest']}"


def test_environments_differ_as_designed() -> None:
    dev, staging, prod = (merged_values(e) for e in ENVS)
    assert dev["scheduler"]["replicas"] == 1
    assert staging["scheduler"]["replicas"] >= 2 and prod["scheduler"]["replicas"] >= 2
    assert prod["apiServer"]["replicas"] >= 2 and prod["triggerer"]["replicas"] >= 2
    keda = [v["workers"]["celery"]["keda"]["minReplicaCount"] for v in (dev, staging, prod)]
    assert keda == [0, 1, 2]
    assert {t["whenUnsatisfiable"] for t in prod["topologySpreadConstraints"]} == {"DoNotSchedule"}


def test_base_values_are_safe_under_argo_cd() -> None:
    v = load(APP / "values.yaml")
    assert v["migrateDatabaseJob"]["useHelmHooks"] is False
    assert v["migrateDatabaseJob"]["jobAnnotations"]["argocd.argoproj.io/hook"] == "Sync"
    assert v["createUserJob"] == {
        "enabled": False,
        "useHelmHooks": False,
        "serviceAccount": {"create": False},
    }
    assert v["postgresql"]["enabled"] is False
    # Every secret the chart could otherwise generate (randomly, at each render) is named.
    assert v["data"]["metadataSecretName"] and v["data"]["brokerUrlSecretName"]
    assert v["fernetKeySecretName"] and v["apiSecretKeySecretName"] and v["jwtSecretName"]
    assert v["redis"]["passwordSecretName"]
    assert v["pgbouncer"]["configSecretName"] and v["pgbouncer"]["metricsExporterSidecar"]["statsSecretName"]
    assert v["config"]["core"]["auth_manager"].endswith("FabAuthManager")


def test_secret_names_in_values_are_built_by_external_secrets() -> None:
    v = load(APP / "values.yaml")
    built = {es["spec"]["target"]["name"]: es for es in external_secrets().values()}

    def keys(name: str) -> set[str]:
        es = built[name]
        template = (es["spec"]["target"].get("template") or {}).get("data") or {}
        return set(template) or {d["secretKey"] for d in es["spec"].get("data", [])}

    expected = {
        v["data"]["metadataSecretName"]: {"connection"},
        v["data"]["brokerUrlSecretName"]: {"connection"},
        v["redis"]["passwordSecretName"]: {"password"},
        v["fernetKeySecretName"]: {"fernet-key"},
        v["apiSecretKeySecretName"]: {"api-secret-key"},
        v["jwtSecretName"]: {"jwt-secret"},
        v["pgbouncer"]["configSecretName"]: {"pgbouncer.ini", "users.txt"},
        v["pgbouncer"]["metricsExporterSidecar"]["statsSecretName"]: {v["pgbouncer"]["metricsExporterSidecar"]["statsSecretKey"]},
    }
    for name, needed in expected.items():
        assert name in built, name
        assert needed <= keys(name), name


def test_metadata_connection_points_at_pgbouncer_not_rds() -> None:
    template = external_secrets()["airflow-metadata-db"]["spec"]["target"]["template"]["data"]["connection"]
    assert "@airflow-pgbouncer.airflow.svc.cluster.local:6543/airflow-metadata?" in template
    assert "rds.amazonaws.com" not in template
    ini = external_secrets()["airflow-pgbouncer"]["spec"]["target"]["template"]["data"]["pgbouncer.ini"]
    assert "airflow-metadata = host={{ .host }}" in ini
    assert "server_tls_sslmode = require" in ini


@pytest.mark.parametrize("env", ENVS)
def test_airflow_components_are_not_rolled_on_a_password_rotation(env: str) -> None:
    """Their connection holds the static client login: only PgBouncer is rolled by Reloader."""
    v = merged_values(env)
    for key in AIRFLOW_COMPONENTS:
        component = v
        for part in key.split("."):
            component = component[part]
        annotations = component.get("annotations") or {}
        assert not [a for a in annotations if "reloader.stakater.com" in a], key
    assert not [a for a in v["workers"].get("annotations") or {} if "reloader.stakater.com" in a]
    assert v["pgbouncer"]["annotations"][RELOAD] == v["pgbouncer"]["configSecretName"]


@pytest.mark.parametrize("env", ("staging", "prod"))
def test_pgbouncer_rolls_without_an_outage(env: str) -> None:
    pgbouncer = merged_values(env)["pgbouncer"]
    assert pgbouncer["replicas"] >= 2
    assert pgbouncer["podDisruptionBudget"]["enabled"] is True
    assert pgbouncer["podDisruptionBudget"]["config"]["maxUnavailable"] < pgbouncer["replicas"]


# --- the database logins, rendered --------------------------------------------------------------
# External Secrets renders target.template with Go templates and sprig functions. The templates
# here use a small subset of them, which this evaluator implements; any other construct fails the
# test rather than render wrong. A key the ExternalSecret does not provide fails it too.
_ACTION = re.compile(r"\{\{(?:(-)\s)?(.*?)(?:\s(-))?\}\}", re.DOTALL)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|:=|\||[^\s|]+')
_FIELDS = re.compile(r"(\$\w+)?((?:\.[A-Za-z_]\w*)*)")
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "index": lambda obj, key: obj[key],
    "fromYaml": yaml.safe_load,
    # Go's url.QueryEscape: a space becomes "+", everything but [A-Za-z0-9_.~-] is %-escaped.
    "urlquery": lambda text: urllib.parse.quote_plus(str(text), safe=""),
    # sprig: replace OLD NEW SOURCE.
    "replace": lambda old, new, text: str(text).replace(old, new),
}


def _term(token: str, data: dict[str, Any], variables: dict[str, Any]) -> Any:
    if token == ".":
        return data
    if token.startswith('"'):
        return json.loads(token)
    if token.startswith("`"):
        return token[1:-1]
    match = _FIELDS.fullmatch(token)
    if not match or not (match.group(1) or match.group(2)):
        raise ValueError(f"unsupported template term {token!r}")
    value = variables[match.group(1)] if match.group(1) else data
    for field in match.group(2).split(".")[1:]:
        value = value[field]
    return value


def _pipeline(tokens: list[str], data: dict[str, Any], variables: dict[str, Any]) -> Any:
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token == "|":
            commands.append([])
        else:
            commands[-1].append(token)
    value: Any = None
    for i, (head, *args) in enumerate(commands):
        if head in _FUNCTIONS:
            argv = [_term(a, data, variables) for a in args] + ([value] if i else [])
            value = _FUNCTIONS[head](*argv)
        elif i == 0 and not args:
            value = _term(head, data, variables)
        else:
            raise ValueError(f"unsupported template command {head!r}")
    return value


def render_template(template: str, data: dict[str, Any]) -> str:
    out: list[str] = []
    variables: dict[str, Any] = {}
    pos, trim_next = 0, False
    for action in _ACTION.finditer(template):
        text = template[pos : action.start()]
        text = text.lstrip() if trim_next else text
        out.append(text.rstrip() if action.group(1) else text)
        tokens = _TOKEN.findall(action.group(2).strip())
        if len(tokens) > 2 and tokens[1] == ":=" and tokens[0].startswith("$"):
            variables[tokens[0]] = _pipeline(tokens[2:], data, variables)
        else:
            out.append(str(_pipeline(tokens, data, variables)))
        pos, trim_next = action.end(), bool(action.group(3))
    rest = template[pos:]
    out.append(rest.lstrip() if trim_next else rest)
    return "".join(out)


# Sample secrets with the characters each format must escape: quotes of both kinds, a space, and
# the URL delimiters.
CLIENT_PASSWORD = 'st\'atic "client" p@ss/w:rd+%?#'
ROLE_PASSWORD = 'ro\'le "server" p@ss/w;rd #%+'
MASTER = {"username": "air'flow_admin", "password": 'mast\'er "pa;ss" #1 %+@'}
ROTATED = {"username": MASTER["username"], "password": 'rot\'ated "pa;ss" #2 %+@'}
REMOTE = {
    ("airflow/metadata-db", "host"): "airflow-x.abcdefghijkl.eu-west-1.rds.amazonaws.com",
    ("airflow/metadata-db", "port"): "5432",
    ("airflow/metadata-db", "dbname"): "airflow",
    (CLIENT_PASSWORD_SECRET, None): CLIENT_PASSWORD,
    (ROLE_PASSWORD_SECRET, None): ROLE_PASSWORD,
    ("airflow/redis-password", None): 're\'dis "pa:ss" +',
}


def render_secret(es: dict[str, Any], master: dict[str, str] = MASTER) -> dict[str, str]:
    """The Secret External Secrets would write, from sample remote secrets (the RDS master secret for
    any dataFrom, as the environments' patches find it)."""
    data: dict[str, Any] = {}
    for item in es["spec"].get("data", []):
        ref = item["remoteRef"]
        data[item["secretKey"]] = REMOTE[(ref["key"], ref.get("property"))]
    for source in es["spec"].get("dataFrom", []):
        for rewrite in source["rewrite"]:
            data[rewrite["regexp"]["target"]] = json.dumps(master)
    return {key: render_template(text, data) for key, text in es["spec"]["target"]["template"]["data"].items()}


def parse_pgbouncer_ini(text: str) -> dict[str, dict[str, str]]:
    """Sections of key = value; comments are whole lines starting with ; or #, as in PgBouncer."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, raw
        key, value = line.split("=", 1)
        assert key.strip() not in current, f"{key.strip()} set twice"
        current[key.strip()] = value.strip()
    return sections


_CONNECT_PAIR = re.compile(r"\s*([^=\s]+)\s*=\s*(?:'((?:[^']|'')*)'|([^'\s]\S*))(?=\s|$)")


def parse_connect_string(text: str) -> dict[str, str]:
    """A [databases] entry: key=value pairs, a value single-quoted (a quote doubled inside) or
    running to the next space."""
    pairs: dict[str, str] = {}
    pos = 0
    while text[pos:].strip():
        match = _CONNECT_PAIR.match(text, pos)
        assert match, f"cannot parse {text[pos:]!r}"
        key, quoted, plain = match.groups()
        assert key not in pairs, f"{key} set twice"
        pairs[key] = quoted.replace("''", "'") if quoted is not None else plain
        pos = match.end()
    return pairs


_AUTH_LINE = re.compile(r'"((?:[^"]|"")*)"\s+"((?:[^"]|"")*)"')


def parse_users_txt(text: str) -> list[tuple[str, str]]:
    """PgBouncer's auth_file: "user" "password" per line, a double quote doubled inside."""
    users = []
    for line in text.splitlines():
        if line.strip():
            match = _AUTH_LINE.fullmatch(line.strip())
            assert match, line
            users.append((match.group(1).replace('""', '"'), match.group(2).replace('""', '"')))
    return users


def parse_postgres_url(url: str) -> dict[str, Any]:
    """As SQLAlchemy and libpq read it: user info %-decoded, never "+" as a space."""
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "postgresql" and parts.username is not None and parts.password is not None
    return {
        "user": urllib.parse.unquote(parts.username),
        "password": urllib.parse.unquote(parts.password),
        "host": parts.hostname,
        "port": parts.port,
        "dbname": parts.path.lstrip("/"),
        "query": urllib.parse.parse_qs(parts.query),
    }


def go_duration_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, text
    return sum(float(n) * units[u] for n, u in parts)


def test_template_evaluator_renders_go_semantics() -> None:
    data = {"k": "a b+'\"", "j": json.dumps({"u": "x"})}
    template = '{{- $m := index . "j" | fromYaml -}}\n  [{{ $m.u }}] {{ .k | urlquery }} {{ .k | replace "\'" "\'\'" -}}  !'
    assert render_template(template, data) == "[x] a+b%2B%27%22 a b+''\"!"
    with pytest.raises(KeyError):
        render_template("{{ .missing }}", data)
    with pytest.raises(ValueError):
        render_template("{{ .k | b64enc }}", data)


@pytest.mark.parametrize("env", ENVS)
def test_every_template_renders_from_what_its_external_secret_reads(env: str) -> None:
    for name, es in external_secrets(env).items():
        if es["spec"]["target"].get("template"):
            for key, text in render_secret(es).items():
                assert "{{" not in text and "}}" not in text, (name, key)


@pytest.mark.parametrize("env", ENVS)
def test_metadata_connection_is_the_static_client_login(env: str) -> None:
    es = external_secrets(env)["airflow-metadata-db"]
    assert "dataFrom" not in es["spec"]
    assert [d["remoteRef"] for d in es["spec"]["data"]] == [{"key": CLIENT_PASSWORD_SECRET}]
    connection = parse_postgres_url(render_secret(es)["connection"])
    assert connection == {
        "user": CLIENT_USER,
        "password": CLIENT_PASSWORD,
        "host": "airflow-pgbouncer.airflow.svc.cluster.local",
        "port": 6543,
        "dbname": "airflow-metadata",
        "query": {"sslmode": ["disable"]},
    }


@pytest.mark.parametrize("env", ENVS)
def test_pgbouncer_logs_in_to_rds_as_airflows_own_role(env: str) -> None:
    ini = parse_pgbouncer_ini(render_secret(external_secrets(env)["airflow-pgbouncer"])["pgbouncer.ini"])
    assert list(ini["databases"]) == ["airflow-metadata"]
    entry = parse_connect_string(ini["databases"]["airflow-metadata"])
    assert entry == {
        "host": REMOTE[("airflow/metadata-db", "host")],
        "port": REMOTE[("airflow/metadata-db", "port")],
        "dbname": REMOTE[("airflow/metadata-db", "dbname")],
        "user": ROLE_USER,
        "password": ROLE_PASSWORD,
        "pool_size": "20",
    }
    # The role the Job keeps, with the password it sets.
    container = manifests("Job")["airflow-db-role"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "AIRFLOW_DB_ROLE", "value": ROLE_USER} in container["env"]
    admin = render_secret(external_secrets(env)["airflow-db-admin"])
    assert admin["role-password"] == ROLE_PASSWORD
    # The Job connects as the master user to the same database, with TLS.
    service = parse_pgbouncer_ini(admin["pg_service.conf"])["airflow-db-admin"]
    assert service == {
        "host": entry["host"],
        "port": entry["port"],
        "dbname": entry["dbname"],
        "user": MASTER["username"],
        "password": MASTER["password"],
        "sslmode": "require",
    }
    settings = ini["pgbouncer"]
    # The chart's default; it accepts the plaintext password users.txt holds.
    assert settings["auth_type"] == "scram-sha-256"
    assert settings["auth_file"] == "/etc/pgbouncer/users.txt"
    assert settings["pool_mode"] == "transaction"
    assert settings["listen_port"] == "6543"
    assert settings["server_tls_sslmode"] == "require"


@pytest.mark.parametrize("env", ENVS)
def test_pgbouncer_clients_are_the_static_login_only(env: str) -> None:
    secret = render_secret(external_secrets(env)["airflow-pgbouncer"])
    assert parse_users_txt(secret["users.txt"]) == [(CLIENT_USER, CLIENT_PASSWORD)]
    assert ROLE_PASSWORD not in secret["users.txt"] and MASTER["password"] not in json.dumps(secret)
    # The metrics exporter reads the admin console as a stats user, with the same static login.
    ini = parse_pgbouncer_ini(secret["pgbouncer.ini"])
    assert [u.strip() for u in ini["pgbouncer"]["stats_users"].split(",")] == [CLIENT_USER]
    exporter = parse_postgres_url(secret["connection"])
    assert (exporter["user"], exporter["password"]) == (CLIENT_USER, CLIENT_PASSWORD)
    assert (exporter["host"], exporter["port"], exporter["dbname"]) == ("127.0.0.1", 6543, "pgbouncer")


@pytest.mark.parametrize("env", ENVS)
def test_a_master_rotation_changes_nothing_airflow_reads(env: str) -> None:
    """RDS rotating its master password changes the database role Job's Secret, and only its password."""
    for name, es in external_secrets(env).items():
        if es["spec"]["target"].get("template"):
            before, after = render_secret(es, MASTER), render_secret(es, ROTATED)
            changed = {key for key in before if before[key] != after[key]}
            assert changed == ({"pg_service.conf"} if name == "airflow-db-admin" else set()), name
            assert MASTER["password"] not in json.dumps(before) or name == "airflow-db-admin", name


@pytest.mark.parametrize("env", ENVS)
def test_only_the_database_role_job_reads_the_rds_secret(env: str) -> None:
    secrets = external_secrets(env)
    readers = {name for name, es in secrets.items() if "dataFrom" in es["spec"]}
    assert readers == {"airflow-db-admin"}
    assert secrets["airflow-db-admin"]["metadata"]["namespace"] == "airflow-db"
    assert "find" not in json.dumps(secrets["airflow-metadata-db"]) + json.dumps(secrets["airflow-pgbouncer"])
    # Nothing in namespace airflow can reach the unprefixed store, which finds the master secret.
    assert not [n for n, es in secrets.items() if es["metadata"]["namespace"] == "airflow" and "unprefixed" in json.dumps(es)]
    stores = {d["metadata"]["name"]: d for d in load_all(REPO_ROOT / "apps" / "external-secrets" / "cluster-secret-stores.yaml")}
    assert stores["aws-secrets-manager-unprefixed"]["spec"]["conditions"] == [{"namespaces": ["airflow-db"]}]
    # The Job's pod gets the Secret; no Airflow component names it.
    job = manifests("Job")["airflow-db-role"]["spec"]["template"]["spec"]
    assert [v["secret"]["secretName"] for v in job["volumes"] if "secret" in v] == ["airflow-db-admin"]
    assert "airflow-db-admin" not in (APP / "values.yaml").read_text()


def test_the_role_exists_before_pgbouncer_logs_in_with_it() -> None:
    """Inside the airflow Application: the Job's Secret, the Job (a Sync hook, re-run at every sync),
    then PgBouncer's Secret, then PgBouncer; so a first sync creates the role before PgBouncer uses it."""
    secrets, job = external_secrets(), manifests("Job")["airflow-db-role"]
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "Sync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    pgbouncer_wave = load(APP / "values.yaml")["pgbouncer"]["annotations"][WAVE]
    waves = [
        int(secrets["airflow-db-admin"]["metadata"]["annotations"][WAVE]),
        int(annotations[WAVE]),
        int(secrets["airflow-pgbouncer"]["metadata"]["annotations"][WAVE]),
        int(pgbouncer_wave),
    ]
    assert waves == sorted(waves) and len(set(waves)) == 4, waves


# --- manifests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_external_secrets_match_the_crd(env: str) -> None:
    schema = crd_schema("external-secrets/v2.9.0/external-secrets.io_externalsecrets.yaml", "v1")
    for name, es in external_secrets(env).items():
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(es)]
        assert errors == [], name
        # Before the chart's pods (wave 0) and PgBouncer (-1) that mount them.
        assert int(es["metadata"]["annotations"][WAVE]) < -1, name


@pytest.mark.parametrize("env", ENVS)
def test_rds_master_secret_is_found_by_this_environments_instance(env: str) -> None:
    c = cluster(env)
    arn = f"arn:aws:rds:{c['aws']['region']}:{c['aws']['account_id']}:db:{c['cluster']['name']}-airflow"
    [source] = external_secrets(env)["airflow-db-admin"]["spec"]["dataFrom"]
    assert source["sourceRef"]["storeRef"] == {
        "kind": "ClusterSecretStore",
        "name": "aws-secrets-manager-unprefixed",
    }
    assert source["find"]["tags"] == {"aws:rds:primaryDBInstanceArn": arn}
    assert source["rewrite"] == [{"regexp": {"source": "^.*$", "target": "rds-master"}}]


def test_base_external_secrets_name_no_environment() -> None:
    # The registry is every environment's (cluster.yaml registry, the same in each): the psql image's.
    registry = {cluster(env)["registry"]["account_id"] for env in ENVS}
    text = "".join(f.read_text() for f in MANIFESTS.glob("*.yaml"))
    assert "arn:aws" not in text
    assert set(re.findall(r"\b\d{12}\b", text)) <= registry
    for name, es in external_secrets().items():
        assert es["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "aws-secrets-manager"}
        if name == "airflow-db-admin":  # its RDS ARN comes from clusters/<env>/facts/cluster-facts.yaml
            [source] = es["spec"]["dataFrom"]
            assert source["find"]["tags"] == {"aws:rds:primaryDBInstanceArn": "from-cluster-facts"}
        else:
            assert "dataFrom" not in es["spec"]


@pytest.mark.parametrize("env", ENVS)
def test_application_with_this_environments_sources(env: str) -> None:
    c = cluster(env)
    base = load(APP / "application.yaml")
    assert "sources" not in base["spec"] and "source" not in base["spec"]
    app = deep_merge(base, load(REPO_ROOT / "clusters" / env / "apps" / "airflow.yaml"))
    schema = crd_schema("argo-cd/v3.5.1/application-crd.yaml", "v1alpha1")
    assert [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(app)] == []
    chart, values, plain = app["spec"]["sources"]
    assert chart == {
        "repoURL": "https://airflow.apache.org",
        "chart": "airflow",
        "targetRevision": CHART_VERSION,
        "helm": {
            "releaseName": "airflow",
            "valueFiles": ["$values/apps/airflow/values.yaml", f"$values/clusters/{env}/values/airflow.yaml"],
        },
    }
    assert values == {
        "repoURL": c["gitops"]["repo_url"],
        "targetRevision": c["gitops"]["revision"],
        "ref": "values",
    }
    assert plain == {
        "repoURL": c["gitops"]["repo_url"],
        "targetRevision": c["gitops"]["revision"],
        "path": f"clusters/{env}/manifests/airflow",
    }
    assert app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "20"
    assert app["spec"]["project"] == "airflow"


@pytest.mark.parametrize("env", ENVS)
def test_environment_kustomizations_apply_the_patches(env: str) -> None:
    kustomization = load(REPO_ROOT / "clusters" / env / "kustomization.yaml")
    patches = [p["path"] for p in kustomization["patches"]]
    assert "apps/airflow.yaml" in patches
    assert "../../apps/airflow" in kustomization["resources"]
    # The RDS ARN of airflow-db-admin, like the other facts of plain manifests, from the facts folder that
    # both the root and the airflow Application's manifests list.
    assert "facts" in kustomization["resources"]
    assert kustomization["components"] == ["../../components/cluster-facts"]
    own = load(REPO_ROOT / env_manifests(env) / "kustomization.yaml")
    assert own["resources"] == ["../../../../apps/airflow/manifests", "../../facts"]
    assert own["components"] == ["../../../../components/cluster-facts"]
    assert "patches" not in own
    # The root Application renders the Application and the namespaces, nothing inside them.
    assert load(APP / "kustomization.yaml")["resources"] == ["application.yaml", "namespace.yaml"]


def test_namespaces_enforce_restricted_before_anything_lands() -> None:
    namespaces = {ns["metadata"]["name"]: ns for ns in load_all(APP / "namespace.yaml")}
    assert set(namespaces) == {"airflow", "airflow-tasks", "airflow-db"}
    app_wave = int(load(APP / "application.yaml")["metadata"]["annotations"][WAVE])
    for ns in namespaces.values():
        labels = ns["metadata"]["labels"]
        assert [labels[f"pod-security.kubernetes.io/{mode}"] for mode in ("enforce", "warn", "audit")] == ["restricted"] * 3
        assert int(ns["metadata"]["annotations"][WAVE]) < app_wave


@pytest.mark.parametrize("env", ENVS)
def test_tokens_are_mounted_only_where_the_api_is_called(env: str) -> None:
    v = merged_values(env)
    accounts = {
        key: v[key]["serviceAccount"]
        for key in ("scheduler", "apiServer", "triggerer", "dagProcessor", "pgbouncer", "redis", "statsd", "migrateDatabaseJob")
    }
    assert {key: sa.get("automountServiceAccountToken") for key, sa in accounts.items()} == dict.fromkeys(accounts, False)
    # KubernetesPodOperator runs in the workers, with their token.
    assert v["workers"]["celery"]["serviceAccount"]["automountServiceAccountToken"] is True
    assert v["allowPodLaunching"] is False
    assert v["apiServer"]["allowPodLogReading"] is False and v["webserver"]["allowPodLogReading"] is False


@pytest.mark.parametrize("env", ENVS)
def test_the_alb_refuses_the_execution_api_and_carries_the_edge(env: str) -> None:
    ingress = merged_values(env)["ingress"]["apiServer"]
    annotations = ingress["annotations"]
    # /execution goes to the action named after the API server Service (release airflow), a fixed 403.
    assert ingress["precedingPaths"] == [{"path": "/execution", "pathType": "Prefix", "servicePort": "use-annotation"}]
    action = json.loads(annotations["alb.ingress.kubernetes.io/actions.airflow-api-server"])
    assert action == {
        "type": "fixed-response",
        "fixedResponseConfig": {"contentType": "text/plain", "statusCode": "403", "messageBody": "Forbidden"},
    }
    c = cluster(env)
    assert annotations["alb.ingress.kubernetes.io/wafv2-acl-name"] == f"{c['cluster']['name']}-airflow"
    attributes = dict(
        a.strip().split("=", 1) for a in annotations["alb.ingress.kubernetes.io/load-balancer-attributes"].split(",")
    )
    assert attributes == {
        "access_logs.s3.enabled": "true",
        "access_logs.s3.bucket": f"{c['cluster']['name']}-alb-logs-{c['aws']['account_id']}",
        "access_logs.s3.prefix": "airflow",
        "routing.http.drop_invalid_header_fields.enabled": "true",
    }


def test_auth_config_map_is_generated_under_the_name_values_mount() -> None:
    kustomization = load(MANIFESTS / "kustomization.yaml")
    [generator] = [g for g in kustomization["configMapGenerator"] if g["name"] == "airflow-api-server-config"]
    values = load(APP / "values.yaml")
    assert generator["options"]["disableNameSuffixHash"] is True
    assert generator["name"] == values["apiServer"]["apiServerConfigConfigMapName"]
    assert sorted(Path(f).name for f in generator["files"]) == ["cognito_roles.py", "webserver_config.py"]
    [volume] = values["apiServer"]["extraVolumes"]
    [mount] = values["apiServer"]["extraVolumeMounts"]
    assert volume["configMap"]["name"] == generator["name"]
    assert mount["mountPath"] == "/opt/airflow/config/cognito_roles.py"
