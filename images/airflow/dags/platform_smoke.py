"""platform_smoke: proves a cluster's Airflow platform end to end, one task per path a DAG depends on.

1. `s3_logs_bucket`: writes an object to the task-log bucket and reads it back, with the worker's
   EKS Pod Identity role (boto3's default credential chain: no keys anywhere).
2. `worker_pool_pod`: runs a pod on the Karpenter NodePool `airflow-workers` (its node label and
   taint), as non-root, with requests and a memory limit, from the image this Airflow runs, in
   namespace `airflow-tasks`: the one namespace where the workers may start pods (a Role there lets
   them run a pod through its life, never exec into one or read a Secret).
3. `secrets_backend`: reads a variable through the Secrets Manager secrets backend, when Airflow is
   configured with one; otherwise it logs why and skips.

Parsing it does no work: every AWS or Kubernetes call, and every heavy import, is inside a task.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG, task
from kubernetes.client import models as k8s

log = logging.getLogger(__name__)

# The NodePool of task workloads (apps/karpenter/nodepools.yaml): its nodes carry this label and this
# NoSchedule taint. tests/dags/ checks both against that file.
WORKER_POOL_LABEL = "platform.airflow/pool"
WORKER_POOL = "airflow-workers"
# Where DAG code may start pods (apps/airflow/manifests/airflow-tasks.yaml): not namespace airflow,
# whose Secrets and components a task pod must not reach. tests/dags/ checks it against that file.
TASK_NAMESPACE = "airflow-tasks"
# The variable the secrets check reads: the secret <variables_prefix>/platform_smoke, that is
# <cluster.name>/airflow/variables/platform_smoke with the backend_kwargs of apps/airflow/values.yaml.
SMOKE_VARIABLE = "platform_smoke"
SECRETS_MANAGER_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"


def _config(section: str, key: str) -> str:
    """An Airflow setting at run time: its AIRFLOW__SECTION__KEY variable, else airflow.cfg."""
    value = os.environ.get(f"AIRFLOW__{section.upper()}__{key.upper()}")
    if value is not None:
        return value
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # an Airflow without the Task SDK's configuration module
        from airflow.configuration import conf
    return str(conf.get(section, key, fallback="") or "")


def split_s3_url(url: str) -> tuple[str, str]:
    """s3://bucket/some/prefix -> ("bucket", "some/prefix")."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, prefix.strip("/")


def image_mismatch(image: str, tag: str, digest: str) -> str | None:
    """Why a worker running `image` (repo:tag, repo@digest or repo:tag@digest) is not the image a run asked for."""
    name, _, pinned_digest = image.partition("@")
    pinned_tag = name.rpartition(":")[2] if name.rfind(":") > name.rfind("/") else ""
    if digest and pinned_digest and pinned_digest != digest:
        return f"the worker runs {image}, not the digest {digest} this run was triggered for"
    if tag and pinned_tag and pinned_tag != tag:
        return f"the worker runs {image}, not the tag {tag} this run was triggered for"
    return None


