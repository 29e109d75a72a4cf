"""What applies against the emulator: target selection over a dependency graph, and the override file."""

from __future__ import annotations

import hcl2
import pytest
from hcl2 import SerializationOptions

from airflow_gitops.platform.emulated_apply import (
    ENDPOINT_SERVICES,
    UNEMULATED_TYPES,
    Planned,
    dependency_graph,
    override_file,
    planned_resources,
    resource_of,
    select_targets,
)

# The shape `terraform graph` prints (1.11): dependent -> dependency, resources without instance keys.
GRAPH = """digraph G {
  rankdir = "RL";
  node [shape = rect, fontname = "sans-serif"];
  subgraph "cluster_module.platform.module.cluster" {
    "module.platform.module.cluster.aws_eks_cluster.this" [label="aws_eks_cluster.this"];
  }
  "module.platform.module.cluster.aws_eks_addon.before_nodes" -> "module.platform.module.cluster.aws_eks_cluster.this";
  "module.platform.module.cluster.aws_eks_node_group.system" -> "module.platform.module.cluster.aws_eks_addon.before_nodes";
  "module.platform.module.cluster.aws_eks_node_group.system" -> "module.platform.module.cluster.aws_launch_template.system";
  "module.platform.module.cluster.aws_eks_addon.after_nodes" -> "module.platform.module.cluster.aws_eks_node_group.system";
  "module.platform.module.cluster.aws_launch_template.system" -> "module.platform.module.cluster.aws_security_group.node";
  "module.platform.module.database.aws_db_instance.this" -> "module.platform.module.cluster.aws_security_group.node";
}
"""


def _planned(*pairs: tuple[str, str]) -> list[Planned]:
    return [Planned(address, kind) for address, kind in pairs]


PLANNED = _planned(
    ("module.platform.module.cluster.aws_eks_cluster.this", "aws_eks_cluster"),
    ('module.platform.module.cluster.aws_eks_addon.before_nodes["vpc-cni"]', "aws_eks_addon"),
    ('module.platform.module.cluster.aws_eks_addon.before_nodes["kube-proxy"]', "aws_eks_addon"),
    ("module.platform.module.cluster.aws_eks_node_group.system", "aws_eks_node_group"),
    ('module.platform.module.cluster.aws_eks_addon.after_nodes["coredns"]', "aws_eks_addon"),
    ("module.platform.module.cluster.aws_launch_template.system", "aws_launch_template"),
    ("module.platform.module.cluster.aws_security_group.node", "aws_security_group"),
    ("module.platform.module.database.aws_db_instance.this", "aws_db_instance"),
)


def test_resource_of_drops_the_instance_key_only() -> None:
    assert resource_of('module.a.aws_x.y["k[1]"]') == "module.a.aws_x.y"
    assert resource_of("module.a[0].aws_x.y[2]") == "module.a[0].aws_x.y"
    assert resource_of("aws_x.y") == "aws_x.y"


def test_the_graph_keeps_edges_and_ignores_nodes_and_settings() -> None:
    graph = dependency_graph(GRAPH)
    assert graph["module.platform.module.cluster.aws_eks_node_group.system"] == {
        "module.platform.module.cluster.aws_eks_addon.before_nodes",
        "module.platform.module.cluster.aws_launch_template.system",
    }
    assert "module.platform.module.cluster.aws_eks_cluster.this" not in graph  # a node without edges of its own
    assert sum(len(deps) for deps in graph.values()) == 6


