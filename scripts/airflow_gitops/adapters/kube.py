"""Kubernetes access for status and verify: an EKS client, Argo CD Applications, and workload rollouts.

An EKS client takes the endpoint and CA from DescribeCluster and authenticates with the token
`aws eks get-token` makes (a presigned STS GetCallerIdentity), made anew for each request from the
session's credentials, so nothing outlives the run. A kubeconfig works too. Objects are read as plain
JSON; what they mean (rolled out, runs a digest) is decided by pure functions over the parsed states.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import urllib3
from botocore.exceptions import ClientError, NoCredentialsError
from kubernetes import client, config

from ..model.findings import UsageError
from .aws import aws_call, error_code

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_EXPIRES_S = 60
CLUSTER_ID_HEADER = "x-k8s-aws-id"
REQUEST_TIMEOUT_S = 30
Pending = Sequence[tuple["WorkloadState", str | None]]


def _token_signer(session: boto3.session.Session, cluster_name: str, region: str) -> STSClient:
    """An STS client whose GetCallerIdentity requests carry, signed, the header that names the cluster."""
    sts = session.client("sts", region_name=region)

    def name_cluster(request: Any, **_: Any) -> None:
        request.headers[CLUSTER_ID_HEADER] = cluster_name

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", name_cluster)
    return sts


def _token(sts: STSClient) -> str:
    try:
        url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=TOKEN_EXPIRES_S, HttpMethod="GET")
    except NoCredentialsError:
        raise UsageError("no AWS credentials found for an EKS token; set AWS_PROFILE or provide credentials") from None
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def eks_token(session: boto3.session.Session, cluster_name: str, region: str) -> str:
    """A bearer token for an EKS cluster, as `aws eks get-token` makes it: a presigned STS GetCallerIdentity URL."""
    return _token(_token_signer(session, cluster_name, region))


def ca_data(encoded: str) -> str | bytes:
    """certificateAuthority.data of DescribeCluster: PEM text, or DER bytes if it is not PEM."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("the cluster's certificateAuthority.data is not base64; describe the cluster again") from None
    return raw.decode("ascii") if raw.lstrip().startswith(b"-----BEGIN") else raw


def api_client_for_eks(cluster_name: str, region: str, session: boto3.session.Session | None = None) -> client.ApiClient:
    """A client for an EKS cluster's API, from DescribeCluster and the session's identity."""
    session = session or boto3.session.Session()
    with aws_call(f"EKS DescribeCluster {cluster_name} in {region}"):
        try:
            cluster = session.client("eks", region_name=region).describe_cluster(name=cluster_name)["cluster"]
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise UsageError(
                    f"no EKS cluster {cluster_name} in {region}; check cluster.name in cluster.yaml and that the "
                    "credentials are for the environment's account (AWS_PROFILE)"
                ) from None
            raise
    endpoint, ca = cluster.get("endpoint"), (cluster.get("certificateAuthority") or {}).get("data")
    if not endpoint or not ca:
        raise UsageError(
            f"EKS cluster {cluster_name} has no endpoint yet (status {cluster.get('status', '?')}); wait until it is ACTIVE"
        )
    signer = _token_signer(session, cluster_name, region)
    configuration = client.Configuration(
        host=endpoint.rstrip("/"),
        ca_cert_data=ca_data(ca),
        api_key={"authorization": _token(signer)},
        api_key_prefix={"authorization": "Bearer"},
    )

    def fresh_token(conf: client.Configuration) -> None:
        conf.api_key["authorization"] = _token(signer)

    # Called before each request once a token is set: a long wait never outlives the token (EKS takes them for 15 min).
    configuration.refresh_api_key_hook = fresh_token  # type: ignore[assignment]
    return client.ApiClient(configuration)


def api_client_from_kubeconfig(path: str | Path, context: str | None = None) -> client.ApiClient:
    """A client from a kubeconfig file and context (its current one by default); the file is never written."""
    if not Path(path).is_file():
        raise UsageError(f"kubeconfig {path}: no such file; pass the path of an existing kubeconfig")
    try:
        api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(path), context=context, persist_config=False
        )
        return api
    except config.ConfigException as exc:
        raise UsageError(f"kubeconfig {path}: {' '.join(str(exc).split())}; fix the file or choose another context") from None


def connect(cluster_name: str, region: str, kubeconfig: str | Path | None = None, context: str | None = None) -> client.ApiClient:
    """The kubeconfig's client when a path is given, else one for the EKS cluster."""
    if kubeconfig:
        return api_client_from_kubeconfig(kubeconfig, context)
    return api_client_for_eks(cluster_name, region)


