"""ChartRepo against a real HTTP server: a Helm repository index and an OCI registry with a token."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_gitops.adapters.chart_repository import (
    HELM_CHART_LAYER,
    OCI_MANIFEST,
    ChartRepo,
    ChartRepoError,
    cache_dir,
    is_oci,
    make_session,
    parse_challenge,
)

TOKEN = "anonymous-pull-token"


def crd_yaml(group: str = "example.com", kind: str = "Widget", plural: str = "widgets") -> str:
    return f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  names:
    kind: {kind}
    plural: {plural}
    singular: {kind.lower()}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size:
                  type: integer
"""


CRD = crd_yaml()

TEMPLATED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-operator
  labels:
    {{- include "chart.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
"""


def build_chart(
    name: str,
    version: str,
    app_version: str,
    *,
    schema: bytes | None = b'{"type": "object", "properties": {"replicas": {"type": "integer"}}}\n',
    files: dict[str, str] | None = None,
    licence: str | None = "Apache-2.0",
) -> bytes:
    """A packaged chart, laid out as `helm package` writes it: everything under <name>/."""
    chart: dict[str, object] = {
        "apiVersion": "v2",
        "name": name,
        "version": version,
        "appVersion": app_version,
    }
    if licence:
        chart["annotations"] = {"artifacthub.io/license": licence}
    members: dict[str, bytes] = {
        "Chart.yaml": yaml.safe_dump(chart, sort_keys=True).encode(),
        "values.yaml": b"replicas: 1\n",
    }
    if schema is not None:
        members["values.schema.json"] = schema
    for path, text in (
        files if files is not None else {"crds/widgets.yaml": CRD, "templates/deployment.yaml": TEMPLATED}
    ).items():
        members[path] = text.encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path, data in members.items():
            info = tarfile.TarInfo(f"{name}/{path}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serve_helm_repo(
    server: HTTPServer,
    prefix: str,
    charts: dict[tuple[str, str], bytes],
    digests: dict[tuple[str, str], str] | None = None,
    relative: bool = True,
) -> str:
    """index.yaml plus the archives under <prefix>/; returns the repository URL."""
    repo_url = server.url_for(prefix)
    entries: dict[str, list[dict[str, object]]] = {}
    for (chart, version), data in charts.items():
        file = f"{chart}-{version}.tgz"
        url = f"packages/{file}" if relative else server.url_for(f"/downloads/{file}")
        digest = (digests or {}).get((chart, version), sha256(data))
        entries.setdefault(chart, []).append({"name": chart, "version": version, "urls": [url], "digest": digest})
        path = f"{prefix}/packages/{file}" if relative else f"/downloads/{file}"
        server.expect_request(path).respond_with_data(data, content_type="application/gzip")
    index = {"apiVersion": "v1", "entries": entries}
    server.expect_request(f"{prefix}/index.yaml").respond_with_data(yaml.safe_dump(index), content_type="text/yaml")
    return repo_url


def serve_oci_registry(server: HTTPServer, path: str, chart: str, tag: str, data: bytes, blob_digest: str | None = None) -> str:
    """A registry that wants an anonymous Bearer token; returns the repo URL as Argo CD writes it."""
    repository = f"{path}/{chart}"
    digest = f"sha256:{sha256(data)}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.cncf.helm.config.v1+json",
            "digest": "sha256:" + "1" * 64,
            "size": 2,
        },
        "layers": [{"mediaType": HELM_CHART_LAYER, "digest": blob_digest or digest, "size": len(data)}],
    }
    realm = server.url_for("/token")

    def authorised(payload: bytes, content_type: str) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                challenge = f'Bearer realm="{realm}",service="test-registry",scope="repository:{repository}:pull"'
                return Response(status=401, headers={"WWW-Authenticate": challenge})
            return Response(payload, status=200, content_type=content_type)

        return handler

    server.expect_request(f"/v2/{repository}/manifests/{tag}").respond_with_handler(
        authorised(json.dumps(manifest).encode(), OCI_MANIFEST)
    )
    server.expect_request(f"/v2/{repository}/blobs/{blob_digest or digest}").respond_with_handler(
        authorised(data, "application/octet-stream")
    )
    server.expect_request(
        "/token", query_string={"service": "test-registry", "scope": f"repository:{repository}:pull"}
    ).respond_with_json({"token": TOKEN})
    return f"{server.host}:{server.port}/{path}"


def paths(server: HTTPServer) -> list[str]:
    return [request.path for request, _ in server.log]


@pytest.fixture
def chart_repo(tmp_path: Path) -> Iterator[ChartRepo]:
    with make_session() as session:
        yield ChartRepo(session, tmp_path / "cache", plain_http=True)


def test_helm_repository_resolves_relative_urls_verifies_and_caches(httpserver: HTTPServer, chart_repo: ChartRepo) -> None:
    data = build_chart("widgets", "1.0.0", "1.4.2")
    repo_url = serve_helm_repo(httpserver, "/charts", {("widgets", "1.0.0"): data})

    first = chart_repo.fetch(repo_url, "widgets", "1.0.0")
    assert first.data == data and first.sha256 == sha256(data) and not first.from_cache
    assert first.url == f"{repo_url}/packages/widgets-1.0.0.tgz"
    assert (chart_repo.cache / "widgets-1.0.0.tgz").read_bytes() == data

    httpserver.clear_log()
    again = ChartRepo(chart_repo.session, chart_repo.cache).fetch(repo_url, "widgets", "1.0.0")
    assert again.from_cache and again.data == data
    assert paths(httpserver) == ["/charts/index.yaml"]  # the digest is checked, the archive not downloaded


def test_helm_repository_with_absolute_urls(httpserver: HTTPServer, chart_repo: ChartRepo) -> None:
    data = build_chart("widgets", "1.0.0", "1.4.2")
    repo_url = serve_helm_repo(httpserver, "/charts", {("widgets", "1.0.0"): data}, relative=False)
    assert chart_repo.fetch(repo_url + "/", "widgets", "1.0.0").url == httpserver.url_for("/downloads/widgets-1.0.0.tgz")


def test_wrong_digest_is_refused_and_not_cached(httpserver: HTTPServer, chart_repo: ChartRepo) -> None:
    data = build_chart("widgets", "1.0.0", "1.4.2")
    repo_url = serve_helm_repo(httpserver, "/charts", {("widgets", "1.0.0"): data}, {("widgets", "1.0.0"): "0" * 64})
    with pytest.raises(ChartRepoError, match="does not match the published digest"):
        chart_repo.fetch(repo_url, "widgets", "1.0.0")
    assert not (chart_repo.cache / "widgets-1.0.0.tgz").exists()


def test_stale_cache_is_downloaded_again(httpserver: HTTPServer, chart_repo: ChartRepo) -> None:
    data = build_chart("widgets", "1.0.0", "1.4.2")
    repo_url = serve_helm_repo(httpserver, "/charts", {("widgets", "1.0.0"): data})
    chart_repo.cache.mkdir(parents=True)
    (chart_repo.cache / "widgets-1.0.0.tgz").write_bytes(b"not this one")
    archive = chart_repo.fetch(repo_url, "widgets", "1.0.0")
    assert archive.data == data and not archive.from_cache


def test_unknown_chart_or_version_is_named(httpserver: HTTPServer, chart_repo: ChartRepo) -> None:
    repo_url = serve_helm_repo(httpserver, "/charts", {("widgets", "1.0.0"): build_chart("widgets", "1.0.0", "1")})
    with pytest.raises(ChartRepoError, match="no version 9.9.9 of widgets"):
        chart_repo.fetch(repo_url, "widgets", "9.9.9")
    with pytest.raises(ChartRepoError, match="no chart 'gizmos'"):
        chart_repo.fetch(repo_url, "gizmos", "1.0.0")


def test_missing_index_is_reported(httpserver: HTTPServer, chart_repo: ChartRepo) -> None:
    httpserver.expect_request("/nothing/index.yaml").respond_with_data("", status=404)
    with pytest.raises(ChartRepoError, match="HTTP 404"):
        chart_repo.fetch(httpserver.url_for("/nothing"), "widgets", "1.0.0")


def test_oci_registry_with_anonymous_bearer_token(httpserver: HTTPServer, chart_repo: ChartRepo) -> None:
    data = build_chart("gadgets", "2.0.0+build.1", "v2.0.0")
    repo_url = serve_oci_registry(httpserver, "oci", "gadgets", "2.0.0_build.1", data)

    archive = chart_repo.fetch(repo_url, "gadgets", "2.0.0+build.1")
    assert archive.data == data and archive.sha256 == sha256(data)
    manifest_requests = [r for r, _ in httpserver.log if r.path.endswith("/manifests/2.0.0_build.1")]
    assert len(manifest_requests) == 2  # refused, then retried with the token
    assert manifest_requests[0].headers.get("Accept") == OCI_MANIFEST
    assert manifest_requests[1].headers.get("Authorization") == f"Bearer {TOKEN}"
    assert "/token" in paths(httpserver)
    assert paths(httpserver)[-1] == f"/v2/oci/gadgets/blobs/sha256:{sha256(data)}"

    oci_url = f"oci://{repo_url}"
    assert ChartRepo(chart_repo.session, chart_repo.cache, plain_http=True).fetch(oci_url, "gadgets", "2.0.0+build.1").from_cache


def test_oci_blob_must_match_its_digest(httpserver: HTTPServer, chart_repo: ChartRepo) -> None:
    data = build_chart("gadgets", "2.0.0", "v2.0.0")
    repo_url = serve_oci_registry(httpserver, "oci", "gadgets", "2.0.0", data, blob_digest="sha256:" + "a" * 64)
    with pytest.raises(ChartRepoError, match="does not match"):
        chart_repo.fetch(repo_url, "gadgets", "2.0.0")


def test_transient_server_errors_are_retried(httpserver: HTTPServer, chart_repo: ChartRepo) -> None:
    data = build_chart("widgets", "1.0.0", "1")
    repo_url = serve_helm_repo(httpserver, "/charts", {("widgets", "1.0.0"): data})
    calls: list[int] = []
    index = yaml.safe_dump({"entries": {"widgets": [{"version": "1.0.0", "urls": ["packages/widgets-1.0.0.tgz"]}]}})

    def flaky(request: Request) -> Response:
        calls.append(1)
        return Response("busy", status=503) if len(calls) == 1 else Response(index, status=200)

    httpserver.clear()
    httpserver.expect_request("/charts/index.yaml").respond_with_handler(flaky)
    httpserver.expect_request("/charts/packages/widgets-1.0.0.tgz").respond_with_data(data)
    assert chart_repo.fetch(repo_url, "widgets", "1.0.0").data == data
    assert len(calls) == 2


def test_oci_urls(tmp_path: Path) -> None:
    with make_session() as session:
        secure = ChartRepo(session, tmp_path)
        plain = ChartRepo(session, tmp_path, plain_http=True)
    assert secure.oci_base("public.ecr.aws/karpenter", "karpenter") == (
        "https://public.ecr.aws/v2/karpenter/karpenter",
        "karpenter/karpenter",
    )
    assert plain.oci_base("oci://registry.local:5000/", "x") == ("http://registry.local:5000/v2/x", "x")
    assert is_oci("public.ecr.aws/karpenter") and is_oci("oci://ghcr.io/org/charts")
    assert not is_oci("https://charts.example.com")


def test_parse_challenge() -> None:
    scheme, params = parse_challenge('Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws"')
    assert scheme == "bearer"
    assert params == {"realm": "https://public.ecr.aws/token/", "service": "public.ecr.aws", "scope": "aws"}


def test_cache_dir() -> None:
    assert cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/airflow-gitops/charts")
    assert cache_dir({}) == Path.home() / ".cache" / "airflow-gitops" / "charts"
