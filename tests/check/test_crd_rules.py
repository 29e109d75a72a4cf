"""What the API server checks of a custom resource beyond its OpenAPI schema (check/rules/crd_rules.py):
every rule family on the real vendored CRDs, each with a resource that passes and one that fails;
defaults, list semantics, transition rules and the rules the offline evaluator cannot run."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_gitops.check.rules import crd_rules
from airflow_gitops.model.schemas import CrdVersion, SchemaStore
from tests.conftest import REPO_ROOT

KARPENTER = "schemas/crds/karpenter/v1.14.1"
ESO = "schemas/crds/external-secrets/v2.9.0"
KEDA = "schemas/crds/keda/v2.20.2"
LBC = "schemas/crds/aws-load-balancer-controller/v3.5.0"
NODEPOOL = (KARPENTER, ("karpenter.sh", "v1", "NodePool"))
EC2NODECLASS = (KARPENTER, ("karpenter.k8s.aws", "v1", "EC2NodeClass"))
CLUSTER_SECRET_STORE = (ESO, ("external-secrets.io", "v1", "ClusterSecretStore"))
SCALED_OBJECT = (KEDA, ("keda.sh", "v1alpha1", "ScaledObject"))
INGRESS_CLASS_PARAMS = (LBC, ("elbv2.k8s.aws", "v1beta1", "IngressClassParams"))
TARGET_CONTROL = (LBC, ("elbv2.k8s.aws", "v1beta1", "ALBTargetControlConfig"))

PLANS = crd_rules.CrdPlans(SchemaStore(REPO_ROOT))


def shipped(rel: str, name: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((REPO_ROOT / rel).read_text()) if d]
    return copy.deepcopy(next(d for d in docs if d["metadata"]["name"] == name))


def check(
    obj: dict[str, Any], crd: tuple[str, tuple[str, str, str]], old: dict[str, Any] | None = None
) -> tuple[list[crd_rules.Violation], crd_rules.Stats]:
    plan = PLANS.plan(*crd)
    assert plan is not None
    stats = crd_rules.Stats()
    prepared_old = crd_rules.prepare(old, plan) if old is not None else None
    return crd_rules.validate(crd_rules.prepare(obj, plan), prepared_old, plan, stats), stats


def messages(obj: dict[str, Any], crd: tuple[str, tuple[str, str, str]], old: dict[str, Any] | None = None) -> list[str]:
    return [f"{v.rule} {v.message}" for v in check(obj, crd, old)[0]]


def test_every_rule_of_the_vendored_crds_compiles() -> None:
    store = SchemaStore(REPO_ROOT)
    counted = {}
    for folder in (KARPENTER, ESO, KEDA, LBC):
        for gvk in store.crds_in(folder):
            plan = PLANS.plan(folder, gvk)
            assert plan is not None
            counted[gvk[2], gvk[1]] = (plan.rules, plan.transition_rules, _errors(plan.root))
    assert counted["NodePool", "v1"] == (20, 3, [])
    assert counted["EC2NodeClass", "v1"] == (54, 0, [])
    assert counted["ClusterSecretStore", "v1"] == (15, 0, [])
    assert counted["ScaledObject", "v1alpha1"] == (1, 0, [])
    assert counted["IngressClassParams", "v1beta1"] == (1, 0, [])
    assert all(not errors for _, _, errors in counted.values())


def _errors(node: crd_rules.Node | None) -> list[str]:
    if node is None:
        return []
    found = [r.rule for r in node.rules if r.error]
    for child in (*node.properties.values(), node.additional, node.items):
        found += _errors(child)
    return found


def test_a_plan_is_compiled_once_per_crd_version() -> None:
    assert PLANS.plan(*NODEPOOL) is PLANS.plan(*NODEPOOL)


# --- Karpenter NodePool ---------------------------------------------------------------------------------
def nodepool() -> dict[str, Any]:
    return shipped("apps/karpenter/nodepools.yaml", "system")


def test_nodepool_as_shipped_passes() -> None:
    assert messages(nodepool(), NODEPOOL) == []


def test_nodepool_budget_with_a_schedule_and_no_duration_fails() -> None:
    pool = nodepool()
    pool["spec"]["disruption"]["budgets"] = [{"nodes": "0", "schedule": "0 9 * * *"}]
    assert messages(pool, NODEPOOL) == [
        "crd-cel spec.disruption.budgets: Invalid value: \"array\": 'schedule' must be set with 'duration'"
    ]
    pool["spec"]["disruption"]["budgets"][0]["duration"] = "8h"
    assert messages(pool, NODEPOOL) == []


def test_nodepool_requirement_in_a_restricted_label_domain_fails() -> None:
    pool = nodepool()
    pool["spec"]["template"]["spec"]["requirements"].append({"key": "karpenter.sh/tier", "operator": "Exists"})
    [found] = check(pool, NODEPOOL)[0]
    assert found.rule == "crd-cel"
    assert found.path == ("spec", "template", "spec", "requirements", 6, "key")  # self is the key itself
    assert 'label domain "karpenter.sh" is restricted' in found.message
    pool["spec"]["template"]["spec"]["requirements"][-1]["key"] = "karpenter.sh/capacity-type"  # the allowed one
    assert messages(pool, NODEPOOL) == []


def test_nodepool_in_requirement_without_values_fails() -> None:
    pool = nodepool()
    pool["spec"]["template"]["spec"]["requirements"][0]["values"] = []
    assert messages(pool, NODEPOOL) == [
        "crd-cel spec.template.spec.requirements: Invalid value: \"array\": requirements with operator 'In' must have a value defined"
    ]


def test_nodepool_labels_in_a_restricted_domain_fail() -> None:
    pool = nodepool()
    pool["spec"]["template"]["metadata"] = {"labels": {"karpenter.k8s.aws/team": "data"}}
    assert any('label domain "karpenter.k8s.aws" is restricted' in m for m in messages(pool, NODEPOOL))


def test_nodepool_set_with_a_repeated_item_fails() -> None:
    pool = nodepool()
    pool["spec"]["disruption"]["budgets"] = [{"nodes": "1", "reasons": ["Empty", "Drifted", "Empty"]}]
    assert messages(pool, NODEPOOL) == ['crd-list spec.disruption.budgets[0].reasons[2]: Duplicate value: "Empty"']


# --- Karpenter EC2NodeClass -----------------------------------------------------------------------------
def ec2nodeclass() -> dict[str, Any]:
    return shipped("apps/karpenter/ec2nodeclass.yaml", "default")


def test_ec2nodeclass_as_shipped_passes() -> None:
    assert messages(ec2nodeclass(), EC2NODECLASS) == []


def test_ec2nodeclass_rules_on_spec_lists_maps_and_strings_fail() -> None:
    nodeclass = ec2nodeclass()
    nodeclass["spec"]["instanceProfile"] = "profile"  # role is set too
    nodeclass["spec"]["amiSelectorTerms"] = [{"alias": "windows2022@v20240101"}]
    nodeclass["spec"]["tags"] = {"kubernetes.io/cluster/airflow": "owned"}
    found = messages(nodeclass, EC2NODECLASS)
    assert "crd-cel spec: Invalid value: \"object\": must specify exactly one of ['role', 'instanceProfile']" in found
    assert any("spec.amiSelectorTerms[0].alias" in m and "windows families may only specify version 'latest'" in m for m in found)
    assert any("spec.tags" in m and "restricted tag matching kubernetes.io/cluster/" in m for m in found)


# --- ESO ClusterSecretStore -----------------------------------------------------------------------------
def test_cluster_secret_store_as_shipped_passes() -> None:
    assert (
        messages(shipped("apps/external-secrets/cluster-secret-stores.yaml", "aws-secrets-manager"), CLUSTER_SECRET_STORE) == []
    )


def test_cluster_secret_store_reserved_session_tag_fails() -> None:
    store = shipped("apps/external-secrets/cluster-secret-stores.yaml", "aws-secrets-manager")
    store["spec"]["provider"]["aws"]["customSessionTags"] = {"esoNamespace": "x"}
    assert messages(store, CLUSTER_SECRET_STORE) == [
        'crd-cel spec.provider.aws.customSessionTags: Invalid value: "object": customSessionTags cannot contain '
        "automatically injected reserved keys: esoNamespace, esoStoreName, esoStoreKind"
    ]


# --- KEDA ScaledObject ----------------------------------------------------------------------------------
def scaled_object(**spec: Any) -> dict[str, Any]:
    base = {"scaleTargetRef": {"name": "airflow-worker"}, "triggers": [{"type": "cpu", "metadata": {"value": "50"}}]}
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "w"}, "spec": base | spec}


def test_scaled_object_min_within_max_passes_and_above_it_fails() -> None:
    assert messages(scaled_object(minReplicaCount=0, maxReplicaCount=3), SCALED_OBJECT) == []
    assert messages(scaled_object(minReplicaCount=5, maxReplicaCount=3), SCALED_OBJECT) == [
        'crd-cel spec: Invalid value: "object": minReplicaCount must be less than or equal to maxReplicaCount'
    ]
    assert messages(scaled_object(minReplicaCount=101), SCALED_OBJECT) != []  # the rule's own default maximum, 100


# --- LBC IngressClassParams -----------------------------------------------------------------------------
def test_ingress_class_params_with_one_prefix_list_field_passes_and_with_both_fails() -> None:
    params = {"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "IngressClassParams", "metadata": {"name": "alb"}}
    assert messages(params | {"spec": {"prefixListsIDs": ["pl-1"]}}, INGRESS_CLASS_PARAMS) == []
    both = params | {"spec": {"prefixListsIDs": ["pl-1"], "PrefixListsIDs": ["pl-2"]}}
    assert messages(both, INGRESS_CLASS_PARAMS) == [
        "crd-cel spec: Invalid value: \"object\": cannot specify both 'prefixListsIDs' and 'PrefixListsIDs' fields"
    ]


# --- list semantics -------------------------------------------------------------------------------------
def test_a_map_list_with_a_duplicate_key_fails() -> None:
    config = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "ALBTargetControlConfig",
        "metadata": {"name": "c"},
        "spec": {"resources": {"claims": [{"name": "gpu"}, {"name": "fpga"}]}},
    }
    assert [m for m in messages(config, TARGET_CONTROL) if m.startswith("crd-list")] == []
    config["spec"]["resources"]["claims"].append({"name": "gpu"})
    assert messages(config, TARGET_CONTROL) == ['crd-list spec.resources.claims[2]: Duplicate value: {"name": "gpu"}']


# --- defaults -------------------------------------------------------------------------------------------
def crd(schema: dict[str, Any], status: bool = False) -> crd_rules.Plan:
    return crd_rules.compile_plan(schema, status)


def test_a_default_changes_the_outcome_of_a_rule() -> None:
    plan = crd(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {"mode": {"type": "string", "default": "strict"}, "key": {"type": "string"}},
                    "x-kubernetes-validations": [
                        {
                            "rule": "!has(self.mode) || self.mode != 'strict' || has(self.key)",
                            "message": "strict mode needs a key",
                        }
                    ],
                }
            },
        }
    )
    without_default = crd_rules.validate({"spec": {}}, None, plan, crd_rules.Stats())
    assert without_default == []  # the rule passes on the object as written ...
    defaulted = crd_rules.validate(crd_rules.prepare({"spec": {}}, plan), None, plan, crd_rules.Stats())
    assert [v.message for v in defaulted] == [
        'spec: Invalid value: "object": strict mode needs a key'
    ]  # ... not as the API server sees it
    assert crd_rules.validate(crd_rules.prepare({"spec": {"mode": "loose"}}, plan), None, plan, crd_rules.Stats()) == []


def test_defaults_fill_a_required_field_of_the_real_nodepool_schema() -> None:
    validator = SchemaStore(REPO_ROOT).crd_validator(*NODEPOOL)
    plan = PLANS.plan(*NODEPOOL)
    assert validator is not None and plan is not None
    pool = nodepool()
    pool["spec"]["disruption"]["budgets"] = [{"schedule": "0 9 * * *", "duration": "8h"}]  # nodes is required, default 10%
    assert [e.message for e in validator.iter_errors(pool)] == ["'nodes' is a required property"]
    prepared = crd_rules.prepare(pool, plan)
    assert prepared["spec"]["disruption"]["budgets"][0]["nodes"] == "10%"
    assert list(validator.iter_errors(prepared)) == []
    assert "nodes" not in pool["spec"]["disruption"]["budgets"][0]  # prepare works on a copy


def test_nulls_the_schema_does_not_allow_are_dropped_and_status_with_its_subresource() -> None:
    plan = crd(
        {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string", "nullable": True}}}, status=True
    )
    assert crd_rules.prepare({"a": None, "b": None, "status": {"x": 1}}, plan) == {"b": None}


# --- CEL semantics: self, escaping, int-or-string, messages ---------------------------------------------
def test_self_sees_escaped_property_names_and_int_or_string_as_either() -> None:
    plan = crd(
        {
            "type": "object",
            "properties": {
                "x-prop": {"type": "integer"},
                "namespace": {"type": "string"},
                "size": {"x-kubernetes-int-or-string": True},
            },
            "x-kubernetes-validations": [
                {"rule": "self.x__dash__prop > 0"},
                {"rule": "self.__namespace__ != 'kube-system'"},
                {"rule": "type(self.size) == string ? self.size.endsWith('%') : self.size < 10"},
            ],
        }
    )
    ok = {"x-prop": 1, "namespace": "a", "size": "50%"}
    assert crd_rules.validate(ok, None, plan, crd_rules.Stats()) == []
    bad = {"x-prop": 0, "namespace": "kube-system", "size": 12}
    assert [v.message for v in crd_rules.validate(bad, None, plan, crd_rules.Stats())] == [
        '<root>: Invalid value: "object": failed rule: self.x__dash__prop > 0',
        "<root>: Invalid value: \"object\": failed rule: self.__namespace__ != 'kube-system'",
        "<root>: Invalid value: \"object\": failed rule: type(self.size) == string ? self.size.endsWith('%') : self.size < 10",
    ]


def test_message_expression_field_path_and_reason_are_kept() -> None:
    rule = {
        "rule": "self.min <= self.max",
        "message": "min must not exceed max",
        "messageExpression": "'min ' + string(self.min) + ' exceeds max ' + string(self.max)",
        "fieldPath": ".min",
        "reason": "FieldValueForbidden",
    }
    plan = crd(
        {
            "type": "object",
            "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
            "x-kubernetes-validations": [rule],
        }
    )
    [found] = crd_rules.validate({"min": 3, "max": 2}, None, plan, crd_rules.Stats())
    assert (found.rule, found.path, found.message) == ("crd-cel", ("min",), "min: Forbidden: min 3 exceeds max 2")
    broken = crd({**plan.root.schema, "x-kubernetes-validations": [rule | {"messageExpression": "self.nope + 'x'"}]})
    [fallback] = crd_rules.validate({"min": 3, "max": 2}, None, broken, crd_rules.Stats())
    assert fallback.message == "min: Forbidden: min must not exceed max"


def test_a_rule_that_fails_with_an_error_is_reported_not_passed() -> None:
    plan = crd(
        {"type": "object", "properties": {"a": {"type": "string"}}, "x-kubernetes-validations": [{"rule": "self.a == 'x'"}]}
    )
    [found] = crd_rules.validate({}, None, plan, crd_rules.Stats())
    assert found.rule == "crd-cel"
    assert "evaluating rule: self.a == 'x'" in found.message and "not found" in found.message.lower()


def test_a_rule_with_a_function_the_evaluator_lacks_is_cel_unsupported() -> None:
    plan = crd(
        {
            "type": "object",
            "properties": {"version": {"type": "string"}},
            "x-kubernetes-validations": [{"rule": "isSemver(self.version)", "message": "not a version"}],
        }
    )
    [found] = crd_rules.validate({"version": "1.2.3"}, None, plan, crd_rules.Stats())
    assert found.rule == "cel-unsupported"
    assert "undeclared reference to 'isSemver'" in found.message


def test_a_crd_file_with_an_unknown_function_gives_cel_unsupported(tmp_path: Path) -> None:
    folder = tmp_path / "schemas/crds/widgets/v1"
    folder.mkdir(parents=True)
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"url": {"type": "string"}}}},
        "x-kubernetes-validations": [{"rule": "self.spec.url.isHTTPS()", "message": "https only"}],
    }
    doc = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }
    (folder / "widgets.yaml").write_text(yaml.safe_dump(doc))
    plan = crd_rules.CrdPlans(SchemaStore(tmp_path)).plan("schemas/crds/widgets/v1", ("example.com", "v1", "Widget"))
    assert plan is not None
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"url": "http://x"}}
    assert [v.rule for v in crd_rules.validate(widget, None, plan, crd_rules.Stats())] == ["cel-unsupported"]


def test_typed_self_on_a_formatted_string() -> None:
    plan = crd(
        {
            "type": "object",
            "properties": {
                "expires": {
                    "type": "string",
                    "format": "date-time",
                    "x-kubernetes-validations": [{"rule": "self > timestamp('2020-01-01T00:00:00Z')"}],
                }
            },
        }
    )
    assert crd_rules.validate({"expires": "2030-01-01T00:00:00Z"}, None, plan, crd_rules.Stats()) == []
    assert len(crd_rules.validate({"expires": "2019-01-01T00:00:00Z"}, None, plan, crd_rules.Stats())) == 1


# --- transition rules -----------------------------------------------------------------------------------
def test_transition_rules_are_skipped_and_counted_without_a_base() -> None:
    found, stats = check(nodepool(), NODEPOOL)
    assert found == []
    assert (stats.transitions_evaluated, stats.transitions_skipped) == (0, 3)


def test_transition_rules_compare_with_the_object_at_the_base() -> None:
    old = nodepool()
    found, stats = check(nodepool(), NODEPOOL, old)
    assert found == [] and (stats.transitions_evaluated, stats.transitions_skipped) == (3, 0)
    changed = nodepool()
    changed["spec"]["template"]["spec"]["nodeClassRef"]["kind"] = "OtherNodeClass"
    assert messages(changed, NODEPOOL, old) == [
        'crd-cel spec.template.spec.nodeClassRef: Invalid value: "object": nodeClassRef.kind is immutable'
    ]
    static = nodepool()
    static["spec"]["replicas"] = 2
    del static["spec"]["weight"]
    assert any("between static (replicas set) and dynamic" in m for m in messages(static, NODEPOOL, old))


def test_optional_old_self_rules_run_on_create_too() -> None:
    rule = {"rule": "!oldSelf.hasValue() || self >= oldSelf.value()", "optionalOldSelf": True, "message": "may only grow"}
    plan = crd({"type": "object", "properties": {"size": {"type": "integer", "x-kubernetes-validations": [rule]}}})
    assert crd_rules.validate({"size": 1}, None, plan, crd_rules.Stats()) == []
    assert crd_rules.validate({"size": 2}, {"size": 1}, plan, crd_rules.Stats()) == []
    [found] = crd_rules.validate({"size": 1}, {"size": 2}, plan, crd_rules.Stats())
    assert found.message == 'size: Invalid value: "integer": may only grow'


@pytest.mark.parametrize(
    ("text", "parts"),
    [(".spec.foo", ["spec", "foo"]), (".foo['a.b']", ["foo", "a.b"]), (".list[2].name", ["list", 2, "name"])],
)
def test_field_paths(text: str, parts: list[Any]) -> None:
    assert crd_rules.parse_field_path(text) == parts


def test_crd_version_records_the_status_subresource() -> None:
    version = SchemaStore(REPO_ROOT).crd_version(*NODEPOOL)
    assert isinstance(version, CrdVersion) and version.status_subresource
