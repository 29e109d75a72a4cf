"""The broken-repository corpus: each case breaks a copy of the repo in one way, and names the rule,
the file and the line `invoke check` must report; no finding of another rule may appear, except the
ones a case names in `also` (with the reason next to it).

A case's expected line is read from the broken file itself (the line of the key it set, or of the
text it wrote), so it follows the file as it is edited over time.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from .fact_cases import FACT_CASES
from .mutations import (
    Expect,
    annotate,
    append_text,
    at,
    delete_path,
    edit_doc,
    edit_object,
    edit_yaml,
    find_doc,
    first_of_kind,
    line_with,
    set_path,
)

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    mutate: Callable[[Path], Expect | str]  # breaks the repo; returns where the finding must point (a str: the file only)
    env: str | None = None  # limit the check to one environment (faster); None checks all
    also: frozenset[str] = frozenset()  # other rules the same break rightly raises
    fix_mentions: str = ""  # text the finding's fix must hold
    message_mentions: str = ""  # text the finding's message must hold
    charts: bool = False  # render the charts (stand-ins from tests/charts/standins.py), as --render-charts does
    terraform: tuple[str, ...] = ()  # folders whose `terraform init` (the --all stage) the case runs


def _doc_start(root: Path, rel: str, kind: str, name: str, occurrence: int = -1) -> Expect:
    """The first line of a document that defines kind/name (the last one by default)."""
    starts = [
        node.start_mark.line + 1
        for node in yaml.compose_all((root / rel).read_text())
        if node is not None
        and any(k.value == "kind" and v.value == kind for k, v in node.value)
        and any(
            k.value == "metadata" and any(mk.value == "name" and mv.value == name for mk, mv in v.value) for k, v in node.value
        )
    ]
    return Expect(rel, starts[occurrence])


# --- chart values ----------------------------------------------------------------------------------
def _misspelt_values_key(root: Path) -> Expect:
    return at(root, edit_yaml(root, "apps/airflow/values.yaml", lambda v: set_path(v, "schedular", {"replicas": 2})), "schedular")


def _misspelt_nested_key(root: Path) -> Expect:
    rel = edit_yaml(root, "clusters/prod/values/airflow.yaml", lambda v: set_path(v, "triggerer.replicaz", 2))
    return at(root, rel, "triggerer.replicaz")


def _misspelt_key_of_a_chart_without_a_schema(root: Path) -> Expect:
    """keda publishes no values schema: the one generated from its values.yaml knows replicaCount."""
    rel = edit_yaml(root, "clusters/prod/values/keda.yaml", lambda v: set_path(v, "operator", {"replicaz": 2}))
    return at(root, rel, "operator.replicaz")


def _wrongly_typed_value(root: Path) -> Expect:
    rel = edit_yaml(root, "clusters/dev/values/airflow.yaml", lambda v: set_path(v, "scheduler.replicas", "two"))
    return at(root, rel, "scheduler.replicas")


def _plaintext_password(root: Path) -> Expect:
    rel = edit_yaml(
        root,
        "clusters/dev/values/airflow.yaml",
        lambda v: set_path(v, "data.metadataConnection", {"user": "airflow", "pass": "hunter2"}),
    )
    return at(root, rel, "data.metadataConnection.pass")


def _credentials_in_url(root: Path) -> Expect:
    rel = edit_yaml(
        root,
        "clusters/staging/values/airflow.yaml",
        lambda v: set_path(v, "config.database", {"sql_alchemy_conn": "postgresql://airflow:s3cret@db:5432/airflow"}),
    )
    return at(root, rel, "config.database.sql_alchemy_conn")


def _latest_in_prod(root: Path) -> Expect:
    rel = edit_yaml(root, "clusters/prod/values/airflow.yaml", lambda v: set_path(v, "images.airflow.tag", "latest"))
    return at(root, rel, "images.airflow.tag")


def _digest_missing_in_prod(root: Path) -> Expect:
    rel = edit_yaml(root, "clusters/prod/values/airflow.yaml", lambda v: delete_path(v, "images.airflow.digest"))
    return at(root, rel, "images.airflow.tag")


def _bad_digest(root: Path) -> Expect:
    rel = edit_yaml(root, "clusters/staging/values/airflow.yaml", lambda v: set_path(v, "images.airflow.digest", "sha256:abc"))
    return at(root, rel, "images.airflow.digest")


def _helm_hooks_on(root: Path) -> Expect:
    rel = edit_yaml(root, "apps/airflow/values.yaml", lambda v: set_path(v, "migrateDatabaseJob.useHelmHooks", True))
    return at(root, rel, "migrateDatabaseJob.useHelmHooks")


def _default_admin(root: Path) -> Expect:
    rel = edit_yaml(root, "apps/airflow/values.yaml", lambda v: set_path(v, "createUserJob.enabled", True))
    return at(root, rel, "createUserJob.enabled")


def _logs_bucket_mismatch(root: Path) -> Expect:
    rel = edit_yaml(
        root,
        "clusters/dev/values/airflow.yaml",
        lambda v: set_path(v, "config.logging.remote_base_log_folder", "s3://some-other-bucket/airflow"),
    )
    return at(root, rel, "config.logging.remote_base_log_folder")


def _ingress_host_mismatch(root: Path) -> Expect:
    rel = edit_yaml(
        root, "clusters/prod/values/airflow.yaml", lambda v: set_path(v, "ingress.apiServer.hosts.0.name", "airflow.example.org")
    )
    return at(root, rel, "ingress.apiServer.hosts.0.name")


def _resources_missing(root: Path) -> Expect:
    # null removes a key in Helm's merge, so this drops the base file's limits in dev
    rel = edit_yaml(root, "clusters/dev/values/airflow.yaml", lambda v: set_path(v, "scheduler.resources", {"limits": None}))
    return at(root, rel, "scheduler.resources")


def _cpu_request_missing(root: Path) -> Expect:
    """Only requests.cpu goes: the memory request and limit are still there."""
    rel = edit_yaml(root, "apps/keda/values.yaml", lambda v: delete_path(v, "resources.operator.requests.cpu"))
    return at(root, rel, "resources.operator")


# --- Applications and their pins -------------------------------------------------------------------
def _unknown_application_field(root: Path) -> Expect:
    rel = edit_object(root, "Application", "keda", lambda d: set_path(d, "spec.syncPolicy.automatedd", {"prune": True}))
    return at(root, rel, "spec.syncPolicy.automatedd", "Application", "keda")


def _edit_app(root: Path, env: str, app: str, change: Callable[[dict], None]) -> str:  # type: ignore[type-arg]
    return edit_doc(root, f"clusters/{env}/apps/{app}.yaml", "Application", app, change)


def _missing_chart_version(root: Path) -> Expect:
    rel = _edit_app(root, "dev", "keda", lambda d: delete_path(d, "spec.sources.0.targetRevision"))
    return at(root, rel, "spec.sources.0")


def _pin(version: str) -> Callable[[Path], Expect]:
    def mutate(root: Path) -> Expect:
        rel = _edit_app(root, "dev", "metrics-server", lambda d: set_path(d, "spec.sources.0.targetRevision", version))
        return at(root, rel, "spec.sources.0.targetRevision")

    return mutate


def _values_file_missing(root: Path) -> Expect:
    (root / "clusters/staging/values/metrics-server.yaml").unlink()
    return at(root, "clusters/staging/apps/metrics-server.yaml", "spec.sources.0.helm.valueFiles")


def _ignore_missing_value_files(root: Path) -> Expect:
    rel = _edit_app(root, "dev", "keda", lambda d: set_path(d, "spec.sources.0.helm.ignoreMissingValueFiles", True))
    return at(root, rel, "spec.sources.0.helm.ignoreMissingValueFiles")


def _value_files_out_of_order(root: Path) -> Expect:
    rel = _edit_app(root, "prod", "keda", lambda d: d["spec"]["sources"][0]["helm"]["valueFiles"].reverse())
    return at(root, rel, "spec.sources.0.helm.valueFiles")


def _values_from_another_revision(root: Path) -> Expect:
    rel = _edit_app(root, "dev", "keda", lambda d: set_path(d, "spec.sources.1.targetRevision", "my-feature-branch"))
    return at(root, rel, "spec.sources.1.targetRevision")


def _chart_not_in_catalog(root: Path) -> Expect:
    rel = _edit_app(root, "dev", "metrics-server", lambda d: set_path(d, "spec.sources.0.chart", "metrics-servr"))
    return at(root, rel, "spec.sources.0.chart")


def _chart_schema_not_vendored(root: Path) -> Expect:
    rel = _edit_app(root, "dev", "airflow", lambda d: set_path(d, "spec.sources.0.targetRevision", "1.21.9"))
    return at(root, rel, "spec.sources.0.targetRevision")


def _crds_not_vendored(root: Path) -> Expect:
    """The load balancer controller's CRDs are gone: nothing but its own chart uses its kinds."""
    shutil.rmtree(root / "schemas/crds/aws-load-balancer-controller/v3.5.0")
    return at(root, "clusters/dev/apps/aws-load-balancer-controller.yaml", "spec.sources.0.targetRevision")


