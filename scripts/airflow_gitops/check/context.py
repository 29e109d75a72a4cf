"""State shared by the stages of one check run: the repo model, schemas, renders and findings."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from ..charts.release import ChartRelease
from ..charts.values import chart_sources, merge, ref_sources, resolve_path
from ..model import yamlio
from ..model.findings import Finding
from ..model.rendered import RenderedObject
from ..model.repo import ClusterConfig, Repo
from ..model.schemas import SchemaStore, kube_minor
from ..model.yamlio import PathPart

if TYPE_CHECKING:
    from ..charts.renderer import ChartObject, ChartRenderer
    from .rules.crd_rules import CrdPlans, Stats


@dataclass
class ClusterRender:
    env: str
    config: ClusterConfig
    objects: list[RenderedObject]
    releases: list[ChartRelease] = field(default_factory=list)
    chart_objects: list[ChartObject] = field(default_factory=list)  # what the charts render (--render-charts)

    def of_kind(self, kind: str) -> list[RenderedObject]:
        return [o for o in self.objects if o.kind == kind]

    def applications(self) -> list[RenderedObject]:
        return [o for o in self.objects if o.kind == "Application" and o.group == "argoproj.io"]


Identity = tuple[str, str, str, str]
NEXT_MINOR = "next"  # --kubernetes-version next: each cluster's version plus one minor


def next_minor(version: str) -> str:
    major, _, minor = kube_minor(version).partition(".")
    return f"{major}.{int(minor) + 1}" if minor.isdigit() else version


@dataclass
class BaseObjects:
    """The objects of each cluster as they were at a base ref (`--base`): what transition rules compare with."""

    ref: str
    commit: str
    objects: dict[str, dict[Identity, dict[str, Any]]]  # env -> identity -> object; an env absent at the base is absent
    chart_objects: Callable[[ChartRelease], dict[Identity, dict[str, Any]]] | None = None  # rendered on demand

    def find(self, obj: RenderedObject, release: ChartRelease | None = None) -> dict[str, Any] | None:
        if release is not None:
            return self.chart_objects(release).get(obj.identity) if self.chart_objects else None
        return self.objects.get(obj.env, {}).get(obj.identity)


@dataclass
class CheckContext:
    repo: Repo
    schemas: SchemaStore
    envs: list[str]
    findings: list[Finding] = field(default_factory=list)
    broken_files: set[str] = field(default_factory=set)
    clusters: dict[str, ClusterRender] = field(default_factory=dict)
    objects_validated: int = 0
    charts: ChartRenderer | None = None  # set: render every chart release and check what it renders
    require_render: bool = False  # a chart that cannot be rendered is an error, not a warning
    kubernetes_version: str | None = None  # validate built-in kinds for this version ('X.Y' or 'next'), not the cluster's
    base_ref: str | None = None  # --base: transition rules compare with the objects at this ref
    base: BaseObjects | None = None
    # made by the validate stage (rules.crd_rules): each CRD version's compiled rules, and what they cost
    crd_plans: CrdPlans | None = None
    cel_stats: Stats | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)  # run when the check ends

    def version_of(self, cluster: ClusterRender) -> str:
        """The Kubernetes version the cluster's objects are validated and its charts rendered for."""
        if self.kubernetes_version == NEXT_MINOR:
            return next_minor(cluster.config.kubernetes_version)
        return self.kubernetes_version or cluster.config.kubernetes_version

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    # --- source locations ---------------------------------------------------------------
    def patch_files(self, env: str) -> list[str]:
        """Patch files the environment's kustomizations name (strategic-merge files only): the root's,
        clusters/<env>/kustomization.yaml, then those of its manifests folders below it."""
        prefix = f"clusters/{env}/"
        own = [f"{prefix}kustomization.yaml"]
        own += [f for f in self.repo.tracked_files if f.startswith(prefix) and f.endswith("/kustomization.yaml") and f not in own]
        out = []
        for rel in own:
            if rel in self.broken_files or not self.repo.exists(rel):
                continue
            try:
                kust = self.repo.yaml_doc(rel) or {}
            except (OSError, yaml.YAMLError):
                continue
            folder = rel.rpartition("/")[0]
            for patch in kust.get("patches") or []:
                if isinstance(patch, dict) and isinstance(patch.get("path"), str):
                    out.append(posixpath.normpath(f"{folder}/{patch['path']}"))
        return out

    def locate(self, obj: RenderedObject, path: list[PathPart]) -> tuple[str, int | None]:
        """The file and line that set `path` of a rendered object: its patches first, then its origin."""
        candidates = [f for f in self.patch_files(obj.env) if self.repo.exists(f)]
        if obj.origin:
            candidates.append(obj.origin)
        best: tuple[int, str, int | None] = (-1, obj.origin or f"clusters/{obj.env}/kustomization.yaml", None)
        for rel in candidates:
            try:
                found = self.repo.definitions(rel, obj.kind, obj.name)
            except (OSError, yaml.YAMLError):
                continue
            for node, _ in found:
                depth, line = yamlio.match_depth(node, path)
                # a patch wins a tie: it is applied last, so it set the value
                if depth > best[0]:
                    best = (depth, rel, line)
        return best[1], best[2]

    def value_location_exact(self, release: ChartRelease, path: list[PathPart]) -> tuple[str, int | None] | None:
        """The values file (last one wins) that sets exactly `path`, or None when none does."""
        found = None
        for rel in release.merged.files:
            try:
                node = self.repo.yaml_nodes(rel)
            except (OSError, yaml.YAMLError):
                continue
            if node:
                depth, line = yamlio.match_depth(node[0], path)
                if depth == len(path):
                    found = (rel, line)
        return found

    def value_location(self, release: ChartRelease, path: list[PathPart]) -> tuple[str, int | None]:
        """The values file (last one wins) that holds `path`, else the Application's source."""
        best: tuple[str, int | None] | None = None
        for rel in release.merged.files:
            try:
                node = self.repo.yaml_nodes(rel)
            except (OSError, yaml.YAMLError):
                continue
            if not node:
                continue
            depth, line = yamlio.match_depth(node[0], path)
            if depth == len(path) or (depth > 0 and best is None):
                best = (rel, line)
        if best:
            return best
        return self.locate(release.app, ["spec", "sources", release.source.index])

    def line_holds(self, rel: str, line: int | None, text: str) -> bool:
        """Line `line` of the file holds `text` (so a finding's replacement can be made there)."""
        if not line or not text or not self.repo.exists(rel):
            return False
        lines = self.repo.text(rel).splitlines()
        return 0 < line <= len(lines) and text in lines[line - 1]

    def binding_location(self, release: ChartRelease, dotted: str) -> tuple[str, int | None, bool]:
        """Where a values file (last one wins) sets a dotted path that may pick list items by a field
        ('env.[name=AWS_REGION].value'): the file, the line, and whether that file holds the whole path
        (so the line is the value's own)."""
        best: tuple[str, int | None, bool] | None = None
        for rel in release.merged.files:
            try:
                nodes, docs = self.repo.yaml_nodes(rel), self.repo.yaml_docs(rel)
            except (OSError, yaml.YAMLError):
                continue
            if not nodes or not docs:
                continue
            path, complete = resolve_path(docs[0], dotted)
            depth, line = yamlio.match_depth(nodes[0], path)
            if complete and depth == len(path):
                best = (rel, line, True)
            elif depth > 0 and best is None:
                best = (rel, line, False)
        if best:
            return best
        file, where = self.locate(release.app, ["spec", "sources", release.source.index])
        return file, where, False

    def crd_dirs_of(self, cluster: ClusterRender) -> list[str]:
        """The vendored CRD folders of the operators a cluster pins, those that exist."""
        found = (self.crd_folder(r) for r in cluster.releases)
        return sorted({f for f in found if f is not None and self.repo.path(f).is_dir()})

    def crd_folder(self, release: ChartRelease) -> str | None:
        """The vendored CRD folder for the version of the chart a release pins, if it installs CRDs."""
        entry = self.schemas.chart(release.source.chart)
        return entry.crd_dir(release.source.version) if entry else None

    # --- chart releases ------------------------------------------------------------------
    def releases_of(self, app: RenderedObject) -> list[ChartRelease]:
        refs = ref_sources(app.obj)
        releases = [ChartRelease(app, src, merge(src, refs, self._read_values)) for src in chart_sources(app.obj)]
        for release in releases:
            release.merged.unreadable = [f for f in release.merged.files if f in self.broken_files]
        return releases

    def _read_values(self, rel: str) -> Any:
        if not self.repo.exists(rel):
            raise FileNotFoundError(rel)
        if rel in self.broken_files:
            return {}
        return self.repo.yaml_doc(rel) or {}
