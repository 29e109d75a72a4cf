"""Corpus cases of one source per fact: a value that follows from cluster.yaml, written where it disagrees.

Each edit is textual (comments stay) and leaves everything else consistent, so only its own rule fires.
"""

from __future__ import annotations

from pathlib import Path

from .mutations import append_text


def replace_text(root: Path, rel: str, old: str, new: str, count: int = 1) -> str:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{rel} has no {old!r}"
    path.write_text(text.replace(old, new, count))
    return rel


def _facts_file_stale(root: Path) -> str:
    return replace_text(
        root, "clusters/staging/facts/cluster-facts.yaml", "secret_prefix: airflow-staging/", "secret_prefix: airflow-dev/"
    )


def _facts_applied_to_the_cluster(root: Path) -> str:
    return replace_text(
        root, "clusters/dev/facts/cluster-facts.yaml", '    config.kubernetes.io/local-config: "true"\n', "    note: x\n"
    )


def _patch_overrides_a_derived_field(root: Path) -> str:
    return append_text(root, "clusters/dev/patches/ec2nodeclass.yaml", "  role: KarpenterNodeRole-legacy\n")


def _component_not_listed(root: Path) -> str:
    replace_text(root, "clusters/prod/kustomization.yaml", "components:\n", "")
    replace_text(root, "clusters/prod/kustomization.yaml", "  - ../../components/cluster-facts\n", "")
    return "apps/external-secrets/cluster-secret-stores.yaml"


def _hostname_outside_zone(root: Path) -> str:
    for rel in ("clusters/staging/cluster.yaml", "clusters/staging/values/airflow.yaml"):
        replace_text(root, rel, "airflow.staging.example.com", "airflow.staging.example.org", count=-1)
    return "clusters/staging/cluster.yaml"


def _registry_of_its_own(root: Path) -> str:
    rel = "clusters/prod/cluster.yaml"
    # consistent within prod: its digest_pending list and every values file name the new registry
    replace_text(root, rel, "444444444444", "555555555555", count=-1)
    for values in sorted((root / "clusters/prod/values").glob("*.yaml")):
        text = values.read_text(encoding="utf-8")
        values.write_text(text.replace("444444444444.dkr.ecr", "555555555555.dkr.ecr"), encoding="utf-8")
    return rel


def _value_of_another_environment(root: Path) -> str:
    return append_text(root, "clusters/dev/values/airflow.yaml", "labels:\n  cost-center: airflow-staging\n")


def _own_value_nothing_checks(root: Path) -> str:
    return append_text(root, "clusters/prod/values/airflow.yaml", "labels:\n  cluster: airflow-prod\n")


def _environment_value_in_a_base(root: Path) -> str:
    return append_text(root, "apps/airflow/values.yaml", "labels:\n  cluster: airflow-dev\n")


def _remote_state_of_another_layer(root: Path) -> str:
    return replace_text(
        root,
        "terraform/stacks/staging/bootstrap/main.tf",
        '"${local.cluster.environment}/platform.tfstate"',
        '"${local.cluster.environment}/network.tfstate"',
    )


def _account_written_out_in_a_stack(root: Path) -> str:
    return append_text(root, "terraform/stacks/prod/platform/main.tf", '\nlocals {\n  account = "333333333333"\n}\n')


def _registry_state_elsewhere(root: Path) -> str:
    return replace_text(
        root, "terraform/stacks/shared/registry/main.tf", '"airflow-registry-tfstate-444444444444"', '"airflow-registry-tfstate"'
    )


# (id, rule, mutation, environment checked[, other rules the same break rightly raises])
FACT_CASES = (
    ("facts-file-stale", "cluster-values-mismatch", _facts_file_stale, "staging"),
    # Applied, the ConfigMap would land in argocd, where the root's project admits no ConfigMap.
    ("facts-applied-to-the-cluster", "cluster-facts", _facts_applied_to_the_cluster, "dev", frozenset({"project-denies"})),
    ("patch-overrides-a-derived-field", "cluster-values-mismatch", _patch_overrides_a_derived_field, "dev"),
    ("cluster-facts-component-not-listed", "cluster-values-mismatch", _component_not_listed, "prod"),
    ("hostname-outside-zone", "hostname-outside-zone", _hostname_outside_zone, "staging"),
    ("registry-of-its-own", "registry-mismatch", _registry_of_its_own, None),
    ("value-of-another-environment", "cluster-values-mismatch", _value_of_another_environment, "dev"),
    ("own-value-nothing-checks", "cluster-value-unchecked", _own_value_nothing_checks, "prod"),
    ("environment-value-in-a-base", "env-literal-in-base", _environment_value_in_a_base, "staging"),
    ("remote-state-of-another-layer", "terraform-remote-state", _remote_state_of_another_layer, "staging"),
    ("account-written-out-in-a-stack", "cluster-value-unchecked", _account_written_out_in_a_stack, "prod"),
    ("registry-state-elsewhere", "terraform-backend", _registry_state_elsewhere, "dev"),
)
