"""The DAGs baked into the Airflow image (images/airflow/dags/), loaded by the real Airflow.

Every DAG imports, has no cycle, names an owner other than the default, carries a tag and retries
every task; every file parses within the budget. Each rule is also shown to catch a DAG that breaks
it (a folder of broken DAGs made for the test). platform_smoke's pod goes to the worker NodePool, as
non-root, with resources, in namespace airflow-tasks, where the workers' Role runs pods and nothing else.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.dags.conftest import DAGS, PARSE_BUDGET_SECONDS

NODEPOOLS = REPO_ROOT / "apps" / "karpenter" / "nodepools.yaml"
AIRFLOW_MANIFESTS = REPO_ROOT / "apps" / "airflow" / "manifests"
WORKER_NODEPOOL = "airflow-workers"
# The DAGs the image must ship.
EXPECTED_DAGS = {"platform_smoke", "example_daily_orders"}


def owner_problems(report: dict[str, Any]) -> list[str]:
    return [
        f"{dag_id}.{task_id}: owner {task['owner']!r}"
        for dag_id, dag in report["dags"].items()
        for task_id, task in dag["tasks"].items()
        if not task["owner"] or task["owner"].strip().lower() == "airflow"
    ]


def tag_problems(report: dict[str, Any]) -> list[str]:
    return [f"{dag_id}: no tags" for dag_id, dag in report["dags"].items() if not dag["tags"]]


def retry_problems(report: dict[str, Any]) -> list[str]:
    return [
        f"{dag_id}.{task_id}: retries {task['retries']}"
        for dag_id, dag in report["dags"].items()
        for task_id, task in dag["tasks"].items()
        if (task["retries"] or 0) < 1
    ]


def over_budget(report: dict[str, Any]) -> dict[str, float]:
    return {file: t["cpu_median"] for file, t in report["parse_seconds"].items() if t["cpu_median"] > PARSE_BUDGET_SECONDS}


# --- the image's DAGs ----------------------------------------------------------------------------


def test_the_real_airflow_loads_them(dag_report: dict[str, Any]) -> None:
    dockerfile = (REPO_ROOT / "images" / "airflow" / "Dockerfile").read_text()
    assert f"\nFROM apache/airflow:{dag_report['airflow_version']}-python" in dockerfile


def test_every_dag_file_imports_without_errors(dag_report: dict[str, Any]) -> None:
    assert dag_report["import_errors"] == {}
    files = {p.relative_to(DAGS).as_posix() for p in DAGS.rglob("*.py")}
    assert files == {dag["file"] for dag in dag_report["dags"].values()}, "every file defines at least one DAG"
    assert EXPECTED_DAGS <= set(dag_report["dags"])


def test_no_dag_has_a_cycle(dag_report: dict[str, Any]) -> None:
    assert {dag_id: dag["cycle_error"] for dag_id, dag in dag_report["dags"].items() if dag["cycle_error"]} == {}


def test_every_task_has_an_owner_other_than_the_default(dag_report: dict[str, Any]) -> None:
    assert owner_problems(dag_report) == []


def test_every_dag_has_a_tag(dag_report: dict[str, Any]) -> None:
    assert tag_problems(dag_report) == []


def test_every_task_retries(dag_report: dict[str, Any]) -> None:
    assert retry_problems(dag_report) == []


def test_every_dag_file_parses_within_the_budget(dag_report: dict[str, Any]) -> None:
    timings = dag_report["parse_seconds"]
    assert set(timings) == {p.relative_to(DAGS).as_posix() for p in DAGS.rglob("*.py")}
    for file, timing in sorted(timings.items()):
        print(f"{file}: median {timing['cpu_median']:.3f} CPU s of {[round(s, 3) for s in timing['cpu_runs']]}")
    assert over_budget(dag_report) == {}, f"over the {PARSE_BUDGET_SECONDS} CPU s budget: move the work into a task"


# --- the rules catch DAGs that break them --------------------------------------------------------


def test_a_cyclic_dag_is_refused(broken_report: dict[str, Any]) -> None:
    assert "cyclic" not in broken_report["dags"]
    assert "cycle" in broken_report["import_errors"]["cyclic.py"].lower()


def test_top_level_work_breaks_the_budget(broken_report: dict[str, Any]) -> None:
    assert set(over_budget(broken_report)) == {"sloppy.py"}


def test_the_default_owner_no_tags_and_no_retries_are_caught(broken_report: dict[str, Any]) -> None:
    assert owner_problems(broken_report) == ["sloppy.only: owner 'airflow'"]
    assert tag_problems(broken_report) == ["sloppy: no tags"]
    assert retry_problems(broken_report) == ["sloppy.only: retries 0"]


# --- platform_smoke --------------------------------------------------------------------------------


def worker_nodepool() -> dict[str, Any]:
    pools = [d for d in yaml.safe_load_all(NODEPOOLS.read_text()) if d and d.get("kind") == "NodePool"]
    [pool] = [p for p in pools if p["metadata"]["name"] == WORKER_NODEPOOL]
    return pool


@pytest.fixture(scope="module")
def smoke_pod(dag_report: dict[str, Any]) -> dict[str, Any]:
    tasks = dag_report["dags"]["platform_smoke"]["tasks"]
    pods = {task_id: task for task_id, task in tasks.items() if "pod" in task}
    assert list(pods) == ["worker_pool_pod"]
    return pods["worker_pool_pod"]


def test_smoke_pod_selects_the_worker_nodepool(smoke_pod: dict[str, Any]) -> None:
    template = worker_nodepool()["spec"]["template"]
    labels = template["metadata"]["labels"]
    selector = smoke_pod["pod"]["node_selector"]
    assert selector and selector.items() <= labels.items()
    # Another pool's label would do too: this one is the worker pool's own.
    assert selector == {k: v for k, v in labels.items() if k == "platform.airflow/pool"}


def test_smoke_pod_tolerates_every_taint_of_the_worker_nodepool(smoke_pod: dict[str, Any]) -> None:
    taints = worker_nodepool()["spec"]["template"]["spec"]["taints"]
    tolerations = smoke_pod["pod"]["tolerations"]
    assert taints

    def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
        if toleration.get("effect") not in (None, "", taint["effect"]) or toleration.get("key") != taint["key"]:
            return False
        if toleration.get("operator", "Equal") == "Exists":
            return True
        return bool(toleration.get("value") == taint.get("value"))

    assert all(any(tolerates(t, taint) for t in tolerations) for taint in taints), (tolerations, taints)


def test_smoke_pod_runs_as_non_root_under_pod_security_restricted(smoke_pod: dict[str, Any]) -> None:
    pod, container = smoke_pod["pod"]["security_context"], smoke_pod["pod"]["container_security_context"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]
    assert smoke_pod["pod"]["automount_service_account_token"] is False


def test_smoke_pod_runs_where_the_workers_may_start_pods_and_nothing_else(smoke_pod: dict[str, Any]) -> None:
    """Task pods go to airflow-tasks, where the worker's service account has a Role that runs pods but
    grants no exec and no Secrets; the chart's own pod launcher Role in airflow is off."""
    docs = [d for d in yaml.safe_load_all((AIRFLOW_MANIFESTS / "airflow-tasks.yaml").read_text()) if d]
    [binding] = [d for d in docs if d["kind"] == "RoleBinding"]
    [role] = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == binding["roleRef"]["name"]]
    pod = smoke_pod["pod"]
    assert pod["namespace"] == role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "airflow-tasks"
    assert pod["in_cluster"] is True
    worker = yaml.safe_load((REPO_ROOT / "apps" / "airflow" / "values.yaml").read_text())["workers"]["celery"]["serviceAccount"]
    assert {"kind": "ServiceAccount", "name": worker["name"], "namespace": "airflow"} in binding["subjects"]
    assert worker["automountServiceAccountToken"] is True
    granted = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    # What KubernetesPodOperator calls to run the pod, read its log and events, and delete it.
    assert {("pods", "create"), ("pods", "get"), ("pods", "watch"), ("pods", "delete"), ("pods/log", "get")} <= granted
    assert not {r for r, _ in granted} & {"pods/exec", "pods/attach", "secrets", "configmaps", "*"}
    # Without pods/exec, no XCom sidecar to read back; the pod's own service account has no token.
    assert pod["do_xcom_push"] is False
    assert pod["service_account_name"] in (None, "", "default")
    assert yaml.safe_load((REPO_ROOT / "apps" / "airflow" / "values.yaml").read_text())["allowPodLaunching"] is False


