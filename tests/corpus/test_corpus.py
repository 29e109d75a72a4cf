"""The shipped repository passes; every broken variant is rejected with the right rule, file and line,
and with nothing else."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_gitops.adapters import terraform as tf
from airflow_gitops.adapters.helm_engine import SdkEngine
from airflow_gitops.charts.renderer import ChartRenderer
from airflow_gitops.check import run_check, terraform_slow
from airflow_gitops.model.findings import Finding
from airflow_gitops.model.repo import Repo
from tests.charts.standins import standin_cache
from tests.conftest import REPO_ROOT, digest_pending

from .cases import CASES, Case
from .charts import offline_chart_repo


def test_the_shipped_repository_passes(pristine_repo: Path) -> None:
    result = run_check(Repo(pristine_repo))
    assert [f.to_json() for f in result.findings if not digest_pending(f)] == []
    assert result.clusters == ["dev", "staging", "prod"]
    assert result.objects_validated > 50


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.fixture(scope="session")
def standin_charts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stand-in archives of every pinned chart version (never the upstream ones)."""
    cache = tmp_path_factory.mktemp("standin-charts")
    standin_cache(REPO_ROOT, cache)
    return cache


@pytest.fixture
def chart_renderer(standin_charts: Path, tmp_path: Path) -> Iterator[ChartRenderer]:
    cache = tmp_path / "charts"
    shutil.copytree(standin_charts, cache)
    with offline_chart_repo(cache) as repo:
        yield ChartRenderer(SdkEngine(), repo)


def test_the_shipped_repository_renders_its_stand_in_charts_cleanly(pristine_repo: Path, chart_renderer: ChartRenderer) -> None:
    result = run_check(Repo(pristine_repo), env="dev", charts=chart_renderer)
    assert [f.to_json() for f in result.findings if not digest_pending(f)] == []


def _terraform_findings(root: Path, folders: tuple[str, ...]) -> list[Finding]:
    """What `invoke check --all` reports of these folders' terraform init (and validate)."""
    if shutil.which("terraform") is None:
        pytest.skip("no terraform on PATH: the terraform-init case needs it")
    with tf.scratch_copy(root) as copy:
        units = [terraform_slow.Unit(folder, has_tests=False, offline=True) for folder in folders]
        return terraform_slow.check_units(copy, units, tf.environment())


def _described(findings: list[Finding]) -> list[tuple[str, str, int | None, str]]:
    return [(f.rule, f.file, f.line, f.message) for f in findings]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_variant_is_rejected(case: Case, repo_copy: Path, request: pytest.FixtureRequest) -> None:
    expected = case.mutate(repo_copy)
    charts = request.getfixturevalue("chart_renderer") if case.charts else None
    result = run_check(Repo(repo_copy), env=case.env, charts=charts)
    findings = result.findings + (_terraform_findings(repo_copy, case.terraform) if case.terraform else [])
    hits = [f for f in findings if f.rule == case.rule]
    assert hits, f"no {case.rule} finding; got {_described(findings)}"
    if isinstance(expected, str):  # a case that names the file only
        assert expected in {f.file for f in hits}, (expected, _described(hits))
    else:
        assert (expected.file, expected.line) in {(f.file, f.line) for f in hits}, (expected, _described(hits))
    unrelated = [f for f in findings if f.rule not in {case.rule, *case.also} and not digest_pending(f)]
    assert unrelated == [], _described(unrelated)
    assert all(f.fix for f in hits)
    if case.fix_mentions:
        assert any(case.fix_mentions in f.fix for f in hits), [f.fix for f in hits]
    if case.message_mentions:
        assert any(case.message_mentions in f.message for f in hits), [f.message for f in hits]
