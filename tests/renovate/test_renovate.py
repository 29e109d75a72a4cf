"""The real Renovate against this repository: its config is valid, it finds exactly the pins `invoke pins` lists, and,
against a local registry, it proposes updates for dev and shared pins only, grouped and gated as renovate.json says.

Every run works on a committed copy; the product's renovate.json is never changed. Each run's duration is printed
(`pytest -s` shows it), and so are the per-manager counts of the extraction.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_gitops.model.repo import Repo
from airflow_gitops.upgrades.pins import collect
from tests.conftest import REPO_ROOT, git
from tests.renovate import harness
from tests.renovate.registry import SERVED_DATASOURCES, Catalogue, LocalRegistry, newer_versions, package_rules, serve

pytestmark = pytest.mark.slow

INVOKE = str(Path(sys.executable).with_name("invoke"))
# Renovate refuses internal hosts unless allowed, and refuses `allowInternal` in a repository's renovate.json.
LOCAL_HOSTS = {"RENOVATE_HOST_RULES": json.dumps([{"matchHost": "127.0.0.1", "allowInternal": True}])}
ENVS_RENOVATE_LEAVES = ("staging", "prod")

# (file, dependency, datasource, version): what both sides must agree on.
Key = tuple[str, str, str, str]


# --- running and reading ----------------------------------------------------------------------------------------------


def invoke(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A task of this repository, run in a copy (the tasks come from the product, the files from the copy)."""
    return subprocess.run(
        [INVOKE, "--search-root", str(REPO_ROOT), *args], cwd=repo, capture_output=True, text=True, env=dict(os.environ)
    )


def invoke_pins(repo: Path) -> set[Key]:
    proc = invoke(repo, "pins", "--format", "json")
    assert proc.returncode == 0, f"invoke pins --format json failed in {repo}:\n{proc.stdout}{proc.stderr}"
    return {(p["file"], p["dependency"], p["datasource"], p["version"]) for p in json.loads(proc.stdout)}


def compared(manager: str, dep: dict[str, Any]) -> bool:
    """Whether an extracted dependency is a pin `invoke pins` must list too: the documented exceptions (docs/upgrades.md)."""
    # Entries that pin nothing: module blocks with a local `source` (`local`), `provider` blocks and unversioned
    # requirements such as the `types-*` stubs in pyproject.toml (`unspecified-version`).
    if dep.get("skipReason") in ("local", "unspecified-version"):
        return False
    # Terraform references (`${local.argocd_chart.targetRevision}` in the bootstrap module): they point at a pin
    # listed where it is written, so each version has one home.
    value = dep.get("currentValue")
    if value is None or "${" in str(value):
        return False
    # The `$values` source of each Application follows the branch in cluster.yaml `gitops.revision`: a branch, not
    # a version (renovate.json disables it).
    if manager == "argocd" and dep.get("datasource") == "git-tags":
        return False
    # Any other skipReason stays compared: `github-token-required` (node AMI, Terraform CLI) is a pin that this run,
    # without a GitHub token, cannot look up, not a pin that is missing.
    return True


def version_of(manager: str, dep: dict[str, Any]) -> str:
    value = str(dep["currentValue"])
    # pip_requirements keeps the operator of an exact requirement (`==3.6.1`); invoke pins lists the version.
    return value.removeprefix("==") if manager == "pip_requirements" else value


def renovate_pins(result: harness.Run) -> set[Key]:
    return {
        (file, dep["depName"], dep.get("datasource", ""), version_of(manager, dep))
        for manager, file, dep in harness.extracted_deps(result)
        if compared(manager, dep)
    }


def difference(renovate: set[Key], product: set[Key]) -> str:
    lines = [f"{len(renovate - product)} found by Renovate only:"]
    lines += [f"  {file}: {dep} {version} ({datasource})" for file, dep, datasource, version in sorted(renovate - product)]
    lines.append(f"{len(product - renovate)} found by `invoke pins` only:")
    lines += [f"  {file}: {dep} {version} ({datasource})" for file, dep, datasource, version in sorted(product - renovate)]
    return "\n".join(lines)


