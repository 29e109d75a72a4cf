"""The ECR adapter against a moto server that is the shared registry account, and the severity gate."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_gitops.adapters.ecr import GATE_CHOICES, SEVERITIES, Ecr, Registry, ScanSummary, severity_counts, severity_gate
from airflow_gitops.model.findings import UsageError
from airflow_gitops.model.repo import ClusterConfig, Repo
from tests.aws.conftest import DEV_REGION, Moto, _moto_server, _point_at
from tests.conftest import REPO_ROOT

REGISTRY = Registry.of(Repo(REPO_ROOT).cluster("dev"))
DIGEST = "sha256:" + "ab" * 32
THROTTLED = {"__type": "ThrottlingException", "message": "Rate exceeded"}


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    """moto as the registry account of cluster.yaml (one account per server)."""
    with _moto_server(tmp_path_factory.mktemp("moto-registry") / "moto.log", REGISTRY.account_id) as moto:
        yield moto


@pytest.fixture
def registry(registry_server: Moto, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Moto:
    """The registry account, empty; the AWS variables point at it."""
    return _point_at(registry_server, monkeypatch, tmp_path)


@pytest.fixture
def pusher(registry: Moto) -> Any:
    """An ECR client in the registry account, with the repository `airflow` created."""
    ecr = registry.client("ecr")
    ecr.create_repository(repositoryName="airflow")
    return ecr


def push(ecr: Any, tag: str, layer: str) -> str:
    """Push a one-layer image manifest under a tag; its digest (moto derives it from the layers)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "c" * 64, "size": 2},
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:" + hashlib.sha256(layer.encode()).hexdigest(),
                "size": 1,
            }
        ],
    }
    image = ecr.put_image(repositoryName="airflow", imageManifest=json.dumps(manifest), imageTag=tag)["image"]
    return str(image["imageId"]["imageDigest"])


def scanned(ecr: Any, digest: str, result: dict[str, Any] | None = None) -> None:
    """Start a scan of an image; with `result`, moto answers DescribeImageScanFindings with it."""
    ecr.start_image_scan(repositoryName="airflow", imageId={"imageDigest": digest})
    if result is not None:
        body = {"registryId": REGISTRY.account_id, "repositoryName": "airflow", "imageId": {"imageDigest": digest}, **result}
        requests.post(
            f"{ecr.meta.endpoint_url}/moto-api/static/ecr/scan-finding-results",
            json={"results": [body], "region": DEV_REGION, "account_id": REGISTRY.account_id},
            timeout=10,
        ).raise_for_status()


