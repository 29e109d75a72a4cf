"""Small charts built with the engine's own packaging, for tests and the render benchmark.

`chart_dir` writes a chart from a dict of files; `standin_cache` fills a chart cache with one stand-in
per chart and version the repository pins, named as the real archives are (`<chart>-<version>.tgz`).
The Airflow stand-in renders the components from the same value paths as the real chart
(replicas, resources, security contexts, service accounts and their tokens, PodDisruptionBudgets,
image tag or digest); the others
render one well-behaved Deployment each. They stand in for the upstream archives, which these
tests cannot download.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml

from airflow_gitops.adapters.helm_engine import package
from airflow_gitops.charts.values import chart_sources
from airflow_gitops.model.repo import Repo

# The image from the value paths the real charts use (image.*, image.keda.*, global.image.*,
# controller.image.*), so the repository's image pins reach what the stand-in renders.
GENERIC_HELPERS = """\
{{- define "standin.image" -}}
{{- $img := .Values.image | default dict -}}
{{- $keda := $img.keda | default dict -}}
{{- $global := (.Values.global | default dict).image | default dict -}}
{{- $ctl := (.Values.controller | default dict).image | default dict -}}
{{- $kedaRepo := "" -}}
{{- if $keda.repository }}{{ $kedaRepo = printf "%s/%s" $keda.registry $keda.repository }}{{ end -}}
{{- $repo := coalesce $img.repository $kedaRepo $global.repository $ctl.repository (printf "registry.example.com/%s" .Chart.Name) -}}
{{- $tag := coalesce $img.tag $keda.tag $global.tag $ctl.tag .Chart.AppVersion -}}
{{- $digest := coalesce $img.digest $ctl.digest "" -}}
{{- if $digest }}{{ $repo }}@{{ $digest }}{{ else }}{{ $repo }}:{{ $tag }}{{ end -}}
{{- end -}}
"""

GENERIC_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
  labels: {app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: {{ .Chart.Name }}, app.kubernetes.io/instance: {{ .Release.Name }}}
    spec:
      serviceAccountName: {{ .Release.Name }}
      securityContext: {runAsNonRoot: true, runAsUser: 65534, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: {{ .Chart.Name }}
          image: {{ include "standin.image" . }}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 64Mi}
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
          readinessProbe: {httpGet: {path: /healthz, port: 8080}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
"""

AIRFLOW_HELPERS = """\
{{- define "image" -}}
{{- $img := .Values.images.airflow -}}
{{- if $img.digest }}{{ $img.repository }}@{{ $img.digest }}{{ else }}{{ $img.repository }}:{{ $img.tag }}{{ end -}}
{{- end -}}
"""

AIRFLOW_COMPONENTS = """\
{{- $root := . -}}
{{- range $key, $component := dict "scheduler" "scheduler" "apiServer" "api-server" "triggerer" "triggerer" "dagProcessor" "dag-processor" }}
{{- $values := index $root.Values $key }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $root.Release.Name }}-{{ $component }}
  namespace: {{ $root.Release.Namespace }}
  labels: {tier: airflow, component: {{ $component }}, release: {{ $root.Release.Name }}}
spec:
  replicas: {{ $values.replicas | default 1 }}
  selector:
    matchLabels: {tier: airflow, component: {{ $component }}, release: {{ $root.Release.Name }}}
  template:
    metadata:
      labels: {tier: airflow, component: {{ $component }}, release: {{ $root.Release.Name }}}
    spec:
      serviceAccountName: {{ $values.serviceAccount.name }}
      securityContext: {{- toYaml $root.Values.securityContexts.pod | nindent 8 }}
      containers:
        - name: {{ $component }}
          image: {{ include "image" $root }}
          resources: {{- toYaml $values.resources | nindent 12 }}
          securityContext: {{- toYaml $root.Values.securityContexts.containers | nindent 12 }}
          livenessProbe: {exec: {command: [airflow, jobs, check]}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $values.serviceAccount.name }}
  namespace: {{ $root.Release.Namespace }}
automountServiceAccountToken: {{ ne $values.serviceAccount.automountServiceAccountToken false }}
{{- if ($values.podDisruptionBudget | default dict).enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $root.Release.Name }}-{{ $component }}-pdb
  namespace: {{ $root.Release.Namespace }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {tier: airflow, component: {{ $component }}, release: {{ $root.Release.Name }}}
{{- end }}
{{- end }}
"""

AIRFLOW_DEFAULTS = {
    "images": {"airflow": {"repository": "apache/airflow", "tag": "3.2.0", "digest": None}},
    "securityContexts": {"pod": {}, "containers": {}},
}


def chart_dir(root: Path, name: str, version: str, files: dict[str, str], values: object = None) -> Path:
    """A chart directory <root>/<name> with Chart.yaml, values.yaml and the given files."""
    folder = root / name
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "templates").mkdir(parents=True)
    meta = {"apiVersion": "v2", "name": name, "version": version, "appVersion": version}
    (folder / "Chart.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    (folder / "values.yaml").write_text(yaml.safe_dump(values or {}), encoding="utf-8")
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    return folder


def build(name: str, version: str, files: dict[str, str], destination: Path, values: object = None) -> Path:
    """Package a chart into destination/<name>-<version>.tgz with the engine's `helm package`."""
    with tempfile.TemporaryDirectory(prefix="chart-src-") as tmp:
        return package(chart_dir(Path(tmp), name, version, files, values), destination)


def standin_files(name: str) -> tuple[dict[str, str], object]:
    if name == "airflow":
        return {"templates/_helpers.tpl": AIRFLOW_HELPERS, "templates/components.yaml": AIRFLOW_COMPONENTS}, AIRFLOW_DEFAULTS
    return {"templates/_helpers.tpl": GENERIC_HELPERS, "templates/deployment.yaml": GENERIC_DEPLOYMENT}, {}


def pinned_charts(root: Path) -> set[tuple[str, str]]:
    """(chart, version) of every chart source the environments pin."""
    repo = Repo(root)
    found = set()
    for env in repo.envs:
        for rel in sorted((root / "clusters" / env / "apps").glob("*.yaml")):
            for doc in yaml.safe_load_all(rel.read_text(encoding="utf-8")):
                found |= {(s.chart, s.version) for s in chart_sources(doc or {})}
    return found


def standin_cache(repo_root: Path, cache: Path) -> list[Path]:
    """One stand-in archive per pinned chart version, in `cache` as the real ones would be."""
    cache.mkdir(parents=True, exist_ok=True)
    built = []
    for chart, version in sorted(pinned_charts(repo_root)):
        files, values = standin_files(chart)
        built.append(build(chart, version, files, cache, values))
    return built