with DAG(
    dag_id="platform_smoke",
    description="Proves S3 through Pod Identity, a pod on the worker NodePool, and the Secrets Manager backend",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    tags=["platform", "smoke"],
    default_args={
        "owner": "platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": timedelta(minutes=15),
    },
):

    @task
    def s3_logs_bucket(run_id: str | None = None) -> str:
        """Put, then get, one object under the remote log folder: the prefix the worker role may write."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        folder = _config("logging", "remote_base_log_folder")
        if not folder:
            raise RuntimeError("[logging] remote_base_log_folder is not set: this Airflow does not write its logs to S3")
        bucket, prefix = split_s3_url(folder)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id or "manual")
        key = "/".join(p for p in (prefix, "platform-smoke", f"{name}.json") if p)
        body = json.dumps({"dag_id": "platform_smoke", "run_id": run_id})
        # No connection: boto3's default chain, which finds the Pod Identity credentials of the pod.
        hook = S3Hook(aws_conn_id=None)
        hook.load_string(body, key=key, bucket_name=bucket, replace=True)
        read_back = hook.read_key(key=key, bucket_name=bucket)
        if read_back != body:
            raise RuntimeError(f"s3://{bucket}/{key} read back differs from what was written")
        log.info("wrote and read back s3://%s/%s", bucket, key)
        return f"s3://{bucket}/{key}"

    @task
    def worker_image(params: dict[str, Any] | None = None, dag_run: Any = None) -> str:
        """The image this Airflow runs (AIRFLOW_IMAGE, set by apps/airflow/values.yaml from the chart's image pin).

        A run triggered by `invoke verify` names the image it is evidence for in its conf (`tag`, `digest`):
        the worker must run that one, or the run fails before it proves anything about another image."""
        image = os.environ.get("AIRFLOW_IMAGE", "")
        if not image or image.endswith(":latest"):
            raise RuntimeError(f"AIRFLOW_IMAGE is {image!r}: the deployment must set it to the pinned Airflow image")
        conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
        mismatch = image_mismatch(image, str(conf.get("tag") or ""), str(conf.get("digest") or ""))
        if mismatch:
            raise RuntimeError(mismatch)
        log.info("pod image: %s", image)
        return image

    worker_pool_pod = KubernetesPodOperator(
        task_id="worker_pool_pod",
        name="platform-smoke",
        namespace=TASK_NAMESPACE,
        # The worker's own service account, through its mounted token.
        in_cluster=True,
        # No XCom sidecar: reading it back needs pods/exec, which the task Role does not grant.
        do_xcom_push=False,
        image="{{ ti.xcom_pull(task_ids='worker_image') }}",
        cmds=["python", "-c"],
        arguments=[
            "import os, platform; "
            "print(f\"platform_smoke pod on node {os.environ.get('NODE_NAME')} as uid {os.getuid()}, "
            'Python {platform.python_version()}")'
        ],
        env_vars=[
            k8s.V1EnvVar(
                name="NODE_NAME",
                value_from=k8s.V1EnvVarSource(field_ref=k8s.V1ObjectFieldSelector(field_path="spec.nodeName")),
            )
        ],
        labels={"app.kubernetes.io/name": "platform-smoke", "app.kubernetes.io/part-of": "airflow"},
        # The worker NodePool only: its label, and a toleration of its taint.
        node_selector={WORKER_POOL_LABEL: WORKER_POOL},
        tolerations=[k8s.V1Toleration(key=WORKER_POOL_LABEL, operator="Equal", value=WORKER_POOL, effect="NoSchedule")],
        # What the namespace's Pod Security "restricted" level requires.
        security_context={
            "runAsNonRoot": True,
            "runAsUser": 50000,
            "runAsGroup": 0,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        container_security_context={
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "100m", "memory": "128Mi"},
            limits={"memory": "256Mi"},
        ),
        # The pod calls neither the Kubernetes API nor AWS.
        automount_service_account_token=False,
        # In dev the pool scales from zero: Karpenter may need minutes to bring a node.
        startup_timeout_seconds=600,
        get_logs=True,
        on_finish_action="delete_pod",
    )

    @task
    def secrets_backend() -> dict[str, Any]:
        """Read the variable platform_smoke from Secrets Manager, through the backend Airflow is configured with."""
        from airflow.sdk.exceptions import AirflowSkipException

        backend_path = _config("secrets", "backend")
        if backend_path != SECRETS_MANAGER_BACKEND:
            log.info("no Secrets Manager secrets backend configured ([secrets] backend = %r): nothing to check", backend_path)
            raise AirflowSkipException("no Secrets Manager secrets backend configured")

        from airflow.providers.amazon.aws.secrets.secrets_manager import SecretsManagerBackend

        kwargs = json.loads(_config("secrets", "backend_kwargs") or "{}")
        backend = SecretsManagerBackend(**kwargs)
        if not backend.variables_prefix:
            raise AirflowSkipException("the secrets backend reads no variables (variables_prefix is unset)")
        name = backend.build_path(backend.variables_prefix, SMOKE_VARIABLE, backend.sep)
        client = backend.client
        try:
            value = client.get_secret_value(SecretId=name)["SecretString"]
        except client.exceptions.ResourceNotFoundException:
            # Secrets Manager says "not found" only to a caller allowed to read the name: the role's
            # policy and the backend's prefix are right, the secret is just not there yet.
            log.warning("secret %s does not exist; reading it was allowed. Create it to check a value end to end.", name)
            return {"secret": name, "found": False}
        # Any other error (AccessDenied, a KMS DecryptionFailure) fails the task: the role cannot read it.

        from airflow.sdk import Variable

        if Variable.get(SMOKE_VARIABLE, default=None) != value:
            raise RuntimeError(
                f"Variable {SMOKE_VARIABLE!r} does not resolve to the secret {name}: check [secrets] backend_kwargs"
            )
        log.info("variable %s read from Secrets Manager secret %s (%d characters)", SMOKE_VARIABLE, name, len(value))
        return {"secret": name, "found": True}

    s3_logs_bucket()
    worker_image() >> worker_pool_pod
    secrets_backend()
