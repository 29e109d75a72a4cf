"""GitHub's REST API for the pull requests that promotion opens: one open pull request per head branch.

The API base is GITHUB_API_URL (GitHub Enterprise Server: https://HOST/api/v3), else https://api.github.com;
the token is GITHUB_TOKEN, sent as a Bearer token and never printed. GET and PATCH are retried on connection
errors, 429 and 502-504. POST is not: after a 5xx the pull request is looked up by its head branch, since
the create may have gone through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from ..model.findings import UsageError
from . import http

API_URL_ENV = "GITHUB_API_URL"
TOKEN_ENV = "GITHUB_TOKEN"
DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
TIMEOUT = (5.0, 30.0)  # seconds to connect, seconds to wait between bytes
RETRY_STATUSES = (429, 502, 503, 504)
PUSH = "or use --mode push"
_URL_SCHEMES = {"https", "http", "ssh", "git", "git+ssh", "ssh+git"}
_SCP = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^@/:]+):(?P<path>[^/].*)$")  # [user@]host:owner/repo
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_T = TypeVar("_T")


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str  # the pull request's page (html_url)
    created: bool  # False: an open pull request of the head branch was updated


def repository_from_remote(url: str) -> tuple[str, str]:
    """(owner, name) of a GitHub remote: https://[cred@]host/o/r[.git], git@host:o/r[.git], ssh://git@host/o/r."""
    value = url.strip()
    host, path = None, ""
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme.lower() in _URL_SCHEMES:
            host, path = parts.hostname, parts.path
    elif match := _SCP.match(value):
        host, path = match["host"], match["path"]
    segments = path.strip("/").removesuffix(".git").split("/")
    if host and len(segments) == 2 and _OWNER.match(segments[0]) and _NAME.match(segments[1]) and segments[1] not in (".", ".."):
        return segments[0], segments[1]
    shown = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1", value)  # without credentials
    raise UsageError(
        f"remote URL '{shown}' is not a GitHub repository (https://github.com/OWNER/REPO.git or git@github.com:OWNER/REPO.git); "
        f"the remote must be a GitHub repository to open a pull request, {PUSH}"
    )


def parse_pull(document: Any, created: bool) -> PullRequest:
    """A pull request object of the REST API -> PullRequest. Raises ValueError if it is not one."""
    if isinstance(document, Mapping) and isinstance(document.get("number"), int) and isinstance(document.get("html_url"), str):
        return PullRequest(document["number"], document["html_url"], created)
    raise ValueError("not a pull request object (number, html_url)")


def parse_pulls(document: Any) -> list[PullRequest]:
    if not isinstance(document, list):
        raise ValueError("not a list of pull requests")
    return [parse_pull(item, created=False) for item in document]


def error_text(document: Any) -> str:
    """GitHub's `message` and the first of `errors`, on one line: 'Validation Failed: No commits between main and x'."""
    if not isinstance(document, Mapping):
        return ""
    texts = [str(document.get("message") or "")]
    errors = document.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    if isinstance(first, Mapping):
        texts.append(str(first.get("message") or " ".join(str(first.get(k, "")) for k in ("resource", "field", "code")).strip()))
    elif first is not None:
        texts.append(str(first))
    return " ".join(": ".join(t for t in texts if t).split())[:300]


def make_session(retries: int = 3, backoff: float = 0.5) -> requests.Session:
    """GET and PATCH retried on connection errors, 429 and 502-504, with backoff and Retry-After; POST only
    when the connection failed before anything was sent (urllib3 retries no method on a connect error)."""
    return http.make_session("airflow-gitops-promote", {"GET", "PATCH"}, RETRY_STATUSES, retries, backoff)


