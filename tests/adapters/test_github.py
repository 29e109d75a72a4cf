"""The GitHub pull request client against a local HTTP server that keeps pull requests like GitHub does."""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_gitops.adapters.github import GitHub, PullRequest, make_session, repository_from_remote
from airflow_gitops.model.findings import UsageError

TOKEN = "ghp_do-not-print-this-token"
OWNER, REPO = "example-org", "airflow-eks-platform"
PULLS = f"/repos/{OWNER}/{REPO}/pulls"
HEAD, BASE = "promote/staging", "main"
TITLE, BODY = "Promote dev to staging", "Moves the pins of dev to staging.\n\n| chart | from | to |"


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json; charset=utf-8")


@dataclass
class FakeRepository:
    """The pulls endpoints of one repository: list (filtered by head and state), create, update."""

    pulls: list[dict[str, Any]] = field(default_factory=list)
    create_then_fail: int | None = None  # answer a create with this status, after storing the pull request

    def install(self, httpserver: HTTPServer) -> None:
        httpserver.expect_request(PULLS, method="GET").respond_with_handler(self.list)
        httpserver.expect_request(PULLS, method="POST").respond_with_handler(self.create)
        httpserver.expect_request(re.compile(rf"^{PULLS}/\d+$"), method="PATCH").respond_with_handler(self.update)

    def add(self, head: str, title: str, body: str, state: str = "open") -> dict[str, Any]:
        number = 40 + len(self.pulls) + 1
        pull = {
            "number": number,
            "html_url": f"https://github.com/{OWNER}/{REPO}/pull/{number}",
            "state": state,
            "title": title,
            "body": body,
            "head": {"ref": head, "label": f"{OWNER}:{head}"},
            "base": {"ref": BASE, "label": f"{OWNER}:{BASE}"},
        }
        self.pulls.append(pull)
        return pull

    def list(self, request: Request) -> Response:
        head, state = request.args.get("head"), request.args.get("state", "open")
        return reply(200, [p for p in self.pulls if p["state"] == state and (head is None or p["head"]["label"] == head)])

    def create(self, request: Request) -> Response:
        data = request.get_json()
        if any(p["state"] == "open" and p["head"]["ref"] == data["head"] for p in self.pulls):
            errors = [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {OWNER}:{data['head']}.",
                }
            ]
            return reply(422, {"message": "Validation Failed", "errors": errors, "status": "422"})
        pull = self.add(data["head"], data["title"], data["body"])
        if self.create_then_fail:
            return reply(self.create_then_fail, {"message": "Server Error"})
        return reply(201, pull)

    def update(self, request: Request) -> Response:
        number = int(request.path.rsplit("/", 1)[1])
        pull = next((p for p in self.pulls if p["number"] == number), None)
        if pull is None:
            return reply(404, {"message": "Not Found", "status": "404"})
        pull.update(request.get_json())
        return reply(200, pull)


@pytest.fixture
def github(httpserver: HTTPServer) -> GitHub:
    environ = {"GITHUB_API_URL": f"http://127.0.0.1:{httpserver.port}/", "GITHUB_TOKEN": TOKEN}
    return GitHub.from_env(environ, session=make_session(retries=2, backoff=0), timeout=2.0)


@pytest.fixture
def repository(httpserver: HTTPServer) -> FakeRepository:
    fake = FakeRepository()
    fake.install(httpserver)
    return fake


def calls(httpserver: HTTPServer) -> list[tuple[str, str, int]]:
    """(method, path, status) of each request; every list asks for the open pull requests of the head branch."""
    for request, _ in httpserver.log:
        if request.method == "GET":
            assert request.args.to_dict() == {"head": f"{OWNER}:{HEAD}", "state": "open"}
    return [(request.method, request.path, response.status_code) for request, response in httpserver.log]


def failure(github: GitHub) -> str:
    with pytest.raises(UsageError) as caught:
        github.ensure_pull(OWNER, REPO, HEAD, BASE, TITLE, BODY)
    message = str(caught.value)
    assert "\n" not in message and TOKEN not in message
    return message


# --- creating and updating -------------------------------------------------------------------


