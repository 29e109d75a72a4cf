"""Contracts between terraform/ and the rest of the repo, read from the HCL (no terraform run):
each environment has stacks whose state, cluster file and root Application are its own; every
secret an ExternalSecret reads is one Terraform creates; and names derived on both sides agree."""

from __future__ import annotations

import re
from typing import Any

from ...model import facts, hcl, yamlio
from ...model.findings import error
from ...model.repo import ClusterConfig
from ..context import CheckContext

PLATFORM_MODULE = "terraform/modules/platform/main.tf"
KARPENTER_MODULE = "terraform/modules/karpenter/main.tf"
BOOTSTRAP_MODULE = "terraform/modules/argocd-bootstrap/main.tf"
PREFIXED_STORE = "aws-secrets-manager"
_REF = re.compile(r"\$\{([a-z_][a-z0-9_.]*)\}")


def run(ctx: CheckContext) -> None:
    if not (ctx.repo.root / "terraform").is_dir():
        return
    platform = _parse(ctx, PLATFORM_MODULE)
    karpenter = _parse(ctx, KARPENTER_MODULE)
    for env in ctx.envs:
        if ctx.repo.cluster_file(env) in ctx.broken_files:
            continue
        config = ctx.repo.cluster(env)
        _stack(ctx, config, "platform")
        _stack(ctx, config, "bootstrap")
        if platform is not None:
            _names(ctx, config, platform, karpenter)
            _secrets(ctx, config, platform)
    _registry_stack(ctx)
    _root_application_path(ctx)


def _parse(ctx: CheckContext, rel: str) -> dict[str, Any] | None:
    if not ctx.repo.exists(rel) or rel in ctx.broken_files:
        return None
    try:
        return hcl.parse(ctx.repo.text(rel))
    except hcl.HclError as exc:
        ctx.add(error("hcl-syntax", rel, f"not valid HCL: {exc.message}", "fix the syntax at that line", exc.line))
        return None


def _line(ctx: CheckContext, rel: str, needle: str) -> int | None:
    for number, line in enumerate(ctx.repo.text(rel).splitlines(), start=1):
        if needle in line:
            return number
    return None


def _argocd_environment_line(text: str) -> int | None:
    """The `environment =` line inside module "argocd", or the block's first line."""
    block = block_lines(text, r'^module "argocd"')
    if block is None:
        return None
    lines = text.splitlines()
    for number in range(block[0], block[1] + 1):
        if re.match(r"\s*environment\s*=", lines[number - 1]):
            return number
    return block[0]


def block_lines(text: str, header: str) -> tuple[int, int] | None:
    """The first and last line (1-based) of the first block whose opening line matches `header` (a regex)."""
    lines = text.splitlines()
    pattern = re.compile(header)
    for start, line in enumerate(lines):
        if pattern.search(line) and line.rstrip().endswith("{"):
            depth = 0
            for end in range(start, len(lines)):
                depth += lines[end].count("{") - lines[end].count("}")
                if depth <= 0:
                    return start + 1, end + 1
            return start + 1, len(lines)
    return None


def attribute_line(text: str, header: str, key: str) -> int | None:
    """The line of `key = ...` inside the block opened by `header`, else the block's first line."""
    span = block_lines(text, header)
    if span is None:
        return None
    lines = text.splitlines()
    attribute = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number in range(span[0], span[1] + 1):
        if attribute.match(lines[number - 1]):
            return number
    return span[0]


def hcl_literal(value: Any) -> str:
    return hcl_text(value) if isinstance(value, bool) else f'"{value}"'