def refusal(label: str, what: str, status: int, body: str) -> str:
    """One line for an HTTP error of the Kubernetes API."""
    try:
        message = str(json.loads(body).get("message", "")) if body else ""
    except (ValueError, AttributeError):
        message = ""
    message = " ".join(message.split())[:300]
    if status == 401:
        return (
            f"the Kubernetes API of {label} refused the token (401); check that your AWS identity has an EKS access entry "
            "(or that the kubeconfig credentials are current)"
        )
    if status == 403:
        return f"the Kubernetes API of {label} forbids {what} (403: {message}); give your identity read access to it"
    if status == 404:
        return f"{what} on {label}: not found (404); check the namespace and that the resource's API is installed"
    return f"{what} on {label}: HTTP {status}{': ' + message if message else ''}"


@contextmanager
def kube_call(label: str, what: str) -> Iterator[None]:
    """Turn a Kubernetes API failure inside the block into a one-line UsageError."""
    try:
        yield
    except client.ApiException as exc:
        raise UsageError(refusal(label, what, int(exc.status or 0), str(exc.body or ""))) from None
    except urllib3.exceptions.HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UsageError(
            f"cannot reach the Kubernetes API of {label} ({' '.join(str(reason).split())}); check the endpoint is reachable from here"
        ) from None


def _items(
    api: client.ApiClient, cluster: str | None, group: str, version: str, namespace: str, plural: str, selector: str | None
) -> list[dict[str, Any]]:
    label = cluster or api.configuration.host
    kwargs: dict[str, Any] = {"label_selector": selector} if selector else {}
    with kube_call(label, f"listing {plural}.{group or 'core'} in {namespace}"):
        listed: Any = client.CustomObjectsApi(api).list_namespaced_custom_object(
            group, version, namespace, plural, _request_timeout=REQUEST_TIMEOUT_S, **kwargs
        )
    return [item for item in listed.get("items") or [] if isinstance(item, dict)]


@dataclass(frozen=True)
class AppStatus:
    name: str
    sync: str  # Synced, OutOfSync, Unknown
    health: str  # Healthy, Progressing, Degraded, Suspended, Missing, Unknown
    revisions: tuple[str, ...]
    operation: str = ""  # the last sync operation's phase: Running, Succeeded, Failed, Error


def app_status(obj: Mapping[str, Any]) -> AppStatus:
    status = obj.get("status") or {}
    sync = status.get("sync") or {}
    revisions = sync.get("revisions") or ([sync["revision"]] if sync.get("revision") else [])
    return AppStatus(
        name=str((obj.get("metadata") or {}).get("name", "")),
        sync=str(sync.get("status") or "Unknown"),
        health=str((status.get("health") or {}).get("status") or "Unknown"),
        revisions=tuple(str(r) for r in revisions),
        operation=str((status.get("operationState") or {}).get("phase") or ""),
    )


def application_statuses(api: client.ApiClient, namespace: str = "argocd", *, cluster: str | None = None) -> list[AppStatus]:
    """Every Argo CD Application in a namespace, by name."""
    items = _items(api, cluster, "argoproj.io", "v1alpha1", namespace, "applications", None)
    return sorted((app_status(item) for item in items), key=lambda app: app.name)


def get_application(api: client.ApiClient, name: str, namespace: str = "argocd", *, cluster: str | None = None) -> dict[str, Any]:
    """One Argo CD Application as the Kubernetes API serves it: the same document Argo CD's API answers."""
    label = cluster or api.configuration.host
    with kube_call(label, f"reading applications.argoproj.io/{name} in {namespace}"):
        found: Any = client.CustomObjectsApi(api).get_namespaced_custom_object(
            "argoproj.io", "v1alpha1", namespace, "applications", name, _request_timeout=REQUEST_TIMEOUT_S
        )
    return dict(found) if isinstance(found, dict) else {}


@dataclass(frozen=True)
class WorkloadState:
    kind: str  # Deployment or StatefulSet
    name: str
    images: tuple[tuple[str, str], ...]  # (container, image), init containers included
    desired: int
    current: int  # every pod the controller counts, old ones included
    updated: int
    ready: int
    available: int
    generation: int
    observed_generation: int
    current_revision: str = ""  # StatefulSets only
    update_revision: str = ""