def _default_project(root: Path) -> Expect:
    rel = edit_object(root, "Application", "keda", lambda d: set_path(d, "spec.project", "default"))
    return at(root, rel, "spec.project", "Application", "keda")


def _namespace_outside_project(root: Path) -> Expect:
    rel = edit_object(root, "Application", "reloader", lambda d: set_path(d, "spec.destination.namespace", "default"))
    return at(root, rel, "spec.destination.namespace", "Application", "reloader")


# --- objects -----------------------------------------------------------------------------------------
def _unknown_secret_store(root: Path) -> Expect:
    rel, name = first_of_kind(root, "ExternalSecret", "apps/airflow")
    edit_doc(root, rel, "ExternalSecret", name, lambda d: set_path(d, "spec.secretStoreRef.name", "vault-backend"))
    return at(root, rel, "spec.secretStoreRef.name", "ExternalSecret", name)


def _nodepool_bad_operator(root: Path) -> Expect:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        doc["spec"]["template"]["spec"]["requirements"][0]["operator"] = "Equals"

    rel = edit_object(root, "NodePool", "system", change)
    return at(root, rel, "spec.template.spec.requirements.0.operator", "NodePool", "system")


def _builtin_kind_invalid(root: Path) -> Expect:
    rel = edit_object(root, "Namespace", "airflow", lambda d: set_path(d, "spec", {"finalizerz": ["kubernetes"]}))
    return at(root, rel, "spec.finalizerz", "Namespace", "airflow")


