"""`invoke pins` reads a digest kept inline beside its tag (tag@sha256:...), as Renovate does, and the edit engine
moves tag and digest together inside the tag."""

from __future__ import annotations

from pathlib import Path

from airflow_gitops.model.repo import Repo
from airflow_gitops.upgrades import edit
from airflow_gitops.upgrades.edit import Change
from airflow_gitops.upgrades.pins import Pin, collect, collect_file

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


def _pin(repo: Repo, file: str, dependency: str) -> Pin:
    [pin] = [p for p in collect_file(repo, file) if p.dependency == dependency]
    return pin


NEW_DIGEST = "sha256:" + "ab" * 32


def test_the_edit_engine_moves_tag_and_digest_together_inside_the_tag(pristine_repo: Path) -> None:
    repo = Repo(pristine_repo)
    file = "clusters/prod/values/argo-cd.yaml"
    pin = _pin(repo, file, f"{REGISTRY}/quay/argoproj/argocd")
    [moved] = edit.plan(repo, [Change(pin, "v3.5.2", NEW_DIGEST, inline_digest=True)])
    removed = [line for line in moved.diff().splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line for line in moved.diff().splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert removed == [f"-    tag: v3.5.1@{pin.digest}"] and added == [f"+    tag: v3.5.2@{NEW_DIGEST}"]


def test_a_new_tag_without_a_digest_drops_the_old_digest_from_the_tag(pristine_repo: Path) -> None:
    """An old digest beside a new tag would run the old image under the new name: `invoke bump` leaves the tag alone."""
    repo = Repo(pristine_repo)
    file = "clusters/prod/values/keda.yaml"
    pin = _pin(repo, file, f"{REGISTRY}/ghcr/kedacore/keda")
    [moved] = edit.plan(repo, [Change(pin, "2.21.0")])
    assert '    tag: "2.21.0"\n' in moved.new_text and pin.digest is not None and pin.digest not in moved.new_text
    after = _pin(repo.overlay(file, moved.new_text), file, pin.dependency)
    assert (after.version, after.digest) == ("2.21.0", None)


def test_a_tag_first_pinned_by_digest_gets_it_inline_and_no_digest_line(pristine_repo: Path) -> None:
    repo = Repo(pristine_repo)
    file = "clusters/staging/values/airflow.yaml"
    pin = _pin(repo, file, f"{REGISTRY}/docker-hub/library/redis")
    pgbouncer = [p for p in collect_file(repo, file) if p.version.startswith("airflow-pgbouncer-2025")][0]
    assert pgbouncer.digest is None
    [moved] = edit.plan(repo, [Change(pgbouncer, pgbouncer.version, NEW_DIGEST, inline_digest=True)])
    assert moved.new_text.count("\n") == moved.old_text.count("\n")
    assert f'    tag: "{pgbouncer.version}@{NEW_DIGEST}"\n' in moved.new_text
    assert _pin(repo.overlay(file, moved.new_text), file, pin.dependency) == pin  # the pins below stay where they were
