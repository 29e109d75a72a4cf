"""A local registry for Renovate's lookups: a Helm repository, a Docker registry v2 and a Terraform registry, on 127.0.0.1.

It offers, above each version pinned in the repository, one patch, one minor and one major release, so a lookup has
an update of each kind to propose (and to hold back) for every pin it serves.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

from airflow_gitops.upgrades.pins import Pin

# A version Renovate can count on: optional `v`, major.minor.patch, then a suffix kept as is (`-1`, the build number).
_SEMVER = re.compile(r"^(?P<prefix>v?)(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(?P<suffix>.*)$")

HELM = "helm"
DOCKER = "docker"
TERRAFORM_PROVIDER = "terraform-provider"
SERVED_DATASOURCES = (HELM, DOCKER, TERRAFORM_PROVIDER)

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"


def newer_versions(version: str) -> dict[str, str]:
    """The next patch, minor and major release of an exact version; nothing for a range or an odd format."""
    match = _SEMVER.match(version)
    if not match:
        return {}
    prefix, suffix = match.group("prefix"), match.group("suffix")
    major, minor, patch = (int(match.group(k)) for k in ("major", "minor", "patch"))
    return {
        "patch": f"{prefix}{major}.{minor}.{patch + 1}{suffix}",
        "minor": f"{prefix}{major}.{minor + 1}.0{suffix}",
        "major": f"{prefix}{major + 1}.0.0{suffix}",
    }


def docker_repository(dependency: str) -> str:
    """The repository a Docker dependency has on the local registry: its name without the registry host."""
    first, _, rest = dependency.partition("/")
    return rest if rest and ("." in first or ":" in first) else dependency


def provider_source(pin: Pin) -> str:
    """A provider's registry address, as Renovate looks it up (`aws` is `hashicorp/aws`)."""
    return pin.dependency if "/" in pin.dependency else f"hashicorp/{pin.dependency}"


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Catalogue:
    """What the registry serves: versions per Helm chart, tags per Docker repository, versions per provider."""

    charts: dict[str, set[str]] = field(default_factory=dict)
    images: dict[str, set[str]] = field(default_factory=dict)
    providers: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def above(cls, pins: Iterable[Pin]) -> Catalogue:
        """Each pinned version of a served dependency, and a patch, a minor and a major above it."""
        catalogue = cls()
        for pin in pins:
            offered = {pin.version, *newer_versions(pin.version).values()} if _SEMVER.match(pin.version) else set()
            if not offered:
                continue
            if pin.datasource == HELM:
                catalogue.charts.setdefault(pin.dependency, set()).update(offered)
            elif pin.datasource == DOCKER:
                catalogue.images.setdefault(docker_repository(pin.dependency), set()).update(offered)
            elif pin.datasource == TERRAFORM_PROVIDER:
                catalogue.providers.setdefault(provider_source(pin), set()).update(offered)
        return catalogue

    def helm_index(self, base_url: str) -> str:
        # A month old: past any minimum release age, and far from Renovate's threshold for abandoned packages.
        created = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        entries = {
            chart: [
                {
                    "apiVersion": "v2",
                    "name": chart,
                    "version": version,
                    "appVersion": version,
                    "created": created,
                    "digest": digest_of(f"{chart}-{version}").removeprefix("sha256:"),
                    "urls": [f"{base_url}/charts/{chart}-{version}.tgz"],
                }
                for version in sorted(versions)
            ]
            for chart, versions in sorted(self.charts.items())
        }
        return yaml.safe_dump({"apiVersion": "v1", "entries": entries, "generated": created})


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it so
        """Requests are kept in `LocalRegistry.requests`, not printed."""

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        self.server.requests.append(f"{self.command} {self.path}")
        catalogue, base = self.server.catalogue, self.server.base_url
        if path == "/index.yaml":
            return self._send(200, catalogue.helm_index(base), "application/x-yaml", head)
        if path == "/v2/":
            return self._json(200, {}, head)
        if path == "/.well-known/terraform.json":
            return self._json(200, {"providers.v1": "/v1/providers/"}, head)
        if match := re.fullmatch(r"/v2/(?P<name>.+)/tags/list", path):
            tags = catalogue.images.get(match.group("name"))
            if tags is None:
                return self._json(404, {"errors": [{"code": "NAME_UNKNOWN"}]}, head)
            return self._json(200, {"name": match.group("name"), "tags": sorted(tags)}, head)
        if match := re.fullmatch(r"/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)", path):
            return self._manifest(match.group("name"), match.group("ref"), head)
        if match := re.fullmatch(r"/v2/(?P<name>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})", path):
            return self._json(200, {"architecture": "amd64", "os": "linux", "config": {"Labels": {}}}, head)
        if match := re.fullmatch(r"/v1/providers/(?P<source>[\w-]+/[\w-]+)/versions", path):
            versions = catalogue.providers.get(match.group("source"))
            if versions is None:
                return self._json(404, {"errors": ["Not Found"]}, head)
            platforms = [{"os": "linux", "arch": "amd64"}]
            return self._json(
                200, {"versions": [{"version": v, "protocols": ["5.0"], "platforms": platforms} for v in versions]}, head
            )
        return self._json(404, {"errors": [f"not served: {path}"]}, head)

    def _manifest(self, name: str, ref: str, head: bool) -> None:
        tags = self.server.catalogue.images.get(name, set())
        tag = next((t for t in tags if ref in (t, digest_of(f"{name}:{t}"))), None)
        if tag is None:
            return self._json(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]}, head)
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {}}})
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "size": len(config), "digest": digest_of(config)},
            "layers": [],
        }
        headers = {"Docker-Content-Digest": digest_of(f"{name}:{tag}")}
        self._send(200, json.dumps(manifest), MANIFEST_MEDIA_TYPE, head, headers)

    def _json(self, status: int, body: Any, head: bool) -> None:
        self._send(status, json.dumps(body), "application/json", head)

    def _send(self, status: int, body: str, content_type: str, head: bool, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, catalogue: Catalogue) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.catalogue = catalogue
        self.requests: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@dataclass