def _secret_in_git(root: Path) -> Expect:
    # Where a project admits Secrets: Argo CD's own namespace, through the argo-cd Application's manifests.
    (root / "apps/argo-cd/manifests/leaked-secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leaked\n  namespace: argocd\nstringData:\n  password: hunter2\n"
    )
    edit_yaml(root, "apps/argo-cd/manifests/kustomization.yaml", lambda k: k["resources"].append("leaked-secret.yaml"))
    return at(root, "apps/argo-cd/manifests/leaked-secret.yaml", "stringData")


def _new_unknown_kind(root: Path) -> Expect:
    (root / "apps/airflow/manifests/trigger-auth.yaml").write_text(
        "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentications\nmetadata:\n  name: aws\n  namespace: airflow\n"
        "spec:\n  podIdentity: {provider: aws}\n"
    )
    edit_yaml(root, "apps/airflow/manifests/kustomization.yaml", lambda k: k["resources"].append("trigger-auth.yaml"))
    return at(root, "apps/airflow/manifests/trigger-auth.yaml", "apiVersion")


def _cr_before_its_crd(root: Path) -> Expect:
    rel = edit_object(root, "ClusterSecretStore", "aws-secrets-manager", lambda d: annotate(d, SYNC_WAVE, "-20"))
    return at(root, rel, "metadata.annotations", "ClusterSecretStore", "aws-secrets-manager")


def _cr_in_the_wave_of_its_crd(root: Path) -> Expect:
    """external-secrets installs the CRD in wave -10: a store in that same wave is applied alongside it."""
    rel = edit_object(root, "ClusterSecretStore", "aws-secrets-manager", lambda d: annotate(d, SYNC_WAVE, "-10"))
    return at(root, rel, "metadata.annotations", "ClusterSecretStore", "aws-secrets-manager")


def _skip_dry_run_missing(root: Path) -> Expect:
    rel = edit_object(root, "NodePool", "airflow-workers", lambda d: annotate(d, SYNC_OPTIONS, None))
    return at(root, rel, "metadata.annotations", "NodePool", "airflow-workers")


def _unknown_secret_key(root: Path) -> Expect:
    rel, name = first_of_kind(root, "ExternalSecret", "apps/airflow")
    added: list[int] = []

    def change(doc: dict) -> None:  # type: ignore[type-arg]
        data = doc["spec"].setdefault("data", [])
        data.append({"secretKey": "smtp", "remoteRef": {"key": "airflow/smtp-password"}})
        added.append(len(data) - 1)

    edit_doc(root, rel, "ExternalSecret", name, change)
    return at(root, rel, f"spec.data.{added[0]}.remoteRef.key", "ExternalSecret", name)


# --- kustomize -----------------------------------------------------------------------------------------
def _kustomization_missing_file(root: Path) -> Expect:
    rel = edit_yaml(root, "clusters/dev/kustomization.yaml", lambda k: k["resources"].append("extra-objects.yaml"))
    return line_with(root, rel, "extra-objects.yaml")


def _duplicate_object(root: Path) -> Expect:
    rel = find_doc(root, "NodePool", "system")
    text = (root / rel).read_text()
    # append a second copy of the document that defines the NodePool
    doc = [d for d in text.split("\n---") if "kind: NodePool" in d and "name: system" in d][0]
    append_text(root, rel, "\n---\n" + doc.strip("-\n") + "\n")
    return _doc_start(root, rel, "NodePool", "system")


def _patch_target_renamed(root: Path) -> Expect:
    edit_object(root, "NodePool", "airflow-core", lambda d: set_path(d, "apiVersion", "karpenter.sh/v9"))
    return _doc_start(root, "clusters/dev/patches/nodepools.yaml", "NodePool", "airflow-core")


def _object_without_kind(root: Path) -> Expect:
    """A manifest kustomize cannot read at all (no kind): none of the known kustomize errors."""
    (root / "apps/keda/extra.yaml").write_text("apiVersion: v1\nmetadata:\n  name: extra\n  namespace: keda\n")
    edit_yaml(root, "apps/keda/kustomization.yaml", lambda k: k["resources"].append("extra.yaml"))
    return Expect("apps/keda/extra.yaml", 1)


def _malformed_yaml(root: Path) -> Expect:
    rel = append_text(root, "clusters/dev/values/airflow.yaml", "broken: [unclosed\n  - x\n")
    return line_with(root, rel, "broken: [unclosed")  # the parser only notices at the end of the file


def _malformed_json(root: Path) -> Expect:
    (root / "apps/airflow/dashboard.json").write_text('{"panels": [1, 2,]}\n')
    return Expect("apps/airflow/dashboard.json", 1)


