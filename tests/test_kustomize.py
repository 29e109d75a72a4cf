from __future__ import annotations

from pathlib import Path

import pytest

from airflow_gitops.adapters.kustomize import KustomizeError, render


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write(tmp_path / "apps/a/kustomization.yaml", "resources: [cm.yaml]\n")
    write(
        tmp_path / "apps/a/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations: {keep: 'yes'}\ndata: {x: '1'}\n",
    )
    write(tmp_path / "clusters/dev/kustomization.yaml", "resources: [../../apps/a]\npatches:\n  - path: p.yaml\n")
    write(tmp_path / "clusters/dev/p.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata: {x: '2'}\n")
    return tmp_path


def test_render_keeps_origin_and_strips_build_annotations(tree: Path) -> None:
    [obj] = render(tree, "dev", tree / "clusters/dev")
    assert obj.origin == "apps/a/cm.yaml"
    assert obj.obj["data"] == {"x": "2"}
    assert obj.annotations == {"keep": "yes"}
    assert obj.identity == ("", "ConfigMap", "", "a")


def test_render_reports_kustomize_errors_with_repo_paths(tree: Path) -> None:
    (tree / "clusters/dev/p.yaml").unlink()
    with pytest.raises(KustomizeError) as info:
        render(tree, "dev", tree / "clusters/dev")
    assert "p.yaml" in info.value.message
    assert "<overlay>" not in info.value.message or "clusters/dev" in info.value.message
