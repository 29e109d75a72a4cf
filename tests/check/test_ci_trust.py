"""The proof of rule ci-trust, from the files: every job that may mint an OIDC token can assume exactly
the AWS roles it uses, and no other; every role carries the stack's permissions boundary."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_gitops.check.rules import ci_trust
from airflow_gitops.check.rules.ci_trust import globs_intersect
from airflow_gitops.model.repo import Repo
from tests.conftest import REPO_ROOT

PLAN_ROLES = {"dev/terraform-plan", "staging/terraform-plan", "prod/terraform-plan", "registry/terraform-plan"}
# The one matrix the repository must prove: job -> the roles its token can become.
EXPECTED = {
    "terraform.yml:plan": PLAN_ROLES,
    "terraform.yml:apply-registry": {"registry/terraform-apply"},
    "terraform.yml:apply-dev": {"dev/terraform-apply"},
    "terraform.yml:apply-staging": {"staging/terraform-apply"},
    "terraform.yml:apply-prod": {"prod/terraform-apply"},
    "image.yml:build": {"registry/image-push"},
    "promote.yml:promote": {"registry/image-read"},
}


def _replace(root: Path, rel: str, old: str, new: str) -> None:
    text = (root / rel).read_text()
    assert old in text, f"{rel} has no {old!r}"
    (root / rel).write_text(text.replace(old, new, 1))


def test_each_job_can_assume_exactly_the_roles_it_uses() -> None:
    proof = ci_trust.prove(Repo(REPO_ROOT))
    assert proof.findings == []
    assert proof.matrix() == EXPECTED
    assert {job.key: job.needs for job in proof.jobs} == EXPECTED


def test_only_terraform_yml_apply_jobs_can_become_an_apply_role() -> None:
    proof = ci_trust.prove(Repo(REPO_ROOT))
    apply_roles = {r.key for r in proof.roles if r.name == "terraform-apply"}
    assert apply_roles == {"dev/terraform-apply", "staging/terraform-apply", "prod/terraform-apply", "registry/terraform-apply"}
    holders = {key for key, roles in proof.matrix().items() if roles & apply_roles}
    assert holders == {
        "terraform.yml:apply-registry",
        "terraform.yml:apply-dev",
        "terraform.yml:apply-staging",
        "terraform.yml:apply-prod",
    }


def test_the_subjects_each_job_can_carry() -> None:
    jobs = {job.key: job.subjects for job in ci_trust.prove(Repo(REPO_ROOT)).jobs}
    assert jobs == {
        "terraform.yml:plan": ["pull_request"],  # `if: github.event_name == 'pull_request'`, though main pushes start it too
        "terraform.yml:apply-registry": ["environment:registry"],
        "terraform.yml:apply-dev": ["environment:dev"],
        "terraform.yml:apply-staging": ["environment:staging"],
        "terraform.yml:apply-prod": ["environment:prod"],
        "image.yml:build": ["environment:image"],
        "promote.yml:promote": ["environment:prod-promote", "environment:staging-promote"],  # from the choice input
    }


def test_every_trust_names_exact_subjects() -> None:
    roles = {r.key: r.subjects for r in ci_trust.prove(Repo(REPO_ROOT)).roles}
    assert roles["prod/terraform-apply"] == ("environment:prod",)
    assert roles["registry/image-read"] == ("environment:staging-promote", "environment:prod-promote")
    assert roles["registry/image-push"] == ("environment:image",)
    assert all("*" not in s and "?" not in s for subjects in roles.values() for s in subjects)


@pytest.mark.parametrize(
    ("a", "b", "meet"),
    [
        ("environment:prod", "environment:prod", True),
        ("environment:prod-promote", "environment:prod", False),
        ("environment:prod-promote", "environment:prod*", True),
        ("environment:*", "environment:dev", True),
        ("ref:refs/heads/*", "ref:refs/tags/v*", False),
        ("ref:refs/tags/*", "ref:refs/tags/v*", True),
        ("ref:refs/heads/release-?", "ref:refs/heads/*-1", True),
        ("pull_request", "environment:*", False),
        ("*", "pull_request", True),
    ],
)
def test_two_patterns_meet_when_one_string_matches_both(a: str, b: str, meet: bool) -> None:
    assert globs_intersect(a, b) is meet
    assert globs_intersect(b, a) is meet


def _messages(root: Path) -> list[str]:
    return [f.message for f in ci_trust.prove(Repo(root)).findings]


def test_a_promotion_in_the_apply_environment_is_refused(repo_copy: Path) -> None:
    _replace(repo_copy, ".github/workflows/promote.yml", "${{ inputs.environment }}-promote", "${{ inputs.environment }}")
    messages = _messages(repo_copy)
    assert any("job promote can assume prod/terraform-apply" in m for m in messages), messages
    assert any("job promote can assume staging/terraform-apply" in m for m in messages), messages
    # and the role it does use no longer admits it
    assert any("job promote assumes registry/image-read, but its trust admits none" in m for m in messages), messages


def test_a_wildcard_subject_is_refused_and_shows_who_it_lets_in(repo_copy: Path) -> None:
    _replace(
        repo_copy,
        "terraform/modules/platform/ci.tf",
        '"environment:${var.cluster.environment}"',
        '"environment:${var.cluster.environment}*"',
    )
    findings = ci_trust.prove(Repo(repo_copy)).findings
    wildcard = [f for f in findings if "wildcard subject 'environment:prod*'" in f.message]
    assert wildcard and wildcard[0].file == "terraform/modules/platform/ci.tf" and wildcard[0].line
    assert any(
        "job promote can assume prod/terraform-apply, which it does not use (environment:prod-promote matches environment:prod*)"
        in f.message
        for f in findings
    )


def test_a_new_workflow_that_mints_tokens_on_pull_requests_is_refused(repo_copy: Path) -> None:
    (repo_copy / ".github/workflows/lint.yml").write_text(
        "name: lint\non: [pull_request]\npermissions: {}\njobs:\n  lint:\n    runs-on: ubuntu-24.04\n"
        "    permissions:\n      id-token: write\n    steps:\n      - run: make lint\n"
    )
    messages = _messages(repo_copy)
    assert sum("job lint can assume" in m and "terraform-plan" in m for m in messages) == 4, messages


def test_a_job_on_main_without_environment_gets_no_role(repo_copy: Path) -> None:
    (repo_copy / ".github/workflows/nightly.yml").write_text(
        "name: nightly\non:\n  push:\n    branches: [main]\n  schedule:\n    - cron: '0 3 * * *'\npermissions:\n  id-token: write\n"
        "jobs:\n  job:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: true\n"
    )
    proof = ci_trust.prove(Repo(repo_copy))
    assert proof.matrix()["nightly.yml:job"] == set()
    assert proof.findings == []


def test_an_environment_the_file_cannot_tell_is_refused(repo_copy: Path) -> None:
    _replace(repo_copy, ".github/workflows/promote.yml", "${{ inputs.environment }}-promote", "${{ github.head_ref }}")
    assert any("its environment '${{ github.head_ref }}' cannot be told from the file" in m for m in _messages(repo_copy))


def test_every_role_carries_the_boundary_of_its_stack() -> None:
    assert ci_trust.boundaries(Repo(REPO_ROOT)) == []


def test_a_module_call_without_the_boundary_is_refused(repo_copy: Path) -> None:
    _replace(
        repo_copy,
        "terraform/modules/platform/main.tf",
        "  permissions_boundary_arn = module.guardrails.permissions_boundary_arn\n",
        "",
    )
    findings = ci_trust.boundaries(Repo(repo_copy))
    assert [(f.rule, f.file) for f in findings] == [("iam-boundary", "terraform/modules/platform/main.tf")]
    assert 'module "network"' in findings[0].message
