"""The shipped repository passes; every broken variant is rejected with the right rule and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_gitops.adapters.chart_repository import ChartRepo, make_session
from airflow_gitops.adapters.helm_engine import SdkEngine
from airflow_gitops.charts.renderer import ChartRenderer
from airflow_gitops.check import run_check
from airflow_gitops.model.repo import Repo
from tests.charts.standins import standin_cache

from .cases import CASES, Case


def test_the_shipped_repository_passes(pristine_repo: Path) -> None:
    result = run_check(Repo(pristine_repo))
    assert [f.to_json() for f in result.errors] == []
    assert result.clusters == ["dev", "staging", "prod"]
    assert result.objects_validated > 50


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_variant_is_rejected(case: Case, repo_copy: Path, tmp_path: Path) -> None:
    expected_file = case.mutate(repo_copy)
    charts = None
    if case.charts:
        standin_cache(repo_copy, tmp_path / "charts")
        charts = ChartRenderer(SdkEngine(), ChartRepo(make_session(retries=0), tmp_path / "charts"), offline=True)
    result = run_check(Repo(repo_copy), env=case.env, charts=charts, require_render=case.charts)
    hits = [f for f in result.errors if f.rule == case.rule]
    assert hits, f"no {case.rule} finding; got {[(f.rule, f.file, f.message) for f in result.errors]}"
    assert expected_file in {f.file for f in hits}, [(f.file, f.line, f.message) for f in hits]
    assert all(f.fix for f in hits)
