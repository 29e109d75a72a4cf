"""Unit tests of the pure parts of each stage; the corpus (tests/corpus) tests them end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from airflow_gitops.check import parse, render
from airflow_gitops.check.context import CheckContext
from airflow_gitops.check.rules import policy, validate
from airflow_gitops.check.rules.contracts import expand
from airflow_gitops.model.repo import ClusterConfig, Repo
from airflow_gitops.model.schemas import SchemaStore, strict
from tests.conftest import init_git

CONFIG = ClusterConfig(
    "dev",
    "clusters/dev/cluster.yaml",
    {
        "cluster": {"name": "airflow-dev"},
        "aws": {"account_id": "111111111111", "region": "eu-west-1"},
        "registry": {"account_id": "444444444444", "region": "us-east-1"},
        "airflow": {"hostname": "airflow.dev.example.com", "image_repository": "airflow"},
        "dns": {"zone": "dev.example.com"},
    },
)


def context_for(root: Path, files: dict[str, str]) -> CheckContext:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    init_git(root)
    repo = Repo(root)
    return CheckContext(repo=repo, schemas=SchemaStore(root), envs=["dev"])


# --- parse ---------------------------------------------------------------------------------
def test_parse_reports_file_and_line_and_skips_vendored_schemas(tmp_path: Path) -> None:
    ctx = context_for(
        tmp_path,
        {
            "clusters/dev/cluster.yaml": "a: 1\nb: [x\n",
            "apps/x/data.json": '{"a": }',
            "schemas/crds/big.yaml": "not: [valid\n",
            "apps/x/ok.yaml": "a: 1\n",
        },
    )
    parse.run(ctx)
    found = {(f.rule, f.file, f.line) for f in ctx.findings}
    # the parser notices the unclosed bracket at the end of the file; the finding names its line
    assert ("yaml-syntax", "clusters/dev/cluster.yaml", 2) in found
    assert ("json-syntax", "apps/x/data.json", 1) in found
    assert not [f for f in ctx.findings if f.file.startswith("schemas/")]
    assert ctx.broken_files == {"clusters/dev/cluster.yaml", "apps/x/data.json"}


# --- render --------------------------------------------------------------------------------
def test_render_names_the_kustomization_line_of_a_missing_file(tmp_path: Path) -> None:
    ctx = context_for(
        tmp_path,
        {
            "clusters/dev/cluster.yaml": "environment: dev\n",
            "clusters/dev/kustomization.yaml": "resources:\n  - ns.yaml\n  - gone.yaml\n",
            "clusters/dev/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n",
        },
    )
    render.run(ctx)
    [finding] = ctx.findings
    assert (finding.rule, finding.file, finding.line) == ("kustomize-missing-file", "clusters/dev/kustomization.yaml", 3)
    assert "clusters/dev/gone.yaml does not exist" in finding.message
    assert "dev" not in ctx.clusters


def test_render_keeps_clusters_that_build(tmp_path: Path) -> None:
    ctx = context_for(
        tmp_path,
        {
            "clusters/dev/cluster.yaml": "environment: dev\n",
            "clusters/dev/kustomization.yaml": "resources: [ns.yaml]\n",
            "clusters/dev/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n",
        },
    )
    render.run(ctx)
    assert ctx.findings == []
    [obj] = ctx.clusters["dev"].objects
    assert (obj.kind, obj.origin) == ("Namespace", "clusters/dev/ns.yaml")


# --- validate ------------------------------------------------------------------------------
def test_error_path_includes_the_unexpected_key() -> None:
    validator = jsonschema.Draft7Validator({"type": "object", "properties": {"a": {}}, "additionalProperties": False})
    [err] = validator.iter_errors({"a": 1, "typo": 2})
    assert validate._error_path(err) == ["typo"]


def test_strict_closes_listed_properties_but_respects_preserve_unknown_fields() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {"a": {"type": "string"}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"b": {}}},
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    closed = strict(schema)
    assert closed["additionalProperties"] is False
    assert closed["properties"]["spec"]["additionalProperties"] is False
    assert "additionalProperties" not in closed["properties"]["free"]
    assert closed["properties"]["map"]["additionalProperties"] == {"type": "string"}
    assert "additionalProperties" not in schema  # the input is left alone


# --- contracts -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("s3://{logs_bucket}/airflow", "s3://airflow-dev-logs-111111111111/airflow"),
        ("{registry}/{airflow.image_repository}", "444444444444.dkr.ecr.us-east-1.amazonaws.com/airflow"),
        ("{cluster_name}-karpenter", "airflow-dev-karpenter"),
        ("{dns.zone}", "dev.example.com"),
        ("{no.such.field}", ""),
    ],
)
def test_expand_derives_values_from_cluster_yaml(template: str, expected: str) -> None:
    assert expand(template, CONFIG) == expected


# --- policy --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "secret"),
    [("password", True), ("clientSecret", True), ("fernetKey", True), ("passwordSecretName", False), ("secretName", False)],
)
def test_secret_keys(key: str, secret: bool) -> None:
    assert bool(policy.SECRET_KEY.match(key)) is secret


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("postgresql://airflow:s3cret@db:5432/airflow", True),
        ("redis://:hunter2@redis:6379/0", False),  # no user part: caught by the key rule instead
        ("postgresql://{{ .username }}:{{ .password }}@pgbouncer:6543/db", False),  # an ESO template
        ("https://airflow.example.com", False),
    ],
)
def test_credentials_in_urls(value: str, secret: bool) -> None:
    assert bool(policy.CREDENTIALS_IN_URL.search(value)) is secret


def test_walk_yields_every_path() -> None:
    paths = [p for p, _ in policy.walk({"a": [{"b": 1}], "c": 2})]
    assert paths == [[], ["a"], ["a", 0], ["a", 0, "b"], ["c"]]