def workload_state(kind: str, obj: Mapping[str, Any]) -> WorkloadState:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    replicas = spec.get("replicas")
    return WorkloadState(
        kind=kind,
        name=str((obj.get("metadata") or {}).get("name", "")),
        images=tuple((str(c.get("name", "")), str(c.get("image", ""))) for c in containers),
        desired=1 if replicas is None else int(replicas),
        current=int(status.get("replicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        generation=int((obj.get("metadata") or {}).get("generation") or 0),
        observed_generation=int(status.get("observedGeneration") or 0),
        current_revision=str(status.get("currentRevision") or ""),
        update_revision=str(status.get("updateRevision") or ""),
    )


def workload_states(
    api: client.ApiClient, namespace: str, selector: str | None = None, *, cluster: str | None = None
) -> list[WorkloadState]:
    """The Deployments and StatefulSets of a namespace (matching a label selector, if given)."""
    states = [workload_state("Deployment", o) for o in _items(api, cluster, "apps", "v1", namespace, "deployments", selector)]
    states += [workload_state("StatefulSet", o) for o in _items(api, cluster, "apps", "v1", namespace, "statefulsets", selector)]
    return states


def split_image(image: str) -> tuple[str, str, str]:
    """`name[:tag][@digest]` as (name, tag, digest); a port in the registry host is not a tag."""
    name, _, digest = image.partition("@")
    if name.rfind(":") > name.rfind("/"):
        name, _, tag = name.rpartition(":")
        return name, tag, digest
    return name, "", digest


def _images_of(state: WorkloadState, repository: str) -> list[str]:
    """The images from a repository: its full name, registry host included, without tag or digest."""
    return [image for _, image in state.images if split_image(image)[0] == repository]


def uses_repository(state: WorkloadState, repository: str) -> bool:
    return bool(_images_of(state, repository))


def runs_digest(state: WorkloadState, repository: str, digest: str) -> bool:
    """Every container from the repository is pinned to the digest (`repo@sha256:…` or `repo:tag@sha256:…`)."""
    images = _images_of(state, repository)
    return bool(images) and all(split_image(image)[2] == digest for image in images)


def rollout_reason(state: WorkloadState) -> str | None:
    """Why the controller has not finished rolling out the current spec; None once it has."""
    if state.observed_generation < state.generation:
        return f"generation {state.generation} not observed yet (at {state.observed_generation})"
    if state.updated < state.desired:
        return f"{state.updated} of {state.desired} updated"
    if state.kind == "StatefulSet":
        if state.ready < state.desired:
            return f"{state.ready} of {state.desired} ready"
        if state.update_revision and state.current_revision != state.update_revision:
            return f"revision {state.current_revision or '?'} not yet {state.update_revision}"
        return None
    if state.current > state.updated:
        return f"{state.current - state.updated} old replicas still terminating"
    if state.available < state.desired:
        return f"{state.available} of {state.desired} available"
    return None


def rollout_done(state: WorkloadState) -> bool:
    return rollout_reason(state) is None


def pending_reason(state: WorkloadState, repository: str, digest: str) -> str | None:
    """What keeps a workload from running the digest, rolled out; None when it does."""
    if not runs_digest(state, repository, digest):
        wrong = sorted({image for image in _images_of(state, repository) if split_image(image)[2] != digest})
        return f"wrong image {', '.join(wrong)}"
    return rollout_reason(state)


def wait_for_rollout(
    api: client.ApiClient,
    namespace: str,
    repository: str,
    digest: str,
    timeout_s: float,
    poll_s: float = 5.0,
    selector: str | None = None,
    on_progress: Callable[[Pending], None] | None = None,
    *,
    cluster: str | None = None,
) -> list[WorkloadState]:
    """Poll until every workload using the repository runs the digest, rolled out; UsageError on timeout."""
    deadline = time.monotonic() + timeout_s
    scope = f"namespace {namespace}" + (f" (selector {selector})" if selector else "")
    while True:
        states = [s for s in workload_states(api, namespace, selector, cluster=cluster) if uses_repository(s, repository)]
        if not states:
            raise UsageError(
                f"no Deployment or StatefulSet in {scope} runs {repository}; check the namespace and the image repository"
            )
        progress = [(state, pending_reason(state, repository, digest)) for state in states]
        if on_progress:
            on_progress(progress)
        waiting = [f"{state.kind}/{state.name}: {reason}" for state, reason in progress if reason]
        if not waiting:
            return states
        left = deadline - time.monotonic()
        if left <= 0:
            raise UsageError(
                f"{scope} does not run {repository}@{digest} after {timeout_s:g} s: {'; '.join(waiting)}; "
                f"look at kubectl -n {namespace} get pods and the events"
            )
        time.sleep(min(poll_s, left))
