"""The shared ECR registry, as the promotion gates see it: which digest a tag names, and what its scan found.

The registry is cluster.yaml `registry: {account_id, region}`; every call names that account as
registryId, since the caller's own account is an environment's, not the registry's. Credentials come
from boto3's standard chain on each run. Throttling is retried by botocore (standard mode); what is
still refused after the last attempt is one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError, ProfileNotFound

from ..model.findings import UsageError
from ..model.repo import ClusterConfig
from .aws import NO_CREDENTIALS_HINT, aws_call, describe, error_code

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

DEFAULT_MAX_ATTEMPTS = 5
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")
GATE_CHOICES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "NONE")
DEFAULT_MAX_SEVERITY = "HIGH"
# Basic scans end COMPLETE; enhanced (continuous) scanning reports ACTIVE once findings are there.
SCAN_DONE = frozenset({"COMPLETE", "ACTIVE"})
SCAN_RUNNING = frozenset({"IN_PROGRESS", "PENDING"})
SCAN_NOT_FOUND = "NOT_FOUND"
_THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})
_ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Registry:
    account_id: str
    region: str

    @classmethod
    def of(cls, cluster: ClusterConfig) -> Registry:
        account, region = str(cluster.get("registry.account_id", "")), str(cluster.get("registry.region", ""))
        if not _ACCOUNT_ID.match(account):
            raise UsageError(
                f"{cluster.file}: registry.account_id '{account}' is not a 12-digit AWS account id (quote it in YAML)"
            )
        if not region:
            raise UsageError(f"{cluster.file}: registry.region is not set; name the region of the shared ECR registry")
        return cls(account, region)

    @property
    def host(self) -> str:
        return f"{self.account_id}.dkr.ecr.{self.region}.amazonaws.com"


@dataclass(frozen=True)
class ImageRef:
    repository: str
    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime | None
    image_size: int | None

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class ScanSummary:
    repository: str
    digest: str
    status: str  # ECR's scan status, or NOT_FOUND when the image was never scanned
    description: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"


def severity_rank(max_severity: str) -> int | None:
    """Index into SEVERITIES of the lowest severity that blocks; None for NONE. Unknown -> UsageError."""
    value = max_severity.strip().upper()
    if value not in GATE_CHOICES:
        raise UsageError(f"max severity '{max_severity}' is not one of: {', '.join(GATE_CHOICES)}")
    return None if value == "NONE" else SEVERITIES.index(value)


def _blocking(counts: Mapping[str, int], rank: int) -> list[tuple[str, int]]:
    """Findings at or above the gate; at INFORMATIONAL every finding blocks, unrated ones too."""
    found = [(sev, n) for sev, n in counts.items() if n > 0]
    if rank >= SEVERITIES.index("INFORMATIONAL"):
        return sorted(found, key=lambda item: SEVERITIES.index(item[0]) if item[0] in SEVERITIES else len(SEVERITIES))
    return [(sev, counts.get(sev, 0)) for sev in SEVERITIES[: rank + 1] if counts.get(sev, 0) > 0]


def severity_gate(summary: ScanSummary, max_severity: str = DEFAULT_MAX_SEVERITY) -> str | None:
    """Why the scan blocks promotion, on one line; None when it passes.

    `max_severity` is the lowest severity that blocks (HIGH: any HIGH or CRITICAL finding); NONE blocks
    nothing. Short of NONE, a scan that is missing, still running or failed blocks too.
    """
    rank = severity_rank(max_severity)
    if rank is None:  # NONE turns the gate off, scan state included
        return None
    ref = summary.reference
    detail = f" ({summary.description})" if summary.description else ""
    if summary.status == SCAN_NOT_FOUND:
        return f"{ref} has no scan; turn on scan on push for the repository or start one (aws ecr start-image-scan), then re-run"
    if summary.status in SCAN_RUNNING:
        return f"scan of {ref} is {summary.status}; wait for it or re-run later"
    if summary.status not in SCAN_DONE:
        return f"scan of {ref} is {summary.status}{detail}; re-scan the image (or push it again) and re-run"
    blocking = _blocking(summary.counts, rank)
    if not blocking:
        return None
    found = ", ".join(f"{n} {sev}" for sev, n in blocking)
    return (
        f"scan of {ref} found {found}; the gate blocks {SEVERITIES[rank]} and above: "
        "fix them and push a new image, or raise the gate's max severity"
    )


def severity_counts(pages: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Counts by severity over describe_image_scan_findings pages.

    findingSeverityCounts summarises the whole scan (basic and enhanced) and is used when present,
    without reading further pages; otherwise every page's findings and enhancedFindings are counted.
    """
    counts = dict.fromkeys(SEVERITIES, 0)
    for page in pages:
        findings = page.get("imageScanFindings") or {}
        summary = findings.get("findingSeverityCounts")
        if summary:
            return counts | {str(sev).upper(): int(n) for sev, n in summary.items()}
        for finding in [*findings.get("findings", []), *findings.get("enhancedFindings", [])]:
            sev = str(finding.get("severity") or "UNDEFINED").upper()
            counts[sev] = counts.get(sev, 0) + 1
    return counts