# --- cluster.yaml --------------------------------------------------------------------------------------
def _addon_not_listed(root: Path) -> Expect:
    rel = edit_yaml(root, "clusters/dev/cluster.yaml", lambda c: c["addons"].remove("keda"))
    return at(root, rel, "addons")


def _addon_not_rendered(root: Path) -> Expect:
    """reloader is still listed, but dev's kustomization no longer renders it (nor patches it)."""

    def drop(kustomization: dict) -> None:  # type: ignore[type-arg]
        kustomization["resources"].remove("../../apps/reloader")
        kustomization["patches"] = [p for p in kustomization["patches"] if p.get("path") != "apps/reloader.yaml"]

    edit_yaml(root, "clusters/dev/kustomization.yaml", drop)
    return line_with(root, "clusters/dev/cluster.yaml", "- reloader")


def _cluster_config_invalid(root: Path) -> Expect:
    rel = edit_yaml(root, "clusters/staging/cluster.yaml", lambda c: set_path(c, "database.allocated_storage_gb", "lots"))
    return at(root, rel, "database.allocated_storage_gb")


def _duplicate_promotion_order(root: Path) -> Expect:
    rel = edit_yaml(root, "clusters/staging/cluster.yaml", lambda c: set_path(c, "promotion.order", 1))
    return at(root, rel, "promotion.order")


def _workload_identity_missing(root: Path) -> Expect:
    rel = edit_yaml(root, "clusters/dev/cluster.yaml", lambda c: c["workload_identities"].pop("external-dns"))
    return at(root, rel, "workload_identities")


def _workload_identity_orphan(root: Path) -> Expect:
    rel = edit_yaml(
        root,
        "clusters/prod/cluster.yaml",
        lambda c: set_path(
            c, "workload_identities.reporting", {"namespace": "reporting", "service_account": "reporter", "policy": "reports"}
        ),
    )
    return at(root, rel, "workload_identities.reporting")


CASES: tuple[Case, ...] = (
    Case("misspelt-top-level-values-key", "helm-values-unknown-key", _misspelt_values_key, "dev", fix_mentions="'scheduler'"),
    Case("misspelt-nested-values-key", "helm-values-unknown-key", _misspelt_nested_key, "prod", fix_mentions="'replicas'"),
    Case(
        "misspelt-key-of-a-chart-without-a-schema",
        "helm-values-unknown-key",
        _misspelt_key_of_a_chart_without_a_schema,
        "prod",
        fix_mentions="rename 'replicaz' to 'replicaCount'",
    ),
    Case("wrongly-typed-airflow-value", "helm-values-schema", _wrongly_typed_value, "dev"),
    Case("unknown-application-field", "crd-schema", _unknown_application_field, "dev"),
    Case("missing-chart-version", "chart-version-missing", _missing_chart_version, "dev"),
    Case("chart-version-range", "chart-version-not-exact", _pin("3.*"), "dev"),
    Case("chart-version-without-patch", "chart-version-not-exact", _pin("3.13"), "dev", fix_mentions="MAJOR.MINOR.PATCH"),
    Case("chart-version-major-only", "chart-version-not-exact", _pin("3"), "dev"),
    Case("external-secret-unknown-store", "secret-store-missing", _unknown_secret_store, "dev"),
    Case("nodepool-invalid-operator", "crd-schema", _nodepool_bad_operator, "dev"),
    Case("plaintext-password-in-values", "plaintext-secret", _plaintext_password, "dev"),
    Case("credentials-in-connection-url", "plaintext-secret", _credentials_in_url, "staging"),
    Case("latest-tag-in-prod", "image-latest", _latest_in_prod, "prod"),
    Case("digest-missing-in-prod", "image-digest-required", _digest_missing_in_prod, "prod"),
    Case("malformed-digest", "image-digest-format", _bad_digest, "staging"),
    Case("kustomization-missing-file", "kustomize-missing-file", _kustomization_missing_file, "dev"),
    Case("duplicate-object", "duplicate-object", _duplicate_object, "dev"),
    Case("object-without-kind", "kustomize-build", _object_without_kind, "dev"),
    Case("malformed-yaml", "yaml-syntax", _malformed_yaml, "dev"),
    Case("malformed-json", "json-syntax", _malformed_json, "dev"),
    Case("values-file-missing", "values-file-missing", _values_file_missing, "staging"),
    Case("ignore-missing-value-files", "ignore-missing-value-files", _ignore_missing_value_files, "dev"),
    Case("default-app-project", "app-project", _default_project, "dev"),
    Case("namespace-outside-project", "app-project", _namespace_outside_project, "dev"),
    Case("airflow-helm-hooks-on", "helm-hooks", _helm_hooks_on, "dev"),
    Case("airflow-default-admin", "default-admin", _default_admin, "dev"),
    Case("custom-resource-before-crd", "crd-before-cr", _cr_before_its_crd, "dev"),
    Case("custom-resource-in-the-wave-of-its-crd", "crd-before-cr", _cr_in_the_wave_of_its_crd, "dev"),
    Case("skip-dry-run-missing", "skip-dry-run-missing", _skip_dry_run_missing, "dev"),
    Case("addon-not-listed", "addons-mismatch", _addon_not_listed, "dev"),
    Case("addon-listed-not-rendered", "addons-mismatch", _addon_not_rendered, "dev"),
    Case("cluster-config-invalid", "cluster-config", _cluster_config_invalid, "staging"),
    Case("workload-identity-missing", "workload-identity", _workload_identity_missing, "dev"),
    Case("workload-identity-orphan", "workload-identity", _workload_identity_orphan, "prod"),
    Case("values-from-another-revision", "values-source-mismatch", _values_from_another_revision, "dev"),
    Case("logs-bucket-mismatch", "cluster-values-mismatch", _logs_bucket_mismatch, "dev"),
    Case("ingress-host-mismatch", "cluster-values-mismatch", _ingress_host_mismatch, "prod"),
    Case("resources-missing", "resources-missing", _resources_missing, "dev"),
    Case("cpu-request-missing", "resources-missing", _cpu_request_missing, "dev", message_mentions="lacks requests.cpu"),
    Case("secret-object-in-git", "plaintext-secret", _secret_in_git, "dev"),
    # No AppProject names a kind that does not exist, so the project refuses it too.
    Case("unknown-kind", "unknown-kind", _new_unknown_kind, "dev", also=frozenset({"project-denies"})),
    Case("patch-target-missing", "patch-target-missing", _patch_target_renamed, "dev"),
    Case("chart-not-in-catalog", "chart-unknown", _chart_not_in_catalog, "dev"),
    Case("duplicate-promotion-order", "promotion-order", _duplicate_promotion_order, None),
    Case("builtin-kind-invalid", "k8s-schema", _builtin_kind_invalid, "dev"),
    # Reversed, the base overrides prod's own clusterName: the mismatch is what the layout rule prevents.
    Case(
        "value-files-out-of-order",
        "value-files-layout",
        _value_files_out_of_order,
        "prod",
        also=frozenset({"cluster-values-mismatch"}),
    ),
    Case("chart-schema-not-vendored", "chart-schema-missing", _chart_schema_not_vendored, "dev"),
    Case("crds-not-vendored", "crd-schema-missing", _crds_not_vendored, "dev"),
)


