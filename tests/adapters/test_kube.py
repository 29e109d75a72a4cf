"""Kubernetes access against the kmock emulator (kubeconfig) and moto (EKS), and the pure rollout logic."""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import kmock
import pytest

from airflow_gitops.adapters import kube
from airflow_gitops.adapters.kube import WorkloadState, pending_reason, rollout_done, runs_digest, split_image
from airflow_gitops.model.findings import UsageError
from tests.adapters.kube_fixtures import APPLICATIONS, DEPLOYMENTS, STATEFULSETS, Emulator, running_emulator
from tests.aws.conftest import DEV_ACCOUNT, DEV_CLUSTER, DEV_REGION, Moto, _moto_server, _point_at

TOKEN = "kubeconfig-token"
REPO = "444444444444.dkr.ecr.eu-west-1.amazonaws.com/airflow"
OLD = "sha256:" + "0" * 64
NEW = "sha256:" + "1" * 64


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator() as emu:
        yield emu


@pytest.fixture
def api(emulator: Emulator, tmp_path: Path) -> Any:
    return kube.api_client_from_kubeconfig(emulator.kubeconfig(tmp_path / "kubeconfig", TOKEN))


@pytest.fixture(scope="module")
def eks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    with _moto_server(tmp_path_factory.mktemp("moto-eks") / "moto.log", DEV_ACCOUNT) as moto:
        yield moto


@pytest.fixture
def eks(eks_server: Moto, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """The dev cluster in moto's EKS; the AWS variables point at it. DescribeCluster's answer."""
    moto = _point_at(eks_server, monkeypatch, tmp_path)
    client = moto.client("eks")
    client.create_cluster(name=DEV_CLUSTER, roleArn=f"arn:aws:iam::{DEV_ACCOUNT}:role/eks", resourcesVpcConfig={"subnetIds": []})
    return dict(client.describe_cluster(name=DEV_CLUSTER)["cluster"])


def workload(
    kind: str,
    name: str,
    image: str,
    replicas: int = 2,
    *,
    generation: int = 3,
    observed: int = 3,
    updated: int | None = None,
    ready: int | None = None,
    total: int | None = None,
    revisions: tuple[str, str] = ("web-1", "web-1"),
) -> dict[str, Any]:
    """A Deployment or StatefulSet as the API serves it; by default rolled out."""
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "replicas": replicas if total is None else total,
        "updatedReplicas": replicas if updated is None else updated,
        "readyReplicas": replicas if ready is None else ready,
        "availableReplicas": replicas if ready is None else ready,
    }
    if kind == "StatefulSet":
        status |= {"currentRevision": revisions[0], "updateRevision": revisions[1]}
    pod = {"initContainers": [{"name": "wait-for-migrations", "image": image}], "containers": [{"name": "main", "image": image}]}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "generation": generation, "labels": {"tier": "airflow"}},
        "spec": {"replicas": replicas, "template": {"spec": pod}},
        "status": status,
    }


def state(kind: str = "Deployment", image: str = f"{REPO}@{NEW}", **kwargs: Any) -> WorkloadState:
    return kube.workload_state(kind, workload(kind, "web", image, **kwargs))


def decoded_token(token: str) -> str:
    assert re.fullmatch(r"k8s-aws-v1\.[A-Za-z0-9_-]+", token), token
    body = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_eks_token_is_a_presigned_get_caller_identity_naming_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1")
    url = urlsplit(decoded_token(kube.eks_token(session, "airflow-staging", "eu-west-1")))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (url.scheme, url.netloc, url.path) == ("https", "sts.eu-west-1.amazonaws.com", "/")
    assert (query["Action"], query["Version"], query["X-Amz-Expires"]) == ("GetCallerIdentity", "2011-06-15", "60")
    assert query["X-Amz-SignedHeaders"].split(";") == ["host", "x-k8s-aws-id"]
    assert query["X-Amz-Credential"].startswith("AKIDEXAMPLE/") and query["X-Amz-Credential"].endswith(
        "/eu-west-1/sts/aws4_request"
    )
    assert "airflow-staging" not in url.geturl()  # the cluster goes in the signed header only