class LocalRegistry:
    """A running registry: its URL, what it serves, and every request it answered."""

    url: str
    catalogue: Catalogue
    requests: list[str]


@contextmanager
def serve(catalogue: Catalogue) -> Iterator[LocalRegistry]:
    server = _Server(catalogue)
    thread = threading.Thread(target=server.serve_forever, name="local-registry", daemon=True)
    thread.start()
    try:
        yield LocalRegistry(server.base_url, catalogue, server.requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def package_rules(url: str, pins: Iterable[Pin]) -> list[dict[str, Any]]:
    """The packageRules that send a copy's lookups to the local registry, and switch off what it does not serve.

    `registryUrls` in a packageRule wins over the URL a manager extracts (the argocd manager's `repoURL`, the
    `registryUrl=` of a `# renovate:` comment): the report's `registryUrl` of every chart is the local one, so the
    copied files need no rewriting. A Docker image is different: its registry host is part of its name and wins over
    `registryUrls`, so each image is also looked up under its local name (`overridePackageName`); its depName stays,
    so the renovate.json rules that match it still apply.
    """
    rules: list[dict[str, Any]] = [
        {
            "description": "Test only: charts and Terraform providers from the local registry.",
            "matchDatasources": [HELM, TERRAFORM_PROVIDER],
            "registryUrls": [url],
        }
    ]
    for dependency in sorted({pin.dependency for pin in pins if pin.datasource == DOCKER}):
        rules.append(
            {
                "description": "Test only: this image from the local registry.",
                "matchDatasources": [DOCKER],
                "matchDepNames": [dependency],
                "overridePackageName": docker_repository(dependency),
                "registryUrls": [url],
            }
        )
    rules.append(
        {
            "description": "Test only: datasources the local registry does not serve (endoflife-date, github-*, pypi, npm...).",
            "matchDatasources": [f"!/^({'|'.join(SERVED_DATASOURCES)})$/"],
            "enabled": False,
        }
    )
    return rules