# --- terraform/ against the rest -------------------------------------------------------------------
def _replace(root: Path, rel: str, old: str, new: str) -> str:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{rel} has no {old!r}"
    path.write_text(text.replace(old, new, 1))
    return rel


def _state_in_another_bucket(root: Path) -> Expect:
    rel = _replace(
        root,
        "terraform/stacks/staging/platform/main.tf",
        "airflow-staging-tfstate-222222222222",
        "airflow-dev-tfstate-111111111111",
    )
    return line_with(root, rel, "airflow-dev-tfstate-111111111111")


def _root_app_of_another_env(root: Path) -> Expect:
    rel = _replace(root, "terraform/stacks/prod/bootstrap/main.tf", 'environment = "prod"', 'environment = "staging"')
    return line_with(root, rel, 'environment = "staging"')


def _rds_tag_of_another_database(root: Path) -> Expect:
    rel = _replace(root, "clusters/dev/facts/cluster-facts.yaml", "db:airflow-dev-airflow", "db:airflow-dev-metadata")
    return line_with(root, rel, "db:airflow-dev-metadata")


def _bucket_name_off_convention(root: Path) -> Expect:
    rel = _replace(
        root, "terraform/modules/platform/main.tf", '"${local.name}-logs-${local.account_id}"', '"${local.name}-airflow-logs"'
    )
    return line_with(root, rel, '"${local.name}-airflow-logs"')


def _hcl_syntax_error(root: Path) -> Expect:
    rel = append_text(root, "terraform/modules/storage/variables.tf", '\nvariable "broken" {\n  type = string\n')
    return line_with(root, rel, 'variable "broken"')


def _terraform_unformatted(root: Path) -> Expect:
    rel = append_text(root, "terraform/modules/storage/outputs.tf", '\noutput "extra"   {\n value="x"\n  description = "d"\n}\n')
    return line_with(root, rel, 'output "extra"')


def _stack_missing(root: Path) -> Expect:
    shutil.rmtree(root / "terraform/stacks/staging/bootstrap")
    return at(root, "clusters/staging/cluster.yaml", "environment")


def _stack_reads_another_cluster(root: Path) -> Expect:
    rel = _replace(
        root, "terraform/stacks/staging/platform/main.tf", "clusters/staging/cluster.yaml", "clusters/dev/cluster.yaml"
    )
    return line_with(root, rel, "yamldecode")


def _module_source_missing(root: Path) -> Expect:
    """A module call whose source folder does not exist: `terraform init` cannot install it."""
    rel = append_text(root, "terraform/modules/storage/main.tf", '\nmodule "helper" {\n  source = "./missing-helper"\n}\n')
    return line_with(root, rel, 'module "helper"')