def test_eks_token_signatures_differ_per_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    for _ in range(3):  # the same second, so only the signed cluster name differs
        first, second = (
            parse_qs(urlsplit(decoded_token(kube.eks_token(session, name, "eu-west-1"))).query) for name in ("a", "b")
        )
        if first["X-Amz-Date"] == second["X-Amz-Date"]:
            assert first["X-Amz-Signature"] != second["X-Amz-Signature"]
            return
    pytest.fail("no two tokens within one second")


def test_an_eks_client_takes_endpoint_and_ca_from_describe_cluster(eks: dict[str, Any], emulator: Emulator) -> None:
    session = boto3.session.Session()
    signed: list[str] = []
    session.events.register_last(
        "before-sign.sts.GetCallerIdentity", lambda request, **_: signed.append(request.headers["x-k8s-aws-id"])
    )
    api = kube.api_client_for_eks(DEV_CLUSTER, DEV_REGION, session)
    assert api.configuration.host == eks["endpoint"].rstrip("/")
    assert api.configuration.ca_cert_data == base64.b64decode(eks["certificateAuthority"]["data"])
    # The endpoint moto invents does not answer; send the same client to the emulator to see its requests.
    api.configuration.host = emulator.url
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "scheduler", f"{REPO}@{NEW}"))
    assert [s.name for s in kube.workload_states(api, "airflow")] == ["scheduler"]
    tokens = [r.headers["Authorization"].removeprefix("Bearer ") for r in emulator.requests()]
    assert len(tokens) == 2 and all(token.startswith("k8s-aws-v1.") for token in tokens)
    assert "Action=GetCallerIdentity" in decoded_token(tokens[0])
    assert signed == [DEV_CLUSTER] * 3  # one token at the start, a fresh one for each request


def test_ca_data_is_pem_text_when_it_is_pem() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    assert kube.ca_data(base64.b64encode(pem.encode()).decode()) == pem
    with pytest.raises(UsageError, match="not base64"):
        kube.ca_data("not base64!")


def test_an_unknown_eks_cluster_is_one_line(eks: dict[str, Any]) -> None:
    with pytest.raises(UsageError) as exc:
        kube.connect("airflow-nope", DEV_REGION)
    assert str(exc.value).startswith(f"no EKS cluster airflow-nope in {DEV_REGION}; check cluster.name in cluster.yaml")


def test_connect_prefers_the_kubeconfig(emulator: Emulator, tmp_path: Path) -> None:
    api = kube.connect("airflow-not-asked", "eu-west-1", kubeconfig=emulator.kubeconfig(tmp_path / "config", TOKEN))
    assert api.configuration.host == emulator.url


def test_a_kubeconfig_context_is_chosen_by_name(emulator: Emulator, tmp_path: Path) -> None:
    path = emulator.kubeconfig(tmp_path / "config", "other-token", context="staging")
    text = path.read_text().replace("current-context: staging", "current-context: nowhere")
    path.write_text(text)
    with pytest.raises(UsageError, match=r"^kubeconfig .*config: .*nowhere.*; fix the file or choose another context$"):
        kube.api_client_from_kubeconfig(path)
    with pytest.raises(UsageError, match="missing"):
        kube.api_client_from_kubeconfig(path, context="missing")
    api = kube.api_client_from_kubeconfig(path, context="staging")
    kube.application_statuses(api)
    assert [r.headers["Authorization"] for r in emulator.requests()] == ["Bearer other-token"]
    assert path.read_text() == text  # never written back


def test_a_missing_kubeconfig_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^kubeconfig .*/absent: no such file; pass the path of an existing kubeconfig$"):
        kube.connect("airflow-dev", "eu-west-1", kubeconfig=tmp_path / "absent")


