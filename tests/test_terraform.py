"""terraform/ with the real terraform CLI (offline through a provider mirror where the machine has
one): every module and stack validates, every module's tests pass, and broken configurations are
reported with the file and line terraform names. Each runs on a scratch copy, changing nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from airflow_gitops.adapters import terraform as tf
from airflow_gitops.check import terraform_slow
from airflow_gitops.check.slow import find_checkov
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return tf.environment()


def offline_units(root: Path, env: dict[str, str]) -> list[terraform_slow.Unit]:
    mirror_only_aws = env.get("TF_CLI_CONFIG_FILE", "").endswith("mirror.tfrc")
    return [u for u in terraform_slow.units(root, mirror_only_aws) if u.offline]


def test_every_module_and_platform_stack_validates_and_passes_its_tests(env: dict[str, str]) -> None:
    with tf.scratch_copy(REPO_ROOT) as copy:
        units = offline_units(copy, env)
        findings = terraform_slow.check_units(copy, units, env)
    names = {u.rel for u in units}
    modules = {p.parent.name for p in (REPO_ROOT / "terraform/modules").glob("*/versions.tf")}
    assert {f"terraform/modules/{m}" for m in modules if m != "argocd-bootstrap"} <= names
    assert {f"terraform/stacks/{e}/platform" for e in ("dev", "staging", "prod")} <= names
    assert all(u.has_tests for u in units if u.rel.startswith("terraform/modules/"))
    assert not findings, "\n".join(f"{f.rule} {f.file}:{f.line}: {f.message}" for f in findings)


def test_terraform_is_formatted(env: dict[str, str]) -> None:
    result = tf.fmt_check(REPO_ROOT / "terraform", env)
    assert result.ok, result.output


def test_checkov_reports_no_failed_terraform_check() -> None:
    checkov = find_checkov(REPO_ROOT)
    assert checkov, "checkov is missing: run `make tools`"
    proc = subprocess.run(
        [checkov, "-d", "terraform", "--framework", "terraform", "--skip-download", "--quiet", "--compact"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    # every skip carries its reason inline
    for path in (REPO_ROOT / "terraform").rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                assert len(line.split("checkov:skip=", 1)[1].split(":", 1)) == 2, f"{path}: {line.strip()}"


BROKEN = {
    # a module call that leaves out a required variable
    "missing-required-variable": ("bucket_name = local.logs_bucket", "", "Missing required argument"),
    # a module call passing a variable the module does not declare
    "undeclared-variable": (
        "bucket_name = local.logs_bucket",
        'bucket_name = local.logs_bucket\n  bucket_tier = "hot"',
        "Unsupported argument",
    ),
    # a reference to an output the module does not have
    "missing-output": ("host   = module.database.address", "host   = module.database.hostname", "Unsupported attribute"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_configuration_is_reported_with_file_and_line(case: str, env: dict[str, str]) -> None:
    old, new, summary = BROKEN[case]
    with tf.scratch_copy(REPO_ROOT) as copy:
        main = copy / "terraform/modules/platform/main.tf"
        text = main.read_text()
        assert old in text
        main.write_text(text.replace(old, new, 1))
        unit = terraform_slow.Unit("terraform/modules/platform", has_tests=True, offline=True)
        findings = terraform_slow.check_units(copy, [unit], env)
    [finding] = findings
    assert (finding.rule, finding.file) == ("terraform-validate", "terraform/modules/platform/main.tf")
    assert finding.line and summary in finding.message
    # the working tree was never touched
    assert old in (REPO_ROOT / "terraform/modules/platform/main.tf").read_text()


def test_a_failing_module_test_names_the_test_file(env: dict[str, str]) -> None:
    with tf.scratch_copy(REPO_ROOT) as copy:
        main = copy / "terraform/modules/platform/main.tf"
        main.write_text(main.read_text().replace('"${local.name}-logs-${local.account_id}"', '"${local.name}-logs"', 1))
        unit = terraform_slow.Unit("terraform/modules/platform", has_tests=True, offline=True)
        [finding] = terraform_slow.check_units(copy, [unit], env)
    assert finding.rule == "terraform-test"
    assert finding.file == "terraform/modules/platform/tests/platform.tftest.hcl" and finding.line