def rate_limit_reset(header: str) -> str:
    """x-ratelimit-reset (epoch seconds) -> '2026-11-25 12:00:00 UTC'."""
    return datetime.fromtimestamp(int(header), UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if header.isdigit() else "an unknown time"


@dataclass
class GitHub:
    """Pull requests through one GitHub API endpoint. One instance per run."""

    api_url: str
    token: str = field(repr=False)
    session: requests.Session = field(default_factory=make_session)
    timeout: float | tuple[float, float] = TIMEOUT

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], session: requests.Session | None = None, timeout: float | tuple[float, float] = TIMEOUT
    ) -> GitHub:
        token = environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise UsageError(f"{TOKEN_ENV} is not set; set it to a token that may write pull requests, {PUSH}")
        api_url = (environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL).rstrip("/")
        if urlsplit(api_url).scheme not in ("http", "https"):
            raise UsageError(f"{API_URL_ENV} '{api_url}' is not an http(s) URL; set it to e.g. https://github.example.com/api/v3")
        return cls(api_url, token, session or make_session(), timeout)

    def find_open_pull(self, owner: str, repo: str, head_branch: str) -> PullRequest | None:
        action = f"list the open pull requests of {owner}/{repo}"
        params = {"head": f"{owner}:{head_branch}", "state": "open"}
        response = self._send("GET", f"/repos/{owner}/{repo}/pulls", params=params)
        pulls = self._read(response, action, owner, repo, parse_pulls)
        return pulls[0] if pulls else None

    def create_pull(self, owner: str, repo: str, head: str, base: str, title: str, body: str) -> PullRequest:
        action = f"create a pull request from {head} to {base} on {owner}/{repo}"
        payload = {"title": title, "body": body, "head": head, "base": base}
        response = self._send("POST", f"/repos/{owner}/{repo}/pulls", json=payload)
        if response.status_code >= 500:
            existing = self.find_open_pull(owner, repo, head)  # the create may have gone through
            if existing is not None:
                return PullRequest(existing.number, existing.url, created=True)
        return self._read(response, action, owner, repo, partial(parse_pull, created=True))

    def update_pull(self, owner: str, repo: str, number: int, title: str, body: str) -> PullRequest:
        action = f"update pull request #{number} of {owner}/{repo}"
        response = self._send("PATCH", f"/repos/{owner}/{repo}/pulls/{number}", json={"title": title, "body": body})
        return self._read(response, action, owner, repo, partial(parse_pull, created=False))

    def ensure_pull(self, owner: str, repo: str, head: str, base: str, title: str, body: str) -> PullRequest:
        """Update the open pull request of branch `head`, or create one from `head` to `base`."""
        existing = self.find_open_pull(owner, repo, head)
        if existing is not None:
            return self.update_pull(owner, repo, existing.number, title, body)
        return self.create_pull(owner, repo, head, base, title, body)

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "Authorization": f"Bearer {self.token}",
        }
        try:
            return self.session.request(method, f"{self.api_url}{path}", headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise UsageError(
                f"GitHub at {self.api_url} did not answer {method} {path}: {http.network_problem(exc, self.timeout)}; "
                f"check {API_URL_ENV} and the network, then try again"
            ) from exc

    def _read(self, response: requests.Response, action: str, owner: str, repo: str, parse: Callable[[Any], _T]) -> _T:
        if not 200 <= response.status_code < 300:
            raise UsageError(self._refusal(response, action, owner, repo))
        try:
            return parse(response.json())
        except ValueError as exc:  # also the JSON decoder's errors
            raise UsageError(
                f"GitHub at {self.api_url} answered the request to {action} with an unexpected body ({exc}); "
                f"check that {API_URL_ENV} is the REST API base (https://HOST/api/v3 for GitHub Enterprise Server)"
            ) from exc

    def _refusal(self, response: requests.Response, action: str, owner: str, repo: str) -> str:
        code = response.status_code
        try:
            said = error_text(response.json())
        except ValueError:
            said = ""
        detail = f"HTTP {code}: {said}" if said else f"HTTP {code}"
        limited = code in (403, 429)
        if code == 401:
            return f"GitHub refused the token (HTTP 401) at {self.api_url}; set {TOKEN_ENV} to a valid token, {PUSH}"
        if limited and response.headers.get("x-ratelimit-remaining") == "0":
            when = rate_limit_reset(response.headers.get("x-ratelimit-reset", ""))
            return f"GitHub rate limit exhausted trying to {action} ({detail}); it resets at {when}, try again after that"
        if limited and response.headers.get("retry-after"):
            wait = response.headers["retry-after"]
            return f"GitHub secondary rate limit hit trying to {action} ({detail}); wait {wait} s and try again"
        if code == 403:
            return (
                f"GitHub denied the token permission to {action} ({detail}); give {TOKEN_ENV} write access to pull requests "
                f"on {owner}/{repo} (fine-grained: Pull requests read and write; classic: repo scope), {PUSH}"
            )
        if code == 404:
            return (
                f"GitHub has no repository {owner}/{repo}, or {TOKEN_ENV} cannot see it ({detail} trying to {action}); "
                "check the remote URL and the token's repository access"
            )
        if code == 422:
            return f"GitHub rejected the request to {action} ({detail}); check that the head branch is pushed and differs from the base"
        if code >= 500 or limited:
            retried = "" if response.request.method == "POST" else " after retrying"
            return f"GitHub answered {detail} trying to {action}{retried}; try again later (https://www.githubstatus.com)"
        return f"GitHub answered {detail} trying to {action}"
