"""The chart repositories, as the corpus's chart cases meet them: offline, with one answer.

Every Helm repository index lists exactly the chart versions of the stand-in cache, so a pin of a
version the repository does not have fails to pull (chart-pull-failed) without any network."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml
from requests.adapters import BaseAdapter

from airflow_gitops.adapters.chart_repository import ChartRepo


class IndexOnly(BaseAdapter):
    """Answers GET <any>/index.yaml with an index of `versions`; anything else is refused."""

    def __init__(self, versions: Mapping[str, list[str]]) -> None:
        super().__init__()
        entries = {chart: [{"version": v, "urls": [f"{chart}-{v}.tgz"]} for v in found] for chart, found in versions.items()}
        self.index = yaml.safe_dump({"apiVersion": "v1", "entries": entries}).encode()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.request = request
        response.url = str(request.url)
        if str(request.url).endswith("/index.yaml"):
            response.status_code, response._content = 200, self.index
        else:
            raise requests.ConnectionError(f"no network in the corpus: {request.url}")
        return response

    def close(self) -> None:
        pass


@contextmanager
def offline_chart_repo(cache: Path) -> Iterator[ChartRepo]:
    versions: dict[str, list[str]] = {}
    for archive in sorted(cache.glob("*.tgz")):
        chart, _, version = archive.stem.rpartition("-")
        versions.setdefault(chart, []).append(version)
    with requests.Session() as session:
        adapter = IndexOnly(versions)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        yield ChartRepo(session, cache)