def updates_by_file(result: harness.Run) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(packageFile, depName) -> the updates Renovate would propose, from a lookup run's report."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _manager, file, dep in harness.report_deps(result):
        found.setdefault((file, str(dep.get("depName"))), []).extend(dep.get("updates") or [])
    return found


def proposals_of(updates: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(u["updateType"], u["newValue"], u["branchName"]) for u in updates}


def proposals(result: harness.Run, key: tuple[str, str]) -> set[tuple[str, str]]:
    """(updateType, newValue) of each update proposed for one dependency in one file."""
    updates = updates_by_file(result)
    assert key in updates, f"renovate {result.label}: {key[1]} not extracted from {key[0]}"
    return {(u["updateType"], u["newValue"]) for u in updates[key]}


def group_name(config: dict[str, Any], matches: Callable[[dict[str, Any]], bool], what: str) -> str:
    names = [str(rule["groupName"]) for rule in config.get("packageRules", []) if "groupName" in rule and matches(rule)]
    assert len(names) == 1, f"renovate.json: expected one packageRule grouping {what}, found {names}"
    return names[0]


def airflow_chart_group(config: dict[str, Any]) -> str:
    return group_name(
        config, lambda r: "airflow" in r.get("matchDepNames", []) and "helm" in r.get("matchDatasources", []), "the Airflow chart"
    )


def terraform_group(config: dict[str, Any]) -> str:
    return group_name(config, lambda r: "terraform" in r.get("matchManagers", []), "the terraform manager")


def group_branches(config: dict[str, Any], group: str) -> set[str]:
    """The branches of a group: Renovate's slug of its name, and `major-` before it for majors."""
    prefix = str(config.get("branchPrefix", "renovate/"))
    slug = re.sub(r"[^a-z0-9]+", "-", group.lower()).strip("-")
    return {f"{prefix}{slug}", f"{prefix}major-{slug}"}


def prepare_lookup(repo: Path, registry: LocalRegistry) -> None:
    """Point a copy's lookups at the local registry and keep them offline (the copy's renovate.json only)."""
    config = harness.read_config(repo)
    # The OSV vulnerability database is downloaded from GitHub on every run; this machine may be offline.
    config["osvVulnerabilityAlerts"] = False
    config["packageRules"] = [*config.get("packageRules", []), *package_rules(registry.url, collect(Repo(repo)))]
    harness.write_config(repo, config, "look up in the local registry")


# --- fixtures: each expensive run once per module -----------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def timing_summary() -> Iterator[None]:
    yield
    print("\nrenovate run times: " + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in harness.TIMINGS))
    print(f"renovate total: {sum(seconds for _, seconds in harness.TIMINGS):.1f} s in {len(harness.TIMINGS)} runs")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("renovate")


@pytest.fixture(scope="module")
def cache(workdir: Path) -> Path:
    """One Renovate cache for the module's runs, so later runs reuse what earlier ones downloaded (presets, indexes)."""
    return workdir / "cache"


@pytest.fixture(scope="module")
def pristine(workdir: Path) -> Path:
    return harness.copy_repo(workdir / "pristine")


@pytest.fixture(scope="module")
def extract_run(pristine: Path, cache: Path) -> harness.Run:
    return harness.extract("extract", pristine, cache)


@pytest.fixture(scope="module")
def registry(pristine: Path) -> Iterator[LocalRegistry]:
    with serve(Catalogue.above(collect(Repo(pristine)))) as running:
        yield running


@pytest.fixture(scope="module")
def lookup_run(workdir: Path, cache: Path, registry: LocalRegistry) -> harness.Run:
    repo = harness.copy_repo(workdir / "lookup")
    prepare_lookup(repo, registry)
    return harness.lookup("lookup", repo, cache, env=LOCAL_HOSTS)