CASES = CASES + (
    Case("terraform-state-in-another-bucket", "terraform-backend", _state_in_another_bucket, "staging"),
    Case("root-application-of-another-env", "root-app-path", _root_app_of_another_env, "prod"),
    Case("secret-terraform-does-not-create", "secret-not-created", _unknown_secret_key, "dev"),
    Case("rds-tag-of-another-database", "cluster-values-mismatch", _rds_tag_of_another_database, "dev"),
    Case("bucket-name-off-convention", "terraform-names", _bucket_name_off_convention, "dev"),
    Case("hcl-syntax-error", "hcl-syntax", _hcl_syntax_error, "dev"),
    Case("terraform-unformatted", "terraform-fmt", _terraform_unformatted, "dev"),
    Case("terraform-stack-missing", "terraform-stack-missing", _stack_missing, "staging"),
    Case("stack-reads-another-cluster", "terraform-stack-cluster", _stack_reads_another_cluster, "staging"),
    Case(
        "module-source-missing",
        "terraform-init",
        _module_source_missing,
        "dev",
        terraform=("terraform/modules/storage",),
    ),
)


# --- the upgrade machinery -----------------------------------------------------------------------------
def _image_tag_without_renovate_comment(root: Path) -> Expect:
    rel = _replace(
        root,
        "clusters/dev/values/airflow.yaml",
        "    # renovate: datasource=docker depName=444444444444.dkr.ecr.eu-west-1.amazonaws.com/airflow\n",
        "",
    )
    return at(root, rel, "images.airflow.tag")


def _hold_without_renovate_rule(root: Path) -> Expect:
    hold = "holds:\n  airflow: {reason: broken, set_by: a <a@example.com>, set_at: '2026-11-25T00:00:00Z', version: 3.2.0-1}\n"
    (root / "clusters/staging/holds.yaml").write_text(hold)
    return at(root, "clusters/staging/holds.yaml", "holds.airflow")


def _renovate_rule_without_hold(root: Path) -> Expect:
    """The reverse: renovate.json keeps a hold rule (so Renovate leaves dev's keda alone) that no hold explains."""
    config = json.loads((root / "renovate.json").read_text())
    description = "hold dev/keda: flaky (set by a <a@example.com> at 2026-11-25T00:00:00Z)"
    config["packageRules"].append(
        {
            "description": description,
            "matchFileNames": ["clusters/dev/apps/keda.yaml", "clusters/dev/values/keda.yaml"],
            "enabled": False,
        }
    )
    (root / "renovate.json").write_text(json.dumps(config, indent=2) + "\n")
    return line_with(root, "renovate.json", description)


def _hold_file_malformed(root: Path) -> Expect:
    (root / "clusters/dev/holds.yaml").write_text("holds:\n  - airflow\n")
    return at(root, "clusters/dev/holds.yaml", "holds")


CASES = CASES + (
    Case("image-tag-invisible-to-renovate", "pin-not-visible", _image_tag_without_renovate_comment, "dev"),
    Case("hold-without-renovate-rule", "hold-not-in-renovate", _hold_without_renovate_rule, "staging"),
    Case("renovate-rule-without-hold", "hold-not-in-renovate", _renovate_rule_without_hold, "dev"),
    Case("hold-file-malformed", "hold-invalid", _hold_file_malformed, "dev"),
)


# --- what the charts render (stand-in charts, tests/charts/standins.py) -------------------------------
def _privilege_escalation(root: Path) -> Expect:
    rel = edit_yaml(
        root,
        "clusters/dev/values/airflow.yaml",
        lambda v: set_path(v, "securityContexts.containers.allowPrivilegeEscalation", True),
    )
    return at(root, rel, "securityContexts")


def _runs_as_root(root: Path) -> Expect:
    def change(values: dict) -> None:  # type: ignore[type-arg]
        set_path(values, "securityContexts.pod.runAsUser", 0)
        set_path(values, "securityContexts.containers.runAsNonRoot", False)

    rel = edit_yaml(root, "clusters/dev/values/airflow.yaml", change)
    return at(root, rel, "securityContexts")


def _chart_version_not_published(root: Path) -> Expect:
    """A version the chart's repository does not have (a typo): the pull fails, it is not merely offline."""
    rel = _edit_app(root, "dev", "reloader", lambda d: set_path(d, "spec.sources.0.targetRevision", "2.2.61"))
    return at(root, rel, "spec.sources.0")


CASES = CASES + (
    # Namespace airflow enforces Pod Security 'restricted', which such a container breaks too.
    Case(
        "container-may-escalate-privileges",
        "chart-privilege-escalation",
        _privilege_escalation,
        "dev",
        also=frozenset({"pod-security-violation"}),
        charts=True,
    ),
    Case(
        "container-runs-as-root",
        "chart-runs-as-root",
        _runs_as_root,
        "dev",
        also=frozenset({"pod-security-violation"}),
        charts=True,
    ),
    # No schema is vendored for a version that does not exist either.
    Case(
        "chart-version-not-published",
        "chart-pull-failed",
        _chart_version_not_published,
        "dev",
        also=frozenset({"chart-schema-missing"}),
        charts=True,
    ),
)


# --- freeze windows: cluster.yaml and the AppProjects' syncWindows --------------------------------


