"""Chart releases rendered as Argo CD renders them.

The archive of the pinned version comes from the chart cache (`<chart>-<version>.tgz`), or is pulled
once from the chart's repository and cached. It is rendered with the release name, the destination
namespace, the cluster's Kubernetes version and API versions that include the vendored CRDs, and
the values merged in Argo CD's order; the chart's values.schema.json applies as Helm applies it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..adapters.chart_repository import ChartRepo, ChartRepoError, ChartUnreachable
from ..adapters.helm_engine import ChartError, Engine, RenderOptions
from ..model.rendered import CLUSTER_SCOPED_KINDS, RenderedObject
from ..model.schemas import SchemaStore

if TYPE_CHECKING:
    from ..model.yamlio import PathPart
    from .release import ChartRelease

# rule ids of a release that could not be rendered
NOT_RENDERED = "chart-not-rendered"  # not cached and the repository is out of reach: a warning unless required
PULL_FAILED = "chart-pull-failed"
LOAD_FAILED = "chart-load-failed"
VALUES_SCHEMA = "chart-values-schema"
RENDER_FAILED = "chart-render-failed"
_SCHEMA_PATH = re.compile(r"at '(/[^']*)'")


@dataclass(frozen=True)
class ChartObject:
    """One object a chart release renders."""

    release: ChartRelease
    template: str  # the chart file that rendered it
    rendered: RenderedObject

    @property
    def label(self) -> str:
        return f"{self.rendered.label()} ({self.template})"


class ChartProblem(Exception):
    def __init__(self, rule: str, message: str, fix: str, values_path: list[PathPart] | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.fix = fix
        self.values_path = values_path


def api_versions(schemas: SchemaStore, crd_dirs: Iterable[str]) -> tuple[str, ...]:
    """group/version and group/version/Kind of every served CRD version, as `--api-versions` takes them.

    Built-in kinds are the engine's own default set for the Kubernetes version."""
    found: set[str] = set()
    for folder in crd_dirs:
        for group, version, kind in schemas.crds_in(folder):
            found.update((f"{group}/{version}", f"{group}/{version}/{kind}"))
    return tuple(sorted(found))


def destination_namespace(app: RenderedObject) -> str:
    destination = (app.obj.get("spec") or {}).get("destination") or {}
    return str(destination.get("namespace") or "default")


def schema_error_path(message: str) -> list[PathPart] | None:
    """ "... - at '/scheduler/replicas': minimum: got 0, want 1" -> ['scheduler', 'replicas']."""
    found = _SCHEMA_PATH.search(message)
    if not found:
        return None
    return [int(p) if p.isdigit() else p for p in found.group(1).strip("/").split("/") if p]


