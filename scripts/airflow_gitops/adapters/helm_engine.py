"""Adapter for the Helm engine: render a chart archive as `helm template` would, package charts, index repositories.

Two engines behind one interface. The default embeds Helm 4 through helm-python-sdk (no helm
binary); `HELM_ENGINE=binary` runs `helm template` from PATH instead. helm-python-sdk is young, so
nothing else in the package imports it, and its version is pinned in requirements.lock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from ..model import yamlio

ENGINE_ENV = "HELM_ENGINE"
ENGINES = ("sdk", "binary")
SKIPPED_TEMPLATES = ("NOTES.txt",)


class ChartError(Exception):
    """A chart that cannot be loaded or rendered. `kind` is 'load', 'values' or 'template'."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class RenderOptions:
    """What Argo CD hands to `helm template`: release, namespace and the cluster's capabilities."""

    release_name: str
    namespace: str
    kube_version: str  # '1.34' or 'v1.34.0'
    api_versions: tuple[str, ...] = ()  # extra group/version and group/version/Kind, e.g. CRDs
    include_crds: bool = True  # Argo CD applies a chart's crds/ unless skipCrds
    skip_tests: bool = False

    @property
    def kube_semver(self) -> str:
        parts = self.kube_version.lstrip("v").split(".")
        return "v" + ".".join((parts + ["0", "0"])[:3])


@dataclass(frozen=True)
class Manifest:
    template: str  # the chart path that produced it: 'airflow/templates/scheduler/scheduler-deployment.yaml'
    obj: dict[str, Any]


class Engine(Protocol):
    name: str

    def render(self, archive: Path, values: Mapping[str, Any], options: RenderOptions) -> list[Manifest]: ...


def _is_test(doc: dict[str, Any]) -> bool:
    hooks = str(((doc.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", ""))
    return any(h.strip() in ("test", "test-success", "test-failure") for h in hooks.split(","))


def parse_manifests(rendered: Mapping[str, str], options: RenderOptions) -> list[Manifest]:
    """Template path -> text, as the engine returns it, into objects in template order."""
    out = []
    for template in sorted(rendered):
        if template.rsplit("/", 1)[-1] in SKIPPED_TEMPLATES:
            continue
        try:
            docs = yamlio.load_all(rendered[template])
        except yaml.YAMLError as exc:
            raise ChartError("template", f"{template} renders invalid YAML: {yamlio.error_text(exc)}") from exc
        for doc in _expand_lists(docs):
            if options.skip_tests and _is_test(doc):
                continue
            out.append(Manifest(template, doc))
    return out


def _expand_lists(docs: list[Any]) -> list[dict[str, Any]]:
    """Objects, with each `v1 List` replaced by its items, as kubectl and Argo CD apply them."""
    out: list[dict[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict) or not doc:
            continue
        if doc.get("apiVersion") == "v1" and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            out += _expand_lists(doc["items"])
        else:
            out.append(doc)
    return out


def _first_lines(text: str, limit: int = 400) -> str:
    text = " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class SdkEngine:
    """Helm 4 embedded through helm-python-sdk."""

    name: str = "sdk"

    def render(self, archive: Path, values: Mapping[str, Any], options: RenderOptions) -> list[Manifest]:
        import helm_python as helm
        from helm_python import _native

        try:
            chart = helm.Chart.load(archive)
        except helm.HelmError as exc:
            raise ChartError("load", f"{archive.name} is not a chart archive Helm can read: {_first_lines(str(exc))}") from exc
        with chart:
            opts = {
                "name": options.release_name,
                "namespace": options.namespace,
                "kube_version": options.kube_semver,
                "api_versions": list(options.api_versions),
                "is_install": True,
            }
            try:
                # Chart.render() of 0.2.x does not pass kube_version and api_versions, which the
                # library accepts: the same call with the full options.
                text = _native.call_string("helm_render", chart._raw(), json.dumps(dict(values)), json.dumps(opts))
            except helm.HelmValuesError as exc:
                raise ChartError("values", _first_lines(str(exc))) from exc
            except helm.HelmError as exc:
                raise ChartError("template", _first_lines(str(exc))) from exc
            rendered: dict[str, str] = json.loads(text)
            if options.include_crds:
                for crd in chart.crds:
                    rendered[f"{chart.name}/{crd['filename']}"] = crd["data"]
        return parse_manifests(rendered, options)


@dataclass
class BinaryEngine:
    """`helm template` from PATH."""

    helm: str
    name: str = "binary"

    def render(self, archive: Path, values: Mapping[str, Any], options: RenderOptions) -> list[Manifest]:
        with tempfile.TemporaryDirectory(prefix="helm-values-") as tmp:
            values_file = Path(tmp) / "values.json"
            values_file.write_text(json.dumps(dict(values)), encoding="utf-8")
            args = [
                self.helm,
                "template",
                options.release_name,
                str(archive),
                "--namespace",
                options.namespace,
                "--kube-version",
                options.kube_semver,
                "--values",
                str(values_file),
            ]
            args += [f"--api-versions={v}" for v in options.api_versions]
            args += ["--include-crds"] if options.include_crds else []
            args += ["--skip-tests"] if options.skip_tests else []
            proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode != 0:
            message = _first_lines(proc.stderr.removeprefix("Error: "))
            kind = "values" if "schema" in message else "load" if "chart" in message.split(":")[0].lower() else "template"
            raise ChartError(kind, message)
        return _split_by_source(proc.stdout, options)


def _split_by_source(stdout: str, options: RenderOptions) -> list[Manifest]:
    """`helm template` output, keyed by its '# Source: <template>' comments."""
    rendered: dict[str, str] = {}
    current = "unknown"
    for chunk in stdout.split("\n---"):
        for line in chunk.splitlines():
            if line.startswith("# Source: "):
                current = line.removeprefix("# Source: ").strip()
                break
        rendered[current] = rendered.get(current, "") + "\n---\n" + chunk
    return parse_manifests(rendered, options)


def make_engine(environ: Mapping[str, str]) -> Engine:
    """The embedded engine, or `helm template` when HELM_ENGINE=binary."""
    wanted = environ.get(ENGINE_ENV, "sdk") or "sdk"
    if wanted not in ENGINES:
        raise ChartError("load", f"{ENGINE_ENV}={wanted}: choose one of {', '.join(ENGINES)}")
    if wanted == "binary":
        found = shutil.which("helm", path=environ.get("PATH", os.defpath))
        if not found:
            raise ChartError("load", f"{ENGINE_ENV}=binary, but there is no helm on PATH")
        return BinaryEngine(found)
    return SdkEngine()


# --- packaging, for tests and benchmarks that serve their own charts --------------------------------
def package(chart_dir: Path, destination: Path) -> Path:
    """`helm package`: <destination>/<name>-<version>.tgz."""
    import helm_python as helm

    destination.mkdir(parents=True, exist_ok=True)
    return Path(helm.package(chart_dir, destination=destination))


def index_repository(folder: Path, base_url: str | None = None) -> dict[str, Any]:
    """`helm repo index`: writes <folder>/index.yaml over every archive in it, with digests."""
    import helm_python as helm

    return helm.repo_index_generate(folder, base_url=base_url)
