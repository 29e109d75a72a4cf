"""invoke schemas end to end: a temporary platform repo whose Applications pin charts served over HTTP."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml
from pytest_httpserver import HTTPServer

from airflow_gitops.cli import common, upgrades
from airflow_gitops.model.findings import UsageError
from airflow_gitops.model.schemas import parse_catalog
from airflow_gitops.upgrades.schema_vendor import Pin, merge_pins, pins_of, plan
from tests.conftest import REPO_ROOT, git, init_git
from tests.test_chart_repo import TEMPLATED, build_chart, crd_yaml, serve_helm_repo, serve_oci_registry

SCHEMA = b'{\n  "$schema": "http://json-schema.org/draft-07/schema#",\n  "type": "object"\n}\n'
TEMPLATED_CRD = "{{- if .Values.crds.install }}\n" + crd_yaml(plural="templatedthings", kind="TemplatedThing") + "{{- end }}\n"

CATALOG = """\
# Test catalog: its comments and layout must survive `invoke schemas`.
charts:
  widgets:
    repo_url: {widgets_url}
    values_schema: published
    crds: widgets # folder under schemas/crds/
    # components that must set resources
    workloads:
      - operator
    required_values:
      - {{path: operator.useHelmHooks, equals: false, rule: helm-hooks,
         why: "Helm hooks misbehave under Argo CD; Argo CD must run the job as an ordinary resource"}}

  gadgets:
    repo_url: {gadgets_url}
    values_schema: generated # the chart ships no values.schema.json
    free_form_values: [settings.extra]
    crds: gadgets
    versions:
      "0.9.0": v0.9.0 # vendored by hand

  # a chart whose version is already vendored
  settled:
    repo_url: https://charts.example.com
    values_schema: none
"""


def application(name: str, repo_url: str, chart: str, version: str) -> str:
    return f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: argocd
spec:
  sources:
    - repoURL: {repo_url}
      chart: {chart}
      targetRevision: {version}
      helm:
        releaseName: {name}
        valueFiles:
          - $values/apps/{name}/values.yaml
          - $values/clusters/dev/values/{name}.yaml
    - repoURL: https://github.com/example-org/airflow-eks-platform.git
      targetRevision: main
      ref: values
"""


@dataclass
class Platform:
    root: Path
    cache: Path
    widgets: bytes
    gadgets: bytes
    catalog: str

    def run(self, force: bool = False) -> int:
        return common.guarded(lambda: upgrades.schemas(None, force, True, cwd=self.root))

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def status(self) -> str:
        return git(self.root, "status", "--porcelain", "--untracked-files=all")


GADGETS_CHART_YAML = """\
apiVersion: v2
name: gadgets
version: 2.0.0
appVersion: v2.0.0
dependencies:
  - name: cache
    alias: gadget-cache
    version: 0.1.0
"""
# What the generated schema is made of: the chart's values and templates, and a bundled subchart's.
GADGETS_FILES = {
    "Chart.yaml": GADGETS_CHART_YAML,
    "values.yaml": "replicas: 1\npodAnnotations: {}\nsettings:\n  mode: fast\n  extra:\n    a: 1\n"
    "gadget-cache:\n  enabled: false\n",
    "templates/deployment.yaml": "replicas: {{ .Values.replicas }}\n",
    "charts/cache/Chart.yaml": "apiVersion: v2\nname: cache\nversion: 0.1.0\n",
    "charts/cache/values.yaml": "enabled: true\nsize: 1Gi\n",
    "charts/cache/templates/cm.yaml": "size: {{ .Values.size }}\n",
}

WIDGETS_FILES = {
    "crds/widgets.yaml": crd_yaml(),
    "crds/more.yaml": crd_yaml(group="example.com", kind="Sprocket", plural="sprockets")
    + "---\n"
    + crd_yaml(group="other.example.com", kind="Cog", plural="cogs"),
    "templates/deployment.yaml": TEMPLATED,
    "templates/crds/templated.yaml": TEMPLATED_CRD,
    "templates/crds/plain.yaml": crd_yaml(group="example.com", kind="Gear", plural="gears"),
}