def hcl_text(value: Any) -> str:
    """A value as HCL writes it in a file: strings unquoted (as they sit between the quotes), booleans lowercase."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def interpolate(template: Any, scope: dict[str, Any]) -> str | None:
    """Evaluate a plain HCL string template whose references are all in scope; None otherwise."""
    if not isinstance(template, str):
        return None
    unknown = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unknown
        value = scope.get(match.group(1))
        if value is None:
            unknown = True
            return ""
        return str(value)

    out = _REF.sub(replace, template)
    return None if unknown or "${" in out else out


def platform_scope(config: ClusterConfig, platform: dict[str, Any]) -> dict[str, Any]:
    """var.cluster.* from cluster.yaml, and the platform module's string locals built from them."""
    scope: dict[str, Any] = {}

    def flatten(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                flatten(f"{prefix}.{key}", value)
        else:
            scope[prefix] = node

    flatten("var.cluster", config.data)
    pending = dict(hcl.locals_of(platform))
    for _ in range(len(pending)):  # locals may refer to locals: resolve until nothing changes
        for key, template in list(pending.items()):
            value = interpolate(template, scope)
            if value is not None:
                scope[f"local.{key}"] = value
                del pending[key]
    return scope


# --- stacks -------------------------------------------------------------------------------------
def _stack(ctx: CheckContext, config: ClusterConfig, layer: str) -> None:
    rel = f"terraform/stacks/{config.env}/{layer}/main.tf"
    if not ctx.repo.exists(rel):
        ctx.add(
            error(
                "terraform-stack-missing",
                config.file,
                f"[{config.env}] there is no {rel}",
                f"copy terraform/stacks/dev/{layer} to terraform/stacks/{config.env}/{layer} and adjust its backend",
                yamlio.line_of(ctx.repo.text(config.file), ["environment"]),
            )
        )
        return
    doc = _parse(ctx, rel)
    if doc is None:
        return
    expected = {
        "bucket": facts.state_bucket(config),
        "key": f"{config.env}/{layer}.tfstate",
        "region": config.region,
        "use_lockfile": True,
        "encrypt": True,
    }
    _backend(ctx, rel, doc, expected, f"[{config.env}] ", f"the state of {config.env}", f"invoke tf-backend --env {config.env}")
    if layer == "bootstrap":
        _remote_state(ctx, config, rel, doc)
    own_file = f"clusters/{config.env}/cluster.yaml"
    if own_file not in ctx.repo.text(rel):
        ctx.add(
            error(
                "terraform-stack-cluster",
                rel,
                f"[{config.env}] the stack does not read {own_file}",
                f'read the environment with yamldecode(file("${{path.module}}/../../../../{own_file}"))',
                _line(ctx, rel, "yamldecode"),
            )
        )
    if layer == "bootstrap":
        modules = hcl.named(doc, "module")
        environment = (modules.get("argocd") or {}).get("environment")
        if environment != config.env:
            ctx.add(
                error(
                    "root-app-path",
                    rel,
                    f"[{config.env}] the root Application would render clusters/{environment}/, not clusters/{config.env}/",
                    f'set environment = "{config.env}" in module "argocd"',
                    _argocd_environment_line(ctx.repo.text(rel)),
                    expected=config.env,
                    actual=environment if isinstance(environment, str) and environment else None,
                )
            )


def _backend(ctx: CheckContext, rel: str, doc: dict[str, Any], expected: dict[str, Any], tag: str, whose: str, how: str) -> None:
    """The `backend "s3"` block holds literals (Terraform reads it before any variable): each one checked."""
    backend: dict[str, Any] = {}
    for block in hcl.blocks(doc, "terraform"):
        for item in block.get("backend") or []:
            backend.update(item.get("s3") or {})
    text = ctx.repo.text(rel)
    for key, value in expected.items():
        if backend.get(key) != value:
            actual = backend.get(key)
            ctx.add(
                error(
                    "terraform-backend",
                    rel,
                    f"{tag}backend s3 {key} is {actual!r}; {whose} belongs in {value!r}",
                    f"set {key} = {hcl_literal(value)} ({how} creates the bucket)",
                    attribute_line(text, r'backend\s+"s3"', key) or _line(ctx, rel, "backend"),
                    expected=hcl_text(value),
                    actual=hcl_text(actual) if actual is not None else None,
                )
            )


def _remote_state(ctx: CheckContext, config: ClusterConfig, rel: str, doc: dict[str, Any]) -> None:
    """The bootstrap layer reads the platform layer's outputs from where ../platform's backend keeps them."""
    wanted = {"bucket": facts.state_bucket(config), "key": f"{config.env}/platform.tfstate", "region": config.region}
    found: dict[str, Any] | None = None
    for block in hcl.blocks(doc, "data"):
        platform = (block.get("terraform_remote_state") or {}).get("platform")
        if isinstance(platform, dict):
            found = platform.get("config") or {}
    if found is None:
        return
    scope = {f"local.cluster.{k}": v for k, v in _flat(config.data).items()}
    text = ctx.repo.text(rel)
    for key, value in wanted.items():
        raw = found.get(key)
        got = interpolate(raw, scope)
        if got == value:
            continue
        literal = isinstance(raw, str) and "${" not in raw
        ctx.add(
            error(
                "terraform-remote-state",
                rel,
                f"[{config.env}] terraform_remote_state.platform reads {key} {got if got is not None else raw!r}, "
                f"but the platform layer keeps its state at {key} {value!r}",
                f"derive {key} from local.cluster as terraform/stacks/dev/bootstrap/main.tf does (it evaluates to {value!r})",
                attribute_line(text, r'data\s+"terraform_remote_state"\s+"platform"', key),
                expected=value if literal else None,
                actual=raw if literal else None,
            )
        )


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _registry_stack(ctx: CheckContext) -> None:
    """The shared registry stack keeps its state in the registry account (invoke tf-backend --registry)."""
    rel = facts.REGISTRY_STACK_FILE
    readable = [e for e in ctx.repo.env_folders() if ctx.repo.cluster_file(e) not in ctx.broken_files]
    if not readable or not ctx.repo.exists(rel):
        return
    registry = ctx.repo.cluster(readable[0]).get("registry") or {}  # the first by name, as the stack reads it
    if not isinstance(registry, dict) or not registry.get("account_id") or not registry.get("region"):
        return
    doc = _parse(ctx, rel)
    if doc is None:
        return
    stack = ClusterConfig("registry", rel, {"cluster": {"name": facts.REGISTRY_STATE_NAME}, "aws": dict(registry)})
    expected = {
        "bucket": facts.state_bucket(stack),
        "key": "shared/registry.tfstate",
        "region": str(registry["region"]),
        "use_lockfile": True,
        "encrypt": True,
    }
    _backend(ctx, rel, doc, expected, "", "the shared registry's state", "invoke tf-backend --env <env> --registry")


def _root_application_path(ctx: CheckContext) -> None:
    doc = _parse(ctx, BOOTSTRAP_MODULE)
    if doc is None:
        return
    root = hcl.locals_of(doc).get("root_application") or {}
    path = ((root.get("source") if isinstance(root, dict) else None) or {}).get("path")
    if path != "clusters/${var.environment}":
        ctx.add(
            error(
                "root-app-path",
                BOOTSTRAP_MODULE,
                f"the root Application renders {path!r}, not the cluster's own folder",
                'set source.path = "clusters/${var.environment}"',
                _line(ctx, BOOTSTRAP_MODULE, "path"),
            )
        )


# --- names and secrets --------------------------------------------------------------------------
def _names(ctx: CheckContext, config: ClusterConfig, platform: dict[str, Any], karpenter: dict[str, Any] | None) -> None:
    scope = platform_scope(config, platform)
    expected = {
        "name": config.name,
        "logs_bucket": config.logs_bucket,
        "database_name": f"{config.name}-airflow",
        "secret_prefix": f"{config.name}/",
        # The edge the Ingress annotations name (catalog bindings of the airflow chart).
        "alb_logs_bucket": f"{config.name}-alb-logs-{config.account_id}",
        "web_acl_name": f"{config.name}-airflow",
    }
    for key, value in expected.items():
        actual = scope.get(f"local.{key}")
        if actual != value:
            ctx.add(
                error(
                    "terraform-names",
                    PLATFORM_MODULE,
                    f"[{config.env}] local.{key} evaluates to {actual!r}, but the cluster side expects {value!r}",
                    f"derive local.{key} as terraform/README.md (Conventions) says",
                    _line(ctx, PLATFORM_MODULE, f"{key} "),
                )
            )
    if karpenter is not None:
        role = interpolate(hcl.locals_of(karpenter).get("node_role_name"), {"var.cluster_name": config.name})
        wanted_role = facts.facts(config)["karpenter_node_role"]
        if role != wanted_role:
            ctx.add(
                error(
                    "terraform-names",
                    KARPENTER_MODULE,
                    f"[{config.env}] Terraform names Karpenter's node role {role!r}; the EC2NodeClass (cluster-facts.yaml) uses {wanted_role!r}",
                    "make both follow <cluster>-karpenter-node",
                    _line(ctx, KARPENTER_MODULE, "node_role_name"),
                )
            )
        queue = interpolate(hcl.locals_of(karpenter).get("queue_name"), {"var.cluster_name": config.name})
        entry = ctx.schemas.chart("karpenter")
        template = entry.bindings.get("settings.interruptionQueue") if entry else None
        wanted: Any
        if template is not None:  # the chart's value is held to the binding by cluster-values-mismatch
            wanted, whose = (
                facts.expand(template, config),
                "the binding of settings.interruptionQueue (schemas/catalog.yaml) makes",
            )
        else:
            releases = ctx.clusters[config.env].releases if config.env in ctx.clusters else []
            values = [r.merged.values for r in releases if r.source.chart == "karpenter"]
            wanted, whose = (
                (values[0].get("settings") or {}).get("interruptionQueue") if values else queue,
                "the chart's settings.interruptionQueue is",
            )
        if queue != wanted:
            ctx.add(
                error(
                    "terraform-names",
                    KARPENTER_MODULE,
                    f"[{config.env}] Terraform names Karpenter's queue {queue!r}; {whose} {wanted!r}",
                    "make both follow <cluster>-karpenter",
                    _line(ctx, KARPENTER_MODULE, "queue_name"),
                )
            )


def _remote_keys(obj: dict[str, Any]) -> list[tuple[list[str | int], str]]:
    spec = obj.get("spec") or {}
    default_store = (spec.get("secretStoreRef") or {}).get("name")
    keys: list[tuple[list[str | int], str]] = []
    for index, item in enumerate(spec.get("data") or []):
        store = (((item or {}).get("sourceRef") or {}).get("storeRef") or {}).get("name", default_store)
        key = ((item or {}).get("remoteRef") or {}).get("key")
        if store == PREFIXED_STORE and key:
            keys.append((["spec", "data", index, "remoteRef", "key"], str(key)))
    for index, item in enumerate(spec.get("dataFrom") or []):
        store = (((item or {}).get("sourceRef") or {}).get("storeRef") or {}).get("name", default_store)
        key = ((item or {}).get("extract") or {}).get("key")
        if store == PREFIXED_STORE and key:
            keys.append((["spec", "dataFrom", index, "extract", "key"], str(key)))
    return keys


def _secrets(ctx: CheckContext, config: ClusterConfig, platform: dict[str, Any]) -> None:
    cluster = ctx.clusters.get(config.env)
    if cluster is None:
        return
    names = hcl.locals_of(platform)
    created = set(names.get("generated_secrets") or []) | {names.get("cognito_secret"), names.get("metadata_db_secret")}
    for obj in cluster.of_kind("ExternalSecret"):
        for path, key in _remote_keys(obj.obj):
            if key not in created:
                file, line = ctx.locate(obj, path)
                ctx.add(
                    error(
                        "secret-not-created",
                        file,
                        f"[{config.env}] ExternalSecret {obj.namespace}/{obj.name} reads {config.name}/{key}, which Terraform does not create",
                        f"add {key!r} to generated_secrets (or a written value) in {PLATFORM_MODULE}",
                        line,
                    )
                )
