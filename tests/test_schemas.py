from __future__ import annotations

from pathlib import Path

from airflow_gitops.model.schemas import SchemaStore, kube_minor, parse_catalog
from tests.conftest import REPO_ROOT


def store() -> SchemaStore:
    return SchemaStore(REPO_ROOT)


def test_kube_minor() -> None:
    assert kube_minor("v1.34.2") == "1.34"
    assert kube_minor("1.30") == "1.30"


def test_builtin_validator_is_strict_and_reused() -> None:
    s = store()
    validator = s.builtin_validator("1.34", "v1", "ConfigMap")
    assert validator is not None
    assert s.builtin_validator("1.34", "v1", "ConfigMap") is validator
    errors = [
        e.message
        for e in validator.iter_errors(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": 1}, "extra": True}
        )
    ]
    assert any("extra" in m for m in errors) and any("not of type" in m for m in errors)


def test_builtin_validator_knows_grouped_kinds_and_refuses_unknown_ones() -> None:
    s = store()
    assert s.builtin_validator("1.34", "rbac.authorization.k8s.io/v1", "ClusterRole") is not None
    assert s.builtin_validator("1.34", "networking.k8s.io/v1", "Ingress") is not None
    assert s.builtin_validator("1.34", "karpenter.sh/v1", "NodePool") is None
    assert s.builtin_validator("1.10", "v1", "ConfigMap") is None  # older than any bundled schema


def test_crds_are_indexed_by_group_version_kind() -> None:
    s = store()
    crds = s.crds_in("schemas/crds/karpenter/v1.14.1")
    assert ("karpenter.sh", "v1", "NodePool") in crds
    validator = s.crd_validator("schemas/crds/karpenter/v1.14.1", ("karpenter.sh", "v1", "NodePool"))
    assert validator is not None
    bad = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "x"},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "d"},
                    "requirements": [{"key": "k", "operator": "Sometimes", "values": ["a"]}],
                }
            }
        },
    }
    assert any("Sometimes" in e.message for e in validator.iter_errors(bad))


def test_every_vendored_folder_has_a_source_note() -> None:
    for kind in ("crds", "charts", "generated"):
        folders = [p for p in (REPO_ROOT / "schemas" / kind).glob("*/*") if p.is_dir()]
        assert folders, kind
        for folder in folders:
            assert (folder / "SOURCE.md").is_file(), folder


def test_every_chart_without_a_complete_published_schema_has_a_generated_one() -> None:
    """keda, metrics-server, aws-load-balancer-controller, karpenter and argo-cd publish none, reloader a partial one."""
    catalog = store().catalog
    assert {e.name for e in catalog.values() if e.generates} == {
        "argo-cd",
        "aws-load-balancer-controller",
        "karpenter",
        "keda",
        "metrics-server",
        "reloader",
    }
    assert not [e.name for e in catalog.values() if e.values_schema == "none"]
    for note in (REPO_ROOT / "schemas/generated").glob("*/*/SOURCE.md"):
        text = note.read_text(encoding="utf-8")
        assert "GENERATED" in text and "invoke schemas --force" in text and "values.yaml sha256" in text, note


def test_catalog_parses_and_points_at_existing_schemas() -> None:
    catalog = store().catalog
    assert "airflow" in catalog
    for entry in catalog.values():
        for version in entry.crd_versions:
            folder = entry.crd_dir(version)
            assert folder and (REPO_ROOT / folder).is_dir(), (entry.name, version)
            for schema in entry.values_schema_files(version):
                assert (REPO_ROOT / schema).is_file(), (entry.name, version, schema)


def test_parse_catalog_defaults(tmp_path: Path) -> None:
    [entry] = parse_catalog({"charts": {"x": {"repo_url": "https://r"}}}).values()
    assert entry.values_schema == "none" and entry.crds is None and entry.workloads == ()
