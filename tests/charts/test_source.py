"""Chart archives: pulled from a local Helm repository, verified, cached, and never pulled twice."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer

from airflow_gitops.adapters.helm_engine import ChartError, RenderOptions, SdkEngine, index_repository
from airflow_gitops.charts.renderer import NOT_RENDERED, PULL_FAILED, ChartProblem, ChartRenderer
from tests.charts.conftest import LocalRepo, serve

Make = Callable[..., ChartRenderer]


def test_pull_stores_the_archive_in_the_cache(local_repo: LocalRepo, make_renderer: Make, tmp_path: Path) -> None:
    path = make_renderer().archive(local_repo.url, "app", "1.0.0")
    assert path == tmp_path / "cache" / "app-1.0.0.tgz"
    assert path.read_bytes() == (local_repo.folder / "app-1.0.0.tgz").read_bytes()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # written by an atomic rename


def test_a_cached_chart_is_never_requested_again(local_repo: LocalRepo, make_renderer: Make) -> None:
    make_renderer().archive(local_repo.url, "app", "1.0.0")
    first = local_repo.requests()
    assert first == 2  # the index and the archive
    make_renderer().archive(local_repo.url, "app", "1.0.0")  # a new run, the same cache
    assert local_repo.requests() == first


def test_offline_a_cached_chart_renders(local_repo: LocalRepo, make_renderer: Make) -> None:
    make_renderer().archive(local_repo.url, "app", "1.0.0")
    local_repo.server.clear()  # the repository is gone
    archive = make_renderer(offline=True).archive("http://127.0.0.1:9/none", "app", "1.0.0")
    [obj] = SdkEngine().render(archive, {}, RenderOptions("r", "ns", "1.34"))
    assert obj.obj["kind"] == "Deployment"


def test_offline_an_uncached_chart_is_not_rendered(make_renderer: Make) -> None:
    with pytest.raises(ChartProblem) as found:
        make_renderer(offline=True).archive("https://charts.example.com", "app", "1.0.0")
    assert found.value.rule == NOT_RENDERED
    assert "not in the chart cache" in found.value.message


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_repository_that_is_down_means_not_rendered(make_renderer: Make) -> None:
    with pytest.raises(ChartProblem) as found:
        make_renderer().archive(f"http://127.0.0.1:{closed_port()}/charts", "app", "1.0.0")
    assert found.value.rule == NOT_RENDERED
    assert "could not connect" in found.value.message


def test_a_repository_answering_503_means_not_rendered(httpserver: HTTPServer, make_renderer: Make) -> None:
    httpserver.expect_request("/charts/index.yaml").respond_with_data("busy", status=503)
    with pytest.raises(ChartProblem) as found:
        make_renderer().archive(httpserver.url_for("/charts"), "app", "1.0.0")
    assert (found.value.rule, "HTTP 503" in found.value.message) == (NOT_RENDERED, True)


def test_a_chart_archive_that_is_a_404_fails_the_pull(httpserver: HTTPServer, chart_folder: Path, make_renderer: Make) -> None:
    index = index_repository(chart_folder, base_url=httpserver.url_for("/charts"))
    httpserver.expect_request("/charts/index.yaml").respond_with_data(yaml.safe_dump(index))
    httpserver.expect_request("/charts/app-1.0.0.tgz").respond_with_data("not found", status=404)
    with pytest.raises(ChartProblem) as found:
        make_renderer().archive(httpserver.url_for("/charts"), "app", "1.0.0")
    assert found.value.rule == PULL_FAILED
    assert "HTTP 404" in found.value.message


def test_a_version_the_index_lacks_fails_the_pull(local_repo: LocalRepo, make_renderer: Make) -> None:
    with pytest.raises(ChartProblem) as found:
        make_renderer().archive(local_repo.url, "app", "9.9.9")
    assert found.value.rule == PULL_FAILED
    assert "no version 9.9.9" in found.value.message


def test_a_digest_mismatch_fails_the_pull_and_caches_nothing(
    httpserver: HTTPServer, chart_folder: Path, make_renderer: Make, tmp_path: Path
) -> None:
    index = index_repository(chart_folder, base_url=httpserver.url_for("/charts"))
    index["entries"]["app"][0]["digest"] = "0" * 64
    serve(httpserver, chart_folder, index=index)
    with pytest.raises(ChartProblem) as found:
        make_renderer().archive(httpserver.url_for("/charts"), "app", "1.0.0")
    assert found.value.rule == PULL_FAILED
    assert "does not match the published digest" in found.value.message
    assert not (tmp_path / "cache" / "app-1.0.0.tgz").exists()


def test_a_corrupt_archive_is_a_load_failure(httpserver: HTTPServer, tmp_path: Path, make_renderer: Make) -> None:
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "app-1.0.0.tgz").write_bytes(b"\x1f\x8b not really gzip")
    index: dict[str, object] = {
        "apiVersion": "v1",
        "entries": {"app": [{"name": "app", "version": "1.0.0", "urls": ["app-1.0.0.tgz"]}]},
    }
    serve(httpserver, folder, index=index)
    renderer = make_renderer()
    archive = renderer.archive(httpserver.url_for("/charts"), "app", "1.0.0")  # the digest is not published
    with pytest.raises(ChartError) as found:
        SdkEngine().render(archive, {}, RenderOptions("r", "ns", "1.34"))
    assert found.value.kind == "load"  # the stage reports it as chart-load-failed (test_stage.py)