def make_platform(
    tmp_path: Path,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    widgets_digest: str | None = None,
    widgets_schema: bytes | None = SCHEMA,
) -> Platform:
    widgets = build_chart("widgets", "1.0.0", "1.4.2", schema=widgets_schema, files=WIDGETS_FILES)
    gadgets = build_chart(
        "gadgets",
        "2.0.0",
        "v2.0.0",
        schema=None,
        licence=None,
        files={"crds/gadgets.yaml": crd_yaml(group="gadgets.example.io", kind="Gadget", plural="gadgets"), **GADGETS_FILES},
    )
    digests = {("widgets", "1.0.0"): widgets_digest} if widgets_digest else None
    widgets_url = serve_helm_repo(httpserver, "/charts", {("widgets", "1.0.0"): widgets}, digests)
    gadgets_url = serve_oci_registry(httpserver, "oci", "gadgets", "2.0.0", gadgets)

    root = tmp_path / "platform"
    (root / "clusters/dev/apps").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "clusters/dev/cluster.yaml", root / "clusters/dev/cluster.yaml")
    (root / "clusters/dev/apps/widgets.yaml").write_text(application("widgets", widgets_url, "widgets", "1.0.0"))
    (root / "clusters/dev/apps/gadgets.yaml").write_text(application("gadgets", gadgets_url, "gadgets", "2.0.0"))
    (root / "clusters/dev/apps/settled.yaml").write_text(application("settled", "https://charts.example.com", "settled", "3.0.0"))
    catalog = CATALOG.format(widgets_url=widgets_url, gadgets_url=gadgets_url)
    (root / "schemas").mkdir()
    (root / "schemas/catalog.yaml").write_text(catalog)
    init_git(root)
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return Platform(root, cache, widgets, gadgets, catalog)