def test_creates_the_pull_request_when_none_is_open(github: GitHub, repository: FakeRepository, httpserver: HTTPServer) -> None:
    repository.add(HEAD, "an old promotion", "", state="closed")
    pull = github.ensure_pull(OWNER, REPO, HEAD, BASE, TITLE, BODY)
    assert pull == PullRequest(42, f"https://github.com/{OWNER}/{REPO}/pull/42", created=True)
    assert calls(httpserver) == [("GET", PULLS, 200), ("POST", PULLS, 201)]
    post = httpserver.log[1][0]
    assert post.get_json() == {"title": TITLE, "body": BODY, "head": HEAD, "base": BASE}
    for request, _ in httpserver.log:
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_updates_the_open_pull_request_of_the_branch(github: GitHub, repository: FakeRepository, httpserver: HTTPServer) -> None:
    repository.add("promote/prod", "another branch", "")
    repository.add(HEAD, "Promote dev to staging (stale)", "old table")
    pull = github.ensure_pull(OWNER, REPO, HEAD, BASE, TITLE, BODY)
    assert pull == PullRequest(42, f"https://github.com/{OWNER}/{REPO}/pull/42", created=False)
    assert calls(httpserver) == [("GET", PULLS, 200), ("PATCH", f"{PULLS}/42", 200)]
    assert httpserver.log[1][0].get_json() == {"title": TITLE, "body": BODY}
    open_for_head = [p for p in repository.pulls if p["head"]["ref"] == HEAD and p["state"] == "open"]
    assert [(p["number"], p["title"], p["body"]) for p in open_for_head] == [(42, TITLE, BODY)]


def test_running_twice_leaves_one_pull_request(github: GitHub, repository: FakeRepository) -> None:
    first = github.ensure_pull(OWNER, REPO, HEAD, BASE, TITLE, BODY)
    second = github.ensure_pull(OWNER, REPO, HEAD, BASE, "Promote dev to staging again", BODY)
    assert (first.created, second.created, first.number == second.number) == (True, False, True)
    assert [p["title"] for p in repository.pulls] == ["Promote dev to staging again"]


def test_a_flaky_list_is_retried(github: GitHub, repository: FakeRepository, httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PULLS, method="GET").respond_with_json({"message": "Server Error"}, status=502)
    assert github.ensure_pull(OWNER, REPO, HEAD, BASE, TITLE, BODY).created
    assert calls(httpserver) == [("GET", PULLS, 502), ("GET", PULLS, 200), ("POST", PULLS, 201)]


def test_a_create_that_went_through_despite_a_5xx_is_found(
    github: GitHub, repository: FakeRepository, httpserver: HTTPServer
) -> None:
    repository.create_then_fail = 502
    pull = github.ensure_pull(OWNER, REPO, HEAD, BASE, TITLE, BODY)
    assert pull == PullRequest(41, f"https://github.com/{OWNER}/{REPO}/pull/41", created=True)
    assert calls(httpserver) == [("GET", PULLS, 200), ("POST", PULLS, 502), ("GET", PULLS, 200)]
    assert len(repository.pulls) == 1


def test_a_create_that_failed_with_a_5xx_is_not_retried(github: GitHub, httpserver: HTTPServer) -> None:
    httpserver.expect_request(PULLS, method="GET").respond_with_json([])
    httpserver.expect_request(PULLS, method="POST").respond_with_json({"message": "Server Error"}, status=503)
    message = failure(github)
    assert message == (
        f"GitHub answered HTTP 503: Server Error trying to create a pull request from {HEAD} to {BASE} on {OWNER}/{REPO}; "
        "try again later (https://www.githubstatus.com)"
    )
    assert [method for method, _, _ in calls(httpserver)] == ["GET", "POST", "GET"]


# --- refusals --------------------------------------------------------------------------------


def test_refused_token(github: GitHub, httpserver: HTTPServer) -> None:
    httpserver.expect_request(PULLS).respond_with_json({"message": "Bad credentials", "status": "401"}, status=401)
    assert failure(github) == (
        f"GitHub refused the token (HTTP 401) at http://127.0.0.1:{httpserver.port}; set GITHUB_TOKEN to a valid token, or use --mode push"
    )


def test_rate_limited(github: GitHub, httpserver: HTTPServer) -> None:
    headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1795609800"}
    body = {"message": "API rate limit exceeded for user ID 1.", "status": "403"}
    httpserver.expect_request(PULLS).respond_with_json(body, status=403, headers=headers)
    assert failure(github) == (
        f"GitHub rate limit exhausted trying to list the open pull requests of {OWNER}/{REPO} "
        "(HTTP 403: API rate limit exceeded for user ID 1.); it resets at 2026-11-25 12:30:00 UTC, try again after that"
    )


def test_no_permission(github: GitHub, httpserver: HTTPServer) -> None:
    httpserver.expect_request(PULLS, method="GET").respond_with_json([])
    body = {"message": "Resource not accessible by personal access token", "status": "403"}
    httpserver.expect_request(PULLS, method="POST").respond_with_json(body, status=403, headers={"x-ratelimit-remaining": "4999"})
    message = failure(github)
    assert message.startswith(
        f"GitHub denied the token permission to create a pull request from {HEAD} to {BASE} on {OWNER}/{REPO} "
        "(HTTP 403: Resource not accessible by personal access token); give GITHUB_TOKEN write access to pull requests"
    )