# --- the config ---------------------------------------------------------------------------------------------------------


def test_renovate_json_is_valid_repository_config(pristine: Path, cache: Path) -> None:
    result = harness.validate("config-validator", pristine, cache)
    assert result.returncode == 0, f"renovate-config-validator --strict rejects renovate.json:\n{result.show_tail()}"
    # Without a file argument the validator reads the repository's config files: renovate.json as repository config.
    assert any(r.get("msg") == "Validating renovate.json" for r in result.records), result.show_tail()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda c: c.update(notAnOption=True), "Invalid configuration option: notAnOption"),
        (
            lambda c: c["packageRules"].append({"matchFileNames": "clusters/dev/**", "enabled": False}),
            "matchFileNames` should be a list",
        ),
    ],
    ids=["unknown-option", "matchFileNames-not-a-list"],
)
def test_a_broken_config_fails_validation(
    tmp_path: Path, cache: Path, change: Callable[[dict[str, Any]], None], error: str
) -> None:
    config = json.loads((REPO_ROOT / "renovate.json").read_text())
    change(config)
    (tmp_path / "renovate.json").write_text(json.dumps(config, indent=2))
    result = harness.validate("config-validator (broken)", tmp_path, cache)
    assert result.returncode != 0, f"renovate-config-validator --strict accepted a broken renovate.json:\n{result.show_tail()}"
    errors = [e["message"] for r in result.records_with("Found errors in configuration") for e in r.get("errors", [])]
    assert any(error in message for message in errors), f"expected an error naming {error!r}, got {errors}"


# --- extraction: Renovate and `invoke pins` see the same pins ------------------------------------------------------------


def test_renovate_extracts_exactly_the_pins_invoke_pins_lists(extract_run: harness.Run, pristine: Path) -> None:
    raw = Counter(manager for manager, _, _ in harness.extracted_deps(extract_run))
    kept = Counter(manager for manager, _, dep in harness.extracted_deps(extract_run) if compared(manager, dep))
    print("\nrenovate extract, per manager (deps extracted / compared with invoke pins):")
    for manager in sorted(raw):
        print(f"  {manager}: {raw[manager]} / {kept[manager]}")
    print(f"  total: {sum(raw.values())} / {sum(kept.values())}")
    renovate, product = renovate_pins(extract_run), invoke_pins(pristine)
    assert renovate == product, difference(renovate, product)


NEW_APP = "exporter"
NEW_APPLICATION = f"""\
# A new chart Application in dev, the way every other app is written.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {NEW_APP}
  namespace: argocd
spec:
  sources:
    - repoURL: https://charts.example.com/stable
      chart: {NEW_APP}
      targetRevision: 4.2.0
      helm:
        releaseName: {NEW_APP}
        valueFiles:
          - $values/clusters/dev/values/{NEW_APP}.yaml
    - repoURL: https://github.com/example-org/airflow-eks-platform.git
      targetRevision: main
      ref: values
"""
NEW_VALUES = f"""\
{NEW_APP}:
  repository: ghcr.io/example-org/{NEW_APP}
  # renovate: datasource=docker depName=ghcr.io/example-org/{NEW_APP}
  tag: "1.4.2"

# Pins written without a `# renovate:` comment.
images:
  helper:
    repository: ghcr.io/example-org/helper
    tag: "2.0.0"
image:
  repository: ghcr.io/example-org/sidecar
  tag: "0.9.1"
initImage: ghcr.io/example-org/init:0.3.0
"""
NEW_PINS = {
    "chart": (f"clusters/dev/apps/{NEW_APP}.yaml", NEW_APP, "helm", "4.2.0"),
    "image-under-comment": (f"clusters/dev/values/{NEW_APP}.yaml", f"ghcr.io/example-org/{NEW_APP}", "docker", "1.4.2"),
}
# Seen by Renovate's helm-values manager (a key ending in `image`), and so by invoke pins too.
HELM_VALUES_PINS = {
    "image-block": (f"clusters/dev/values/{NEW_APP}.yaml", "ghcr.io/example-org/sidecar", "docker", "0.9.1"),
    "inline-image": (f"clusters/dev/values/{NEW_APP}.yaml", "ghcr.io/example-org/init", "docker", "0.3.0"),
}
# Seen by neither: `invoke check` reports it instead (pin-not-visible).
UNCOMMENTED = {
    "nested-images-key": "ghcr.io/example-org/helper",
}