def _freeze_window_not_rendered(root: Path) -> str:
    """A window added to cluster.yaml without `invoke sync-windows`: Argo CD would go on syncing in it."""
    window = {"reason": "load test", "schedule": "0 18 * * 5", "duration": "62h", "time_zone": "Europe/Amsterdam"}
    return edit_yaml(root, "clusters/staging/cluster.yaml", lambda c: set_path(c, "promotion.freeze", [window]))


def _freeze_window_edited_in_the_patch(root: Path) -> str:
    """The rendered window changed by hand: Argo CD would freeze at another time than invoke."""
    rel = "clusters/prod/patches/sync-windows.yaml"
    edit_yaml(root, rel, lambda p: set_path(p, "spec.syncWindows.0.duration", "24h"))
    return "clusters/prod/cluster.yaml"


CASES = CASES + (
    Case("freeze-window-not-rendered", "freeze-window-mismatch", _freeze_window_not_rendered, "staging"),
    Case("freeze-window-edited-in-the-patch", "freeze-window-mismatch", _freeze_window_edited_in_the_patch, "prod"),
)


# --- one source per fact (tests/corpus/fact_cases.py) -------------------------------------------------
CASES = CASES + tuple(Case(*case) for case in FACT_CASES)


# --- who may become which AWS role (rules ci-trust and iam-boundary) -----------------------------------
def _promote_in_the_apply_environment(root: Path) -> str:
    # The promotion's token then carries environment:staging|prod, which the terraform-apply roles trust.
    return _replace(
        root,
        ".github/workflows/promote.yml",
        "environment: ${{ inputs.environment }}-promote",
        "environment: ${{ inputs.environment }}",
    )


def _wildcard_trust_subject(root: Path) -> str:
    # environment:prod* admits prod-promote too: a promotion could become prod's administrator.
    return _replace(
        root,
        "terraform/modules/platform/ci.tf",
        '"environment:${var.cluster.environment}"',
        '"environment:${var.cluster.environment}*"',
    )


def _role_without_boundary(root: Path) -> str:
    # the role's arguments realigned as terraform fmt leaves them, so the boundary is the only finding
    return _replace(
        root,
        "terraform/modules/network/main.tf",
        """  name                 = "${var.name}-vpc-flow-logs"
  description          = "Lets VPC Flow Logs write the flow log group of ${var.name}"
  assume_role_policy   = jsonencode({ Version = "2012-10-17", Statement = local.flow_log_assume_role_statements })
  permissions_boundary = var.permissions_boundary_arn
""",
        """  name               = "${var.name}-vpc-flow-logs"
  description        = "Lets VPC Flow Logs write the flow log group of ${var.name}"
  assume_role_policy = jsonencode({ Version = "2012-10-17", Statement = local.flow_log_assume_role_statements })
""",
    )


CASES = CASES + (
    Case("promote-job-in-the-apply-environment", "ci-trust", _promote_in_the_apply_environment, "dev"),
    Case("wildcard-trust-subject", "ci-trust", _wildcard_trust_subject, "dev"),
    Case("role-without-permissions-boundary", "iam-boundary", _role_without_boundary, "dev"),
)


# --- what the API server refuses through a CRD's CEL rules (x-kubernetes-validations) ------------------
def _budget_schedule_without_duration(root: Path) -> str:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        doc["spec"]["disruption"]["budgets"].append({"nodes": "0", "schedule": "0 9 * * mon-fri"})

    return edit_object(root, "NodePool", "system", change)


def _requirement_in_restricted_label_domain(root: Path) -> str:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        requirement = {"key": "karpenter.sh/pool-tier", "operator": "In", "values": ["core"]}
        doc["spec"]["template"]["spec"]["requirements"].append(requirement)

    return edit_object(root, "NodePool", "airflow-core", change)


def _in_requirement_without_values(root: Path) -> str:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        doc["spec"]["template"]["spec"]["requirements"][0]["values"] = []

    return edit_object(root, "NodePool", "airflow-workers", change)


CASES = CASES + (
    Case("nodepool-budget-schedule-without-duration", "crd-cel", _budget_schedule_without_duration, "dev"),
    Case("nodepool-requirement-restricted-label-domain", "crd-cel", _requirement_in_restricted_label_domain, "dev"),
    Case("nodepool-in-requirement-without-values", "crd-cel", _in_requirement_without_values, "dev"),
)


# --- what the charts render (stand-in charts, with the repository's values) ------------------------
def _image_outside_the_registry(root: Path) -> str:
    rel = "clusters/staging/values/metrics-server.yaml"
    return edit_yaml(root, rel, lambda v: set_path(v, "image.repository", "registry.k8s.io/metrics-server/metrics-server"))


def _rendered_image_without_digest(root: Path) -> str:
    return _replace(
        root,
        "clusters/prod/values/aws-load-balancer-controller.yaml",
        "tag: v3.5.0@sha256:298acdff5a571731276aaea3d5cc450a264e4ad710a5bddf3e518f68a3f9f6cb",
        "tag: v3.5.0",
    )


