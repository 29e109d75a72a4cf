"""Policy on what the charts render: resources, non-root, probes, PodDisruptionBudgets, images pulled
from the registry account's ECR (pinned by digest where the environment says so), and in prod highly
available Airflow components. Findings point at the values file that sets the image or component,
where the values or the catalog name it; else at the Application that pins the chart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ...charts.release import ChartRelease
from ...charts.values import dotted_path
from ...model.findings import error, warning
from ...model.schemas import ChartEntry
from ...model.yamlio import PathPart
from ..context import CheckContext, ClusterRender
from .policy import walk

if TYPE_CHECKING:
    from ...charts.renderer import ChartObject

Where = Callable[[list[PathPart]], tuple[str, int | None]]

LONG_RUNNING = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})
REPLICATED = frozenset({"Deployment", "StatefulSet"})
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
COMPONENT_LABELS = ("component", "app.kubernetes.io/component")
DIGEST_MARK = "@sha256:"


def run(ctx: CheckContext, cluster: ClusterRender) -> None:
    prod = is_prod(cluster.env)
    pdbs = [o.rendered.obj for o in cluster.chart_objects if o.rendered.kind == "PodDisruptionBudget"]
    pdbs += [o.obj for o in cluster.of_kind("PodDisruptionBudget")]
    for obj in cluster.chart_objects:
        spec = pod_spec(obj.rendered.obj)
        if spec is None:
            continue
        entry = ctx.schemas.chart(obj.release.source.chart)
        _containers(ctx, obj, spec, entry)
        _images(ctx, cluster, obj, spec, entry)
        if obj.rendered.kind in REPLICATED:
            _disruption_budget(ctx, obj, pdbs, entry)
        if prod:
            _high_availability(ctx, obj, entry)


def application_location(ctx: CheckContext, release: ChartRelease) -> tuple[str, int | None]:
    """The Application file (and line) of the chart source: where the pin and the value files are named."""
    return ctx.locate(release.app, ["spec", "sources", release.source.index])


def is_prod(env: str) -> bool:
    return env == "prod" or env.startswith("prod-")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    node: Any = obj
    for key in POD_SPEC_PATHS.get(str(obj.get("kind", "")), ()):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) and str(obj.get("kind", "")) in POD_SPEC_PATHS else None


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    kind = str(obj.get("kind", ""))
    path = POD_SPEC_PATHS.get(kind, ())[:-1]
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    meta = (node or {}).get("metadata") if kind != "Pod" else obj.get("metadata")
    labels = (meta or {}).get("labels") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in (labels or {}).items()}


def component_of(obj: dict[str, Any]) -> str | None:
    labels = pod_labels(obj)
    return next((labels[k] for k in COMPONENT_LABELS if k in labels), None)


def where_rendered(ctx: CheckContext, obj: ChartObject) -> tuple[str, int | None]:
    """Where a finding on a rendered object points: the values of its component, else the Application."""
    return _where(ctx, obj, ctx.schemas.chart(obj.release.source.chart), [])


def _where(ctx: CheckContext, obj: ChartObject, entry: ChartEntry | None, suffix: list[PathPart]) -> tuple[str, int | None]:
    component = component_of(obj.rendered.obj)
    prefix = entry.components.get(component) if entry and component else None
    if prefix is None:
        return application_location(ctx, obj.release)
    path = [*dotted_path(prefix), *suffix]
    # the component's own setting, else the chart-wide one it inherits (Airflow's top-level securityContexts)
    found = ctx.value_location_exact(obj.release, path) or (ctx.value_location_exact(obj.release, suffix) if suffix else None)
    return found or ctx.value_location(obj.release, path)


def containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                yield field, container


def _containers(ctx: CheckContext, obj: ChartObject, spec: dict[str, Any], entry: ChartEntry | None) -> None:
    pod_security = spec.get("securityContext") or {}
    long_running = obj.rendered.kind in LONG_RUNNING
    exempt = set(entry.containers_without_probes if entry else ())
    env = obj.release.env
    for field, container in containers(spec):
        name = str(container.get("name", "?"))
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        missing = [
            label
            for label, ok in (
                ("requests.cpu", "cpu" in requests),
                ("requests.memory", "memory" in requests),
                ("limits.memory", "memory" in limits),
            )
            if not ok
        ]
        if missing:
            file, line = _where(ctx, obj, entry, ["resources"])
            ctx.add(
                error(
                    "chart-resources-missing",
                    file,
                    f"[{env}] {obj.label}: container {name} lacks {', '.join(missing)}",
                    "set CPU and memory requests and a memory limit for it in the chart's values",
                    line,
                )
            )
        security = container.get("securityContext") or {}
        non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        user = security.get("runAsUser", pod_security.get("runAsUser"))
        if not (non_root is True or (isinstance(user, int) and user > 0)):
            file, line = _where(ctx, obj, entry, ["securityContexts"])
            ctx.add(
                error(
                    "chart-runs-as-root",
                    file,
                    f"[{env}] {obj.label}: container {name} may run as root (no runAsNonRoot: true, no non-zero runAsUser)",
                    "set runAsNonRoot: true (and the image's user id) in the chart's security context values",
                    line,
                )
            )
        if security.get("allowPrivilegeEscalation") is not False or security.get("privileged") is True:
            file, line = _where(ctx, obj, entry, ["securityContexts"])
            ctx.add(
                error(
                    "chart-privilege-escalation",
                    file,
                    f"[{env}] {obj.label}: container {name} does not set allowPrivilegeEscalation: false",
                    "set allowPrivilegeEscalation: false in the chart's container security context values",
                    line,
                )
            )
        has_probe = any(container.get(p) for p in ("livenessProbe", "readinessProbe", "startupProbe"))
        if long_running and field == "containers" and not has_probe and name not in exempt:
            file, line = _where(ctx, obj, entry, [])
            ctx.add(
                error(
                    "chart-probes-missing",
                    file,
                    f"[{env}] {obj.label}: long-running container {name} has no liveness or readiness probe",
                    "enable the chart's probes for it; a sidecar the chart cannot probe goes in the catalog's containers_without_probes",
                    line,
                )
            )


def _replicas(obj: dict[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("replicas", 1)
    return value if isinstance(value, int) else 1


def _selects(pdb: dict[str, Any], namespace: str, labels: dict[str, str]) -> bool:
    pdb_namespace = str((pdb.get("metadata") or {}).get("namespace") or namespace)
    selector = (pdb.get("spec") or {}).get("selector") or {}
    match = selector.get("matchLabels") or {}
    if pdb_namespace != namespace or not match or selector.get("matchExpressions"):
        return False
    return all(labels.get(str(k)) == str(v) for k, v in match.items())


def _disruption_budget(ctx: CheckContext, obj: ChartObject, pdbs: list[dict[str, Any]], entry: ChartEntry | None) -> None:
    rendered = obj.rendered.obj
    if _replicas(rendered) <= 1:
        return
    namespace = obj.rendered.namespace or str(((obj.release.app.obj.get("spec") or {}).get("destination") or {}).get("namespace"))
    labels = pod_labels(rendered)
    if any(_selects(pdb, namespace, labels) for pdb in pdbs):
        return
    file, line = _where(ctx, obj, entry, ["podDisruptionBudget"])
    ctx.add(
        error(
            "chart-pdb-missing",
            file,
            f"[{obj.release.env}] {obj.label} runs {_replicas(rendered)} replicas, but no PodDisruptionBudget selects its pods",
            "enable the chart's PodDisruptionBudget for it (e.g. podDisruptionBudget.enabled: true)",
            line,
        )
    )


def _high_availability(ctx: CheckContext, obj: ChartObject, entry: ChartEntry | None) -> None:
    component = component_of(obj.rendered.obj)
    if entry is None or component not in entry.high_availability or obj.rendered.kind not in REPLICATED:
        return
    if _replicas(obj.rendered.obj) >= 2:
        return
    file, line = _where(ctx, obj, entry, ["replicas"])
    ctx.add(
        error(
            "chart-ha-replicas",
            file,
            f"[{obj.release.env}] {obj.label}: the {component} runs {_replicas(obj.rendered.obj)} replica in prod",
            "run 2 or more replicas of it in prod, with a PodDisruptionBudget",
            line,
        )
    )


def image_name(image: str) -> str:
    """The repository of an image reference, without tag or digest."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def digest_pending(cluster: ClusterRender) -> set[str]:
    """Images the environment knowingly pins by tag until their digest is confirmed (cluster.yaml)."""
    return {str(i) for i in cluster.config.get("promotion.digest_pending") or []}


