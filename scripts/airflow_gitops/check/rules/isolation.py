"""Isolation inside the cluster: what a namespace, a project or a service account may do.

- app-project-wildcard: an AppProject allows `*` destinations, kinds or sources (or every namespaced
  kind, by leaving namespaceResourceWhitelist out);
- project-denies: an object an Application applies is outside its project's destinations or kinds,
  so Argo CD would refuse the sync;
- pod-security-labels: a namespace the repository owns lacks the Pod Security Admission labels;
- default-deny-missing: a namespace the repository owns has no NetworkPolicy that denies all
  ingress and all egress of every pod;
- airflow-rbac: a Role bound to an Airflow service account grants pods/exec or pods/attach, Secrets,
  or the creation of pods where Secrets are;
- token-automount: an Airflow pod mounts a service account token, but nothing binds that account
  to a Role: it calls no Kubernetes API;
- pod-security-violation: a pod breaks the Pod Security level its namespace enforces.

Objects are what the root Application renders, what each Application's manifests folder renders and,
with --render-charts, what the charts render. Namespaces the repository owns are its Namespace objects
and the destinations of Applications that create theirs (CreateNamespace=true).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...model.findings import error
from ...model.rendered import CLUSTER_SCOPED_KINDS, RenderedObject
from ..context import CheckContext, ClusterRender
from .chart_policy import POD_SPEC_PATHS, application_location, containers, pod_spec

if TYPE_CHECKING:
    from ...charts.renderer import ChartObject

# The project of the root Application, which Terraform's bootstrap layer creates (not rendered here).
ROOT_PROJECT = "bootstrap"
ROOT_DESTINATION = "argocd"
PSA_MODES = ("enforce", "warn", "audit")
PSA_LABEL = "pod-security.kubernetes.io/{}"
AIRFLOW_CHART = "airflow"
# Built-in ClusterRoles that give Secrets and exec where they are bound.
BROAD_BUILTIN_ROLES = frozenset({"cluster-admin", "admin", "edit"})
RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
SECCOMP_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})

Where = Callable[[list[Any]], "tuple[str, int | None]"]


@dataclass(frozen=True)
class Placed:
    """One object as it lands in the cluster, with where a finding about it belongs."""

    obj: dict[str, Any]
    namespace: str  # '' for a cluster-scoped object
    app: str  # the Application that applies it; '' for the root Application
    label: str
    where: Where
    chart: bool

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def group(self) -> str:
        return str(self.obj.get("apiVersion", "")).rpartition("/")[0]

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))


def run(ctx: CheckContext) -> None:
    for cluster in ctx.clusters.values():
        placed = list(_placed(ctx, cluster))
        owned = _owned_namespaces(ctx, cluster)
        _project_wildcards(ctx, cluster)
        _project_permits(ctx, cluster, placed)
        _pod_security_labels(ctx, cluster, owned)
        _default_deny(ctx, cluster, owned, placed)
        airflow_apps = {r.app.name for r in cluster.releases if r.source.chart == AIRFLOW_CHART}
        airflow = {p.namespace for p in placed if p.app in airflow_apps and p.namespace}
        _airflow_rbac(ctx, cluster, placed, airflow)
        _token_automount(ctx, cluster, placed, airflow_apps)
        _pod_security_levels(ctx, cluster, owned, placed)


# --- what lands in the cluster --------------------------------------------------------------------
def _cluster_scoped_kinds(ctx: CheckContext, cluster: ClusterRender) -> set[tuple[str, str]]:
    scoped = {("*", kind) for kind in CLUSTER_SCOPED_KINDS}
    for folder in ctx.crd_dirs_of(cluster):
        scoped |= {key for key, scope in ctx.schemas.crd_scopes(folder).items() if scope == "Cluster"}
    return scoped


def _is_cluster_scoped(scoped: set[tuple[str, str]], group: str, kind: str) -> bool:
    return ("*", kind) in scoped or (group, kind) in scoped


def _destination(app: RenderedObject | None) -> str:
    if app is None:
        return ROOT_DESTINATION
    return str(((app.obj.get("spec") or {}).get("destination") or {}).get("namespace") or "")


def _placed(ctx: CheckContext, cluster: ClusterRender) -> Iterator[Placed]:
    scoped = _cluster_scoped_kinds(ctx, cluster)
    apps = {a.name: a for a in cluster.applications()}
    for obj in cluster.objects:
        group, kind = obj.group, obj.kind
        namespace = "" if _is_cluster_scoped(scoped, group, kind) else (obj.namespace or _destination(apps.get(obj.app)))

        def where(path: list[Any], obj: RenderedObject = obj) -> tuple[str, int | None]:
            return ctx.locate(obj, path)

        yield Placed(obj.obj, namespace, obj.app, obj.label(), where, chart=False)
    for chart_obj in cluster.chart_objects:
        rendered = chart_obj.rendered
        namespace = "" if _is_cluster_scoped(scoped, rendered.group, rendered.kind) else rendered.namespace

        def chart_where(_: list[Any], chart_obj: ChartObject = chart_obj) -> tuple[str, int | None]:
            return application_location(ctx, chart_obj.release)

        yield Placed(rendered.obj, namespace, chart_obj.release.app.name, chart_obj.label, chart_where, chart=True)


# --- AppProjects --------------------------------------------------------------------------------
def _project_wildcards(ctx: CheckContext, cluster: ClusterRender) -> None:
    for project in cluster.of_kind("AppProject"):
        spec = project.obj.get("spec") or {}
        problems: list[tuple[list[Any], str]] = []
        for index, dest in enumerate(spec.get("destinations") or []):
            for key in ("namespace", "server", "name"):
                value = str((dest or {}).get(key, ""))
                if "*" in value:
                    problems.append((["spec", "destinations", index, key], f"destination {key} {value!r}"))
        for index, repo in enumerate(spec.get("sourceRepos") or []):
            if str(repo).strip() == "*":
                problems.append((["spec", "sourceRepos", index], "sourceRepos '*'"))
        for field in ("clusterResourceWhitelist", "namespaceResourceWhitelist"):
            for index, entry in enumerate(spec.get(field) or []):
                for key in ("group", "kind"):
                    if "*" in str((entry or {}).get(key, "")):
                        problems.append((["spec", field, index, key], f"{field} {key} {str((entry or {}).get(key))!r}"))
        if "namespaceResourceWhitelist" not in spec:
            problems.append((["spec"], "no namespaceResourceWhitelist, which lets it create every namespaced kind"))
        for path, what in problems:
            file, line = ctx.locate(project, path)
            ctx.add(
                error(
                    "app-project-wildcard",
                    file,
                    f"[{cluster.env}] AppProject {project.name} allows {what}",
                    "name each namespace, source repository and kind the project's Applications need; nothing with '*'",
                    line,
                )
            )


def _permits(entries: list[Any], group: str, kind: str) -> bool:
    return any(isinstance(e, dict) and str(e.get("group", "")) == group and str(e.get("kind", "")) == kind for e in entries)


def _project_permits(ctx: CheckContext, cluster: ClusterRender, placed: list[Placed]) -> None:
    projects = {p.name: p.obj.get("spec") or {} for p in cluster.of_kind("AppProject")}
    apps = {a.name: a for a in cluster.applications()}
    for item in placed:
        app = apps.get(item.app)
        name = str(((app.obj.get("spec") or {}).get("project") if app else ROOT_PROJECT) or "")
        spec = projects.get(name)
        if spec is None:
            continue  # an Application naming a missing project is app-project's finding
        applier = f"Application {item.app}" if item.app else "the root Application"
        if item.namespace:
            destinations = [str((d or {}).get("namespace", "")) for d in spec.get("destinations") or []]
            whitelist = spec.get("namespaceResourceWhitelist")
            if item.namespace not in destinations and "*" not in destinations:
                why = f"namespace {item.namespace} is not a destination of AppProject {name}"
            elif whitelist is not None and not _permits(whitelist, item.group, item.kind):
                why = f"AppProject {name} does not allow the namespaced kind {item.group or 'core'}/{item.kind}"
            else:
                continue
        else:
            if _permits(spec.get("clusterResourceWhitelist") or [], item.group, item.kind):
                continue
            why = f"AppProject {name} does not allow the cluster-scoped kind {item.group or 'core'}/{item.kind}"
        file, line = item.where(["kind"])
        ctx.add(
            error(
                "project-denies",
                file,
                f"[{cluster.env}] {applier} applies {item.label}, but {why}: Argo CD refuses the sync",
                f"add it to AppProject {name} in apps/argo-cd/projects.yaml, or apply it with an Application whose project allows it",
                line,
            )
        )


# --- namespaces ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Owned:
    name: str
    labels: dict[str, str]
    source: RenderedObject  # the Namespace, or the Application that creates it
    labels_path: list[Any]


def _owned_namespaces(ctx: CheckContext, cluster: ClusterRender) -> dict[str, Owned]:
    owned: dict[str, Owned] = {}
    for ns in cluster.of_kind("Namespace"):
        labels = {str(k): str(v) for k, v in ((ns.obj.get("metadata") or {}).get("labels") or {}).items()}
        owned[ns.name] = Owned(ns.name, labels, ns, ["metadata", "labels"])
    for app in cluster.applications():
        sync = (app.obj.get("spec") or {}).get("syncPolicy") or {}
        if "CreateNamespace=true" not in [str(o) for o in sync.get("syncOptions") or []]:
            continue
        name = _destination(app)
        if name and name not in owned:
            labels = ((sync.get("managedNamespaceMetadata") or {}).get("labels")) or {}
            owned[name] = Owned(name, {str(k): str(v) for k, v in labels.items()}, app, ["spec", "syncPolicy"])
    return owned


def _pod_security_labels(ctx: CheckContext, cluster: ClusterRender, owned: dict[str, Owned]) -> None:
    for ns in owned.values():
        missing = [mode for mode in PSA_MODES if not ns.labels.get(PSA_LABEL.format(mode))]
        if not missing:
            continue
        file, line = ctx.locate(ns.source, ns.labels_path)
        ctx.add(
            error(
                "pod-security-labels",
                file,
                f"[{cluster.env}] namespace {ns.name} has no Pod Security label for {', '.join(missing)}",
                "label it pod-security.kubernetes.io/enforce, /warn and /audit (restricted where its pods allow, with -version: latest)",
                line,
            )
        )


def _empty_selector(spec: dict[str, Any]) -> bool:
    selector = spec.get("podSelector")
    return isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions")


def _denies(policy: dict[str, Any], direction: str) -> bool:
    spec = policy.get("spec") or {}
    types = [str(t) for t in spec.get("policyTypes") or ["Ingress"]]
    return _empty_selector(spec) and direction in types and not spec.get(direction.lower())


def _default_deny(ctx: CheckContext, cluster: ClusterRender, owned: dict[str, Owned], placed: list[Placed]) -> None:
    policies: dict[str, list[dict[str, Any]]] = {}
    for item in placed:
        if item.kind == "NetworkPolicy" and item.group == "networking.k8s.io":
            policies.setdefault(item.namespace, []).append(item.obj)
    for ns in owned.values():
        found = policies.get(ns.name, [])
        missing = [d for d in ("Ingress", "Egress") if not any(_denies(p, d) for p in found)]
        if not missing:
            continue
        file, line = ctx.locate(ns.source, ["metadata"] if ns.source.kind == "Namespace" else ["spec", "destination"])
        ctx.add(
            error(
                "default-deny-missing",
                file,
                f"[{cluster.env}] namespace {ns.name} has no NetworkPolicy that denies all {' and all '.join(d.lower() for d in missing)} of its pods",
                "add a NetworkPolicy default-deny (podSelector: {}, policyTypes: [Ingress, Egress], no rules) beside the flows it allows",
                line,
            )
        )


# --- Airflow's service accounts -------------------------------------------------------------------
# Airflow's service accounts are those of the namespaces the Applications that install the airflow
# chart deploy into (airflow, airflow-tasks, airflow-db): the chart's components, the task pods and
# the database role Job.


def _airflow_subjects(binding: dict[str, Any], namespace: str, airflow: set[str]) -> list[str]:
    found = []
    for subject in binding.get("subjects") or []:
        kind, name = str((subject or {}).get("kind", "")), str((subject or {}).get("name", ""))
        if kind == "ServiceAccount" and str(subject.get("namespace") or namespace) in airflow:
            found.append(f"{subject.get('namespace') or namespace}/{name}")
        elif kind == "Group" and name in {"system:serviceaccounts", "system:authenticated"} | {
            f"system:serviceaccounts:{ns}" for ns in airflow
        }:
            found.append(f"group {name}")
    return found


def _grants(rule: dict[str, Any], resources: set[str], verbs: set[str] | None = None) -> set[str]:
    groups = {str(g) for g in rule.get("apiGroups") or []}
    if not groups & {"", "*"}:
        return set()
    granted_verbs = {str(v) for v in rule.get("verbs") or []}
    if not granted_verbs or (verbs is not None and not granted_verbs & (verbs | {"*"})):
        return set()
    ruled = {str(r) for r in rule.get("resources") or []}
    if "*" in ruled:
        return set(resources)
    hits = ruled & resources
    if "pods/*" in ruled:
        hits |= {r for r in resources if r.startswith("pods/")}
    return hits


def _holds_secrets(placed: list[Placed], namespace: str) -> bool:
    for item in placed:
        if item.namespace != namespace:
            continue
        if (item.kind == "Secret" and item.group == "") or item.kind == "ExternalSecret":
            return True
    return False


def _airflow_rbac(ctx: CheckContext, cluster: ClusterRender, placed: list[Placed], airflow: set[str]) -> None:
    if not airflow:
        return
    roles = {(p.kind, p.namespace, p.name): p for p in placed if p.kind in ("Role", "ClusterRole")}
    for binding in placed:
        if binding.kind not in ("RoleBinding", "ClusterRoleBinding") or binding.group != "rbac.authorization.k8s.io":
            continue
        subjects = _airflow_subjects(binding.obj, binding.namespace, airflow)
        if not subjects:
            continue
        ref = binding.obj.get("roleRef") or {}
        ref_kind, ref_name = str(ref.get("kind", "")), str(ref.get("name", ""))
        role = roles.get((ref_kind, binding.namespace if ref_kind == "Role" else "", ref_name))
        scope = binding.namespace if binding.kind == "RoleBinding" else "every namespace"
        granted: list[str] = []
        path: list[Any] = ["rules"]
        if role is None:
            if ref_kind == "ClusterRole" and ref_name in BROAD_BUILTIN_ROLES:
                granted.append(f"everything of the built-in ClusterRole {ref_name}")
            where = binding
        else:
            where = role
            for index, rule in enumerate(role.obj.get("rules") or []):
                if not isinstance(rule, dict):
                    continue
                before = len(granted)
                granted += sorted(_grants(rule, {"pods/exec", "pods/attach", "secrets"}))
                creates_pods = _grants(rule, {"pods"}, {"create"})
                holds = _holds_secrets(placed, binding.namespace) if binding.kind == "RoleBinding" else True
                if creates_pods and holds:
                    granted.append(f"pods create where Secrets are ({scope})")
                if len(granted) > before and len(path) == 1:
                    path = ["rules", index]  # the first rule that grants it
        if not granted:
            continue
        file, line = where.where(path)
        ctx.add(
            error(
                "airflow-rbac",
                file,
                f"[{cluster.env}] {binding.label} gives Airflow's {', '.join(subjects)} {', '.join(sorted(set(granted)))} "
                f"through {ref_kind} {ref_name}: DAG code could read the namespace's Secrets",
                "grant Airflow's service accounts no pods/exec, pods/attach or Secrets, and pods only in a namespace that holds no "
                "Secrets (airflow-tasks); for the chart's own launcher Role set allowPodLaunching: false",
                line,
            )
        )


def _token_automount(ctx: CheckContext, cluster: ClusterRender, placed: list[Placed], airflow_apps: set[str]) -> None:
    """Airflow's pods (what the Applications with the airflow chart apply) mount a token only to call the API."""
    accounts = {(p.namespace, p.name): p.obj for p in placed if p.kind == "ServiceAccount" and p.group == ""}
    bound: set[tuple[str, str]] = set()
    for binding in placed:
        if binding.kind in ("RoleBinding", "ClusterRoleBinding"):
            for subject in binding.obj.get("subjects") or []:
                if (subject or {}).get("kind") == "ServiceAccount":
                    bound.add((str(subject.get("namespace") or binding.namespace), str(subject.get("name", ""))))
    for item in placed:
        if item.app not in airflow_apps:
            continue
        spec = pod_spec(item.obj)
        if spec is None:
            continue
        account = str(spec.get("serviceAccountName") or "default")
        mount = spec.get("automountServiceAccountToken")
        if mount is None:
            mount = (accounts.get((item.namespace, account)) or {}).get("automountServiceAccountToken", True)
        if mount is False or (item.namespace, account) in bound:
            continue
        file, line = item.where(list(POD_SPEC_PATHS[item.kind]))  # the pod spec that mounts it
        ctx.add(
            error(
                "token-automount",
                file,
                f"[{cluster.env}] {item.label} mounts the token of service account {item.namespace}/{account}, which no Role is bound to",
                "set automountServiceAccountToken: false on the service account (or the pod); only a component that calls the "
                "Kubernetes API needs its token",
                line,
            )
        )