CASES = CASES + (
    Case("image-outside-the-registry", "image-registry", _image_outside_the_registry, "staging", charts=True),
    Case("rendered-image-without-digest", "image-digest-required", _rendered_image_without_digest, "prod", charts=True),
)


# --- isolation inside the cluster ------------------------------------------------------------------
def _no_default_deny(root: Path) -> Expect:
    rel = "apps/reloader/manifests/network-policies.yaml"
    path = root / rel
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d["metadata"]["name"] != "default-deny"]
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return at(root, "apps/reloader/namespace.yaml", "metadata.name", "Namespace", "reloader")


def _exec_for_airflow(root: Path) -> Expect:
    rel = "apps/airflow/manifests/debug-rbac.yaml"
    (root / rel).write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: debug\n  namespace: airflow\n"
        "rules:\n  - apiGroups: ['']\n    resources: [pods/exec]\n    verbs: [create]\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: debug\n  namespace: airflow\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: debug}\n"
        "subjects:\n  - {kind: ServiceAccount, name: airflow-worker, namespace: airflow}\n"
    )
    edit_yaml(root, "apps/airflow/manifests/kustomization.yaml", lambda k: k["resources"].append("debug-rbac.yaml"))
    return at(root, rel, "rules.0", "Role", "debug")


def _secrets_for_airflow(root: Path) -> Expect:
    added: list[int] = []

    def change(doc: dict) -> None:  # type: ignore[type-arg]
        doc["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})
        added.append(len(doc["rules"]) - 1)

    rel = edit_object(root, "Role", "airflow-task-launcher", change)
    return at(root, rel, f"rules.{added[0]}", "Role", "airflow-task-launcher")


def _project_any_namespace(root: Path) -> Expect:
    rel = _replace(root, "apps/argo-cd/projects.yaml", "          namespace: airflow-db\n", '          namespace: "*"\n')
    return line_with(root, rel, 'namespace: "*"')


def _project_any_kind(root: Path) -> Expect:
    rel = _replace(
        root,
        "apps/argo-cd/projects.yaml",
        "        - group: keda.sh\n          kind: ScaledObject\n",
        '        - group: "*"\n          kind: "*"\n',
    )
    return line_with(root, rel, 'kind: "*"')


def _namespace_without_pod_security(root: Path) -> Expect:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        for mode in ("warn", "audit"):
            doc["metadata"]["labels"].pop(f"pod-security.kubernetes.io/{mode}")

    rel = edit_object(root, "Namespace", "airflow-tasks", change)
    return at(root, rel, "metadata.labels", "Namespace", "airflow-tasks")


def _root_applies_outside_argocd(root: Path) -> Expect:
    rel = "apps/keda/extra-policy.yaml"
    (root / rel).write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: extra\n  namespace: keda\n"
        "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
    )
    edit_yaml(root, "apps/keda/kustomization.yaml", lambda k: k["resources"].append("extra-policy.yaml"))
    return line_with(root, rel, "kind: NetworkPolicy")


def _token_without_use(root: Path) -> Expect:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        del doc["spec"]["template"]["spec"]["automountServiceAccountToken"]

    edit_object(root, "ServiceAccount", "airflow-db-role", lambda d: set_path(d, "automountServiceAccountToken", True))
    rel = edit_object(root, "Job", "airflow-db-role", change)
    return at(root, rel, "spec.template.spec", "Job", "airflow-db-role")


def _privileged_job(root: Path) -> Expect:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        doc["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True

    rel = edit_object(root, "Job", "airflow-db-role", change)
    return at(root, rel, "spec.template.spec", "Job", "airflow-db-role")


def _manifests_of_another_env(root: Path) -> Expect:
    rel = _replace(
        root,
        "clusters/prod/apps/airflow.yaml",
        "path: clusters/prod/manifests/airflow",
        "path: clusters/staging/manifests/airflow",
    )
    return line_with(root, rel, "path: clusters/staging/manifests/airflow")


CASES = CASES + (
    Case("namespace-without-default-deny", "default-deny-missing", _no_default_deny, "dev"),
    Case("pods-exec-for-an-airflow-account", "airflow-rbac", _exec_for_airflow, "dev"),
    Case("secrets-for-an-airflow-account", "airflow-rbac", _secrets_for_airflow, "staging"),
    Case("app-project-any-namespace", "app-project-wildcard", _project_any_namespace, "dev"),
    Case("app-project-any-kind", "app-project-wildcard", _project_any_kind, "prod"),
    Case("namespace-without-pod-security-labels", "pod-security-labels", _namespace_without_pod_security, "dev"),
    Case("root-applies-outside-argocd", "project-denies", _root_applies_outside_argocd, "dev"),
    Case("token-without-api-use", "token-automount", _token_without_use, "dev"),
    Case("pod-breaks-restricted", "pod-security-violation", _privileged_job, "dev"),
    # Another environment's manifests folder brings that environment's facts: the RDS ARN of the
    # database role Job's login is staging's, which the facts check names too.
    Case(
        "manifests-of-another-environment",
        "manifests-path",
        _manifests_of_another_env,
        "prod",
        also=frozenset({"cluster-values-mismatch"}),
    ),
)
