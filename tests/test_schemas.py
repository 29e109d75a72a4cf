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


def test_every_vendored_crd_folder_has_a_source_note() -> None:
    folders = [p for p in (REPO_ROOT / "schemas" / "crds").glob("*/*") if p.is_dir()]
    assert folders
    for folder in folders:
        assert (folder / "SOURCE.md").is_file(), folder


def test_catalog_parses_and_points_at_existing_schemas() -> None:
    catalog = store().catalog
    assert "airflow" in catalog
    for entry in catalog.values():
        for version in entry.crd_versions:
            folder = entry.crd_dir(version)
            assert folder and (REPO_ROOT / folder).is_dir(), (entry.name, version)


def test_parse_catalog_defaults(tmp_path: Path) -> None:
    [entry] = parse_catalog({"charts": {"x": {"repo_url": "https://r"}}}).values()
    assert entry.values_schema == "none" and entry.crds is None and entry.workloads == ()
