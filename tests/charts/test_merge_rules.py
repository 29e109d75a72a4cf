"""Argo CD's order of Helm values, one rule at a time, with Helm's own `--set` parser as the oracle."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from airflow_gitops.charts.values import chart_sources, merge, ref_sources

FILES: dict[str, Any] = {
    "apps/x/values.yaml": {"a": {"keep": 1, "over": "base"}, "list": [1, 2], "only_base": True},
    "clusters/dev/values/x.yaml": {"a": {"over": "env"}, "list": [3]},
}


def app(**helm: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "x"},
        "spec": {
            "sources": [
                {"repoURL": "https://charts.example.com", "chart": "x", "targetRevision": "1.0.0", "helm": helm},
                {"repoURL": "https://git.example.com/repo.git", "targetRevision": "main", "ref": "values"},
            ]
        },
    }


def merged(application: dict[str, Any]) -> dict[str, Any]:
    [source] = chart_sources(application)
    return merge(source, ref_sources(application), FILES.__getitem__).values


BOTH_FILES = ["$values/apps/x/values.yaml", "$values/clusters/dev/values/x.yaml"]


def test_value_files_merge_in_the_order_listed() -> None:
    assert merged(app(valueFiles=BOTH_FILES))["a"] == {"keep": 1, "over": "env"}
    assert merged(app(valueFiles=list(reversed(BOTH_FILES))))["a"] == {"keep": 1, "over": "base"}


def test_a_later_value_file_replaces_lists_whole() -> None:
    assert merged(app(valueFiles=BOTH_FILES))["list"] == [3]


def test_inline_values_win_over_value_files() -> None:
    values = merged(app(valueFiles=BOTH_FILES, values="a:\n  over: inline\n"))
    assert values["a"] == {"keep": 1, "over": "inline"}


def test_values_object_wins_over_value_files() -> None:
    values = merged(app(valueFiles=BOTH_FILES, valuesObject={"a": {"over": "object"}}))
    assert values["a"] == {"keep": 1, "over": "object"}


def test_values_object_takes_the_place_of_values_when_both_are_set() -> None:
    """Argo CD hands Helm valuesObject when set, else values: a key only in `values` is not passed."""
    values = merged(app(values="a:\n  over: inline\nonly_inline: 1\n", valuesObject={"a": {"over": "object"}}))
    assert values == {"a": {"over": "object"}}


def test_parameters_win_over_everything_in_order() -> None:
    params = [{"name": "a.over", "value": "first"}, {"name": "a.over", "value": "second"}]
    values = merged(app(valueFiles=BOTH_FILES, valuesObject={"a": {"over": "object"}}, parameters=params))
    assert values["a"] == {"keep": 1, "over": "second"}


@pytest.mark.parametrize(
    "value",
    ["1", "0", "-3", "007", "1.5", "1e3", "true", "True", "FALSE", "null", "yes", "", "{x,1,true}", "9223372036854775808"],
)
def test_a_parameter_is_typed_as_helm_set_types_it(value: str) -> None:
    ours = merged(app(parameters=[{"name": "p", "value": value}]))
    assert ours == helm_python.parse_set_string(f"p={value}")


def test_a_parameter_keeps_commas_as_argo_cd_escapes_them() -> None:
    assert merged(app(parameters=[{"name": "p", "value": "a,b"}])) == {"p": "a,b"}


def test_force_string_keeps_the_parameter_a_string() -> None:
    ours = merged(app(parameters=[{"name": "p", "value": "1", "forceString": True}]))
    assert ours == helm_python.parse_set_string_values("p=1") == {"p": "1"}


def test_parameter_names_follow_helm_paths() -> None:
    params = [{"name": "a\\.b.c", "value": "1"}, {"name": "l[1].x", "value": "v"}]
    assert merged(app(parameters=params)) == helm_python.parse_set_string("a\\.b.c=1,l[1].x=v")
