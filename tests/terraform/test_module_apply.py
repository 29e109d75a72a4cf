"""Every module applied for real, against a local AWS emulator: `terraform test` runs the files in
the module's tests/apply/ (an apply, then a refresh-only plan that reads everything back and asserts
again) against a moto server of its own, so modules cannot collide. The runs mostly wait on the
provider, so they start together with the suite's other apply jobs (tests/apply_jobs.py), on one
scratch copy of the modules.

`platform` is applied whole by `invoke rehearse --env dev`, and `argocd-bootstrap` needs the helm and
kubernetes providers, which the emulator cannot stand in for: neither has an apply test.

Deselect with `-m "not apply"`."""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_gitops.adapters import terraform as tf
from airflow_gitops.adapters.emulator import emulated_account
from tests.apply_jobs import ApplyJobs, selected, starter
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.apply

APPLY_TESTS = "tests/apply"
# The emulated AWS account of each module's test, as its tests/apply file expects it: an
# environment account, or the registry account for the registry.
ACCOUNTS = {
    "database": "111111111111",
    "cluster": "111111111111",
    "karpenter": "111111111111",
    "storage": "111111111111",
    "edge": "111111111111",
    "network": "111111111111",
    "identity": "111111111111",
    "registry": "444444444444",
    "secrets": "111111111111",
    "workload-iam": "111111111111",
    "github-oidc": "111111111111",
    "guardrails": "111111111111",
}  # slowest first: they start first
WITHOUT_APPLY_TEST = {"platform", "argocd-bootstrap"}
# The module whose plain `terraform test` proves tests/apply stays out of the offline plan-mode runs.
PLAN_ONLY_PROBE = "registry"
DEFAULT_MIRROR = Path("/opt/tf-plugins")
OUTPUT_TAIL = 6000
GOGC = "400"
_SUMMARY = re.compile(r"(\d+) passed, (\d+) failed")
_RUN_BLOCK = re.compile(r'^run\s+"([^"]+)"', re.MULTILINE)


@dataclass(frozen=True)
class Outcome:
    """One `terraform test` of one module."""

    result: tf.TfResult
    emulator_log: str = ""

    @property
    def passed(self) -> int | None:
        found = _SUMMARY.findall(self.result.output)
        return int(found[-1][0]) if found else None

    @property
    def failed(self) -> int | None:
        found = _SUMMARY.findall(self.result.output)
        return int(found[-1][1]) if found else None

    def report(self) -> str:
        text = f"terraform {self.result.command} exited {self.result.returncode}; its output ends:\n"
        text += self.result.output[-OUTPUT_TAIL:]
        if self.emulator_log:
            text += "\n--- emulator log ends:\n" + self.emulator_log
        return text


def run_names(folder: Path) -> list[str]:
    return [name for path in sorted(folder.glob("*.tftest.hcl")) for name in _RUN_BLOCK.findall(path.read_text())]


def provider_mirror() -> Path | None:
    """The air-gapped provider mirror: TF_PLUGIN_MIRROR, or where the Makefile looks by default."""
    value = os.environ.get(tf.MIRROR_ENV)
    mirror = Path(value) if value else DEFAULT_MIRROR
    return mirror if (mirror / tf.MIRRORED_PROVIDER).is_dir() else None


SKIP_REASON = f"terraform, or its hashicorp/aws provider mirror ({tf.MIRROR_ENV} or {DEFAULT_MIRROR}), is missing: the apply tests run offline only"


def terraform_env() -> dict[str, str] | None:
    """terraform's environment for the apply tests, or None where terraform or the mirror is missing."""
    mirror = provider_mirror()
    if shutil.which("terraform") is None or mirror is None:
        return None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(tf.MIRROR_ENV, str(mirror))
        env = tf.environment()
    # The provider's debug log would slow every run down; the emulator needs no credentials of the caller.
    for name in ("TF_LOG", "TF_LOG_PROVIDER", "TF_LOG_CORE", "TF_LOG_PATH"):
        env.pop(name, None)
    # A test starts the (large) provider a dozen times, and most of its CPU goes to the Go garbage
    # collector: collecting less often costs some memory and saves a third of the CPU.
    env.setdefault("GOGC", GOGC)
    return env


