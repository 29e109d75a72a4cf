"""A Helm repository on 127.0.0.1: charts packaged and indexed with the engine, served by pytest-httpserver."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer

from airflow_gitops.adapters.chart_repository import ChartRepo, make_session
from airflow_gitops.adapters.helm_engine import SdkEngine, index_repository
from airflow_gitops.charts.renderer import ChartRenderer
from tests.charts.standins import build

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-app
  namespace: {{ .Release.Namespace }}
  annotations:
    kube-version: {{ .Capabilities.KubeVersion.Version | quote }}
    has-widgets: {{ .Capabilities.APIVersions.Has "example.com/v1/Widget" | quote }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}, component: app}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 1000}
      containers:
        - name: app
          image: {{ .Values.image }}
          resources: {{- toYaml .Values.resources | nindent 12 }}
          securityContext: {allowPrivilegeEscalation: false}
          {{- if .Values.probes }}
          readinessProbe: {httpGet: {path: /, port: 8080}}
          {{- end }}
{{- if .Values.fail }}
{{ fail "refusing: fail is set" }}
{{- end }}
"""
VALUES = {
    "replicas": 1,
    "image": "registry.example.com/app:1.0",
    "probes": True,
    "fail": False,
    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
}
SCHEMA = '{"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 0}}}\n'
FILES = {"templates/deployment.yaml": DEPLOYMENT, "templates/NOTES.txt": "installed", "values.schema.json": SCHEMA}


@dataclass
class LocalRepo:
    server: HTTPServer
    url: str
    folder: Path

    def requests(self) -> int:
        return len(self.server.log)


def serve(server: HTTPServer, folder: Path, prefix: str = "/charts", index: Mapping[str, object] | None = None) -> LocalRepo:
    """Serve index.yaml and every archive of `folder` under prefix; index defaults to the engine's."""
    url = server.url_for(prefix)
    generated = index if index is not None else index_repository(folder, base_url=url)
    server.expect_request(f"{prefix}/index.yaml").respond_with_data(yaml.safe_dump(generated), content_type="text/yaml")
    for archive in folder.glob("*.tgz"):
        server.expect_request(f"{prefix}/{archive.name}").respond_with_data(archive.read_bytes(), content_type="application/gzip")
    return LocalRepo(server, url, folder)


@pytest.fixture
def chart_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "published"
    build("app", "1.0.0", FILES, folder, VALUES)
    return folder


@pytest.fixture
def local_repo(httpserver: HTTPServer, chart_folder: Path) -> LocalRepo:
    return serve(httpserver, chart_folder)


@pytest.fixture
def make_renderer(tmp_path: Path) -> Callable[..., ChartRenderer]:
    def make(cache: Path | None = None, offline: bool = False) -> ChartRenderer:
        return ChartRenderer(SdkEngine(), ChartRepo(make_session(retries=0), cache or tmp_path / "cache"), offline=offline)

    return make
