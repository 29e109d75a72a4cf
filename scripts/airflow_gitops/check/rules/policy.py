"""Stage 5: policy. No `latest`, digests where the environment demands them, resources on every
workload, no plaintext secrets, CRDs before their custom resources, and chart settings Argo CD needs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ...charts.release import ChartRelease
from ...charts.values import dotted_get, dotted_path, without_nulls
from ...model.findings import error, warning
from ...model.rendered import RenderedObject
from ...model.yamlio import PathPart
from ..context import CheckContext, ClusterRender

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
SECRET_KEY = re.compile(
    r"^(password|passwd|pass|secret|token|apikey|api_key|fernetkey|secretkey|apisecretkey|jwtsecret|"
    r"webserversecretkey|privatekey|private_key|clientsecret|client_secret|secretaccesskey|accesskey)$",
    re.IGNORECASE,
)
CREDENTIALS_IN_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@{}]+:[^/\s@{}]+@", re.IGNORECASE)


def run(ctx: CheckContext) -> None:
    for cluster in ctx.clusters.values():
        for release in (r for r in cluster.releases if r.readable):
            _images(ctx, cluster, release)
            _plaintext_values(ctx, release)
            _resources(ctx, release)
            _required_values(ctx, release)
        _secret_objects(ctx, cluster)
        _crds_before_crs(ctx, cluster)


def walk(node: Any, path: list[PathPart] | None = None) -> Iterator[tuple[list[PathPart], Any]]:
    path = path or []
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, [*path, str(key)])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, [*path, index])


# --- images -------------------------------------------------------------------------------------
def _image_blocks(values: Any) -> Iterator[tuple[list[PathPart], dict[str, Any]]]:
    for path, node in walk(values):
        if isinstance(node, dict) and "repository" in node and "tag" in node:
            yield path, node


def _images(ctx: CheckContext, cluster: ClusterRender, release: ChartRelease) -> None:
    env_file = f"clusters/{cluster.env}/values/{release.app.name}.yaml"
    env_values = ctx.repo.yaml_doc(env_file) if ctx.repo.exists(env_file) and env_file not in ctx.broken_files else {}
    env_paths = {tuple(p) for p, _ in _image_blocks(env_values or {})}
    for path, block in _image_blocks(release.merged.values):
        tag = block.get("tag")
        where = [*path, "tag"]
        if isinstance(tag, str) and (tag == "latest" or tag.endswith(":latest")):
            file, line = ctx.value_location(release, where)
            ctx.add(
                error(
                    "image-latest",
                    file,
                    f"[{cluster.env}] image {block.get('repository')} uses tag 'latest', which moves without review",
                    "pin a released tag (and a digest in staging and prod)",
                    line,
                )
            )
        digest = block.get("digest")
        if not digest and isinstance(tag, str) and "@" in tag:
            # the tag kept beside its digest (tag: v1.2.3@sha256:...), where a chart has no digest field
            digest = tag.split("@", 1)[1]
            tag = tag.split("@", 1)[0]
        if digest not in (None, "") and not DIGEST.match(str(digest)):
            file, line = ctx.value_location(release, [*path, "digest"])
            ctx.add(
                error(
                    "image-digest-format",
                    file,
                    f"[{cluster.env}] image digest {digest!r} is not sha256:<64 hex>",
                    "copy the digest that `invoke promote` or ECR reports",
                    line,
                )
            )
        if cluster.config.pins_by_digest and tuple(path) in env_paths and not digest:
            file, line = ctx.value_location(release, where)
            pending = str(block.get("repository")) in {str(i) for i in cluster.config.get("promotion.digest_pending") or []}
            ctx.add(
                (warning if pending else error)(
                    "image-digest-required",
                    file,
                    f"[{cluster.env}] image {block.get('repository')}:{tag} is pinned by tag only; {cluster.env} pins images by digest"
                    + (" (listed in promotion.digest_pending)" if pending else ""),
                    "add the digest (invoke promote writes tag and digest together)",
                    line,
                )
            )


# --- secrets --------------------------------------------------------------------------------------
def _plaintext_values(ctx: CheckContext, release: ChartRelease) -> None:
    for path, node in walk(release.merged.values):
        if not path or not isinstance(node, str) or not node.strip():
            continue
        key = str(path[-1])
        if SECRET_KEY.match(key) or CREDENTIALS_IN_URL.search(node):
            file, line = ctx.value_location(release, path)
            ctx.add(
                error(
                    "plaintext-secret",
                    file,
                    f"[{release.env}] {release.source.chart} value {'.'.join(map(str, path))} holds a secret in plain text",
                    "store it in Secrets Manager and reference the Kubernetes Secret an ExternalSecret builds",
                    line,
                )
            )


def _secret_objects(ctx: CheckContext, cluster: ClusterRender) -> None:
    for obj in cluster.of_kind("Secret"):
        if obj.group == "" and (obj.obj.get("data") or obj.obj.get("stringData")):
            file, line = ctx.locate(obj, ["data"] if obj.obj.get("data") else ["stringData"])
            ctx.add(
                error(
                    "plaintext-secret",
                    file,
                    f"[{cluster.env}] {obj.label()} carries secret data in git",
                    "delete it and create an ExternalSecret that reads the value from Secrets Manager",
                    line,
                )
            )


# --- resources and chart settings ---------------------------------------------------------------------
def _resources(ctx: CheckContext, release: ChartRelease) -> None:
    """Each catalog `workloads` path names a `resources` block; a component turned off is skipped."""
    entry = ctx.schemas.chart(release.source.chart)
    if entry is None:
        return
    for dotted in entry.workloads:
        parent = dotted.rpartition(".")[0]
        owner = dotted_get(release.merged.values, parent) if parent else release.merged.values
        if isinstance(owner, dict) and owner.get("enabled") is False:
            continue
        resources = without_nulls(dotted_get(release.merged.values, dotted))  # `cpu: null` removes the request
        requests = (resources or {}).get("requests") or {} if isinstance(resources, dict) else {}
        limits = (resources or {}).get("limits") or {} if isinstance(resources, dict) else {}
        missing = [
            name
            for name, ok in (
                ("requests.cpu", "cpu" in requests),
                ("requests.memory", "memory" in requests),
                ("limits.memory", "memory" in limits),
            )
            if not ok
        ]
        if missing:
            file, line = ctx.value_location(release, dotted_path(dotted))
            ctx.add(
                error(
                    "resources-missing",
                    file,
                    f"[{release.env}] {release.source.chart} {dotted} lacks {', '.join(missing)}",
                    "set CPU and memory requests and a memory limit, so the scheduler and Karpenter size nodes right",
                    line,
                )
            )


def _required_values(ctx: CheckContext, release: ChartRelease) -> None:
    entry = ctx.schemas.chart(release.source.chart)
    if entry is None:
        return
    for rule in entry.required_values:
        actual = dotted_get(release.merged.values, rule.path)
        if actual != rule.equals:
            file, line = ctx.value_location(release, dotted_path(rule.path))
            ctx.add(
                error(
                    rule.rule,
                    file,
                    f"[{release.env}] {release.source.chart} value {rule.path} is {actual!r}: {rule.why}",
                    f"set {rule.path}: {str(rule.equals).lower() if isinstance(rule.equals, bool) else rule.equals}",
                    line,
                )
            )


# --- ordering ------------------------------------------------------------------------------------------
def wave(obj: RenderedObject) -> int:
    try:
        return int(str(obj.annotations.get(SYNC_WAVE, "0")))
    except ValueError:
        return 0


def _crd_owners(ctx: CheckContext, cluster: ClusterRender) -> dict[tuple[str, str], RenderedObject]:
    """(API group, kind) -> the Application whose chart installs that kind's CRD. A kind no vendored
    CRD defines is unknown-kind's to report, not an ordering problem."""
    owners: dict[tuple[str, str], RenderedObject] = {}
    for release in cluster.releases:
        folder = ctx.crd_folder(release)
        if folder is None or not ctx.repo.path(folder).is_dir():
            continue
        for group, _, kind in ctx.schemas.crds_in(folder):
            owners.setdefault((group, kind), release.app)
    return owners


