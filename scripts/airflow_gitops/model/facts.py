"""What clusters/<env>/cluster.yaml makes of every value that follows from it, in one place.

- `facts(config)`: the data of clusters/<env>/facts/cluster-facts.yaml, which components/cluster-facts feeds
  into the plain manifests with kustomize replacements (so no base under apps/ holds an environment's value);
- `expand(template, config)`: the Helm value a catalog binding derives ('s3://{logs_bucket}/airflow');
- `identity(config)`: the values that tell one environment from another (account, region, cluster name,
  DNS zone), which `invoke check` looks for where they do not belong.

`invoke check` proves the facts file, the bindings and the Terraform names against these, so a change of
cluster.yaml is either followed automatically or named, file and line, with the value to write.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .repo import CLUSTERS_DIR, ClusterConfig

FACTS_NAME = "cluster-facts"
FACTS_FILE = "cluster-facts.yaml"
# The facts live in a kustomization folder of their own, so that every kustomization of the environment that
# needs them can list it (kustomize reads a file only below the kustomization that names it).
FACTS_DIR = "facts"
COMPONENT_DIR = "components/cluster-facts"
LOCAL_CONFIG = "config.kubernetes.io/local-config"

# The cluster.yaml keys whose values tell environments apart, as `invoke check` looks for them.
IDENTITY_KEYS = ("aws.account_id", "aws.region", "cluster.name", "dns.zone")
# The shared registry stack's state: a bucket named like an environment's, after this pseudo-cluster name.
REGISTRY_STATE_NAME = "airflow-registry"
REGISTRY_STACK_FILE = "terraform/stacks/shared/registry/main.tf"


def state_bucket(config: ClusterConfig) -> str:
    """The Terraform state bucket of an environment (invoke tf-backend creates it)."""
    return f"{config.name}-tfstate-{config.account_id}"


def facts_file(env: str) -> str:
    return f"{CLUSTERS_DIR}/{env}/{FACTS_DIR}/{FACTS_FILE}"


def database_arn(config: ClusterConfig) -> str:
    """The RDS instance Terraform creates (platform module: local.database_name), as RDS tags its secret."""
    return f"arn:aws:rds:{config.region}:{config.account_id}:db:{config.name}-airflow"


def facts(config: ClusterConfig) -> dict[str, str]:
    """Every key of clusters/<env>/facts/cluster-facts.yaml and the value cluster.yaml gives it."""
    name = config.name
    return {
        "environment": config.env,
        "aws_region": config.region,
        "cluster_name": name,
        "secret_prefix": f"{name}/",
        "karpenter_node_role": f"{name}-karpenter-node",
        "database_arn": database_arn(config),
    }


def facts_text(config: ClusterConfig) -> str:
    """The facts file as a fork writes it (the shipped files are this text)."""
    lines = [
        f"# The values the plain manifests of {config.env} take from cluster.yaml: components/cluster-facts puts each",
        "# one in place with a kustomize replacement, and invoke check proves each one is what cluster.yaml makes it.",
        "# Local to the build: kustomize drops it from the output, so it never reaches the cluster.",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        f"  name: {FACTS_NAME}",
        "  annotations:",
        f'    {LOCAL_CONFIG}: "true"',
        "data:",
    ]
    lines += [f"  {key}: {value}" for key, value in facts(config).items()]
    return "\n".join(lines) + "\n"


def argocd_host(config: ClusterConfig) -> str:
    """The host name of argocd.server (host, host:port or URL)."""
    server = str(config.get("argocd.server") or "").strip()
    if not server:
        return ""
    return urlsplit(server if "://" in server else f"https://{server}").hostname or ""


def template_scope(config: ClusterConfig) -> dict[str, str]:
    """The names a binding template may use besides any dotted field of cluster.yaml."""
    return {
        "logs_bucket": config.logs_bucket,
        "registry": config.registry,
        "cluster_name": config.name,
        "region": config.region,
        "account_id": config.account_id,
        "env": config.env,
        "argocd_host": argocd_host(config),
    }


_FIELD = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")


def expand(template: str, config: ClusterConfig) -> str:
    """'s3://{logs_bucket}/airflow' with derived names, or any dotted field of cluster.yaml ('' when absent)."""
    derived = template_scope(config)

    def field(match: re.Match[str]) -> str:
        key = match.group(1)
        value = derived.get(key, config.get(key))
        return "" if value is None else str(value)

    return _FIELD.sub(field, template)


def template_complete(template: str, config: ClusterConfig) -> bool:
    """Every field the template names is set (a binding to an optional field that is absent binds nothing)."""
    derived = template_scope(config)
    return all(derived.get(key) or config.get(key) not in (None, "") for key in _FIELD.findall(template))


def identity(config: ClusterConfig) -> dict[str, str]:
    """The values that tell this environment from the others, by cluster.yaml key (empty ones left out)."""
    values = {key: str(config.get(key) or "") for key in IDENTITY_KEYS}
    return {key: value for key, value in values.items() if value}


def distinctive(value: str) -> bool:
    """A value that cannot be an ordinary word of a manifest: it has a digit, a '-' or a '.' in it.
    A cluster named like a word ('analytics') is not looked for outside its bound places."""
    return any(c.isdigit() or c in "-." for c in value)


def in_zone(hostname: str, zone: str) -> bool:
    return bool(zone) and (hostname == zone or hostname.endswith("." + zone))


def moved_into_zone(hostname: str, zone: str) -> str:
    """The host name a hostname outside the zone becomes in it: its first label under the zone."""
    first = hostname.split(".", 1)[0] if hostname else ""
    return f"{first}.{zone}" if first and first != zone else zone