def test_repository_not_found(github: GitHub, httpserver: HTTPServer) -> None:
    httpserver.expect_request(PULLS).respond_with_json({"message": "Not Found", "status": "404"}, status=404)
    assert failure(github).startswith(
        f"GitHub has no repository {OWNER}/{REPO}, or GITHUB_TOKEN cannot see it (HTTP 404: Not Found"
    )


def test_validation_failed(github: GitHub, httpserver: HTTPServer) -> None:
    httpserver.expect_request(PULLS, method="GET").respond_with_json([])
    body = {
        "message": "Validation Failed",
        "errors": [
            {"resource": "PullRequest", "code": "custom", "message": f"No commits between {BASE} and {HEAD}"},
            {"code": "x"},
        ],
        "status": "422",
    }
    httpserver.expect_request(PULLS, method="POST").respond_with_json(body, status=422)
    assert failure(github) == (
        f"GitHub rejected the request to create a pull request from {HEAD} to {BASE} on {OWNER}/{REPO} "
        f"(HTTP 422: Validation Failed: No commits between {BASE} and {HEAD}); "
        "check that the head branch is pushed and differs from the base"
    )


def test_server_errors_after_retries(github: GitHub, httpserver: HTTPServer) -> None:
    httpserver.expect_request(PULLS).respond_with_data("<html>Unicorn!</html>", status=502, content_type="text/html")
    message = failure(github)
    assert message.startswith(f"GitHub answered HTTP 502 trying to list the open pull requests of {OWNER}/{REPO} after retrying;")
    assert len(httpserver.log) == 3


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = GitHub(f"http://127.0.0.1:{port}", TOKEN, make_session(retries=1, backoff=0), timeout=1.0)
    assert f"did not answer GET {PULLS}: could not connect (Connection refused)" in failure(client)


# --- configuration and remotes ---------------------------------------------------------------


def test_token_is_required() -> None:
    with pytest.raises(UsageError, match=r"^GITHUB_TOKEN is not set; .*, or use --mode push$"):
        GitHub.from_env({"GITHUB_API_URL": "https://github.example.com/api/v3"})


def test_api_url_defaults_to_github_com() -> None:
    github = GitHub.from_env({"GITHUB_TOKEN": TOKEN})
    assert github.api_url == "https://api.github.com" and TOKEN not in repr(github)


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("https://github.com/example-org/airflow-eks-platform.git", (OWNER, REPO)),
        ("https://github.com/example-org/airflow-eks-platform", (OWNER, REPO)),
        ("https://github.com/example-org/airflow-eks-platform/", (OWNER, REPO)),
        ("https://x-access-token:ghs_secret@github.com/example-org/airflow-eks-platform.git", (OWNER, REPO)),
        ("git@github.com:example-org/airflow-eks-platform.git", (OWNER, REPO)),
        ("git@github.com:example-org/airflow-eks-platform", (OWNER, REPO)),
        ("ssh://git@github.com/example-org/airflow-eks-platform.git", (OWNER, REPO)),
        ("ssh://git@github.com:22/example-org/airflow-eks-platform", (OWNER, REPO)),
        ("https://github.example.com/platform/airflow.eks.git", ("platform", "airflow.eks")),
        ("git@github.example.com:platform/airflow_eks.git", ("platform", "airflow_eks")),
    ],
)
def test_remote_forms(remote: str, expected: tuple[str, str]) -> None:
    assert repository_from_remote(remote) == expected


@pytest.mark.parametrize(
    "remote",
    [
        "/srv/git/airflow-eks-platform.git",
        "../airflow-eks-platform",
        "file:///srv/git/example-org/airflow-eks-platform.git",
        "https://github.com/example-org",
        "https://github.com/example-org/airflow-eks-platform/tree/main",
        "C:\\repos\\airflow-eks-platform",
        "",
    ],
)
def test_remotes_that_are_not_github_repositories(remote: str) -> None:
    with pytest.raises(UsageError) as caught:
        repository_from_remote(remote)
    assert str(caught.value).startswith(f"remote URL '{remote}' is not a GitHub repository")
    assert "the remote must be a GitHub repository" in str(caught.value)


def test_credentials_in_a_bad_remote_are_not_printed() -> None:
    with pytest.raises(UsageError) as caught:
        repository_from_remote("https://x-access-token:ghs_secret@github.com/example-org")
    assert "ghs_secret" not in str(caught.value)
    assert "'https://github.com/example-org'" in str(caught.value)