@pytest.fixture(scope="module")
def with_new_pins(workdir: Path) -> Path:
    repo = harness.copy_repo(workdir / "new-pins")
    (repo / "clusters/dev/apps" / f"{NEW_APP}.yaml").write_text(NEW_APPLICATION)
    (repo / "clusters/dev/values" / f"{NEW_APP}.yaml").write_text(NEW_VALUES)
    harness.commit(repo, f"add {NEW_APP} to dev")
    return repo


@pytest.fixture(scope="module")
def new_pins_run(with_new_pins: Path, cache: Path) -> harness.Run:
    return harness.extract("extract (new pins)", with_new_pins, cache)


@pytest.mark.parametrize("kind", sorted(NEW_PINS))
def test_a_new_pin_is_seen_by_both(new_pins_run: harness.Run, with_new_pins: Path, kind: str) -> None:
    key = NEW_PINS[kind]
    seen = {"Renovate": key in renovate_pins(new_pins_run), "invoke pins": key in invoke_pins(with_new_pins)}
    assert all(seen.values()), f"{key}: seen by {seen}"


@pytest.mark.parametrize("kind", sorted(HELM_VALUES_PINS))
def test_an_image_key_renovate_reads_without_a_comment_is_seen_by_both(
    new_pins_run: harness.Run, with_new_pins: Path, kind: str
) -> None:
    pin = HELM_VALUES_PINS[kind]
    assert pin in renovate_pins(new_pins_run), f"Renovate does not see {pin}"
    assert pin in invoke_pins(with_new_pins), f"invoke pins does not list {pin}"


@pytest.mark.parametrize("kind", sorted(UNCOMMENTED))
def test_a_pin_without_a_renovate_comment_is_seen_by_neither(new_pins_run: harness.Run, with_new_pins: Path, kind: str) -> None:
    dependency = UNCOMMENTED[kind]
    renovate = sorted(f"{k[0]}: {k[3]}" for k in renovate_pins(new_pins_run) if k[1] == dependency)
    product = sorted(f"{k[0]}: {k[3]}" for k in invoke_pins(with_new_pins) if k[1] == dependency)
    managers = sorted({m for m, _, dep in harness.extracted_deps(new_pins_run) if dep.get("depName") == dependency})
    assert not renovate and not product, (
        f"{dependency} without a `# renovate:` comment is seen by Renovate ({', '.join(managers) or 'no manager'}) at {renovate} "
        f"and by invoke pins at {product}; a pin must be seen by both or by neither"
    )


def test_the_new_copy_still_agrees_everywhere_else(new_pins_run: harness.Run, with_new_pins: Path) -> None:
    renovate, product = renovate_pins(new_pins_run), invoke_pins(with_new_pins)
    uncommented = set(UNCOMMENTED.values())
    renovate = {k for k in renovate if k[1] not in uncommented}
    product = {k for k in product if k[1] not in uncommented}
    assert renovate == product, difference(renovate, product)


# --- lookup against the local registry -----------------------------------------------------------------------------------


# renovate.json's rule for the image this repository builds: no pinDigest proposals.
OWN_IMAGE = re.compile(r"\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/airflow$")