def test_application_statuses(emulator: Emulator, api: Any) -> None:
    emulator.put(
        APPLICATIONS,
        "argocd",
        {
            "metadata": {"name": "airflow"},
            "status": {
                "sync": {"status": "OutOfSync", "revisions": ["1.18.0", "3f1c2b9"]},
                "health": {"status": "Progressing"},
                "operationState": {"phase": "Running"},
            },
        },
    )
    emulator.put(
        APPLICATIONS,
        "argocd",
        {
            "metadata": {"name": "keda"},
            "status": {"sync": {"status": "Synced", "revision": "abc"}, "health": {"status": "Healthy"}},
        },
    )
    emulator.put(APPLICATIONS, "argocd", {"metadata": {"name": "new"}})
    emulator.put(APPLICATIONS, "elsewhere", {"metadata": {"name": "other"}})
    assert kube.application_statuses(api) == [
        kube.AppStatus("airflow", "OutOfSync", "Progressing", ("1.18.0", "3f1c2b9"), "Running"),
        kube.AppStatus("keda", "Synced", "Healthy", ("abc",)),
        kube.AppStatus("new", "Unknown", "Unknown", ()),
    ]
    assert [r.url.path for r in emulator.requests()] == ["/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"]


def test_workload_states_read_deployments_and_statefulsets(emulator: Emulator, api: Any) -> None:
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "scheduler", f"{REPO}:2.10.3@{NEW}", updated=1, total=3))
    emulator.put(STATEFULSETS, "airflow", workload("StatefulSet", "worker", f"{REPO}@{OLD}", 3, revisions=("w-1", "w-2")))
    emulator.put(DEPLOYMENTS, "kube-system", workload("Deployment", "coredns", "coredns:1.11"))
    scheduler, worker = kube.workload_states(api, "airflow", selector="tier=airflow")
    assert scheduler == WorkloadState(
        "Deployment",
        "scheduler",
        (("wait-for-migrations", f"{REPO}:2.10.3@{NEW}"), ("main", f"{REPO}:2.10.3@{NEW}")),
        2,
        3,
        1,
        2,
        2,
        3,
        3,
    )
    assert (worker.kind, worker.desired, worker.current_revision, worker.update_revision) == ("StatefulSet", 3, "w-1", "w-2")
    requests = emulator.requests()
    assert [r.url.path.rsplit("/", 1)[1] for r in requests] == ["deployments", "statefulsets"]
    assert all(r.params["labelSelector"] == "tier=airflow" and r.headers["Authorization"] == f"Bearer {TOKEN}" for r in requests)


def test_a_workload_without_status_has_not_rolled_out() -> None:
    bare = kube.workload_state("Deployment", {"metadata": {"name": "new", "generation": 1}, "spec": {"template": {"spec": {}}}})
    assert (bare.desired, bare.updated, bare.observed_generation, bare.images) == (1, 0, 0, ())
    assert kube.rollout_reason(bare) == "generation 1 not observed yet (at 0)"


@pytest.mark.parametrize(
    ("image", "name", "tag", "digest"),
    [
        (f"{REPO}@{NEW}", REPO, "", NEW),
        (f"{REPO}:2.10.3@{NEW}", REPO, "2.10.3", NEW),
        (f"{REPO}:2.10.3", REPO, "2.10.3", ""),
        ("localhost:5000/airflow", "localhost:5000/airflow", "", ""),
        ("localhost:5000/airflow:1@sha256:ab", "localhost:5000/airflow", "1", "sha256:ab"),
        ("redis", "redis", "", ""),
    ],
)
def test_split_image(image: str, name: str, tag: str, digest: str) -> None:
    assert split_image(image) == (name, tag, digest)


@pytest.mark.parametrize(
    ("images", "runs"),
    [
        ([f"{REPO}@{NEW}"], True),
        ([f"{REPO}:2.10.3@{NEW}"], True),
        ([f"{REPO}:2.10.3@{NEW}", f"{REPO}@{NEW}", "statsd:0.28"], True),
        ([f"{REPO}@{OLD}"], False),
        ([f"{REPO}:2.10.3"], False),  # a tag names no digest
        ([f"{REPO}@{NEW}", f"{REPO}@{OLD}"], False),  # one container still on the old digest
        ([f"{REPO}-extra@{NEW}"], False),  # another repository
        ([f"airflow@{NEW}"], False),  # the name without its registry is another image
        (["statsd:0.28"], False),
    ],
)
def test_runs_digest(images: list[str], runs: bool) -> None:
    workload_state = WorkloadState(
        "Deployment", "web", tuple((f"c{i}", image) for i, image in enumerate(images)), 1, 1, 1, 1, 1, 1, 1
    )
    assert runs_digest(workload_state, REPO, NEW) is runs


