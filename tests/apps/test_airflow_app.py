"""The airflow app (apps/airflow/ and its per-environment files) against the chart's values schema,
the vendored CRDs, and the names that clusters/<env>/cluster.yaml determines."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "apps" / "airflow"
ENVS = ("dev", "staging", "prod")
CHART_VERSION = "1.21.0"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


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


def external_secrets(env: str | None = None) -> dict[str, dict[str, Any]]:
    """The app's ExternalSecrets, with the environment's patch applied as kustomize does for a CR
    (a JSON merge patch: maps merge, lists are replaced)."""
    secrets = {d["metadata"]["name"]: d for d in load_all(APP / "external-secrets.yaml")}
    if env is not None:
        for patch in load_all(REPO_ROOT / "clusters" / env / "patches" / "airflow-metadata-db.yaml"):
            name = patch["metadata"]["name"]
            secrets[name] = deep_merge(secrets[name], patch)
    return secrets


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
    assert v["images"]["airflow"]["repository"] == (
        f"{account}.dkr.ecr.{region}.amazonaws.com/{c['airflow']['image_repository']}"
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
    lines = path.read_text().splitlines()
    image = env_values(env)["images"]["airflow"]
    [tag_line] = [i for i, line in enumerate(lines) if line.strip().startswith("tag:")]
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


# --- manifests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVS)
def test_external_secrets_match_the_crd(env: str) -> None:
    schema = crd_schema("external-secrets/v2.9.0/external-secrets.io_externalsecrets.yaml", "v1")
    for name, es in external_secrets(env).items():
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(es)]
        assert errors == [], name
        annotations = es["metadata"]["annotations"]
        assert annotations["argocd.argoproj.io/sync-wave"] == "10"
        assert annotations["argocd.argoproj.io/sync-options"] == "SkipDryRunOnMissingResource=true"


@pytest.mark.parametrize("env", ENVS)
def test_rds_master_secret_is_found_by_this_environments_instance(env: str) -> None:
    c = cluster(env)
    arn = f"arn:aws:rds:{c['aws']['region']}:{c['aws']['account_id']}:db:{c['cluster']['name']}-airflow"
    for name in ("airflow-metadata-db", "airflow-pgbouncer"):
        [source] = external_secrets(env)[name]["spec"]["dataFrom"]
        assert source["sourceRef"]["storeRef"] == {
            "kind": "ClusterSecretStore",
            "name": "aws-secrets-manager-unprefixed",
        }
        assert source["find"]["tags"] == {"aws:rds:primaryDBInstanceArn": arn}
        assert source["rewrite"] == [{"regexp": {"source": "^.*$", "target": "rds-master"}}]


def test_base_external_secrets_name_no_environment() -> None:
    text = (APP / "external-secrets.yaml").read_text()
    assert "arn:aws" not in text
    assert not re.search(r"\b\d{12}\b", text)
    for es in external_secrets().values():
        assert es["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "aws-secrets-manager"}
        assert "dataFrom" not in es["spec"]


@pytest.mark.parametrize("env", ENVS)
def test_application_with_this_environments_sources(env: str) -> None:
    c = cluster(env)
    base = load(APP / "application.yaml")
    assert "sources" not in base["spec"] and "source" not in base["spec"]
    app = deep_merge(base, load(REPO_ROOT / "clusters" / env / "apps" / "airflow.yaml"))
    schema = crd_schema("argo-cd/v3.5.1/application-crd.yaml", "v1alpha1")
    assert [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(app)] == []
    chart, values = app["spec"]["sources"]
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
    assert app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "20"
    assert app["spec"]["project"] == "airflow"


@pytest.mark.parametrize("env", ENVS)
def test_environment_kustomization_applies_the_patches(env: str) -> None:
    kustomization = load(REPO_ROOT / "clusters" / env / "kustomization.yaml")
    patches = [p["path"] for p in kustomization["patches"]]
    assert "apps/airflow.yaml" in patches
    assert "patches/airflow-metadata-db.yaml" in patches
    assert "../../apps/airflow" in kustomization["resources"]


def test_namespace_enforces_restricted_before_anything_lands() -> None:
    ns = load(APP / "namespace.yaml")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-5"


def test_auth_config_map_is_generated_under_the_name_values_mount() -> None:
    kustomization = load(APP / "kustomization.yaml")
    [generator] = kustomization["configMapGenerator"]
    values = load(APP / "values.yaml")
    assert generator["options"]["disableNameSuffixHash"] is True
    assert generator["name"] == values["apiServer"]["apiServerConfigConfigMapName"]
    assert sorted(Path(f).name for f in generator["files"]) == ["cognito_roles.py", "webserver_config.py"]
    [volume] = values["apiServer"]["extraVolumes"]
    [mount] = values["apiServer"]["extraVolumeMounts"]
    assert volume["configMap"]["name"] == generator["name"]
    assert mount["mountPath"] == "/opt/airflow/config/cognito_roles.py"
