"""The pieces of one source per fact, without a check run: what cluster.yaml makes of each fact, how a
binding path picks a list item, where a value counts as found, and what a finding tells a machine."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airflow_gitops.charts.values import dotted_get, path_parts, resolve_path
from airflow_gitops.check.rules.cluster_facts import code_of, field_values, find_values
from airflow_gitops.check.rules.terraform_contracts import attribute_line
from airflow_gitops.model import facts
from airflow_gitops.model.findings import error
from airflow_gitops.model.repo import ClusterConfig, Repo
from tests.conftest import REPO_ROOT

DEV = ClusterConfig("dev", "clusters/dev/cluster.yaml", yaml.safe_load((REPO_ROOT / "clusters/dev/cluster.yaml").read_text()))


def test_facts_of_dev() -> None:
    assert facts.facts(DEV) == {
        "environment": "dev",
        "aws_region": "eu-west-1",
        "cluster_name": "airflow-dev",
        "secret_prefix": "airflow-dev/",
        "karpenter_node_role": "airflow-dev-karpenter-node",
        "database_arn": "arn:aws:rds:eu-west-1:111111111111:db:airflow-dev-airflow",
    }
    assert facts.identity(DEV) == {
        "aws.account_id": "111111111111",
        "aws.region": "eu-west-1",
        "cluster.name": "airflow-dev",
        "dns.zone": "dev.example.com",
    }
    assert facts.state_bucket(DEV) == "airflow-dev-tfstate-111111111111"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_shipped_facts_files_hold_what_cluster_yaml_makes_of_each_fact(env: str) -> None:
    repo = Repo(REPO_ROOT)
    data = yaml.safe_load((REPO_ROOT / facts.facts_file(env)).read_text())
    assert data["data"] == facts.facts(repo.cluster(env))
    assert data["metadata"]["annotations"] == {facts.LOCAL_CONFIG: "true"}


@pytest.mark.parametrize(
    ("server", "host"),
    [
        ("argocd.dev.example.com", "argocd.dev.example.com"),
        ("argocd.dev.example.com:8443", "argocd.dev.example.com"),
        ("https://ops.example.com/argocd", "ops.example.com"),
        ("", ""),
    ],
)
def test_argocd_host(server: str, host: str) -> None:
    config = ClusterConfig("dev", "", {"argocd": {"server": server}} if server else {})
    assert facts.argocd_host(config) == host


@pytest.mark.parametrize(
    ("hostname", "zone", "inside", "moved"),
    [
        ("airflow.dev.example.com", "dev.example.com", True, "airflow.dev.example.com"),
        ("dev.example.com", "dev.example.com", True, "dev.example.com"),
        ("airflow.dev.example.com", "dev.fork.example.net", False, "airflow.dev.fork.example.net"),
        ("airflowdev.example.com", "dev.example.com", False, "airflowdev.dev.example.com"),
    ],
)
def test_hostnames_and_their_zone(hostname: str, zone: str, inside: bool, moved: str) -> None:
    assert facts.in_zone(hostname, zone) is inside
    if not inside:
        assert facts.moved_into_zone(hostname, zone) == moved


def test_a_binding_to_an_unset_field_binds_nothing() -> None:
    assert facts.template_complete("{argocd_host}", DEV)
    assert not facts.template_complete("{argocd_host}", ClusterConfig("dev", "", {}))
    assert not facts.template_complete("{no.such.field}", DEV)
    assert facts.expand("https://{airflow.hostname}", DEV) == "https://airflow.dev.example.com"


def test_binding_paths_pick_list_items_by_a_field() -> None:
    values = {"env": [{"name": "A", "value": "1"}, {"name": "AWS_REGION", "value": "eu-west-1"}], "hosts": [{"name": "h"}]}
    assert path_parts("env.[name=AWS_REGION].value") == ["env", ("name", "AWS_REGION"), "value"]
    assert path_parts("a.[name=x.y].b") == ["a", ("name", "x.y"), "b"]
    assert resolve_path(values, "env.[name=AWS_REGION].value") == (["env", 1, "value"], True)
    assert resolve_path(values, "env.[name=AWS_DEFAULT_REGION].value") == (["env"], False)
    assert dotted_get(values, "env.[name=AWS_REGION].value") == "eu-west-1"
    assert dotted_get(values, "hosts.0.name") == "h"
    assert dotted_get(values, "hosts.1.name") is None


def test_kustomize_field_paths_as_the_component_writes_them() -> None:
    obj = {
        "spec": {
            "terms": [{"tags": {"karpenter.sh/discovery": "a"}}, {"tags": {"karpenter.sh/discovery": "b"}}],
            "dataFrom": [{"find": {"tags": {"aws:rds:primaryDBInstanceArn": "arn"}}}],
            "items": [{"name": "x", "v": 1}, {"name": "y", "v": 2}],
        }
    }
    assert list(field_values(obj, "spec.terms.*.tags.[karpenter.sh/discovery]")) == [
        (["spec", "terms", 0, "tags", "karpenter.sh/discovery"], "a"),
        (["spec", "terms", 1, "tags", "karpenter.sh/discovery"], "b"),
    ]
    assert list(field_values(obj, "spec.dataFrom.0.find.tags.aws:rds:primaryDBInstanceArn")) == [
        (["spec", "dataFrom", 0, "find", "tags", "aws:rds:primaryDBInstanceArn"], "arn")
    ]
    assert list(field_values(obj, "spec.items.[name=y].v")) == [(["spec", "items", 1, "v"], 2)]
    assert list(field_values(obj, "spec.missing.x")) == []


OTHERS = {"staging": {"cluster.name": "airflow-staging", "aws.account_id": "222222222222", "aws.region": "us-east-1"}}
OWN = ["airflow-dev", "111111111111", "eu-west-1", "444444444444.dkr.ecr.us-east-1.amazonaws.com"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("s3://airflow-staging-logs-222222222222/airflow", ["airflow-staging", "222222222222"]),
        ("arn:aws:rds:us-east-1:222222222222:db:airflow-staging-airflow", ["us-east-1", "222222222222", "airflow-staging"]),
        ("airflow-staging2", []),  # another name, not a prefix of one
        ("xairflow-staging", []),
        ("2222222222222", []),  # thirteen digits are no account
        ("444444444444.dkr.ecr.us-east-1.amazonaws.com/airflow", []),  # the registry is a fact of its own
        ("us-east-1a", []),  # a zone name is not the region
    ],
)
def test_values_are_found_whole_and_outside_what_is_protected(text: str, found: list[str]) -> None:
    assert [h.value for h in find_values(text, OTHERS, OWN)] == found


def test_a_name_like_a_word_is_not_looked_for() -> None:
    assert find_values("namespace: analytics", {"qa": {"cluster.name": "analytics"}}, []) == []
    assert not facts.distinctive("analytics") and facts.distinctive("airflow-qa") and facts.distinctive("dev.example.com")


def test_hcl_comments_are_left_out() -> None:
    assert code_of('  bucket = "a#b" # airflow-dev') == '  bucket = "a#b" '
    assert code_of("  // airflow-dev") == "  "
    assert code_of('  key = "x"') == '  key = "x"'


def test_attribute_line_looks_inside_its_block() -> None:
    text = 'terraform {\n  backend "s3" {\n    bucket = "b"\n    region = "r"\n  }\n}\n\ndata "x" "y" {\n  region = "q"\n}\n'
    assert attribute_line(text, r'backend\s+"s3"', "region") == 4
    assert attribute_line(text, r'data\s+"x"\s+"y"', "region") == 9
    assert attribute_line(text, r'backend\s+"s3"', "key") == 2  # absent: the block's own line


def test_a_finding_says_its_replacement_to_a_machine() -> None:
    finding = error("r", "f.yaml", "m", "set it", 3, expected="us-east-1", actual="eu-west-1")
    assert finding.replacement == ("eu-west-1", "us-east-1")
    assert finding.to_json()["expected"] == "us-east-1" and finding.to_json()["actual"] == "eu-west-1"
    assert error("r", "f.yaml", "m", "set it", 3, expected="x").replacement is None
    assert error("r", "f.yaml", "m", "set it", None, expected="x", actual="y").replacement is None


def test_a_repo_with_a_broken_cluster_file_orders_the_others_for_check_only(tmp_path: Path) -> None:
    for env, order in (("dev", 1), ("staging", 2)):
        (tmp_path / f"clusters/{env}").mkdir(parents=True)
        (tmp_path / f"clusters/{env}/cluster.yaml").write_text(f"environment: {env}\npromotion: {{order: {order}}}\n")
    (tmp_path / "clusters/dev/cluster.yaml").write_text("environment: dev\npromotion: [\n")
    repo = Repo(tmp_path)
    assert repo.envs_readable() == ["staging", "dev"]
    assert repo.select_envs("staging") == ["staging"]
    with pytest.raises(Exception, match=r"^clusters/dev/cluster.yaml:3: the dev environment's file is not valid YAML"):
        _ = repo.envs
