"""What applies against the AWS emulator, decided before anything runs: which resources it can create,
and the Terraform override file that points a stack at it. Pure: no processes, no network."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Resource types whose AWS APIs the emulator (moto 5) does not serve. The rehearsal leaves them out,
# with everything that depends on them; the modules' plan-mode tests cover them.
UNEMULATED_TYPES: Mapping[str, str] = {
    "aws_eks_addon": "EKS CreateAddon",
    "aws_eks_access_entry": "EKS CreateAccessEntry",
    "aws_eks_access_policy_association": "EKS AssociateAccessPolicy",
    "aws_eks_pod_identity_association": "EKS CreatePodIdentityAssociation",
    "aws_ecr_pull_through_cache_rule": "ECR CreatePullThroughCacheRule",
    "aws_ecr_repository_creation_template": "ECR CreateRepositoryCreationTemplate",
    # served, but refused: moto takes only CreateRepository and ReplicateImage in a registry policy,
    # where AWS also takes BatchImportUpstreamImage (pull-through cache)
    "aws_ecr_registry_policy": "ECR PutRegistryPolicy with ecr:BatchImportUpstreamImage",
}

# Provider endpoint names of every service the stacks call; each is pointed at the emulator.
ENDPOINT_SERVICES = (
    "cloudwatch",
    "cognitoidp",
    "ec2",
    "ecr",
    "eks",
    "events",
    "iam",
    "kms",
    "logs",
    "rds",
    "route53",
    "s3",
    "secretsmanager",
    "sqs",
    "sts",
    "wafv2",
)

# Backend settings the override keeps from the stack's own backend block.
_BACKEND_KEPT = ("bucket", "key", "region", "encrypt", "use_lockfile")
# An instance key: a count index, or a for_each key string (which may hold brackets and escaped quotes).
_INDEX = re.compile(r'\[(?:\d+|"(?:[^"\\]|\\.)*")\]$')
_EDGE = re.compile(r'^\s*"([^"]+)"\s*->\s*"([^"]+)"')


@dataclass(frozen=True)
class Planned:
    """One resource instance of a saved plan."""

    address: str
    type: str

    @property
    def resource(self) -> str:
        return resource_of(self.address)


@dataclass(frozen=True)
class Selection:
    """What an apply against the emulator includes, and what it leaves out and why."""

    targets: list[str]
    unemulated: list[Planned]
    dependents: list[Planned]

    @property
    def left_out(self) -> int:
        return len(self.unemulated) + len(self.dependents)

    def summary(self) -> str:
        kinds = sorted({p.type for p in self.unemulated})
        text = f"{len(self.unemulated)} not emulated ({', '.join(kinds) or 'none'})"
        if self.dependents:
            text += f"; {len(self.dependents)} depending on them ({', '.join(sorted({p.resource for p in self.dependents}))})"
        return text


def resource_of(address: str) -> str:
    """`module.a.aws_x.y["k"]` -> `module.a.aws_x.y`: the node a dependency graph knows."""
    return _INDEX.sub("", address)


def planned_resources(plan: Mapping[str, Any]) -> list[Planned]:
    """Managed resources a `terraform show -json` plan creates or updates."""
    planned = []
    for change in plan.get("resource_changes", []):
        actions = set(change.get("change", {}).get("actions", []))
        if change.get("mode") == "managed" and actions & {"create", "update"}:
            planned.append(Planned(str(change["address"]), str(change["type"])))
    return planned


def dependency_graph(dot: str) -> dict[str, set[str]]:
    """`terraform graph` output as resource -> the resources it depends on."""
    graph: dict[str, set[str]] = {}
    for line in dot.splitlines():
        match = _EDGE.match(line)
        if match:
            graph.setdefault(match.group(1), set()).add(match.group(2))
    return graph


def _depends_on_any(resource: str, excluded: set[str], graph: Mapping[str, set[str]], seen: set[str]) -> bool:
    if resource in seen:
        return False
    seen.add(resource)
    return any(dep in excluded or _depends_on_any(dep, excluded, graph, seen) for dep in graph.get(resource, ()))


def select_targets(planned: Iterable[Planned], graph: Mapping[str, set[str]]) -> Selection:
    """Every planned instance the emulator can apply: not of an unemulated type, and not depending,
    directly or through others, on one (a target would pull its dependencies back in)."""
    planned = list(planned)
    unemulated = [p for p in planned if p.type in UNEMULATED_TYPES]
    excluded = {p.resource for p in unemulated}
    dependents = [p for p in planned if p not in unemulated and _depends_on_any(p.resource, excluded, graph, set())]
    left_out = set(unemulated) | set(dependents)
    return Selection([p.address for p in planned if p not in left_out], unemulated, dependents)


def _hcl(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def override_file(backend: Mapping[str, Any], endpoint: str, ca_bundle: str | None = None) -> str:
    """A `*_override.tf` that sends a stack's state and every provider call to the emulator.

    Terraform replaces the stack's whole backend block with this one, so the stack's own settings
    (bucket, key, region, encryption, locking) are repeated; it merges the provider block, keeping the
    stack's region, allowed account and default tags."""
    kept = [f"    {name} = {_hcl(backend[name])}" for name in _BACKEND_KEPT if name in backend]
    trust = f"  custom_ca_bundle            = {_hcl(ca_bundle)}\n" if ca_bundle else ""
    endpoints = "\n".join(f"    {service} = {_hcl(endpoint)}" for service in ENDPOINT_SERVICES)
    return (
        "# Written by `invoke rehearse` into its scratch copy of the repository: this stack against a local\n"
        "# AWS emulator. Never committed.\n"
        "terraform {\n"
        '  backend "s3" {\n' + "\n".join(kept) + "\n"
        f"    endpoints                   = {{ s3 = {_hcl(endpoint)}, sts = {_hcl(endpoint)} }}\n"
        "    use_path_style              = true\n"
        "    skip_credentials_validation = true\n"
        "    skip_requesting_account_id  = true\n"
        "    skip_metadata_api_check     = true\n"
        "    skip_region_validation      = true\n" + ("  " + trust if trust else "") + "  }\n"
        "}\n\n"
        'provider "aws" {\n'
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  skip_region_validation      = true\n"
        "  s3_use_path_style           = true\n" + trust + "  endpoints {\n" + endpoints + "\n  }\n"
        "}\n"
    )
