"""Chart objects as Argo CD applies and compares them: placed in the destination namespace, and
with what a chart generates afresh on every render left out of a diff."""

from __future__ import annotations

from pathlib import Path

from airflow_gitops.adapters.helm_engine import RenderOptions, SdkEngine
from airflow_gitops.charts.renderer import in_namespace
from airflow_gitops.model import yamlio
from airflow_gitops.rendering.diff import GENERATED, compare, masked, volatile_fields
from airflow_gitops.rendering.render import RenderedFile
from tests.charts.conftest import FILES, VALUES
from tests.charts.standins import build

RANDOM_SECRET = (
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-token\n"
    'data:\n  token: {{ randAlphaNum 24 | b64enc }}\n  fixed: {{ "same" | b64enc }}\n'
)


def test_namespaced_objects_without_a_namespace_go_to_the_destination() -> None:
    objects = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "elsewhere"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "c"}},
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "globals.example.com"},
            "spec": {"scope": "Cluster", "names": {"kind": "Global"}},
        },
        {"apiVersion": "example.com/v1", "kind": "Global", "metadata": {"name": "d"}},
        {"apiVersion": "example.com/v1", "kind": "Local", "metadata": {"name": "e"}},
    ]
    placed = in_namespace(objects, "team")
    assert [o["metadata"].get("namespace") for o in placed] == ["team", "elsewhere", None, None, None, "team"]
    assert "namespace" not in objects[0]["metadata"]  # the chart's own objects are not changed


def test_fields_a_chart_generates_on_every_render_are_found_and_masked(tmp_path: Path) -> None:
    archive = build("app", "1.0.0", {**FILES, "templates/secret.yaml": RANDOM_SECRET}, tmp_path, VALUES)
    options = RenderOptions("rel", "team", "1.31")

    def render() -> list[RenderedFile]:
        manifests = SdkEngine().render(archive, {}, options)
        return [RenderedFile("app", f"{m.obj['kind'].lower()}.yaml", yamlio.dump(m.obj), chart=True) for m in manifests]

    first, second = render(), render()
    volatile = volatile_fields(first, second)
    assert volatile == {"app/secret.yaml": [("data", "token")]}  # the template's randAlphaNum, nothing else
    secret = yamlio.load(next(f.text for f in masked(first, volatile) if f.name == "secret.yaml"))
    assert secret["data"]["token"] == GENERATED and secret["data"]["fixed"] == "c2FtZQ=="
    # Masked, two renders of the same tree compare equal; a real change still shows.
    assert compare("dev", masked(first, volatile), masked(second, volatile)).empty
    changed = [RenderedFile(f.group, f.name, f.text.replace("replicas: 1", "replicas: 2"), chart=True) for f in second]
    diff = compare("dev", masked(first, volatile), masked(changed, volatile))
    assert list(diff.changed) == ["app/deployment.yaml"]