# --- Pod Security levels ---------------------------------------------------------------------------
def _violations(spec: dict[str, Any], level: str) -> list[str]:
    found: list[str] = []
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host) is True:
            found.append(host)
    for volume in spec.get("volumes") or []:
        kinds = [k for k in (volume or {}) if k != "name"]
        if "hostPath" in kinds:
            found.append(f"hostPath volume {volume.get('name')}")
        elif level == "restricted" and any(k not in RESTRICTED_VOLUMES for k in kinds):
            found.append(f"volume {volume.get('name')} of type {', '.join(kinds)}")
    pod = spec.get("securityContext") or {}
    for _, container in containers(spec):
        name = container.get("name", "?")
        security = container.get("securityContext") or {}
        if security.get("privileged") is True:
            found.append(f"{name}: privileged")
        if any((p or {}).get("hostPort") for p in container.get("ports") or []):
            found.append(f"{name}: hostPort")
        if level != "restricted":
            continue
        if security.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        if security.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if security.get("runAsUser", pod.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (security.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
        if seccomp not in SECCOMP_ALLOWED:
            found.append(f"{name}: seccompProfile {seccomp or 'unset'}")
        capabilities = security.get("capabilities") or {}
        if "ALL" not in [str(c) for c in capabilities.get("drop") or []]:
            found.append(f"{name}: capabilities do not drop ALL")
        added = [str(c) for c in capabilities.get("add") or [] if str(c) != "NET_BIND_SERVICE"]
        if added:
            found.append(f"{name}: adds capabilities {', '.join(added)}")
    return found


def _pod_security_levels(ctx: CheckContext, cluster: ClusterRender, owned: dict[str, Owned], placed: list[Placed]) -> None:
    for item in placed:
        ns = owned.get(item.namespace)
        level = ns.labels.get(PSA_LABEL.format("enforce")) if ns else None
        if level not in ("baseline", "restricted"):
            continue
        spec = pod_spec(item.obj)
        if spec is None:
            continue
        found = _violations(spec, level)
        if not found:
            continue
        file, line = item.where(list(POD_SPEC_PATHS[item.kind]))  # the pod spec that breaks it
        ctx.add(
            error(
                "pod-security-violation",
                file,
                f"[{cluster.env}] {item.label} breaks Pod Security {level!r}, which namespace {item.namespace} enforces: "
                f"{'; '.join(found)}",
                "set the security context the level asks for (non-root, no privilege escalation, drop ALL capabilities, "
                "RuntimeDefault seccomp), or lower the namespace's level with a reason",
                line,
            )
        )
