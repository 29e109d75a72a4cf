"""The engine adapter: renders as `helm template` does, with the cluster's capabilities, and fails clearly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from airflow_gitops.adapters.helm_engine import BinaryEngine, ChartError, Engine, RenderOptions, SdkEngine, make_engine
from tests.charts.conftest import FILES, VALUES
from tests.charts.standins import build

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
"""
OPTIONS = RenderOptions("rel", "team", "1.31", ("example.com/v1", "example.com/v1/Widget"))


@pytest.fixture(params=["sdk", "binary"])
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "binary":
        helm = shutil.which("helm")
        if not helm:
            pytest.skip("no helm binary on PATH: the `helm template` path is tested where one is installed")
        return BinaryEngine(helm)
    return SdkEngine()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return build("app", "1.0.0", {**FILES, "crds/widgets.yaml": CRD}, tmp_path, VALUES)


def test_render_uses_release_namespace_kube_version_and_api_versions(engine: Engine, archive: Path) -> None:
    manifests = engine.render(archive, {"replicas": 3}, OPTIONS)
    by_kind = {m.obj["kind"]: m for m in manifests}
    deployment = by_kind["Deployment"].obj
    assert deployment["metadata"]["name"] == "rel-app"
    assert deployment["metadata"]["namespace"] == "team"
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["annotations"] == {"kube-version": "v1.31.0", "has-widgets": "true"}
    assert by_kind["Deployment"].template == "app/templates/deployment.yaml"
    assert "CustomResourceDefinition" in by_kind  # crds/ are applied by Argo CD unless skipCrds
    assert all(not m.template.endswith("NOTES.txt") for m in manifests)


def test_without_the_crd_api_version_the_capability_is_absent(engine: Engine, archive: Path) -> None:
    options = RenderOptions("rel", "team", "1.31", (), include_crds=False)
    manifests = engine.render(archive, {}, options)
    assert [m.obj["kind"] for m in manifests] == ["Deployment"]
    assert manifests[0].obj["metadata"]["annotations"]["has-widgets"] == "false"


def test_a_template_calling_fail_is_a_template_error(engine: Engine, archive: Path) -> None:
    with pytest.raises(ChartError) as found:
        engine.render(archive, {"fail": True}, OPTIONS)
    assert found.value.kind == "template"
    assert "refusing: fail is set" in found.value.message
    assert "deployment.yaml" in found.value.message


def test_values_violating_the_chart_schema_are_a_values_error_with_the_path(engine: Engine, archive: Path) -> None:
    with pytest.raises(ChartError) as found:
        engine.render(archive, {"replicas": "three"}, OPTIONS)
    assert found.value.kind == "values"
    assert "/replicas" in found.value.message


def test_a_corrupt_archive_is_a_load_error(tmp_path: Path) -> None:
    bad = tmp_path / "app-1.0.0.tgz"
    bad.write_bytes(b"\x1f\x8bgarbage")
    with pytest.raises(ChartError) as found:
        SdkEngine().render(bad, {}, OPTIONS)
    assert found.value.kind == "load"


def test_skip_tests_leaves_out_test_hooks(tmp_path: Path) -> None:
    test_pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations: {helm.sh/hook: test}\nspec: {containers: []}\n"
    archive = build("app", "1.0.0", {**FILES, "templates/tests/t.yaml": test_pod}, tmp_path, VALUES)
    with_tests = SdkEngine().render(archive, {}, OPTIONS)
    without = SdkEngine().render(archive, {}, RenderOptions("rel", "team", "1.31", skip_tests=True))
    assert len(with_tests) == len(without) + 1


def test_make_engine_picks_the_embedded_engine_by_default() -> None:
    assert make_engine({}).name == "sdk"
    with pytest.raises(ChartError, match="choose one of"):
        make_engine({"HELM_ENGINE": "other"})
    with pytest.raises(ChartError, match="no helm on PATH"):
        make_engine({"HELM_ENGINE": "binary", "PATH": "/nonexistent"})


def test_a_v1_list_is_applied_as_its_items(engine: Engine, tmp_path: Path) -> None:
    listing = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - {apiVersion: networking.k8s.io/v1, kind: IngressClass, metadata: {name: alb}, spec: {controller: x/y}}\n"
        "  - apiVersion: v1\n    kind: List\n    items:\n"
        "      - {apiVersion: v1, kind: ConfigMap, metadata: {name: nested}}\n"
    )
    archive = build("app", "1.0.0", {**FILES, "templates/list.yaml": listing}, tmp_path, VALUES)
    listed = [m for m in engine.render(archive, {}, OPTIONS) if m.template == "app/templates/list.yaml"]
    assert [(m.obj["kind"], m.obj["metadata"]["name"]) for m in listed] == [("IngressClass", "alb"), ("ConfigMap", "nested")]
