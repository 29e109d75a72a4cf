"""`invoke pins` reads a digest kept inline beside its tag (tag@sha256:...), as Renovate does."""

from __future__ import annotations

from pathlib import Path

from airflow_gitops.model.repo import Repo
from airflow_gitops.upgrades.pins import collect

REGISTRY = "444444444444.dkr.ecr.eu-west-1.amazonaws.com"


def _by_dependency(root: Path, env: str) -> dict[tuple[str, str], tuple[str, str | None, str]]:
    return {(p.file, p.dependency): (p.version, p.digest, p.manager) for p in collect(Repo(root), env=env)}


def test_an_inline_digest_is_split_from_the_tag_for_both_managers(pristine_repo: Path) -> None:
    pins = _by_dependency(pristine_repo, "prod")
    argocd = pins[("clusters/prod/values/argo-cd.yaml", f"{REGISTRY}/quay/argoproj/argocd")]
    assert argocd == ("v3.5.1", "sha256:0deb1a1c917629b960ead995ae3b6069450a866992676599658687ef9a641ee8", "helm-values")
    keda = pins[("clusters/prod/values/keda.yaml", f"{REGISTRY}/ghcr/kedacore/keda")]
    assert keda == ("2.20.2", "sha256:fe74c7b8849586a67ad2201bcb89e7f5ac221ff90399ecaa8fd28427f1ef11e6", "regex")
    airflow = pins[("clusters/prod/values/airflow.yaml", f"{REGISTRY}/airflow")]
    assert airflow[1] is not None and airflow[2] == "regex"  # the digest on the next line still counts


def test_dev_pins_by_tag_through_the_cache(pristine_repo: Path) -> None:
    pins = _by_dependency(pristine_repo, "dev")
    assert pins[("clusters/dev/values/argo-cd.yaml", f"{REGISTRY}/quay/argoproj/argocd")] == ("v3.5.1", None, "helm-values")