@pytest.fixture
def platform(tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Platform:
    return make_platform(tmp_path, httpserver, monkeypatch)


def test_vendors_values_schemas_and_crds(platform: Platform, httpserver: HTTPServer) -> None:
    assert platform.run() == 0

    assert platform.read("schemas/charts/widgets/1.0.0/values.schema.json") == SCHEMA
    note = platform.read("schemas/charts/widgets/1.0.0/SOURCE.md").decode()
    assert hashlib.sha256(platform.widgets).hexdigest() in note
    assert "retrieved by invoke schemas" in note and "Apache-2.0" in note
    assert "widgets-1.0.0.tgz" in note and "- Version: 1.0.0" in note
    assert not (platform.root / "schemas/charts/gadgets").exists()  # values_schema: generated, nothing published

    generated = json.loads(platform.read("schemas/generated/gadgets/2.0.0/values.schema.json"))
    validator = jsonschema.Draft7Validator(generated)
    assert validator.is_valid({"replicas": 2, "podAnnotations": {"x": "y"}, "settings": {"extra": {"b": 2}}})
    assert validator.is_valid({"gadget-cache": {"enabled": True, "size": "2Gi"}, "global": {"anything": 1}})
    for wrong in ({"replicaz": 2}, {"settings": {"mod": "slow"}}, {"gadget-cache": {"sise": "1Gi"}}, {"replicas": "two"}):
        assert not validator.is_valid(wrong), wrong
    note = platform.read("schemas/generated/gadgets/2.0.0/SOURCE.md").decode()
    assert "GENERATED" in note and "the chart ships no values schema" in note
    assert hashlib.sha256(platform.gadgets).hexdigest() in note
    assert "`gadget-cache`" in note and "`settings.extra`" in note and "invoke schemas --force" in note
    assert not (platform.root / "schemas/generated/widgets").exists()  # published and complete: nothing generated

    crds = platform.root / "schemas/crds/widgets/1.4.2"
    assert sorted(p.name for p in crds.iterdir()) == [
        "SOURCE.md",
        "example.com_gears.yaml",
        "example.com_sprockets.yaml",
        "example.com_widgets.yaml",
        "other.example.com_cogs.yaml",
    ]
    assert (crds / "example.com_widgets.yaml").read_text() == crd_yaml()  # a one-document file, byte for byte
    assert yaml.safe_load((crds / "other.example.com_cogs.yaml").read_text())["spec"]["names"]["kind"] == "Cog"
    assert "templates/crds/plain.yaml" in (crds / "SOURCE.md").read_text()
    gadgets = platform.root / "schemas/crds/gadgets/v2.0.0"
    assert (gadgets / "gadgets.example.io_gadgets.yaml").read_text() == crd_yaml("gadgets.example.io", "Gadget", "gadgets")
    assert "not stated" in (gadgets / "SOURCE.md").read_text()

    expected = platform.catalog.replace(
        "    crds: widgets # folder under schemas/crds/\n",
        '    crds: widgets # folder under schemas/crds/\n    versions:\n      "1.0.0": 1.4.2\n',
    ).replace(
        '      "0.9.0": v0.9.0 # vendored by hand\n',
        '      "0.9.0": v0.9.0 # vendored by hand\n      "2.0.0": v2.0.0\n',
    )
    assert platform.read("schemas/catalog.yaml").decode() == expected
    catalog = parse_catalog(yaml.safe_load(expected))
    assert catalog["widgets"].crd_dir("1.0.0") == "schemas/crds/widgets/1.4.2"
    assert catalog["gadgets"].crd_dir("2.0.0") == "schemas/crds/gadgets/v2.0.0"

    assert (platform.cache / "airflow-gitops/charts/widgets-1.0.0.tgz").read_bytes() == platform.widgets
    assert not [p for p in (platform.root / "schemas").rglob(".*")], "staging folders left behind"


def test_second_run_downloads_nothing(platform: Platform, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert platform.run() == 0
    git(platform.root, "add", "-A")
    git(platform.root, "commit", "-q", "-m", "vendored")
    httpserver.clear_log()

    assert platform.run() == 0
    assert list(httpserver.log) == []
    assert platform.status() == ""
    out = capsys.readouterr().out
    assert "present" in out and "vendored" in out  # the first run's table, then the second's


def test_force_uses_the_cache_and_rewrites(platform: Platform, httpserver: HTTPServer) -> None:
    assert platform.run() == 0
    schema = platform.root / "schemas/charts/widgets/1.0.0/values.schema.json"
    schema.write_bytes(b"{}")
    httpserver.clear_log()

    assert platform.run(force=True) == 0
    assert schema.read_bytes() == SCHEMA
    requested = [r.path for r, _ in httpserver.log]
    assert "/charts/index.yaml" in requested  # the cached archive is still checked against the index digest
    assert not [p for p in requested if p.endswith(".tgz") or "/blobs/" in p]


def test_wrong_digest_fails_and_leaves_nothing(
    tmp_path: Path,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    platform = make_platform(tmp_path, httpserver, monkeypatch, widgets_digest="0" * 64)
    assert platform.run() == 2
    err = capsys.readouterr().err
    assert "clusters/dev/apps/widgets.yaml" in err and "does not match the published digest" in err
    assert len(err.strip().splitlines()) == 1
    assert platform.status() == ""  # no schema, no CRD folder, catalog untouched (gadgets came first)
    assert not (platform.cache / "airflow-gitops/charts/widgets-1.0.0.tgz").exists()


def test_chart_without_values_schema_suggests_generated(
    tmp_path: Path,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    platform = make_platform(tmp_path, httpserver, monkeypatch, widgets_schema=None)
    assert platform.run() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: schemas/catalog.yaml: charts.widgets.values_schema is published")
    assert "widgets 1.0.0 ships no widgets/values.schema.json" in err and "values_schema: generated" in err
    assert platform.status() == ""


def test_unknown_chart_names_the_application_file(
    platform: Platform, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    (platform.root / "clusters/dev/apps/mystery.yaml").write_text(
        application("mystery", "https://charts.example.com", "mystery", "0.1.0")
    )
    assert platform.run() == 2
    err = capsys.readouterr().err
    assert "clusters/dev/apps/mystery.yaml: chart mystery is not in schemas/catalog.yaml" in err
    assert "add an entry" in err
    assert list(httpserver.log) == []


def test_unknown_environment_is_a_usage_error(platform: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    assert common.guarded(lambda: upgrades.schemas("qa", False, False, cwd=platform.root)) == 2
    assert "--env qa" in capsys.readouterr().err


# --- planning, without a server ------------------------------------------------------------------
def test_plan_says_what_each_pin_needs() -> None:
    catalog = parse_catalog(yaml.safe_load(CATALOG.format(widgets_url="https://w", gadgets_url="oci://g")))
    pins = [
        Pin("https://w", "widgets", "1.0.0", ("a.yaml",)),
        Pin("oci://g", "gadgets", "0.9.0", ("b.yaml",)),
        Pin("https://charts.example.com", "settled", "3.0.0", ("c.yaml",)),
    ]
    present = {"schemas/crds/gadgets/v0.9.0"}
    needs = {n.pin.chart: n for n in plan(pins, catalog, present.__contains__, force=False)}
    assert (needs["widgets"].values_schema, needs["widgets"].crds) == (True, True)
    assert (needs["gadgets"].values_schema, needs["gadgets"].crds, needs["gadgets"].generated) == (False, False, True)
    assert not needs["widgets"].generated  # published and complete: nothing to generate
    assert not needs["settled"].needed
    forced = {n.pin.chart: n for n in plan(pins, catalog, present.__contains__, force=True)}
    assert forced["gadgets"].crds and not forced["settled"].needed


def test_pins_are_exact_and_merged() -> None:
    doc = yaml.safe_load(application("widgets", "https://w", "widgets", "1.0.0"))
    pins = merge_pins(pins_of("clusters/dev/apps/widgets.yaml", [doc]) + pins_of("clusters/prod/apps/widgets.yaml", [doc]))
    assert pins == [
        Pin(
            "https://w",
            "widgets",
            "1.0.0",
            ("clusters/dev/apps/widgets.yaml", "clusters/prod/apps/widgets.yaml"),
        )
    ]
    ranged = yaml.safe_load(application("widgets", "https://w", "widgets", "'^1.0'"))
    with pytest.raises(UsageError, match="not an exact version"):
        pins_of("clusters/dev/apps/widgets.yaml", [ranged])
