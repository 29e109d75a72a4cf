"""The broken-repository corpus: each case breaks a copy of the repo in one way, and names the rule
and the file `invoke check` must report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from .mutations import (
    annotate,
    append_text,
    delete_path,
    edit_doc,
    edit_object,
    edit_yaml,
    find_doc,
    first_of_kind,
    set_path,
)

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    mutate: Callable[[Path], str]  # breaks the repo; returns the file the finding must name
    env: str | None = None  # limit the check to one environment (faster); None checks all


def _misspelt_values_key(root: Path) -> str:
    return edit_yaml(root, "apps/airflow/values.yaml", lambda v: set_path(v, "schedular", {"replicas": 2}))


def _misspelt_nested_key(root: Path) -> str:
    return edit_yaml(root, "clusters/prod/values/airflow.yaml", lambda v: set_path(v, "triggerer.replicaz", 2))


def _wrongly_typed_value(root: Path) -> str:
    return edit_yaml(root, "clusters/dev/values/airflow.yaml", lambda v: set_path(v, "scheduler.replicas", "two"))


def _unknown_application_field(root: Path) -> str:
    return edit_object(root, "Application", "keda", lambda d: set_path(d, "spec.syncPolicy.automatedd", {"prune": True}))


def _missing_chart_version(root: Path) -> str:
    rel = "clusters/dev/apps/keda.yaml"
    return edit_doc(root, rel, "Application", "keda", lambda d: delete_path(d, "spec.sources.0.targetRevision"))


def _chart_version_range(root: Path) -> str:
    rel = "clusters/dev/apps/metrics-server.yaml"
    return edit_doc(root, rel, "Application", "metrics-server", lambda d: set_path(d, "spec.sources.0.targetRevision", "3.*"))


def _unknown_secret_store(root: Path) -> str:
    rel, name = first_of_kind(root, "ExternalSecret", "apps/airflow")
    return edit_doc(root, rel, "ExternalSecret", name, lambda d: set_path(d, "spec.secretStoreRef.name", "vault-backend"))


def _nodepool_bad_operator(root: Path) -> str:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        doc["spec"]["template"]["spec"]["requirements"][0]["operator"] = "Equals"

    return edit_object(root, "NodePool", "system", change)


def _plaintext_password(root: Path) -> str:
    return edit_yaml(
        root,
        "clusters/dev/values/airflow.yaml",
        lambda v: set_path(v, "data.metadataConnection", {"user": "airflow", "pass": "hunter2"}),
    )


def _credentials_in_url(root: Path) -> str:
    return edit_yaml(
        root,
        "clusters/staging/values/airflow.yaml",
        lambda v: set_path(v, "config.database", {"sql_alchemy_conn": "postgresql://airflow:s3cret@db:5432/airflow"}),
    )


def _latest_in_prod(root: Path) -> str:
    return edit_yaml(root, "clusters/prod/values/airflow.yaml", lambda v: set_path(v, "images.airflow.tag", "latest"))


def _digest_missing_in_prod(root: Path) -> str:
    return edit_yaml(root, "clusters/prod/values/airflow.yaml", lambda v: delete_path(v, "images.airflow.digest"))


def _bad_digest(root: Path) -> str:
    return edit_yaml(root, "clusters/staging/values/airflow.yaml", lambda v: set_path(v, "images.airflow.digest", "sha256:abc"))


def _kustomization_missing_file(root: Path) -> str:
    return edit_yaml(root, "clusters/dev/kustomization.yaml", lambda k: k["resources"].append("extra-objects.yaml"))


def _duplicate_object(root: Path) -> str:
    rel = find_doc(root, "NodePool", "system")
    text = (root / rel).read_text()
    # append a second copy of the document that defines the NodePool
    doc = [d for d in text.split("\n---") if "kind: NodePool" in d and "name: system" in d][0]
    return append_text(root, rel, "\n---\n" + doc.strip("-\n") + "\n")


def _malformed_yaml(root: Path) -> str:
    return append_text(root, "clusters/dev/values/airflow.yaml", "broken: [unclosed\n  - x\n")


def _malformed_json(root: Path) -> str:
    (root / "apps/airflow/dashboard.json").write_text('{"panels": [1, 2,]}\n')
    return "apps/airflow/dashboard.json"


def _values_file_missing(root: Path) -> str:
    (root / "clusters/staging/values/metrics-server.yaml").unlink()
    return "clusters/staging/apps/metrics-server.yaml"


def _ignore_missing_value_files(root: Path) -> str:
    rel = "clusters/dev/apps/keda.yaml"
    return edit_doc(root, rel, "Application", "keda", lambda d: set_path(d, "spec.sources.0.helm.ignoreMissingValueFiles", True))


def _default_project(root: Path) -> str:
    return edit_object(root, "Application", "keda", lambda d: set_path(d, "spec.project", "default"))


def _namespace_outside_project(root: Path) -> str:
    return edit_object(root, "Application", "airflow", lambda d: set_path(d, "spec.destination.namespace", "kube-system"))


def _helm_hooks_on(root: Path) -> str:
    return edit_yaml(root, "apps/airflow/values.yaml", lambda v: set_path(v, "migrateDatabaseJob.useHelmHooks", True))


def _default_admin(root: Path) -> str:
    return edit_yaml(root, "apps/airflow/values.yaml", lambda v: set_path(v, "createUserJob.enabled", True))


def _cr_before_its_crd(root: Path) -> str:
    return edit_object(root, "ClusterSecretStore", "aws-secrets-manager", lambda d: annotate(d, SYNC_WAVE, "-20"))


def _skip_dry_run_missing(root: Path) -> str:
    return edit_object(root, "NodePool", "airflow-workers", lambda d: annotate(d, SYNC_OPTIONS, None))


def _addon_not_listed(root: Path) -> str:
    return edit_yaml(root, "clusters/dev/cluster.yaml", lambda c: c["addons"].remove("keda"))


def _cluster_config_invalid(root: Path) -> str:
    return edit_yaml(root, "clusters/staging/cluster.yaml", lambda c: set_path(c, "aws.region", "mars-central"))


def _workload_identity_missing(root: Path) -> str:
    return edit_yaml(root, "clusters/dev/cluster.yaml", lambda c: c["workload_identities"].pop("external-dns"))


def _workload_identity_orphan(root: Path) -> str:
    return edit_yaml(
        root,
        "clusters/prod/cluster.yaml",
        lambda c: set_path(
            c, "workload_identities.reporting", {"namespace": "reporting", "service_account": "reporter", "policy": "reports"}
        ),
    )


def _values_source_elsewhere(root: Path) -> str:
    rel = "clusters/dev/apps/keda.yaml"
    return edit_doc(
        root,
        rel,
        "Application",
        "keda",
        lambda d: set_path(d, "spec.sources.1.repoURL", "https://github.com/someone-else/fork.git"),
    )


def _logs_bucket_mismatch(root: Path) -> str:
    return edit_yaml(
        root,
        "clusters/dev/values/airflow.yaml",
        lambda v: set_path(v, "config.logging.remote_base_log_folder", "s3://some-other-bucket/airflow"),
    )


def _resources_missing(root: Path) -> str:
    # null removes a key in Helm's merge, so this drops the base file's limits in dev
    return edit_yaml(root, "clusters/dev/values/airflow.yaml", lambda v: set_path(v, "scheduler.resources", {"limits": None}))


def _secret_in_git(root: Path) -> str:
    (root / "apps/airflow/leaked-secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leaked\n  namespace: airflow\nstringData:\n  password: hunter2\n"
    )
    edit_yaml(root, "apps/airflow/kustomization.yaml", lambda k: k["resources"].append("leaked-secret.yaml"))
    return "apps/airflow/leaked-secret.yaml"


def _new_unknown_kind(root: Path) -> str:
    (root / "apps/keda/trigger-auth.yaml").write_text(
        "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentications\nmetadata:\n  name: aws\n  namespace: airflow\n"
        "spec:\n  podIdentity: {provider: aws}\n"
    )
    edit_yaml(root, "apps/keda/kustomization.yaml", lambda k: k["resources"].append("trigger-auth.yaml"))
    return "apps/keda/trigger-auth.yaml"


def _patch_target_renamed(root: Path) -> str:
    edit_object(root, "NodePool", "airflow-core", lambda d: set_path(d, "apiVersion", "karpenter.sh/v9"))
    return "clusters/dev/patches/nodepools.yaml"


def _chart_not_in_catalog(root: Path) -> str:
    rel = "clusters/dev/apps/metrics-server.yaml"
    return edit_doc(root, rel, "Application", "metrics-server", lambda d: set_path(d, "spec.sources.0.chart", "metrics-servr"))


def _duplicate_promotion_order(root: Path) -> str:
    return edit_yaml(root, "clusters/staging/cluster.yaml", lambda c: set_path(c, "promotion.order", 1))


def _builtin_kind_invalid(root: Path) -> str:
    return edit_object(root, "Namespace", "airflow", lambda d: set_path(d, "spec", {"finalizerz": ["kubernetes"]}))


def _value_files_out_of_order(root: Path) -> str:
    rel = "clusters/prod/apps/keda.yaml"
    return edit_doc(root, rel, "Application", "keda", lambda d: d["spec"]["sources"][0]["helm"]["valueFiles"].reverse())


def _ingress_host_mismatch(root: Path) -> str:
    return edit_yaml(
        root, "clusters/prod/values/airflow.yaml", lambda v: set_path(v, "ingress.apiServer.hosts.0.name", "airflow.example.org")
    )


CASES: tuple[Case, ...] = (
    Case("misspelt-top-level-values-key", "helm-values-unknown-key", _misspelt_values_key, "dev"),
    Case("misspelt-nested-values-key", "helm-values-schema", _misspelt_nested_key, "prod"),
    Case("wrongly-typed-airflow-value", "helm-values-schema", _wrongly_typed_value, "dev"),
    Case("unknown-application-field", "crd-schema", _unknown_application_field, "dev"),
    Case("missing-chart-version", "chart-version-missing", _missing_chart_version, "dev"),
    Case("chart-version-range", "chart-version-not-exact", _chart_version_range, "dev"),
    Case("external-secret-unknown-store", "secret-store-missing", _unknown_secret_store, "dev"),
    Case("nodepool-invalid-operator", "crd-schema", _nodepool_bad_operator, "dev"),
    Case("plaintext-password-in-values", "plaintext-secret", _plaintext_password, "dev"),
    Case("credentials-in-connection-url", "plaintext-secret", _credentials_in_url, "staging"),
    Case("latest-tag-in-prod", "image-latest", _latest_in_prod, "prod"),
    Case("digest-missing-in-prod", "image-digest-required", _digest_missing_in_prod, "prod"),
    Case("malformed-digest", "image-digest-format", _bad_digest, "staging"),
    Case("kustomization-missing-file", "kustomize-missing-file", _kustomization_missing_file, "dev"),
    Case("duplicate-object", "duplicate-object", _duplicate_object, "dev"),
    Case("malformed-yaml", "yaml-syntax", _malformed_yaml, "dev"),
    Case("malformed-json", "json-syntax", _malformed_json, "dev"),
    Case("values-file-missing", "values-file-missing", _values_file_missing, "staging"),
    Case("ignore-missing-value-files", "ignore-missing-value-files", _ignore_missing_value_files, "dev"),
    Case("default-app-project", "app-project", _default_project, "dev"),
    Case("namespace-outside-project", "app-project", _namespace_outside_project, "dev"),
    Case("airflow-helm-hooks-on", "helm-hooks", _helm_hooks_on, "dev"),
    Case("airflow-default-admin", "default-admin", _default_admin, "dev"),
    Case("custom-resource-before-crd", "crd-before-cr", _cr_before_its_crd, "dev"),
    Case("skip-dry-run-missing", "skip-dry-run-missing", _skip_dry_run_missing, "dev"),
    Case("addon-not-listed", "addons-mismatch", _addon_not_listed, "dev"),
    Case("cluster-config-invalid", "cluster-config", _cluster_config_invalid, "staging"),
    Case("workload-identity-missing", "workload-identity", _workload_identity_missing, "dev"),
    Case("workload-identity-orphan", "workload-identity", _workload_identity_orphan, "prod"),
    Case("values-source-elsewhere", "values-source-mismatch", _values_source_elsewhere, "dev"),
    Case("logs-bucket-mismatch", "cluster-values-mismatch", _logs_bucket_mismatch, "dev"),
    Case("ingress-host-mismatch", "cluster-values-mismatch", _ingress_host_mismatch, "prod"),
    Case("resources-missing", "resources-missing", _resources_missing, "dev"),
    Case("secret-object-in-git", "plaintext-secret", _secret_in_git, "dev"),
    Case("unknown-kind", "unknown-kind", _new_unknown_kind, "dev"),
    Case("patch-target-missing", "patch-target-missing", _patch_target_renamed, "dev"),
    Case("chart-not-in-catalog", "chart-unknown", _chart_not_in_catalog, "dev"),
    Case("duplicate-promotion-order", "promotion-order", _duplicate_promotion_order, None),
    Case("builtin-kind-invalid", "k8s-schema", _builtin_kind_invalid, "dev"),
    Case("value-files-out-of-order", "value-files-layout", _value_files_out_of_order, "prod"),
)


# --- terraform/ against the rest -------------------------------------------------------------------
def _replace(root: Path, rel: str, old: str, new: str) -> str:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{rel} has no {old!r}"
    path.write_text(text.replace(old, new, 1))
    return rel


def _state_in_another_bucket(root: Path) -> str:
    return _replace(
        root,
        "terraform/stacks/staging/platform/main.tf",
        "airflow-staging-tfstate-222222222222",
        "airflow-dev-tfstate-111111111111",
    )


def _root_app_of_another_env(root: Path) -> str:
    return _replace(root, "terraform/stacks/prod/bootstrap/main.tf", 'environment = "prod"', 'environment = "staging"')


def _secret_terraform_does_not_create(root: Path) -> str:
    rel, name = first_of_kind(root, "ExternalSecret", "apps/airflow")

    def change(doc: dict) -> None:  # type: ignore[type-arg]
        doc["spec"].setdefault("data", []).append({"secretKey": "smtp", "remoteRef": {"key": "airflow/smtp-password"}})

    return edit_doc(root, rel, "ExternalSecret", name, change)


def _rds_tag_of_another_database(root: Path) -> str:
    return _replace(
        root, "clusters/dev/manifests/airflow/airflow-db-admin.yaml", "db:airflow-dev-airflow", "db:airflow-dev-metadata"
    )


def _bucket_name_off_convention(root: Path) -> str:
    return _replace(
        root, "terraform/modules/platform/main.tf", '"${local.name}-logs-${local.account_id}"', '"${local.name}-airflow-logs"'
    )


def _hcl_syntax_error(root: Path) -> str:
    return append_text(root, "terraform/modules/storage/variables.tf", '\nvariable "broken" {\n  type = string\n')


def _terraform_unformatted(root: Path) -> str:
    return append_text(root, "terraform/modules/storage/outputs.tf", '\noutput "extra"   {\n value="x"\n  description = "d"\n}\n')


CASES = CASES + (
    Case("terraform-state-in-another-bucket", "terraform-backend", _state_in_another_bucket, "staging"),
    Case("root-application-of-another-env", "root-app-path", _root_app_of_another_env, "prod"),
    Case("secret-terraform-does-not-create", "secret-not-created", _secret_terraform_does_not_create, "dev"),
    Case("rds-tag-of-another-database", "terraform-names", _rds_tag_of_another_database, "dev"),
    Case("bucket-name-off-convention", "terraform-names", _bucket_name_off_convention, "dev"),
    Case("hcl-syntax-error", "hcl-syntax", _hcl_syntax_error, "dev"),
    Case("terraform-unformatted", "terraform-fmt", _terraform_unformatted, "dev"),
)


def _image_tag_without_renovate_comment(root: Path) -> str:
    return _replace(
        root,
        "clusters/dev/values/airflow.yaml",
        "    # renovate: datasource=docker depName=444444444444.dkr.ecr.eu-west-1.amazonaws.com/airflow\n",
        "",
    )


def _hold_without_renovate_rule(root: Path) -> str:
    hold = "holds:\n  airflow: {reason: broken, set_by: a <a@example.com>, set_at: '2026-11-25T00:00:00Z', version: 3.2.0-1}\n"
    (root / "clusters/staging/holds.yaml").write_text(hold)
    return "clusters/staging/holds.yaml"


def _hold_file_malformed(root: Path) -> str:
    (root / "clusters/dev/holds.yaml").write_text("holds:\n  - airflow\n")
    return "clusters/dev/holds.yaml"


def _chart_schema_not_vendored(root: Path) -> str:
    return _replace(root, "clusters/dev/apps/airflow.yaml", "targetRevision: 1.21.0", "targetRevision: 1.21.9")


CASES = CASES + (
    Case("image-tag-invisible-to-renovate", "pin-not-visible", _image_tag_without_renovate_comment, "dev"),
    Case("hold-without-renovate-rule", "hold-not-in-renovate", _hold_without_renovate_rule, "staging"),
    Case("hold-file-malformed", "hold-invalid", _hold_file_malformed, "dev"),
    Case("chart-schema-not-vendored", "chart-schema-missing", _chart_schema_not_vendored, "dev"),
)


# --- isolation inside the cluster ------------------------------------------------------------------
def _no_default_deny(root: Path) -> str:
    rel = "apps/reloader/manifests/network-policies.yaml"
    path = root / rel
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d["metadata"]["name"] != "default-deny"]
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return "apps/reloader/namespace.yaml"


def _exec_for_airflow(root: Path) -> str:
    rel = "apps/airflow/manifests/debug-rbac.yaml"
    (root / rel).write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: debug\n  namespace: airflow\n"
        "rules:\n  - apiGroups: ['']\n    resources: [pods/exec]\n    verbs: [create]\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: debug\n  namespace: airflow\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: debug}\n"
        "subjects:\n  - {kind: ServiceAccount, name: airflow-worker, namespace: airflow}\n"
    )
    edit_yaml(root, "apps/airflow/manifests/kustomization.yaml", lambda k: k["resources"].append("debug-rbac.yaml"))
    return rel


def _secrets_for_airflow(root: Path) -> str:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        doc["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})

    return edit_object(root, "Role", "airflow-task-launcher", change)


def _project_any_namespace(root: Path) -> str:
    rel = "apps/argo-cd/projects.yaml"
    return _replace(root, rel, "          namespace: airflow-db\n", '          namespace: "*"\n')


def _project_any_kind(root: Path) -> str:
    rel = "apps/argo-cd/projects.yaml"
    return _replace(
        root, rel, "        - group: keda.sh\n          kind: ScaledObject\n", '        - group: "*"\n          kind: "*"\n'
    )


def _namespace_without_pod_security(root: Path) -> str:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        for mode in ("warn", "audit"):
            doc["metadata"]["labels"].pop(f"pod-security.kubernetes.io/{mode}")

    return edit_object(root, "Namespace", "airflow-tasks", change)


def _root_applies_outside_argocd(root: Path) -> str:
    rel = "apps/keda/extra-policy.yaml"
    (root / rel).write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: extra\n  namespace: keda\n"
        "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
    )
    edit_yaml(root, "apps/keda/kustomization.yaml", lambda k: k["resources"].append("extra-policy.yaml"))
    return rel


def _token_without_use(root: Path) -> str:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        del doc["spec"]["template"]["spec"]["automountServiceAccountToken"]

    edit_object(root, "ServiceAccount", "airflow-db-role", lambda d: set_path(d, "automountServiceAccountToken", True))
    return edit_object(root, "Job", "airflow-db-role", change)


def _privileged_job(root: Path) -> str:
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        doc["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True

    return edit_object(root, "Job", "airflow-db-role", change)


def _manifests_of_another_env(root: Path) -> str:
    return _replace(
        root,
        "clusters/prod/apps/airflow.yaml",
        "path: clusters/prod/manifests/airflow",
        "path: clusters/staging/manifests/airflow",
    )


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
    Case("manifests-of-another-environment", "manifests-path", _manifests_of_another_env, "prod"),
)
