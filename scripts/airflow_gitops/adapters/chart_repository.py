"""Chart archives from Helm repositories (an index.yaml over HTTP(S)) and OCI registries, cached locally.

The one place that goes online. Every archive is checked against the digest its repository publishes
(the index entry's `digest`, or the OCI layer digest) before it is used or cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
import yaml

from ..model import yamlio
from ..model.findings import UsageError
from . import http

TIMEOUT = (10.0, 120.0)  # seconds to connect, seconds to wait between bytes
RETRY_STATUSES = (429, 500, 502, 503, 504)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
CACHE_PATH = ("airflow-gitops", "charts")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


class ChartRepoError(UsageError):
    """A chart could not be fetched, or its bytes do not match the digest its repository publishes."""


class ChartUnreachable(ChartRepoError):
    """The repository did not answer (no network, refused, timed out, 429 or 5xx after retries)."""


@dataclass(frozen=True)
class ChartArchive:
    repo_url: str
    chart: str
    version: str
    url: str  # where the repository publishes the archive
    sha256: str  # of data
    data: bytes
    from_cache: bool


@dataclass(frozen=True)
class Located:
    url: str
    digest: str | None  # hex sha256 the repository publishes, if it does
    headers: dict[str, str]  # what the download needs (a registry token)


def make_session(retries: int = 3, backoff: float = 0.5) -> requests.Session:
    """A session that retries GETs on connection errors, 429 and 5xx, with exponential backoff."""
    return http.make_session("airflow-gitops-schemas", {"GET"}, RETRY_STATUSES, retries, backoff)


def cache_dir(environ: Mapping[str, str]) -> Path:
    """$XDG_CACHE_HOME (or ~/.cache)/airflow-gitops/charts."""
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).joinpath(*CACHE_PATH)


def is_oci(repo_url: str) -> bool:
    """Argo CD names OCI registries without a scheme (public.ecr.aws/karpenter); helm writes oci://."""
    return repo_url.startswith("oci://") or "://" not in repo_url


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalise_digest(digest: str, where: str) -> str:
    """'sha256:ab..' or 'ab..' -> 'ab..'; any other algorithm is refused."""
    algorithm, _, value = digest.strip().rpartition(":")
    if algorithm not in ("", "sha256") or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise ChartRepoError(f"{where}: digest '{digest}' is not a sha256 digest; only sha256 can be verified")
    return value.lower()


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """'Bearer realm="https://r/token",service="s",scope="x"' -> ('bearer', {'realm': ..., ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


@dataclass
class ChartRepo:
    """Finds, downloads, verifies and caches chart archives. One instance per run."""

    session: requests.Session
    cache: Path
    plain_http: bool = False
    timeout: tuple[float, float] = TIMEOUT
    _indexes: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def cached_path(self, chart: str, version: str) -> Path:
        for name in (chart, version):
            if not _SAFE_NAME.fullmatch(name):
                raise ChartRepoError(f"'{name}' is not a valid chart name or version")
        return self.cache / f"{chart}-{version}.tgz"

    def obtain(self, repo_url: str, chart: str, version: str) -> tuple[Path, ChartArchive | None]:
        """The cached archive, with no request at all; else fetched, verified and cached.

        Returns the cache path and, when it was downloaded now, the archive. An archive enters
        the cache only after its digest matched, and by an atomic rename, so a cached one is
        trusted as it is and never downloaded again."""
        cached = self.cached_path(chart, version)
        if cached.is_file():
            return cached, None
        return cached, self.fetch(repo_url, chart, version)

    def fetch(self, repo_url: str, chart: str, version: str) -> ChartArchive:
        self.cached_path(chart, version)
        located = self.locate_oci(repo_url, chart, version) if is_oci(repo_url) else self.locate_helm(repo_url, chart, version)
        cached = self.cache / f"{chart}-{version}.tgz"
        if cached.is_file():
            data = cached.read_bytes()
            digest = sha256_hex(data)
            if located.digest is None or digest == located.digest:
                return ChartArchive(repo_url, chart, version, located.url, digest, data, from_cache=True)
            cached.unlink()  # stale or from another repository: download it again
        data = self.download(located)
        digest = sha256_hex(data)
        self._store(cached, data)
        return ChartArchive(repo_url, chart, version, located.url, digest, data, from_cache=False)

    # --- Helm repositories ----------------------------------------------------------------
    def locate_helm(self, repo_url: str, chart: str, version: str) -> Located:
        index_url = f"{repo_url.rstrip('/')}/index.yaml"
        entries = (self._index(index_url).get("entries") or {}).get(chart)
        if not isinstance(entries, list):
            raise ChartRepoError(f"{index_url} has no chart '{chart}'; check the chart name and repoURL")
        for entry in entries:
            if isinstance(entry, dict) and yamlio.scalar_str(entry.get("version")) == version:
                urls = entry.get("urls") or []
                if not urls:
                    raise ChartRepoError(f"{index_url}: {chart} {version} lists no download URL")
                digest = entry.get("digest")
                return Located(
                    url=urljoin(f"{repo_url.rstrip('/')}/", str(urls[0])),
                    digest=normalise_digest(str(digest), index_url) if digest else None,
                    headers={},
                )
        raise ChartRepoError(f"{index_url} has no version {version} of {chart}; check targetRevision")

    def _index(self, index_url: str) -> dict[str, Any]:
        if index_url not in self._indexes:
            response = self._ok(self._get(index_url), "the repository index")
            try:
                index = yamlio.load(response.text)
            except yaml.YAMLError as exc:
                raise ChartRepoError(f"{index_url}: not a Helm repository index ({yamlio.error_text(exc)})") from exc
            self._indexes[index_url] = index if isinstance(index, dict) else {}
        return self._indexes[index_url]

    # --- OCI registries -------------------------------------------------------------------
    def oci_base(self, repo_url: str, chart: str) -> tuple[str, str]:
        """('https://host/v2/path/chart', 'path/chart') for repo URL 'host/path' or 'oci://host/path'."""
        host, _, path = repo_url.removeprefix("oci://").strip("/").partition("/")
        repository = f"{path.strip('/')}/{chart}" if path.strip("/") else chart
        scheme = "http" if self.plain_http else "https"
        return f"{scheme}://{host}/v2/{repository}", repository

    def locate_oci(self, repo_url: str, chart: str, version: str) -> Located:
        base, repository = self.oci_base(repo_url, chart)
        url = f"{base}/manifests/{version.replace('+', '_')}"  # helm stores '+' as '_' in tags
        headers = {"Accept": OCI_MANIFEST}
        response = self._get(url, headers=headers)
        if response.status_code == 401:
            token = self._anonymous_token(response, repository)
            headers = {**headers, "Authorization": f"Bearer {token}"}
            response = self._get(url, headers=headers)
        self._ok(response, f"chart {chart} {version}")
        try:
            manifest = json.loads(response.content)
        except ValueError as exc:
            raise ChartRepoError(f"{url}: the manifest is not JSON") from exc
        layers = manifest.get("layers") if isinstance(manifest, dict) else None
        for layer in layers if isinstance(layers, list) else []:
            if isinstance(layer, dict) and layer.get("mediaType") == HELM_CHART_LAYER:
                digest = normalise_digest(str(layer.get("digest", "")), url)
                auth = {k: v for k, v in headers.items() if k == "Authorization"}
                return Located(url=f"{base}/blobs/sha256:{digest}", digest=digest, headers=auth)
        raise ChartRepoError(f"{url}: no layer of type {HELM_CHART_LAYER}; is {repo_url}/{chart} a Helm chart?")

    def _anonymous_token(self, challenge: requests.Response, repository: str) -> str:
        scheme, params = parse_challenge(challenge.headers.get("WWW-Authenticate", ""))
        if scheme != "bearer" or not params.get("realm"):
            raise ChartRepoError(
                f"{challenge.url}: the registry wants credentials ({scheme or 'no challenge'}); "
                "only anonymous Bearer tokens are supported"
            )
        query = {
            "service": params.get("service", ""),
            "scope": params.get("scope") or f"repository:{repository}:pull",
        }
        response = self._ok(self._get(params["realm"], params={k: v for k, v in query.items() if v}), "an anonymous token")
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise ChartRepoError(f"{params['realm']}: the token response is not JSON") from exc
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not token:
            raise ChartRepoError(f"{params['realm']}: the token response has no token")
        return str(token)

    # --- downloads ------------------------------------------------------------------------
    def download(self, located: Located) -> bytes:
        data = self._ok(self._get(located.url, headers=located.headers), "the chart archive").content
        if located.digest is not None and sha256_hex(data) != located.digest:
            raise ChartRepoError(
                f"{located.url}: sha256 {sha256_hex(data)} does not match the published digest {located.digest}; "
                "the download or the repository is corrupt, try again or report it upstream"
            )
        return data

    def _get(
        self, url: str, headers: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None
    ) -> requests.Response:
        try:
            return self.session.get(url, headers=dict(headers or {}), params=dict(params or {}), timeout=self.timeout)
        except requests.RequestException as exc:
            raise ChartUnreachable(
                f"GET {url} failed: {http.network_problem(exc, self.timeout)}; check the network and the repository URL"
            ) from exc

    @staticmethod
    def _ok(response: requests.Response, what: str) -> requests.Response:
        if response.status_code in RETRY_STATUSES:
            raise ChartUnreachable(f"GET {response.url} for {what}: HTTP {response.status_code} {response.reason or ''}".rstrip())
        if response.status_code != 200:
            raise ChartRepoError(f"GET {response.url} for {what}: HTTP {response.status_code} {response.reason or ''}".rstrip())
        return response

    @staticmethod
    def _store(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