@dataclass(frozen=True)
class Ecr:
    registry: Registry
    client: ECRClient
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @classmethod
    def connect(cls, registry: Registry, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> Ecr:
        """A client for the registry's region from a fresh session; throttling retried up to max_attempts."""
        try:
            session = boto3.session.Session()
        except ProfileNotFound as exc:
            raise UsageError(f"AWS_PROFILE: {exc}; choose a profile that can read the registry {registry.host}") from None
        # total_max_attempts counts the first call too; botocore's max_attempts would count retries only.
        config = Config(retries={"mode": "standard", "total_max_attempts": max_attempts})
        return cls(registry, session.client("ecr", region_name=registry.region, config=config), max_attempts)

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        """aws_call, with one line for missing credentials and for throttling that outlasted the retries."""
        with aws_call(what):
            try:
                yield
            except NoCredentialsError:
                raise UsageError(
                    "no AWS credentials found: " + NO_CREDENTIALS_HINT.format(account=self.registry.account_id)
                ) from None
            except ClientError as exc:
                if error_code(exc) in _THROTTLED:
                    raise UsageError(
                        f"{what}: ECR still throttled after {self.max_attempts} attempts ({describe(exc)}); wait a minute and re-run"
                    ) from None
                raise

    def resolve_tag(self, repository: str, tag: str, missing_fix: str | None = None) -> ImageRef:
        """The image a tag names now. Missing repository or tag -> UsageError, ending with missing_fix if given."""
        fix = missing_fix or "push it, or pick a tag the source environment runs"
        missing = f"{repository}:{tag} is not in the registry {self.registry.host}; {fix}"
        with self._call(f"ECR DescribeImages {repository}:{tag} in {self.registry.host}"):
            try:
                images = self.client.describe_images(
                    registryId=self.registry.account_id, repositoryName=repository, imageIds=[{"imageTag": tag}]
                )["imageDetails"]
            except ClientError as exc:
                if error_code(exc) == "RepositoryNotFoundException":
                    raise UsageError(
                        f"no repository '{repository}' in the registry {self.registry.host}; "
                        f"{missing_fix or 'check airflow.image_repository in cluster.yaml, or create the repository'}"
                    ) from None
                if error_code(exc) == "ImageNotFoundException":
                    raise UsageError(missing) from None
                raise
        if not images or "imageDigest" not in images[0]:
            raise UsageError(missing)
        image = images[0]
        return ImageRef(
            repository=repository,
            digest=image["imageDigest"],
            tags=tuple(image.get("imageTags", [])),
            pushed_at=image.get("imagePushedAt"),
            image_size=image.get("imageSizeInBytes"),
        )

    def scan_summary(self, repository: str, digest: str) -> ScanSummary:
        """The scan of an image by digest; a scan that is missing, running or failed shows in `status`."""
        paginator = self.client.get_paginator("describe_image_scan_findings")
        with self._call(f"ECR DescribeImageScanFindings {repository}@{digest} in {self.registry.host}"):
            pages: Iterator[Mapping[str, Any]] = iter(
                paginator.paginate(
                    registryId=self.registry.account_id, repositoryName=repository, imageId={"imageDigest": digest}
                )
            )
            try:
                first = next(pages)
            except ClientError as exc:
                if error_code(exc) == "ScanNotFoundException":
                    return ScanSummary(repository, digest, SCAN_NOT_FOUND)
                if error_code(exc) == "ImageNotFoundException":
                    raise UsageError(
                        f"{repository}@{digest} is not in the registry {self.registry.host}; check the digest"
                    ) from None
                raise
            status = first.get("imageScanStatus") or {}
            state, description = str(status.get("status") or "UNKNOWN"), " ".join(str(status.get("description", "")).split())
            if state not in SCAN_DONE:
                return ScanSummary(repository, digest, state, description)
            return ScanSummary(repository, digest, state, description, severity_counts(_chain(first, pages)))


def _chain(first: Mapping[str, Any], rest: Iterator[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    yield first
    yield from rest
