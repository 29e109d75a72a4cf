"""Contracts between terraform/ and the rest of the repo, read from the HCL (no terraform run):
each environment has stacks whose state, cluster file and root Application are its own; every
secret an ExternalSecret reads is one Terraform creates; and names derived on both sides agree."""

from __future__ import annotations

import re
from typing import Any

from ...model import hcl
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
            )
        )
        return
    doc = _parse(ctx, rel)
    if doc is None:
        return
    expected = {
        "bucket": f"{config.name}-tfstate-{config.account_id}",
        "key": f"{config.env}/{layer}.tfstate",
        "region": config.region,
        "use_lockfile": True,
        "encrypt": True,
    }
    backend: dict[str, Any] = {}
    for block in hcl.blocks(doc, "terraform"):
        for item in block.get("backend") or []:
            backend.update(item.get("s3") or {})
    for key, value in expected.items():
        if backend.get(key) != value:
            ctx.add(
                error(
                    "terraform-backend",
                    rel,
                    f"[{config.env}] backend s3 {key} is {backend.get(key)!r}; the state of {config.env} belongs in {value!r}",
                    f"set {key} = {value!r} (invoke tf-backend --env {config.env} creates the bucket)",
                    _line(ctx, rel, f"{key} ") or _line(ctx, rel, "backend"),
                )
            )
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
                    _line(ctx, rel, "environment"),
                )
            )


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
        queue = interpolate(hcl.locals_of(karpenter).get("queue_name"), {"var.cluster_name": config.name})
        for release in ctx.clusters[config.env].releases if config.env in ctx.clusters else []:
            if release.source.chart == "karpenter":
                wanted = (release.merged.values.get("settings") or {}).get("interruptionQueue")
                if queue != wanted:
                    ctx.add(
                        error(
                            "terraform-names",
                            KARPENTER_MODULE,
                            f"[{config.env}] Terraform names Karpenter's queue {queue!r}, the chart's settings.interruptionQueue is {wanted!r}",
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
    database = f"arn:aws:rds:{config.region}:{config.account_id}:db:{config.name}-airflow"
    for obj in cluster.of_kind("ExternalSecret"):
        for index, item in enumerate((obj.obj.get("spec") or {}).get("dataFrom") or []):
            tags = ((item or {}).get("find") or {}).get("tags") or {}
            arn = tags.get("aws:rds:primaryDBInstanceArn")
            if arn is not None and arn != database:
                file, line = ctx.locate(obj, ["spec", "dataFrom", index, "find", "tags"])
                ctx.add(
                    error(
                        "terraform-names",
                        file,
                        f"[{config.env}] ExternalSecret {obj.name} looks for the RDS secret of {arn}, but Terraform creates {database}",
                        f"set the tag value to {database}",
                        line,
                    )
                )