@pytest.mark.parametrize(
    ("workload_state", "reason"),
    [
        (state(), None),
        (state(generation=4, observed=3), "generation 4 not observed yet (at 3)"),
        (state(updated=1), "1 of 2 updated"),
        (state(total=3), "1 old replicas still terminating"),
        (state(ready=1), "1 of 2 available"),
        (state(replicas=0), None),  # scaled to zero: nothing to wait for
        (state("StatefulSet"), None),
        (state("StatefulSet", updated=0), "0 of 2 updated"),
        (state("StatefulSet", ready=1), "1 of 2 ready"),
        (state("StatefulSet", revisions=("web-1", "web-2")), "revision web-1 not yet web-2"),
    ],
)
def test_rollout_done(workload_state: WorkloadState, reason: str | None) -> None:
    assert kube.rollout_reason(workload_state) == reason
    assert rollout_done(workload_state) is (reason is None)


def test_pending_reason_names_a_wrong_image_first() -> None:
    assert pending_reason(state(image=f"{REPO}:2.10.2@{OLD}", updated=0), REPO, NEW) == f"wrong image {REPO}:2.10.2@{OLD}"
    assert pending_reason(state(updated=0), REPO, NEW) == "0 of 2 updated"


def test_wait_for_rollout_follows_the_rollout_to_its_end(emulator: Emulator, api: Any) -> None:
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "scheduler", f"{REPO}@{OLD}"))
    emulator.put(STATEFULSETS, "airflow", workload("StatefulSet", "worker", f"{REPO}@{OLD}", 1))
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "statsd", "statsd:0.28"))
    steps = [
        lambda: emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "scheduler", f"{REPO}@{NEW}", generation=4)),
        lambda: emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "scheduler", f"{REPO}@{NEW}", updated=1, total=3)),
        lambda: emulator.put(
            STATEFULSETS, "airflow", workload("StatefulSet", "worker", f"{REPO}@{NEW}", 1, revisions=("w-1", "w-2"))
        ),
        lambda: emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "scheduler", f"{REPO}@{NEW}")),
        lambda: emulator.put(
            STATEFULSETS, "airflow", workload("StatefulSet", "worker", f"{REPO}@{NEW}", 1, revisions=("w-2", "w-2"))
        ),
    ]
    seen: list[dict[str, str | None]] = []

    def progress(pending: kube.Pending) -> None:
        seen.append({s.name: reason for s, reason in pending})
        if steps:
            steps.pop(0)()  # the controllers move on while verify waits

    done = kube.wait_for_rollout(api, "airflow", REPO, NEW, timeout_s=10, poll_s=0.01, on_progress=progress)
    assert [s.name for s in done] == ["scheduler", "worker"]
    assert seen == [
        {"scheduler": f"wrong image {REPO}@{OLD}", "worker": f"wrong image {REPO}@{OLD}"},
        {"scheduler": "generation 4 not observed yet (at 3)", "worker": f"wrong image {REPO}@{OLD}"},
        {"scheduler": "1 of 2 updated", "worker": f"wrong image {REPO}@{OLD}"},
        {"scheduler": "1 of 2 updated", "worker": "revision w-1 not yet w-2"},
        {"scheduler": None, "worker": "revision w-1 not yet w-2"},
        {"scheduler": None, "worker": None},
    ]


