"""The Argo CD client against a local HTTP server that answers what the vendored API spec allows.

Every Argo CD body served here goes through `serve`, which validates it against the spec first.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_gitops.adapters.argocd import (
    ApplicationState,
    ArgoCd,
    ArgoCdServer,
    make_session,
    parse_application,
    revision_for_repo,
    server_url,
    token_for,
    token_variable,
)
from airflow_gitops.model.findings import UsageError
from tests.adapters.argocd_spec import conforming, violations

TOKEN = "argocd-token-do-not-print"
PLATFORM_REPO = "https://github.com/example-org/airflow-eks-platform.git"
CHART_REPO = "https://airflow.apache.org"
PLATFORM_SHA = "3f1c2b9e8d7a6f5e4d3c2b1a09f8e7d6c5b4a392"
CHART_VERSION = "1.21.0"
STAMP = "2026-11-25T10:00:00Z"


def application(sync: str = "Synced", health: str = "Healthy", phase: str | None = "Succeeded") -> dict[str, Any]:
    """The staging airflow Application as GET /api/v1/applications/airflow returns it: a chart plus the values repo."""
    sources = [
        {"repoURL": CHART_REPO, "chart": "airflow", "targetRevision": CHART_VERSION, "helm": {"releaseName": "airflow"}},
        {"repoURL": PLATFORM_REPO, "targetRevision": "main", "ref": "values"},
    ]
    destination = {"server": "https://kubernetes.default.svc", "namespace": "airflow"}
    revisions = [CHART_VERSION, PLATFORM_SHA]
    status: dict[str, Any] = {
        "sync": {
            "status": sync,
            "revisions": revisions,
            "comparedTo": {"sources": copy.deepcopy(sources), "destination": destination},
        },
        "health": {"status": health, "lastTransitionTime": STAMP},
        "reconciledAt": STAMP,
        "sourceTypes": ["Helm", "Helm"],
        "resources": [{"kind": "Deployment", "name": "airflow-scheduler", "status": sync, "health": {"status": health}}],
    }
    if phase:
        status["operationState"] = {
            "phase": phase,
            "message": "successfully synced (all tasks run)" if phase == "Succeeded" else f"sync {phase.lower()}",
            "startedAt": STAMP,
            "retryCount": 0,
            "operation": {"sync": {"revisions": revisions}, "initiatedBy": {"automated": True}},
        }
    return {
        "metadata": {
            "name": "airflow",
            "namespace": "argocd",
            "resourceVersion": "81234",
            "generation": 42,
            "creationTimestamp": STAMP,
        },
        "spec": {
            "project": "default",
            "sources": sources,
            "destination": destination,
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            "revisionHistoryLimit": 10,
        },
        "status": status,
    }


def runtime_error(grpc_code: int, message: str) -> dict[str, Any]:
    """The body of an Argo CD API error (definition runtimeError)."""
    return {"error": message, "code": grpc_code, "message": message}


def serve(
    httpserver: HTTPServer,
    body: dict[str, Any],
    definition: str,
    status: int = 200,
    *,
    oneshot: bool = False,
    name: str = "airflow",
) -> None:
    """Answer GET /api/v1/applications/<name> with body, after checking body against the spec."""
    expect = httpserver.expect_oneshot_request if oneshot else httpserver.expect_request
    expect(f"/api/v1/applications/{name}", method="GET").respond_with_json(conforming(body, definition), status=status)


def base_url(httpserver: HTTPServer) -> str:
    return f"http://127.0.0.1:{httpserver.port}"


def client(url: str, retries: int = 2, timeout: float = 2.0) -> ArgoCd:
    return ArgoCd(ArgoCdServer(url, TOKEN), make_session(retries=retries, backoff=0), timeout=timeout)


def failure(argocd: ArgoCd, name: str = "airflow") -> str:
    with pytest.raises(UsageError) as caught:
        argocd.get_application(name)
    message = str(caught.value)
    assert "\n" not in message and TOKEN not in message
    return message


# --- the spec check itself ---------------------------------------------------------------


def test_canned_application_conforms_to_the_spec() -> None:
    assert violations(application(), "v1alpha1Application") == []


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("status", "sync", "status"), 3, "status.sync.status: 3 is not of type 'string'"),
        (("metadata",), ["airflow"], "metadata: ['airflow'] is not of type 'object'"),
        (("status", "sync", "revisions"), PLATFORM_SHA, f"status.sync.revisions: '{PLATFORM_SHA}' is not of type 'array'"),
        (("metadata", "creationTimestamp"), "yesterday", "metadata.creationTimestamp: 'yesterday' is not a 'date-time'"),
    ],
)
def test_the_spec_check_rejects_a_body_that_breaks_it(path: tuple[str, ...], value: Any, complaint: str) -> None:
    body = application()
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    assert violations(body, "v1alpha1Application") == [complaint]
    with pytest.raises(AssertionError, match="does not match v1alpha1Application"):
        conforming(body, "v1alpha1Application")


def test_swagger_only_keys_do_not_break_the_spec_check() -> None:
    spec = {
        "definitions": {
            "thing": {
                "type": "object",
                "x-go-name": "Thing",
                "discriminator": "kind",
                "properties": {
                    "count": {"type": "integer", "format": "int64", "readOnly": True},
                    "x-raw": {"$ref": "#/definitions/raw"},
                },
            },
            "raw": {"type": "string", "format": "byte", "x-nullable": True},
        }
    }
    assert violations({"count": 9007199254740993, "x-raw": "aGk="}, "thing", spec) == []
    assert violations({"count": "9"}, "thing", spec) == ["count: '9' is not of type 'integer'"]


# --- reading an Application ----------------------------------------------------------------


def test_synced_and_healthy_multi_source_application(httpserver: HTTPServer) -> None:
    serve(httpserver, application(), "v1alpha1Application")
    state = client(base_url(httpserver)).get_application("airflow")
    assert state == ApplicationState(
        name="airflow",
        namespace="argocd",
        sync_status="Synced",
        health_status="Healthy",
        revision=None,
        revisions=(CHART_VERSION, PLATFORM_SHA),
        operation_phase="Succeeded",
        operation_message="successfully synced (all tasks run)",
        source_repos=(CHART_REPO, PLATFORM_REPO),
    )
    assert revision_for_repo(state, "https://github.com/example-org/airflow-eks-platform") == PLATFORM_SHA
    assert revision_for_repo(state, "https://GitHub.com/example-org/airflow-eks-platform.git/") == PLATFORM_SHA
    assert revision_for_repo(state, CHART_REPO + "/") == CHART_VERSION
    assert revision_for_repo(state, "https://github.com/example-org/other.git") is None
    [(request, _)] = httpserver.log
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"
    assert request.args.to_dict() == {}


def test_app_namespace_is_sent_as_the_query_the_spec_names(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/api/v1/applications/airflow", method="GET", query_string={"appNamespace": "team-data"}
    ).respond_with_json(conforming(application(), "v1alpha1Application"))
    assert client(base_url(httpserver)).get_application("airflow", app_namespace="team-data").health_status == "Healthy"


@pytest.mark.parametrize(
    ("sync", "health", "phase"),
    [("OutOfSync", "Healthy", None), ("Synced", "Degraded", "Failed"), ("OutOfSync", "Progressing", "Running")],
)
def test_states_that_fail_the_gate_are_reported_as_they_are(
    httpserver: HTTPServer, sync: str, health: str, phase: str | None
) -> None:
    serve(httpserver, application(sync, health, phase), "v1alpha1Application")
    state = client(base_url(httpserver)).get_application("airflow")
    assert (state.sync_status, state.health_status, state.operation_phase) == (sync, health, phase)


def test_single_source_application_pairs_its_one_revision() -> None:
    body = conforming(
        {
            "metadata": {"name": "argo-cd"},
            "spec": {"source": {"repoURL": PLATFORM_REPO, "path": "apps/argo-cd", "targetRevision": "main"}},
            "status": {"sync": {"status": "Synced", "revision": PLATFORM_SHA}, "health": {"status": "Healthy"}},
        },
        "v1alpha1Application",
    )
    state = parse_application(body)
    assert (state.source_repos, state.revision, state.operation_phase) == ((PLATFORM_REPO,), PLATFORM_SHA, None)
    assert revision_for_repo(state, PLATFORM_REPO) == PLATFORM_SHA


def test_revisions_pair_with_the_compared_sources_not_a_newer_spec() -> None:
    body = application()
    body["spec"]["sources"].insert(0, {"repoURL": "https://charts.example.com", "chart": "extra", "targetRevision": "0.1.0"})
    state = parse_application(conforming(body, "v1alpha1Application"))
    assert state.source_repos == (CHART_REPO, PLATFORM_REPO)
    assert revision_for_repo(state, PLATFORM_REPO) == PLATFORM_SHA


def test_a_body_not_shaped_like_an_application_is_refused() -> None:
    body = application()
    body["status"]["sync"]["status"] = 3
    with pytest.raises(ValueError, match=r"status\.sync\.status is int, not a string"):
        parse_application(body)


# --- failures ----------------------------------------------------------------------------


def test_refused_token(httpserver: HTTPServer) -> None:
    serve(httpserver, runtime_error(16, "invalid session: token signature is invalid"), "runtimeError", 401)
    url = base_url(httpserver)
    assert failure(client(url)) == (
        f"Argo CD refused the token (HTTP 401) at {url}; set ARGOCD_AUTH_TOKEN to a valid token (argocd account generate-token)"
    )


def test_permission_denied(httpserver: HTTPServer) -> None:
    serve(httpserver, runtime_error(7, "permission denied"), "runtimeError", 403)
    message = failure(client(base_url(httpserver)))
    assert message.startswith(
        f"Argo CD at {base_url(httpserver)} denied the token access to Application 'airflow' (HTTP 403: permission denied)"
    )
    assert "argocd-rbac-cm" in message


def test_no_such_application(httpserver: HTTPServer) -> None:
    serve(httpserver, runtime_error(5, 'applications.argoproj.io "airflw" not found'), "runtimeError", 404, name="airflw")
    message = failure(client(base_url(httpserver)), "airflw")
    assert message.startswith(
        f"Argo CD at {base_url(httpserver)} has no Application 'airflw' (HTTP 404: applications.argoproj.io \"airflw\" not found)"
    )


def test_unavailable_once_is_retried(httpserver: HTTPServer) -> None:
    serve(httpserver, runtime_error(14, "upstream connect error"), "runtimeError", 503, oneshot=True)
    serve(httpserver, application(), "v1alpha1Application")
    assert client(base_url(httpserver)).get_application("airflow").sync_status == "Synced"
    assert [response.status_code for _, response in httpserver.log] == [503, 200]


def test_retry_after_is_respected(httpserver: HTTPServer) -> None:
    expect = httpserver.expect_oneshot_request("/api/v1/applications/airflow", method="GET")
    expect.respond_with_json(
        conforming(runtime_error(14, "unavailable"), "runtimeError"), status=503, headers={"Retry-After": "1"}
    )
    serve(httpserver, application(), "v1alpha1Application")
    started = time.monotonic()
    client(base_url(httpserver)).get_application("airflow")
    assert time.monotonic() - started >= 0.9


def test_unavailable_for_good(httpserver: HTTPServer) -> None:
    serve(httpserver, runtime_error(14, "upstream connect error"), "runtimeError", 503)
    message = failure(client(base_url(httpserver), retries=2))
    assert "answered HTTP 503 for Application 'airflow' after retrying: upstream connect error" in message
    assert "--no-health-gate" in message
    assert len(httpserver.log) == 3


def test_timeout(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def stall(_: Request) -> Response:
        release.wait(2)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/api/v1/applications/airflow").respond_with_handler(stall)
    try:
        message = failure(client(base_url(httpserver), retries=1, timeout=0.2))
    finally:
        release.set()
        deadline = time.monotonic() + 2
        while len(httpserver.log) < 2 and time.monotonic() < deadline:  # let the server drain the retried request
            time.sleep(0.01)
    assert message.startswith(
        f"Argo CD at {base_url(httpserver)} did not answer for Application 'airflow': no answer within 0.2 s;"
    )


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    message = failure(client(f"http://127.0.0.1:{port}", retries=1))
    assert (
        f"Argo CD at http://127.0.0.1:{port} did not answer for Application 'airflow': could not connect (Connection refused)"
        in message
    )


def test_a_page_that_is_not_json(httpserver: HTTPServer) -> None:
    # A login page from a proxy in front of the server, not an Argo CD answer: it is outside the spec on purpose.
    httpserver.expect_request("/api/v1/applications/airflow").respond_with_data("<html>Sign in</html>", content_type="text/html")
    message = failure(client(base_url(httpserver)))
    assert "with a body that is not an Application (text/html" in message
    assert "point ARGOCD_SERVER at the Argo CD API server" in message


# --- where the server and token come from --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("argocd.staging.example.com", "https://argocd.staging.example.com"),
        ("argocd.staging.example.com:8443", "https://argocd.staging.example.com:8443"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("https://ops.example.com/argocd", "https://ops.example.com/argocd"),
    ],
)
def test_server_forms(value: str, url: str) -> None:
    assert server_url(value) == url


@pytest.mark.parametrize("value", ["ftp://argocd.example.com", "https://", "grpc://argocd.example.com:443"])
def test_server_that_is_no_http_endpoint(value: str) -> None:
    with pytest.raises(UsageError, match="is neither host\\[:port\\] nor an http\\(s\\) URL"):
        server_url(value)


def test_environment_wins_over_cluster_yaml(httpserver: HTTPServer) -> None:
    environ = {"ARGOCD_SERVER": base_url(httpserver), "ARGOCD_AUTH_TOKEN": TOKEN}
    server = ArgoCdServer.resolve(environ, "argocd.staging.example.com")
    assert server.url == base_url(httpserver) and TOKEN not in repr(server)
    serve(httpserver, application(), "v1alpha1Application")
    assert ArgoCd(server, make_session(backoff=0)).get_application("airflow").name == "airflow"


def test_cluster_yaml_server_is_https() -> None:
    server = ArgoCdServer.resolve({"ARGOCD_AUTH_TOKEN": TOKEN}, "argocd.staging.example.com")
    assert server.url == "https://argocd.staging.example.com"


def test_missing_server() -> None:
    with pytest.raises(UsageError) as caught:
        ArgoCdServer.resolve({"ARGOCD_AUTH_TOKEN": TOKEN}, None, "clusters/staging/cluster.yaml")
    assert str(caught.value) == (
        "no Argo CD server for the health gate; set ARGOCD_SERVER or argocd.server in clusters/staging/cluster.yaml, "
        "or pass --no-health-gate to skip the gate"
    )


def test_missing_token() -> None:
    with pytest.raises(UsageError) as caught:
        ArgoCdServer.resolve({"ARGOCD_SERVER": "argocd.dev.example.com", "ARGOCD_AUTH_TOKEN": " "}, None)
    assert str(caught.value) == (
        "ARGOCD_AUTH_TOKEN is not set; set it to an Argo CD API token for https://argocd.dev.example.com "
        "(argocd account generate-token), or pass --no-health-gate to skip the gate"
    )


@pytest.mark.parametrize("status", [403, 404])
def test_find_application_is_none_for_an_application_argo_cd_does_not_have(httpserver: HTTPServer, status: int) -> None:
    serve(httpserver, runtime_error(5 if status == 404 else 7, "not found"), "runtimeError", status, name="gone")
    assert client(base_url(httpserver)).find_application("gone") is None
    with pytest.raises(UsageError, match=f"HTTP {status}"):
        client(base_url(httpserver)).get_application("gone")


def test_each_environment_may_have_a_token_of_its_own() -> None:
    environ = {"ARGOCD_AUTH_TOKEN": "shared", "ARGOCD_AUTH_TOKEN_DEV": "dev-token"}
    assert token_variable("dev") == "ARGOCD_AUTH_TOKEN_DEV" and token_variable("eu-qa") == "ARGOCD_AUTH_TOKEN_EU_QA"
    assert token_for(environ, "dev") == "dev-token"
    assert token_for(environ, "prod") == "shared"
    assert token_for({}, "prod") == ""
    server = ArgoCdServer.resolve(environ, "argocd.dev.example.com", env="dev")
    assert server.token == "dev-token"
    with pytest.raises(UsageError, match="^ARGOCD_AUTH_TOKEN_PROD or ARGOCD_AUTH_TOKEN is not set"):
        ArgoCdServer.resolve({}, "argocd.prod.example.com", env="prod")