def one_line(exc: pytest.ExceptionInfo[UsageError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_the_registry_is_the_one_cluster_yaml_names() -> None:
    repo = Repo(REPO_ROOT)
    for env in repo.envs:
        cluster = repo.cluster(env)
        assert Registry.of(cluster).host == cluster.registry
    assert REGISTRY == Registry("444444444444", "eu-west-1")


@pytest.mark.parametrize(
    ("section", "expected"),
    [({"account_id": 4444, "region": "eu-west-1"}, "12-digit"), ({"account_id": "444444444444"}, "registry.region")],
)
def test_a_malformed_registry_is_refused(section: dict[str, Any], expected: str) -> None:
    with pytest.raises(UsageError, match=expected):
        Registry.of(ClusterConfig("dev", "clusters/dev/cluster.yaml", {"registry": section}))


def test_resolve_tag_names_the_digest_the_tag_points_at(pusher: Any) -> None:
    old = push(pusher, "2.10.2", "old layer")
    new = push(pusher, "2.10.3", "new layer")
    image = Ecr.connect(REGISTRY).resolve_tag("airflow", "2.10.3")
    assert (image.repository, image.digest, image.tags) == ("airflow", new, ("2.10.3",))
    assert new != old and image.reference == f"airflow@{new}"
    assert isinstance(image.pushed_at, datetime) and isinstance(image.image_size, int)


@pytest.mark.parametrize("elsewhere", [Registry("555555555555", REGISTRY.region), Registry(REGISTRY.account_id, "us-east-1")])
def test_every_call_goes_to_the_registry_account_and_region(pusher: Any, elsewhere: Registry) -> None:
    """Not the caller's account or region, which are an environment's: another registry finds nothing."""
    push(pusher, "2.10.3", "layer")
    with pytest.raises(UsageError) as exc:
        Ecr.connect(elsewhere).resolve_tag("airflow", "2.10.3")
    assert one_line(exc).startswith(f"no repository 'airflow' in the registry {elsewhere.host};")


def test_a_missing_tag_says_what_to_push(pusher: Any) -> None:
    push(pusher, "2.10.3", "layer")
    with pytest.raises(UsageError) as exc:
        Ecr.connect(REGISTRY).resolve_tag("airflow", "9.9.9")
    message = one_line(exc)
    assert message.startswith(f"airflow:9.9.9 is not in the registry {REGISTRY.host}; push it")
    assert "pick a tag the source environment runs" in message


def test_a_missing_repository_has_its_own_message(pusher: Any) -> None:
    with pytest.raises(UsageError) as exc:
        Ecr.connect(REGISTRY).resolve_tag("airflw", "2.10.3")
    assert one_line(exc) == (
        f"no repository 'airflw' in the registry {REGISTRY.host}; check airflow.image_repository in cluster.yaml, or create the repository"
    )


def test_an_image_never_scanned_blocks_the_gate(pusher: Any) -> None:
    digest = push(pusher, "2.10.3", "layer")
    summary = Ecr.connect(REGISTRY).scan_summary("airflow", digest)
    assert summary.status == "NOT_FOUND"
    assert severity_gate(summary) == (
        f"airflow@{digest} has no scan; turn on scan on push for the repository or start one (aws ecr start-image-scan), then re-run"
    )


def test_a_basic_scan_counts_by_severity(pusher: Any) -> None:
    digest = push(pusher, "2.10.3", "layer")
    scanned(pusher, digest)  # moto's own result: one HIGH finding
    summary = Ecr.connect(REGISTRY).scan_summary("airflow", digest)
    assert (summary.status, summary.counts) == ("COMPLETE", {**dict.fromkeys(SEVERITIES, 0), "HIGH": 1})
    assert severity_gate(summary, "HIGH") == (
        f"scan of airflow@{digest} found 1 HIGH; the gate blocks HIGH and above: fix them and push a new image, or raise the gate's max severity"
    )
    assert severity_gate(summary, "CRITICAL") is None


def test_an_enhanced_scan_reads_finding_severity_counts(pusher: Any) -> None:
    digest = push(pusher, "2.10.3", "layer")
    findings = [{"severity": "CRITICAL", "type": "PACKAGE_VULNERABILITY"}] * 2 + [
        {"severity": "UNTRIAGED", "type": "PACKAGE_VULNERABILITY"}
    ]
    result = {
        "imageScanStatus": {"status": "ACTIVE", "description": "Continuous scan is selected for image."},
        "imageScanFindings": {"enhancedFindings": findings, "findingSeverityCounts": {"CRITICAL": 2, "UNTRIAGED": 1}},
    }
    scanned(pusher, digest, result)
    summary = Ecr.connect(REGISTRY).scan_summary("airflow", digest)
    assert summary.status == "ACTIVE"
    assert summary.counts == {**dict.fromkeys(SEVERITIES, 0), "CRITICAL": 2, "UNTRIAGED": 1}
    assert severity_gate(summary, "CRITICAL") is not None and "found 2 CRITICAL;" in str(severity_gate(summary, "CRITICAL"))
    assert "found 2 CRITICAL, 1 UNTRIAGED;" in str(severity_gate(summary, "INFORMATIONAL"))


@pytest.mark.parametrize(
    ("status", "description", "refusal"),
    [
        ("IN_PROGRESS", "", "scan of airflow@{digest} is IN_PROGRESS; wait for it or re-run later"),
        ("PENDING", "", "scan of airflow@{digest} is PENDING; wait for it or re-run later"),
        (
            "FAILED",
            "UnsupportedImageError: The operating system 'x' is not supported.",
            "scan of airflow@{digest} is FAILED (UnsupportedImageError: The operating system 'x' is not supported.); re-scan the image (or push it again) and re-run",
        ),
        (
            "SCAN_ELIGIBILITY_EXPIRED",
            "",
            "scan of airflow@{digest} is SCAN_ELIGIBILITY_EXPIRED; re-scan the image (or push it again) and re-run",
        ),
    ],
)
def test_a_scan_that_is_not_complete_blocks_the_gate(pusher: Any, status: str, description: str, refusal: str) -> None:
    digest = push(pusher, "2.10.3", "layer")
    scanned(pusher, digest, {"imageScanStatus": {"status": status, "description": description}, "imageScanFindings": {}})
    summary = Ecr.connect(REGISTRY).scan_summary("airflow", digest)
    assert (summary.status, summary.counts) == (status, {})
    assert severity_gate(summary) == refusal.format(digest=digest)
    assert severity_gate(summary, "NONE") is None


def complete(**counts: int) -> ScanSummary:
    return ScanSummary("airflow", DIGEST, "COMPLETE", counts={**dict.fromkeys(SEVERITIES, 0), **counts})


@pytest.mark.parametrize(
    ("counts", "max_severity", "blocked"),
    [
        ({}, "HIGH", None),
        ({"MEDIUM": 9, "LOW": 9, "INFORMATIONAL": 9}, "HIGH", None),
        ({"HIGH": 1}, "HIGH", "1 HIGH"),
        ({"CRITICAL": 1, "HIGH": 2, "MEDIUM": 3}, "HIGH", "1 CRITICAL, 2 HIGH"),
        ({"HIGH": 5}, "CRITICAL", None),
        ({"CRITICAL": 1}, "critical", "1 CRITICAL"),
        ({"MEDIUM": 1}, "MEDIUM", "1 MEDIUM"),
        ({"LOW": 2}, "MEDIUM", None),
        ({"LOW": 2}, "LOW", "2 LOW"),
        ({"INFORMATIONAL": 1, "UNDEFINED": 1}, "LOW", None),
        ({"INFORMATIONAL": 1, "UNDEFINED": 1}, "INFORMATIONAL", "1 INFORMATIONAL, 1 UNDEFINED"),
        ({"CRITICAL": 7}, "NONE", None),
    ],
)
def test_severity_gate(counts: dict[str, int], max_severity: str, blocked: str | None) -> None:
    refusal = severity_gate(complete(**counts), max_severity)
    if blocked is None:
        assert refusal is None
    else:
        assert refusal is not None and f"found {blocked};" in refusal and "\n" not in refusal


def test_an_unknown_max_severity_lists_the_choices() -> None:
    with pytest.raises(UsageError) as exc:
        severity_gate(complete(), "SEVERE")
    assert one_line(exc) == "max severity 'SEVERE' is not one of: CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, NONE"


@given(st.dictionaries(st.sampled_from(SEVERITIES), st.integers(0, 3)), st.sampled_from(GATE_CHOICES[:-1]))
def test_a_stricter_gate_blocks_whatever_a_looser_one_blocks(counts: dict[str, int], max_severity: str) -> None:
    looser, stricter = GATE_CHOICES[: GATE_CHOICES.index(max_severity)], GATE_CHOICES[GATE_CHOICES.index(max_severity) + 1 : -1]
    summary = complete(**counts)
    if severity_gate(summary, max_severity) is not None:
        assert all(severity_gate(summary, s) is not None for s in stricter)
    else:
        assert all(severity_gate(summary, s) is None for s in looser)


def test_severity_counts_take_the_summary_without_reading_further_pages() -> None:
    def pages() -> Iterator[dict[str, Any]]:
        yield {"imageScanFindings": {"findingSeverityCounts": {"HIGH": 3}, "findings": [{"severity": "HIGH"}]}, "nextToken": "t"}
        raise AssertionError("read a second page")

    assert severity_counts(pages())["HIGH"] == 3


def test_severity_counts_count_findings_over_every_page_without_a_summary() -> None:
    pages: list[dict[str, Any]] = [
        {"imageScanFindings": {"findings": [{"severity": "HIGH"}, {"severity": "LOW"}]}, "nextToken": "t"},
        {"imageScanFindings": {"enhancedFindings": [{"severity": "HIGH"}, {"severity": "UNTRIAGED"}, {}]}},
    ]
    assert severity_counts(pages) == {**dict.fromkeys(SEVERITIES, 0), "HIGH": 2, "LOW": 1, "UNTRIAGED": 1, "UNDEFINED": 1}


def throttling_proxy(httpserver: HTTPServer, upstream: str, throttle: int) -> list[Request]:
    """Answer the first `throttle` ECR requests with ThrottlingException, forward the rest to moto; the requests seen."""
    seen: list[Request] = []

    def handle(request: Request) -> Response:
        seen.append(request)
        if len(seen) <= throttle:
            return Response(json.dumps(THROTTLED), status=400, content_type="application/x-amz-json-1.1")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        answer = requests.post(upstream + request.path, data=request.get_data(), headers=headers, timeout=10)
        return Response(answer.content, status=answer.status_code, content_type=answer.headers.get("Content-Type"))

    httpserver.expect_request("/", method="POST").respond_with_handler(handle)
    return seen


def test_throttling_is_retried(pusher: Any, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = push(pusher, "2.10.3", "layer")
    seen = throttling_proxy(httpserver, pusher.meta.endpoint_url, throttle=2)
    monkeypatch.setenv("AWS_ENDPOINT_URL", httpserver.url_for("/").rstrip("/"))
    assert Ecr.connect(REGISTRY, max_attempts=3).resolve_tag("airflow", "2.10.3").digest == digest
    assert [r.headers["X-Amz-Target"].rsplit(".", 1)[1] for r in seen] == ["DescribeImages"] * 3
    assert [re.search(r"attempt=(\d+)", r.headers["amz-sdk-request"])[1] for r in seen] == ["1", "2", "3"]  # type: ignore[index]


def test_throttling_that_never_stops_is_one_line(pusher: Any, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = throttling_proxy(httpserver, pusher.meta.endpoint_url, throttle=1000)
    monkeypatch.setenv("AWS_ENDPOINT_URL", httpserver.url_for("/").rstrip("/"))
    with pytest.raises(UsageError) as exc:
        Ecr.connect(REGISTRY, max_attempts=2).scan_summary("airflow", DIGEST)
    assert one_line(exc) == (
        f"ECR DescribeImageScanFindings airflow@{DIGEST} in {REGISTRY.host}: ECR still throttled after 2 attempts "
        "(ThrottlingException: Rate exceeded); wait a minute and re-run"
    )
    assert len(seen) == 2