def test_wait_for_rollout_sees_a_change_made_while_it_sleeps(emulator: Emulator, api: Any) -> None:
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "api-server", f"{REPO}@{OLD}"))
    timer = threading.Timer(
        0.3, lambda: emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "api-server", f"{REPO}@{NEW}"))
    )
    timer.start()
    started = time.monotonic()
    try:
        kube.wait_for_rollout(api, "airflow", REPO, NEW, timeout_s=10, poll_s=0.05)
    finally:
        timer.cancel()
    assert 0.3 <= time.monotonic() - started < 5
    assert len(emulator.requests()) > 4  # polled more than once, two lists a poll


def test_wait_for_rollout_times_out_naming_each_workload(emulator: Emulator, api: Any) -> None:
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "scheduler", f"{REPO}@{OLD}"))
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "api-server", f"{REPO}@{NEW}", generation=5, observed=4))
    emulator.put(STATEFULSETS, "airflow", workload("StatefulSet", "worker", f"{REPO}@{NEW}", 3, updated=1))
    emulator.put(STATEFULSETS, "airflow", workload("StatefulSet", "triggerer", f"{REPO}@{NEW}", 1))
    with pytest.raises(UsageError) as exc:
        kube.wait_for_rollout(api, "airflow", REPO, NEW, timeout_s=0.2, poll_s=0.05)
    assert str(exc.value) == (
        f"namespace airflow does not run {REPO}@{NEW} after 0.2 s: Deployment/scheduler: wrong image {REPO}@{OLD}; "
        "Deployment/api-server: generation 5 not observed yet (at 4); StatefulSet/worker: 1 of 3 updated; "
        "look at kubectl -n airflow get pods and the events"
    )
    assert 4 <= len(emulator.requests()) <= 14  # polled every 0.05 s for 0.2 s, two lists a poll


def test_wait_for_rollout_without_a_workload_of_the_repository(emulator: Emulator, api: Any) -> None:
    emulator.put(DEPLOYMENTS, "airflow", workload("Deployment", "statsd", "statsd:0.28"))
    with pytest.raises(UsageError) as exc:
        kube.wait_for_rollout(api, "airflow", REPO, NEW, timeout_s=30, poll_s=1, selector="tier=airflow")
    assert str(exc.value) == (
        f"no Deployment or StatefulSet in namespace airflow (selector tier=airflow) runs {REPO}; check the namespace and the image repository"
    )
    assert len(emulator.requests()) == 2  # no waiting for what cannot come


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            401,
            "the Kubernetes API of airflow-staging refused the token (401); check that your AWS identity has an EKS access entry "
            "(or that the kubeconfig credentials are current)",
        ),
        (
            403,
            'the Kubernetes API of airflow-staging forbids listing deployments.apps in airflow (403: deployments.apps is forbidden: User "dev" '
            'cannot list resource "deployments"); give your identity read access to it',
        ),
        (
            404,
            "listing deployments.apps in airflow on airflow-staging: not found (404); check the namespace and that the resource's API is installed",
        ),
        (
            500,
            'listing deployments.apps in airflow on airflow-staging: HTTP 500: deployments.apps is forbidden: User "dev" cannot list resource "deployments"',
        ),
    ],
)
def test_a_refusing_api_is_one_line(emulator: Emulator, api: Any, status: int, expected: str) -> None:
    message = 'deployments.apps is forbidden: User "dev"\ncannot list resource "deployments"'
    emulator.respond(kmock.method.GET, status, {"kind": "Status", "status": "Failure", "message": message, "code": status})
    with pytest.raises(UsageError) as exc:
        kube.workload_states(api, "airflow", cluster="airflow-staging")
    assert str(exc.value) == expected


def test_an_unreachable_api_is_one_line(tmp_path: Path) -> None:
    with running_emulator() as gone:
        path = gone.kubeconfig(tmp_path / "config", TOKEN)
    api = kube.api_client_from_kubeconfig(path)
    with pytest.raises(UsageError) as exc:
        kube.application_statuses(api, cluster="airflow-dev")
    message = str(exc.value)
    assert message.startswith("cannot reach the Kubernetes API of airflow-dev (") and "\n" not in message
    assert message.endswith("); check the endpoint is reachable from here")