def dev_and_shared_expectations(pristine: Path) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(file, depName) -> the proposals each exact dev or shared pin Renovate can look up should get: the newest
    non-major (the registry's minor, which is above its patch) and the major."""
    expected: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for pin in collect(Repo(pristine)):
        newer = newer_versions(pin.version)
        if pin.env not in (None, "dev") or not newer or pin.datasource not in SERVED_DATASOURCES:
            continue
        if pin.file.startswith(tuple(f"terraform/stacks/{env}/" for env in ENVS_RENOVATE_LEAVES)):
            # Per-environment stacks, shared in invoke pins' reckoning (env is for clusters/ only); whether Renovate may
            # move them is renovate.json's call, and its staging and prod rule names clusters/ only: not expected here.
            continue
        expected[(pin.file, pin.dependency)] = {("minor", newer["minor"]), ("major", newer["major"])}
        is_image = pin.datasource == "docker" and pin.manager != "argocd"  # not an OCI chart
        if is_image and pin.digest is None and not OWN_IMAGE.search(pin.dependency):
            # config:best-practices (docker:pinDigests): an image by tag alone gets its digest added, but for
            # the image this repo builds, which renovate.json leaves to image.yml.
            expected[(pin.file, pin.dependency)].add(("pinDigest", pin.version))
    return expected


def test_lookups_go_to_the_local_registry(lookup_run: harness.Run, registry: LocalRegistry) -> None:
    looked_up = [dep for _, _, dep in harness.report_deps(lookup_run) if dep.get("updates")]
    assert looked_up, "no dependency got an update from the local registry"
    elsewhere = sorted(
        {f"{dep['depName']}: {dep.get('registryUrl')}" for dep in looked_up if dep.get("registryUrl") != registry.url}
    )
    assert not elsewhere, f"updates from registries other than {registry.url}: {elsewhere}"
    asked = " ".join(registry.requests)
    for path in ("/index.yaml", "/tags/list", "/.well-known/terraform.json", "/versions"):
        assert path in asked, f"the local registry was never asked for {path}: {registry.requests}"


def test_dev_and_shared_pins_get_proposals(lookup_run: harness.Run, pristine: Path) -> None:
    expected = dev_and_shared_expectations(pristine)
    for where in ("clusters/dev/apps/", "clusters/dev/values/airflow.yaml", "terraform/stacks/dev/", "terraform/stacks/shared/"):
        assert any(file.startswith(where) for file, _ in expected), f"no pin under {where} to look up: {sorted(expected)}"
    got = {key: proposals(lookup_run, key) for key in expected}
    wrong = sorted(
        f"  {file}: {dep}: {got[(file, dep)]} != {want}" for (file, dep), want in expected.items() if got[(file, dep)] != want
    )
    assert not wrong, "proposals (got != expected):\n" + "\n".join(wrong)


@pytest.mark.parametrize("env", ENVS_RENOVATE_LEAVES)
def test_staging_and_prod_get_no_proposals(lookup_run: harness.Run, env: str) -> None:
    deps = [(file, dep) for _, file, dep in harness.report_deps(lookup_run) if file.startswith(f"clusters/{env}/")]
    proposed = sorted(
        f"{file}: {dep['depName']} -> {[u.get('newValue') for u in dep['updates']]}" for file, dep in deps if dep.get("updates")
    )
    assert not proposed, f"Renovate proposes updates in clusters/{env}/, which only `invoke promote` may change:\n" + "\n".join(
        proposed
    )
    # The registry offers newer versions of these charts and this image too: renovate.json's rule is what keeps them.
    served = [(file, dep) for file, dep in deps if dep.get("datasource") in SERVED_DATASOURCES and dep.get("currentValue")]
    assert served, f"no chart or image pin under clusters/{env}/ was extracted"
    not_disabled = sorted(
        f"{file}: {dep['depName']} ({dep.get('skipReason')})" for file, dep in served if dep.get("skipReason") != "disabled"
    )
    assert not not_disabled, f"pins in clusters/{env}/ looked up rather than disabled: {not_disabled}"


def branch_members(result: harness.Run) -> dict[str, set[tuple[str, str, str]]]:
    """branchName -> (manager, file, depName) of each update Renovate would put on that branch."""
    members: dict[str, set[tuple[str, str, str]]] = {}
    for manager, file, dep in harness.report_deps(result):
        for update in dep.get("updates") or []:
            members.setdefault(update["branchName"], set()).add((manager, file, dep["depName"]))
    return members


def test_groups_follow_renovate_json(lookup_run: harness.Run) -> None:
    config = json.loads((REPO_ROOT / "renovate.json").read_text())
    members = branch_members(lookup_run)
    for branch in sorted(group_branches(config, airflow_chart_group(config))):
        assert members.get(branch) == {("argocd", "clusters/dev/apps/airflow.yaml", "airflow")}, (
            f"{branch}: the Airflow chart's group must hold the dev Airflow chart alone, got {members.get(branch)}"
        )
    terraform_branches = group_branches(config, terraform_group(config))
    assert all(members.get(branch) for branch in terraform_branches), f"empty: {terraform_branches}, branches: {sorted(members)}"
    misplaced = sorted(
        f"{branch}: {manager} {file} {dep}"
        for branch, found in members.items()
        for manager, file, dep in found
        if (manager == "terraform") != (branch in terraform_branches)
    )
    assert not misplaced, "the terraform providers group must hold every terraform update and nothing else:\n" + "\n".join(
        misplaced
    )


# Files for the approval run: the dev Airflow chart (its own group), another dev chart (no group), the dev image
# and a dev stack (terraform providers). A narrow run, because the resolved config of each branch is logged only at
# trace level, which over the whole repository writes half a gigabyte.
APPROVAL_FILES = [
    "clusters/dev/apps/airflow.yaml",
    "clusters/dev/apps/keda.yaml",
    "clusters/dev/values/airflow.yaml",
    "terraform/stacks/dev/bootstrap/main.tf",
]


@pytest.fixture(scope="module")
def branch_configs(workdir: Path, cache: Path, registry: LocalRegistry) -> list[dict[str, Any]]:
    """Each upgrade of each branch as Renovate resolved it (`generateBranchConfig`, logged at trace level).

    The report of a lookup has no `dependencyDashboardApproval` (it is resolved per branch, after the lookup), and
    the debug log does not carry it either; the trace log does, so this run narrows the copy with `includePaths`
    (which only chooses files; every rule resolves as it does for the whole repository)."""
    repo = harness.copy_repo(workdir / "approval")
    prepare_lookup(repo, registry)
    config = harness.read_config(repo)
    config["includePaths"] = APPROVAL_FILES
    harness.write_config(repo, config, "only the files the approval test reads")
    result = harness.lookup(
        "lookup (trace, 4 files)", repo, cache, env={**LOCAL_HOSTS, "LOG_LEVEL": "trace"}, keep=["generateBranchConfig"]
    )
    upgrades = [upgrade for record in result.records for upgrade in record.get("config", [])]
    assert upgrades, f"no generateBranchConfig record in the trace log:\n{result.show_tail()}"
    return upgrades


def test_majors_wait_for_dependency_dashboard_approval(branch_configs: list[dict[str, Any]]) -> None:
    seen = {(u["packageFile"], u["depName"], u["updateType"]): u for u in branch_configs if u.get("depName")}
    majors = {k: u for k, u in seen.items() if k[2] == "major"}
    others = {k: u for k, u in seen.items() if k[2] != "major"}
    assert {k[0] for k in majors} == set(APPROVAL_FILES), sorted(majors)
    not_gated = sorted(k for k, u in majors.items() if u.get("dependencyDashboardApproval") is not True or u.get("automerge"))
    assert not not_gated, f"majors that would not wait for approval on the Dependency Dashboard: {not_gated}"
    gated = sorted(k for k, u in others.items() if u.get("dependencyDashboardApproval"))
    assert others and not gated, f"non-majors waiting for approval: {gated}"


def test_branch_configs_carry_the_group_names(branch_configs: list[dict[str, Any]]) -> None:
    config = json.loads((REPO_ROOT / "renovate.json").read_text())
    groups = {(u["packageFile"], u["depName"]): u.get("groupName") for u in branch_configs if u.get("depName")}
    assert groups[("clusters/dev/apps/airflow.yaml", "airflow")] == airflow_chart_group(config)
    assert groups[("clusters/dev/apps/keda.yaml", "keda")] is None
    terraform = {dep: name for (file, dep), name in groups.items() if file.endswith(".tf")}
    assert terraform and set(terraform.values()) == {terraform_group(config)}, terraform


# --- holds -----------------------------------------------------------------------------------------------------------------


HELD_FILES = ("clusters/dev/apps/airflow.yaml", "clusters/dev/values/airflow.yaml")


@pytest.fixture(scope="module")
def held_copy(workdir: Path) -> Path:
    """A copy in which `invoke hold` has held dev/airflow: clusters/dev/holds.yaml and a rule in renovate.json."""
    repo = harness.copy_repo(workdir / "held")
    reason = "the 2.x chart waits for the values migration"
    proc = invoke(repo, "hold", "--env", "dev", "--app", "airflow", "--reason", reason, "--mode", "commit")
    assert proc.returncode == 0, f"invoke hold failed:\n{proc.stdout}{proc.stderr}"
    assert not git(repo, "status", "--porcelain"), "invoke hold --mode commit left changes uncommitted"
    return repo


@pytest.fixture(scope="module")
def held_run(held_copy: Path, workdir: Path, cache: Path, registry: LocalRegistry) -> harness.Run:
    repo = workdir / "held-lookup"
    shutil.copytree(held_copy, repo)
    prepare_lookup(repo, registry)
    return harness.lookup("lookup (dev/airflow held)", repo, cache, env=LOCAL_HOSTS)


def test_a_hold_keeps_renovate_json_valid(held_copy: Path, cache: Path) -> None:
    result = harness.validate("config-validator (held)", held_copy, cache)
    assert result.returncode == 0, f"renovate-config-validator --strict rejects renovate.json with a hold:\n{result.show_tail()}"


def test_a_held_app_gets_no_proposals(held_run: harness.Run, lookup_run: harness.Run) -> None:
    # Without the hold, the dev Airflow chart and image each get proposals (the `$values` git source never does).
    before = {key for key, updates in updates_by_file(lookup_run).items() if key[0] in HELD_FILES and updates}
    assert {file for file, _ in before} == set(HELD_FILES), sorted(before)
    held = updates_by_file(held_run)
    proposed = {f"{file}: {dep}": [u["newValue"] for u in held.get((file, dep), [])] for file, dep in sorted(before)}
    assert not any(proposed.values()), f"Renovate still proposes updates for held pins: {proposed}"


def test_a_hold_leaves_the_other_dev_pins_alone(held_run: harness.Run, lookup_run: harness.Run) -> None:
    held, free = updates_by_file(held_run), updates_by_file(lookup_run)
    others = {key: updates for key, updates in free.items() if key[0].startswith("clusters/dev/") and key[0] not in HELD_FILES}
    assert any(others.values()), "no other dev pin gets a proposal, with or without the hold"
    changed = sorted(key for key, updates in others.items() if proposals_of(updates) != proposals_of(held.get(key, [])))
    assert not changed, f"the hold on dev/airflow changed the proposals for: {changed}"


def test_invoke_check_reports_the_pin_that_neither_sees(with_new_pins: Path) -> None:
    proc = invoke(with_new_pins, "check", "--env", "dev", "--format", "json")
    findings = json.loads(proc.stdout)["findings"]
    hidden = [f for f in findings if f["rule"] == "pin-not-visible"]
    assert [(f["file"], f["line"]) for f in hidden] == [(f"clusters/dev/values/{NEW_APP}.yaml", 10)], hidden