@dataclass
class ChartRenderer:
    """Archives from the cache or the repositories, and renders through one engine. One per run."""

    engine: Engine
    source: ChartRepo
    offline: bool = False  # the cache only: no request at all
    _archives: dict[tuple[str, str, str], Path | ChartProblem] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def cache(self) -> Path:
        return self.source.cache

    def archive(self, repo_url: str, chart: str, version: str) -> Path:
        """The cached archive of a pinned chart, pulled once per run at most."""
        key = (repo_url, chart, version)
        with self._lock:
            if key not in self._archives:
                self._archives[key] = self._obtain(repo_url, chart, version)
            found = self._archives[key]
        if isinstance(found, ChartProblem):
            raise found
        return found

    def _obtain(self, repo_url: str, chart: str, version: str) -> Path | ChartProblem:
        try:
            cached = self.source.cached_path(chart, version)
            if cached.is_file():
                return cached
            if self.offline:
                return ChartProblem(
                    NOT_RENDERED,
                    f"{chart} {version} is not in the chart cache {self.cache}",
                    f"run `invoke check --render-charts` where {repo_url} is reachable, or copy {cached.name} into the cache",
                )
            path, _ = self.source.obtain(repo_url, chart, version)
            return path
        except ChartUnreachable as exc:
            return ChartProblem(
                NOT_RENDERED,
                f"{chart} {version} is not in the chart cache {self.cache} and could not be pulled: {exc}",
                f"run it where {repo_url} is reachable, or copy {chart}-{version}.tgz into the cache (--chart-cache)",
            )
        except ChartRepoError as exc:
            return ChartProblem(
                PULL_FAILED,
                f"{chart} {version} could not be pulled: {exc}",
                "correct repoURL, chart and targetRevision; a digest mismatch is the repository's to fix",
            )

    def prefetch(self, releases: Iterable[ChartRelease], workers: int = 8) -> None:
        """Pull the distinct archives the releases pin, several at a time."""
        from concurrent.futures import ThreadPoolExecutor

        keys = sorted({(r.source.repo_url, r.source.chart, r.source.version) for r in releases})
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda k: self._archive_or_none(*k), keys))

    def _archive_or_none(self, repo_url: str, chart: str, version: str) -> Path | None:
        try:
            return self.archive(repo_url, chart, version)
        except ChartProblem:
            return None

    def render(self, release: ChartRelease, kubernetes_version: str, apis: tuple[str, ...]) -> list[ChartObject]:
        src = release.source
        archive = self.archive(src.repo_url, src.chart, src.version)
        helm = _helm_of(release)
        options = RenderOptions(
            release_name=src.release_name,
            namespace=destination_namespace(release.app),
            kube_version=kubernetes_version,
            api_versions=apis,
            include_crds=not helm.get("skipCrds", False),
            skip_tests=bool(helm.get("skipTests", False)),
        )
        try:
            manifests = self.engine.render(archive, release.merged.values, options)
        except ChartError as exc:
            raise _problem(src.chart, src.version, exc, archive) from exc
        placed = in_namespace([m.obj for m in manifests], options.namespace)
        return [
            ChartObject(release, m.template, RenderedObject(release.env, obj, ""))
            for m, obj in zip(manifests, placed, strict=True)
        ]


def in_namespace(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The objects as Argo CD applies them: a namespaced object the chart left without a namespace
    goes to the Application's destination namespace. Custom kinds are cluster-scoped when a CRD
    among the objects says so."""
    cluster_scoped = CLUSTER_SCOPED_KINDS | {
        str(((o.get("spec") or {}).get("names") or {}).get("kind"))
        for o in objects
        if o.get("kind") == "CustomResourceDefinition" and (o.get("spec") or {}).get("scope") == "Cluster"
    }
    placed = []
    for obj in objects:
        metadata = obj.get("metadata")
        if obj.get("kind") not in cluster_scoped and isinstance(metadata, dict) and not metadata.get("namespace"):
            obj = {**obj, "metadata": {**metadata, "namespace": namespace}}
        placed.append(obj)
    return placed


def _helm_of(release: ChartRelease) -> Mapping[str, object]:
    spec = release.app.obj.get("spec") or {}
    sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
    source = sources[release.source.index] if release.source.index < len(sources) else {}
    helm = source.get("helm") if isinstance(source, dict) else None
    return helm if isinstance(helm, dict) else {}


def _problem(chart: str, version: str, exc: ChartError, archive: Path) -> ChartProblem:
    if exc.kind == "values":
        return ChartProblem(
            VALUES_SCHEMA,
            f"{chart} {version} refuses the values: {exc.message}",
            f"use keys and types that {chart} {version}'s values.schema.json accepts",
            schema_error_path(exc.message),
        )
    if exc.kind == "load":
        return ChartProblem(
            LOAD_FAILED,
            f"{chart} {version}: {exc.message}",
            f"delete {archive} so that it is pulled again; if that fails too, the repository serves a broken archive",
        )
    return ChartProblem(
        RENDER_FAILED,
        f"{chart} {version} fails to render: {exc.message}",
        "change the values the template refuses (the message names the template and its check)",
    )
