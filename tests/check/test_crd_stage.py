"""The CRD rules, upgrade readiness and checkov skips inside `invoke check` and `invoke diff`, end to end
on a copy of this repository: transition rules against a base ref, --kubernetes-version, and the skip
annotations handed to checkov."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_gitops.charts.release import ChartRelease
from airflow_gitops.charts.renderer import ChartObject
from airflow_gitops.charts.values import ChartSource, MergedValues
from airflow_gitops.check import run_check
from airflow_gitops.check.context import CheckContext, ClusterRender, next_minor
from airflow_gitops.check.rules.validate import validate_object
from airflow_gitops.check.slow import with_skips
from airflow_gitops.model.findings import UsageError
from airflow_gitops.model.rendered import RenderedObject
from airflow_gitops.model.repo import ClusterConfig, Repo
from airflow_gitops.model.schemas import SchemaStore, parse_catalog
from airflow_gitops.rendering.diff import diff_against
from tests.conftest import REPO_ROOT, git

NODEPOOLS = "apps/karpenter/nodepools.yaml"


def change_nodeclass_kind(root: Path) -> None:
    path = root / NODEPOOLS
    path.write_text(path.read_text().replace("kind: EC2NodeClass", "kind: OtherNodeClass", 1))


def test_transition_rules_are_counted_without_a_base(pristine_repo: Path) -> None:
    result = run_check(Repo(pristine_repo), env="dev")
    assert result.errors == []
    assert any("transition rules: 9 not evaluated" in n and "--base" in n for n in result.notes), result.notes
    assert result.stats["crd_rules"]["transition_rules_skipped"] == 9  # type: ignore[index]


def test_a_transition_rule_refuses_an_update_against_the_base(repo_copy: Path) -> None:
    change_nodeclass_kind(repo_copy)
    without_base = run_check(Repo(repo_copy), env="dev")
    assert [f for f in without_base.errors if f.rule == "crd-cel"] == []  # nothing to compare with: not refused
    result = run_check(Repo(repo_copy), env="dev", base_ref="HEAD")
    [found] = [f for f in result.errors if f.rule == "crd-cel"]
    assert found.file == NODEPOOLS and found.line
    assert (
        "NodePool system: spec.template.spec.nodeClassRef" in found.message and "nodeClassRef.kind is immutable" in found.message
    )
    assert any("evaluated against HEAD" in n for n in result.notes)


def test_a_new_object_is_a_create_for_transition_rules(repo_copy: Path) -> None:
    path = repo_copy / NODEPOOLS
    first = path.read_text().split("\n---\n")[0]
    path.write_text(path.read_text() + "\n---\n" + first.replace("name: system", "name: system-2", 1))
    result = run_check(Repo(repo_copy), env="dev", base_ref="HEAD")
    assert [f for f in result.errors if f.rule == "crd-cel"] == []
    assert result.stats["crd_rules"]["transition_rules_skipped"] == 3  # type: ignore[index]


def test_invoke_diff_names_the_refused_update(repo_copy: Path) -> None:
    change_nodeclass_kind(repo_copy)
    git(repo_copy, "commit", "-qam", "nothing yet")  # diff against the previous commit
    _, diffs = diff_against(Repo(repo_copy), "HEAD~1", "dev")
    [dev] = diffs
    assert dev.refused == [
        'NodePool system: spec.template.spec.nodeClassRef: Invalid value: "object": nodeClassRef.kind is immutable'
    ]


# --- upgrade readiness ------------------------------------------------------------------------------
def test_next_minor() -> None:
    assert next_minor("1.34") == "1.35"
    assert next_minor("v1.9.3") == "1.10"


@pytest.mark.parametrize("version", ["1.40", "1.24", "latest"])
def test_a_version_without_bundled_schemas_is_a_usage_error(pristine_repo: Path, version: str) -> None:
    with pytest.raises(UsageError, match="--kubernetes-version"):
        run_check(Repo(pristine_repo), env="dev", kubernetes_version=version)


def test_next_validates_the_shipped_repo_for_the_next_minor(pristine_repo: Path) -> None:
    result = run_check(Repo(pristine_repo), env="dev", kubernetes_version="next")
    assert result.errors == []
    assert any("Kubernetes 1.35 (--kubernetes-version)" in n for n in result.notes), result.notes


def test_an_api_removed_in_the_target_version_is_a_finding() -> None:
    """autoscaling/v2beta2 was served until 1.25 and removed in 1.26."""
    ctx = CheckContext(repo=Repo(REPO_ROOT), schemas=SchemaStore(REPO_ROOT), envs=["dev"])
    config = ClusterConfig("dev", "clusters/dev/cluster.yaml", {"cluster": {"kubernetes_version": "1.25"}})
    hpa = {
        "apiVersion": "autoscaling/v2beta2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "app"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 3},
    }
    cluster = ClusterRender("dev", config, [RenderedObject("dev", hpa, "apps/web/hpa.yaml")])

    def validate() -> list[str]:
        ctx.findings.clear()
        validate_object(ctx, cluster, cluster.objects[0], [], lambda _: ("apps/web/hpa.yaml", 1), "HPA web")
        return [f"{f.rule}: {f.message}" for f in ctx.findings]

    assert validate() == []
    ctx.kubernetes_version = "next"
    [finding] = validate()
    assert finding.startswith("unknown-kind") and "in Kubernetes 1.26" in finding


# --- checkov skips for what the charts render -------------------------------------------------------
def chart_object(chart: str, kind: str, name: str, annotations: dict[str, str] | None = None) -> ChartObject:
    app = RenderedObject("dev", {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": chart}}, "")
    source = ChartSource(0, "https://example.com", chart, "1.0.0", chart, (), None, None, (), False)
    release = ChartRelease(app, source, MergedValues({}))
    meta: dict[str, Any] = {"name": name, **({"annotations": annotations} if annotations else {})}
    return ChartObject(release, "t.yaml", RenderedObject("dev", {"apiVersion": "v1", "kind": kind, "metadata": meta}, ""))


def test_catalog_skips_become_checkov_annotations_on_the_objects_they_name(tmp_path: Path) -> None:
    catalog = {
        "checkov_skips": [
            {"check": "CKV_K8S_11", "reason": "requests, no CPU limits"},
            {"check": "CKV_K8S_43", "reason": "everywhere"},
        ],
        "charts": {
            "demo": {
                "checkov_skips": [
                    {"check": "CKV_K8S_43", "reason": "the chart's own reason"},
                    {"check": "CKV_K8S_49", "objects": ["ClusterRole/admin"], "reason": "it deploys anything"},
                ]
            }
        },
    }
    ctx = CheckContext(repo=Repo(REPO_ROOT), schemas=SchemaStore(tmp_path), envs=["dev"])
    ctx.schemas.__dict__["catalog"] = parse_catalog(catalog)
    role = with_skips(ctx, chart_object("demo", "ClusterRole", "admin", {"checkov.io/skip1": "CKV_K8S_1=kept"}))
    assert role["metadata"]["annotations"] == {
        "checkov.io/skip1": "CKV_K8S_1=kept",
        "checkov.io/skip2": "CKV_K8S_43=the chart's own reason",
        "checkov.io/skip3": "CKV_K8S_49=it deploys anything",
        "checkov.io/skip4": "CKV_K8S_11=requests, no CPU limits",
    }
    other = with_skips(ctx, chart_object("demo", "ClusterRole", "viewer"))
    assert "CKV_K8S_49" not in str(other["metadata"]["annotations"])


def test_every_catalog_skip_has_a_reason() -> None:
    entries = SchemaStore(REPO_ROOT).catalog
    skips = [s for e in entries.values() for s in e.checkov_skips]
    assert skips and all(len(s.reason) > 40 for s in skips), [s for s in skips if len(s.reason) <= 40]