def test_unemulated_resources_and_everything_depending_on_them_are_left_out() -> None:
    selection = select_targets(PLANNED, dependency_graph(GRAPH))
    assert selection.targets == [
        "module.platform.module.cluster.aws_eks_cluster.this",
        "module.platform.module.cluster.aws_launch_template.system",
        "module.platform.module.cluster.aws_security_group.node",
        "module.platform.module.database.aws_db_instance.this",
    ]
    assert {p.type for p in selection.unemulated} == {"aws_eks_addon"}
    assert len(selection.unemulated) == 3
    # The node group depends on the add-ons; coredns (after_nodes) is unemulated itself.
    assert [p.address for p in selection.dependents] == ["module.platform.module.cluster.aws_eks_node_group.system"]
    assert selection.left_out == 4
    assert "3 not emulated (aws_eks_addon)" in selection.summary()
    assert "aws_eks_node_group.system" in selection.summary()


def test_dependents_are_found_through_several_hops_and_cycles_end() -> None:
    graph = {"c.x": {"b.x"}, "b.x": {"a.x", "c.x"}, "a.x": {"aws_eks_addon.z"}}
    planned = _planned(("aws_eks_addon.z", "aws_eks_addon"), ("a.x", "t"), ("b.x", "t"), ("c.x", "t"), ("d.x", "t"))
    selection = select_targets(planned, graph)
    assert selection.targets == ["d.x"]
    assert [p.address for p in selection.dependents] == ["a.x", "b.x", "c.x"]


def test_every_unemulated_type_is_left_out() -> None:
    planned = _planned(*((f"{kind}.this", kind) for kind in UNEMULATED_TYPES), ("aws_iam_role.this", "aws_iam_role"))
    assert select_targets(planned, {}).targets == ["aws_iam_role.this"]


def test_only_managed_resources_being_created_or_updated_are_planned() -> None:
    plan = {
        "resource_changes": [
            {"address": "aws_s3_bucket.a", "type": "aws_s3_bucket", "mode": "managed", "change": {"actions": ["create"]}},
            {"address": "aws_s3_bucket.b", "type": "aws_s3_bucket", "mode": "managed", "change": {"actions": ["no-op"]}},
            {
                "address": "aws_s3_bucket.c",
                "type": "aws_s3_bucket",
                "mode": "managed",
                "change": {"actions": ["delete", "create"]},
            },
            {"address": "aws_s3_bucket.d", "type": "aws_s3_bucket", "mode": "managed", "change": {"actions": ["delete"]}},
            {"address": "data.aws_region.x", "type": "aws_region", "mode": "data", "change": {"actions": ["read"]}},
        ]
    }
    assert [p.address for p in planned_resources(plan)] == ["aws_s3_bucket.a", "aws_s3_bucket.c"]


@pytest.mark.parametrize("ca_bundle", [None, "/tmp/emulator.crt"])
def test_the_override_file_is_hcl_that_keeps_the_backend_and_points_every_endpoint_at_the_emulator(
    ca_bundle: str | None,
) -> None:
    backend = {
        "bucket": "airflow-dev-tfstate-111111111111",
        "key": "dev/platform.tfstate",
        "region": "eu-west-1",
        "encrypt": True,
        "use_lockfile": True,
    }
    text = override_file({**backend, "profile": "ignored"}, "https://127.0.0.1:4566", ca_bundle)
    data = hcl2.loads(
        text, serialization_options=SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    )
    s3 = data["terraform"][0]["backend"][0]["s3"]
    assert {k: s3[k] for k in backend} == backend
    assert "profile" not in s3
    assert s3["endpoints"] == {"s3": "https://127.0.0.1:4566", "sts": "https://127.0.0.1:4566"}
    assert s3["use_path_style"] is True and s3["skip_credentials_validation"] is True
    provider = data["provider"][0]["aws"]
    endpoints = provider["endpoints"][0] if isinstance(provider["endpoints"], list) else provider["endpoints"]
    assert endpoints == dict.fromkeys(ENDPOINT_SERVICES, "https://127.0.0.1:4566")
    assert provider["s3_use_path_style"] is True
    assert provider.get("custom_ca_bundle") == ca_bundle
    assert s3.get("custom_ca_bundle") == ca_bundle
    assert "access_key" not in provider and "secret_key" not in provider  # credentials come from the environment
