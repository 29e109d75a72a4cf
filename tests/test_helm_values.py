from __future__ import annotations

from typing import Any

import pytest

from airflow_gitops.charts.values import (
    chart_sources,
    deep_merge,
    dotted_get,
    dotted_path,
    manifest_sources,
    merge,
    ref_sources,
    set_parameter,
    value_file_path,
)

APP: dict[str, Any] = {
    "metadata": {"name": "airflow"},
    "spec": {
        "sources": [
            {
                "repoURL": "https://airflow.apache.org",
                "chart": "airflow",
                "targetRevision": "1.21.0",
                "helm": {
                    "releaseName": "airflow",
                    "valueFiles": ["$values/apps/airflow/values.yaml", "$values/clusters/dev/values/airflow.yaml"],
                    "values": "scheduler:\n  replicas: 3\n",
                    "valuesObject": {"scheduler": {"replicas": 4}, "executor": "CeleryExecutor"},
                    "parameters": [{"name": "scheduler.replicas", "value": "5"}],
                },
            },
            {"repoURL": "https://github.com/example-org/repo.git", "targetRevision": "main", "ref": "values"},
        ]
    },
}


def test_chart_sources_reads_the_chart_source_only() -> None:
    [src] = chart_sources(APP)
    assert (src.index, src.chart, src.version, src.release_name) == (0, "airflow", "1.21.0", "airflow")
    assert src.value_files[1] == "$values/clusters/dev/values/airflow.yaml"
    assert list(ref_sources(APP)) == ["values"]


def test_value_file_path_resolves_only_known_refs() -> None:
    refs = ref_sources(APP)
    assert value_file_path("$values/apps/a/values.yaml", refs) == "apps/a/values.yaml"
    assert value_file_path("$other/apps/a/values.yaml", refs) is None
    assert value_file_path("values-prod.yaml", refs) is None


def test_merge_follows_argo_cd_order() -> None:
    files = {
        "apps/airflow/values.yaml": {"scheduler": {"replicas": 1, "resources": {"a": 1}}, "images": ["x"]},
        "clusters/dev/values/airflow.yaml": {"scheduler": {"replicas": 2}, "images": ["y"]},
    }
    [src] = chart_sources(APP)
    merged = merge(src, ref_sources(APP), files.__getitem__)
    # value files in order, then values, then valuesObject, then parameters
    assert merged.values["scheduler"] == {"replicas": 5, "resources": {"a": 1}}
    assert merged.values["images"] == ["y"]  # lists are replaced, not merged
    assert merged.values["executor"] == "CeleryExecutor"
    assert merged.files == list(files)


def test_merge_reports_missing_and_unresolved_files() -> None:
    app = {
        "spec": {
            "sources": [
                {
                    "chart": "c",
                    "repoURL": "r",
                    "targetRevision": "1.0.0",
                    "helm": {"valueFiles": ["$values/missing.yaml", "$nope/x.yaml"]},
                },
                {"repoURL": "g", "ref": "values"},
            ]
        }
    }
    [src] = chart_sources(app)

    def read(path: str) -> Any:
        raise FileNotFoundError(path)

    merged = merge(src, ref_sources(app), read)
    assert merged.missing == ["missing.yaml"]
    assert merged.unresolved == ["$nope/x.yaml"]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("a.b", 1, {"a": {"b": 1}}),
        # Helm pads a list it extends with nulls (strvals), as `helm template --set a.list[1].x=v` does
        ("a.list[1].x", "v", {"a": {"list": [None, {"x": "v"}]}}),
        (
            "annotations.alb\\.ingress\\.kubernetes\\.io/scheme",
            "internal",
            {"annotations": {"alb.ingress.kubernetes.io/scheme": "internal"}},
        ),
    ],
)
def test_set_parameter(name: str, value: Any, expected: dict[str, Any]) -> None:
    values: dict[str, Any] = {}
    set_parameter(values, name, value)
    assert values == expected


def test_deep_merge_does_not_mutate_inputs() -> None:
    base = {"a": {"b": 1}}
    out = deep_merge(base, {"a": {"c": 2}})
    assert out == {"a": {"b": 1, "c": 2}} and base == {"a": {"b": 1}}


def test_dotted_get_walks_lists() -> None:
    values = {"ingress": {"hosts": [{"name": "h"}]}}
    assert dotted_get(values, "ingress.hosts.0.name") == "h"
    assert dotted_get(values, "ingress.hosts.1.name") is None
    assert dotted_get(values, "ingress.missing") is None


def test_a_bracketed_key_keeps_its_dots() -> None:
    values = {"ingress": {"annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}, "hosts": [{"name": "h"}]}}
    assert dotted_path("ingress.annotations[alb.ingress.kubernetes.io/scheme]") == [
        "ingress",
        "annotations",
        "alb.ingress.kubernetes.io/scheme",
    ]
    assert dotted_get(values, "ingress.annotations[alb.ingress.kubernetes.io/scheme]") == "internet-facing"
    assert dotted_get(values, "ingress.hosts.0.name") == "h"


def test_manifest_sources_are_the_path_sources_only() -> None:
    app = {
        "spec": {
            "sources": [
                {"repoURL": "https://charts.example.com", "chart": "app", "targetRevision": "1.0.0"},
                {"repoURL": "https://git.example.com/repo.git", "targetRevision": "main", "ref": "values"},
                {"repoURL": "https://git.example.com/repo.git", "targetRevision": "main", "path": "clusters/dev/manifests/app/"},
            ]
        }
    }
    [source] = manifest_sources(app)
    assert (source.index, source.repo_url, source.revision, source.path) == (
        2,
        "https://git.example.com/repo.git",
        "main",
        "clusters/dev/manifests/app",
    )