def test_smoke_pod_requests_resources_and_limits_memory(smoke_pod: dict[str, Any]) -> None:
    resources = smoke_pod["pod"]["container_resources"]
    assert resources["requests"].keys() >= {"cpu", "memory"}
    assert "memory" in resources["limits"]


def test_smoke_pod_runs_the_deployed_airflow_image(smoke_pod: dict[str, Any]) -> None:
    # No second image to pin: the pod runs what the worker_image task reads from AIRFLOW_IMAGE.
    assert smoke_pod["pod"]["image"] == "{{ ti.xcom_pull(task_ids='worker_image') }}"
    assert smoke_pod["upstream"] == ["worker_image"]
    extra_env = yaml.safe_load((REPO_ROOT / "apps" / "airflow" / "values.yaml").read_text())["extraEnv"]
    assert "name: AIRFLOW_IMAGE" in extra_env and 'include "airflow_image"' in extra_env


def test_secrets_backend_reads_under_each_cluster_prefix() -> None:
    """The backend platform_smoke checks is the one the values configure, under <cluster.name>/airflow/."""
    values = yaml.safe_load((REPO_ROOT / "apps" / "airflow" / "values.yaml").read_text())
    smoke = (DAGS / "platform_smoke.py").read_text()
    assert f'SECRETS_MANAGER_BACKEND = "{values["config"]["secrets"]["backend"]}"' in smoke
    kwargs = values["config"]["secrets"]["backend_kwargs"]
    assert '"connections_prefix": "{{ $cluster }}/airflow/connections"' in kwargs
    assert '"variables_prefix": "{{ $cluster }}/airflow/variables"' in kwargs
    # The chart's template takes the cluster name out of the log folder with this regular expression.
    [pattern] = re.findall(r'regexReplaceAll "([^"]+)" \$folder "\$\{1\}"', kwargs)
    for env in ("dev", "staging", "prod"):
        cluster = yaml.safe_load((REPO_ROOT / "clusters" / env / "cluster.yaml").read_text())
        folder = yaml.safe_load((REPO_ROOT / "clusters" / env / "values" / "airflow.yaml").read_text())["config"]["logging"]
        assert re.sub(pattern, r"\g<1>", folder["remote_base_log_folder"]) == cluster["cluster"]["name"]