def _crds_before_crs(ctx: CheckContext, cluster: ClusterRender) -> None:
    owners = _crd_owners(ctx, cluster)
    appliers = {a.name: a for a in cluster.applications()}
    for obj in cluster.objects:
        owner = owners.get((obj.group, obj.kind))
        if owner is None or owner is obj:
            continue
        if obj.kind == "Application" or obj.kind == "AppProject":
            continue  # Argo CD's own kinds exist before any sync: Terraform installs Argo CD first
        applier = appliers.get(obj.app) if obj.app else None
        if applier is not None and applier.name != owner.name:
            # Applied by another Application: the root syncs that one only once the owner is Healthy,
            # its CRDs installed, provided it comes in a later wave.
            if wave(applier) <= wave(owner):
                file, line = ctx.locate(applier, ["metadata", "annotations"])
                ctx.add(
                    error(
                        "crd-before-cr",
                        file,
                        f"[{cluster.env}] {obj.label()} comes with Application {applier.name} (wave {wave(applier)}), "
                        f"not after Application {owner.name} (wave {wave(owner)}) that installs its CRD",
                        f"set {SYNC_WAVE} of Application {applier.name} to a wave greater than {wave(owner)}",
                        line,
                    )
                )
            continue
        if applier is None and wave(obj) <= wave(owner):
            file, line = ctx.locate(obj, ["metadata", "annotations"])
            ctx.add(
                error(
                    "crd-before-cr",
                    file,
                    f"[{cluster.env}] {obj.label()} syncs in wave {wave(obj)}, not after Application {owner.name} (wave {wave(owner)}) that installs its CRD",
                    f"set {SYNC_WAVE} to a wave greater than {wave(owner)}",
                    line,
                )
            )
        if "SkipDryRunOnMissingResource=true" not in obj.annotations.get(SYNC_OPTIONS, ""):
            file, line = ctx.locate(obj, ["metadata", "annotations"])
            ctx.add(
                error(
                    "skip-dry-run-missing",
                    file,
                    f"[{cluster.env}] {obj.label()} needs a CRD from the same sync, but lacks SkipDryRunOnMissingResource",
                    f"add the annotation {SYNC_OPTIONS}: SkipDryRunOnMissingResource=true",
                    line,
                )
            )