def offline_environment(env: dict[str, str]) -> dict[str, str]:
    """`env` without the caller's AWS settings: the test files bring the emulator's endpoints and
    credentials themselves, and a service they forgot must fail, not reach a real account."""
    clean = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    clean.update({"AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull})
    return clean


def apply_test(folder: Path, account_id: str, log: Path, env: dict[str, str]) -> Outcome:
    with emulated_account(account_id, log) as aws:
        # aws_endpoint is a variable of the test files only, which terraform parses as HCL: quoted.
        result = tf.run(
            ["test", "-no-color", f"-test-directory={APPLY_TESTS}", f'-var=aws_endpoint="{aws.url}"'],
            folder,
            offline_environment(env),
        )
    tail = "" if result.ok else "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    return Outcome(result, tail)


def selected_modules(session: pytest.Session) -> tuple[set[str], bool]:
    """The modules whose apply test this session runs, and whether it runs the plan-only probe."""
    modules: set[str] = set()
    probe = False
    for item in selected(session, __file__):
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "module" in callspec.params:
            modules.add(str(callspec.params["module"]))
        elif item.name.startswith("test_plain_terraform_test"):
            probe = True
    return modules, probe


def done(outcome: Outcome) -> Future[Outcome]:
    future: Future[Outcome] = Future()
    future.set_result(outcome)
    return future


@starter
def start(session: pytest.Session, pool: ThreadPoolExecutor, tmp: pytest.TempPathFactory) -> dict[str, Future[Any]]:
    """Init the selected modules one after another (an init may rewrite the shared plugin cache
    entry that running tests link to), then submit all their tests. The key `plain` is the offline
    plan-mode `terraform test` of PLAN_ONLY_PROBE. Without terraform or the provider mirror, nothing
    starts and the tests skip."""
    modules, probe = selected_modules(session)
    env = terraform_env()
    if not modules and not probe or env is None:
        return {}
    copy = tmp.mktemp("modules")
    shutil.copytree(
        REPO_ROOT / "terraform/modules", copy / "terraform/modules", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*")
    )
    root = copy / "terraform/modules"
    futures: dict[str, Future[Any]] = {}
    for module in sorted(modules | ({PLAN_ONLY_PROBE} if probe else set())):
        init = tf.run(
            ["init", "-backend=false", "-input=false", "-no-color", f"-test-directory={APPLY_TESTS}"], root / module, env
        )
        if not init.ok:
            futures[f"module:{module}"] = done(Outcome(init))
    if probe:
        # Offline: no emulator and no endpoint variable; the plan-mode files mock the provider.
        futures["module:plain"] = futures.get(f"module:{PLAN_ONLY_PROBE}") or pool.submit(
            lambda: Outcome(tf.test(root / PLAN_ONLY_PROBE, offline_environment(env)))
        )
    for module in [m for m in ACCOUNTS if m in modules and f"module:{m}" not in futures]:
        futures[f"module:{module}"] = pool.submit(
            apply_test, root / module, ACCOUNTS[module], copy / f"emulator-{module}.log", env
        )
    return futures


def outcome_of(apply_jobs: ApplyJobs, name: str) -> Outcome:
    if f"module:{name}" not in apply_jobs.futures:
        pytest.skip(SKIP_REASON)
    outcome: Outcome = apply_jobs.result(f"module:{name}")
    return outcome


def test_every_module_but_platform_and_argocd_bootstrap_has_apply_tests() -> None:
    modules = {p.parent.name for p in (REPO_ROOT / "terraform/modules").glob("*/versions.tf")}
    with_apply_tests = {m for m in modules if list((REPO_ROOT / "terraform/modules" / m / APPLY_TESTS).glob("*.tftest.hcl"))}
    assert with_apply_tests == set(ACCOUNTS) == modules - WITHOUT_APPLY_TEST


@pytest.mark.parametrize("module", list(ACCOUNTS))
def test_module_applies_against_the_emulator(module: str, apply_jobs: ApplyJobs) -> None:
    expected = run_names(REPO_ROOT / "terraform/modules" / module / APPLY_TESTS)
    assert len(expected) >= 2, f"{module}: tests/apply needs an apply run and a refresh-only read-back run"
    outcome = outcome_of(apply_jobs, module)
    assert outcome.result.ok, outcome.report()
    assert (outcome.passed, outcome.failed) == (len(expected), 0), outcome.report()


def test_plain_terraform_test_leaves_the_apply_tests_out(apply_jobs: ApplyJobs) -> None:
    module = REPO_ROOT / "terraform/modules" / PLAN_ONLY_PROBE
    plan_runs = run_names(module / "tests")
    assert run_names(module / APPLY_TESTS), f"{PLAN_ONLY_PROBE} has no apply tests to leave out"
    outcome = outcome_of(apply_jobs, "plain")
    assert outcome.result.ok, outcome.report()
    assert (outcome.passed, outcome.failed) == (len(plan_runs), 0), outcome.report()
    assert APPLY_TESTS not in outcome.result.output, outcome.report()