def image_values_path(values: Any, image: str) -> list[PathPart] | None:
    """The values path that names an image's repository (the longest match wins), if the values set it."""
    name = image_name(image)
    best: tuple[list[PathPart], int] | None = None
    for path, node in walk(values):
        if not path or path[-1] not in ("repository", "image") or not isinstance(node, str) or not node:
            continue
        named = image_name(node)
        if (name == named or name.endswith("/" + named)) and (best is None or len(named) > best[1]):
            best = (path, len(named))
    return best[0] if best else None


def _image_where(
    ctx: CheckContext, obj: ChartObject, entry: ChartEntry | None, image: str, keys: tuple[str, ...]
) -> tuple[str, int | None]:
    """Where an image is set: the first of `keys` beside its repository in the values, else the component."""
    values = obj.release.merged.values
    path = image_values_path(values, image)
    if path is None:
        return _where(ctx, obj, entry, ["image"])
    parent: Any = values
    for part in path[:-1]:
        parent = parent[part]
    if path[-1] == "repository" and isinstance(parent, dict):
        key = next((k for k in keys if parent.get(k)), "repository")
        return ctx.value_location(obj.release, [*path[:-1], key])
    return ctx.value_location(obj.release, path)


def _images(ctx: CheckContext, cluster: ClusterRender, obj: ChartObject, spec: dict[str, Any], entry: ChartEntry | None) -> None:
    registry = cluster.config.registry if cluster.config.get("registry.account_id") else None
    prefixes = sorted(str(p) for p in (cluster.config.get("registry.pull_through_cache") or {}))
    for field, container in containers(spec):
        image = str(container.get("image", ""))
        kind = "init container" if field == "initContainers" else "container"
        what = f"[{cluster.env}] {obj.label}: {kind} {container.get('name', '?')} runs {image}"
        if registry and image.split("/", 1)[0] != registry:
            file, line = _image_where(ctx, obj, entry, image, ("repository",))
            through = ", ".join(f"{registry}/{p}/..." for p in prefixes) or f"{registry}/..."
            ctx.add(
                error(
                    "image-registry",
                    file,
                    f"{what}, which is not in the registry account's ECR ({registry})",
                    f"pull it from {registry}: our own repository, or through the pull-through cache ({through})",
                    line,
                )
            )
        if cluster.config.pins_by_digest and DIGEST_MARK not in image:
            file, line = _image_where(ctx, obj, entry, image, ("digest", "tag"))
            pending = image_name(image) in digest_pending(cluster)
            ctx.add(
                (warning if pending else error)(
                    "image-digest-required",
                    file,
                    f"{what}, pinned by tag only; {cluster.env} pins images by digest"
                    + (" (listed in promotion.digest_pending)" if pending else ""),
                    "keep the tag and add its digest (tag: <tag>@sha256:..., or the chart's digest field); "
                    "invoke promote writes both",
                    line,
                )
            )
