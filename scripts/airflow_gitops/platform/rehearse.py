"""`invoke rehearse`: an environment's first day, run for real against local AWS emulators.

tf-backend, the registry and platform stacks applied, secrets-init, an image seeded in the new ECR
repository, a promotion into the next environment in commit mode, then terraform destroy. Everything
runs in a scratch clone of the repository, against moto servers on 127.0.0.1 (one per AWS account),
and all of it is removed at the end, however the run ends.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from ..adapters import terraform
from ..adapters.ecr import Registry
from ..adapters.emulator import EmulatedAccount, emulated_account
from ..model import hcl
from ..model.findings import UsageError
from ..model.repo import ClusterConfig, Repo
from ..releases.promote import app_files, cache_prefixes, image_move, route, route_pins
from ..upgrades.pins import collect_file
from . import emulated_apply
from .state_backend import registry_stack

PLATFORM_STACK = "terraform/stacks/{env}/platform"
REGISTRY_STACK = "terraform/stacks/shared/registry"
OVERRIDE_FILE = "rehearsal_override.tf"
PROMOTED_APP = "airflow"
# The emulator answers every scan with one canned HIGH finding, so the rehearsal's gate is CRITICAL.
SCAN_GATE = "CRITICAL"
LOG_TAIL_LINES = 25
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

Reporter = Callable[["StepRecord"], None]


class StepFailed(Exception):
    """A step did not do what it should; `log` holds the output that says why."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.log = log


@dataclass(frozen=True)
class StepRecord:
    name: str
    detail: str
    seconds: float
    ok: bool


@dataclass
class Outcome:
    env: str
    target_env: str
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)


@dataclass(frozen=True)
class Accounts:
    """The emulated accounts: the environment's and the shared registry's (the same one if they are)."""

    env: EmulatedAccount
    registry: EmulatedAccount
    region: str
    registry_region: str


# --- processes -------------------------------------------------------------------------------------


def _tail(text: str) -> str:
    lines = _ANSI.sub("", text).rstrip().splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def run_task(clone: Path, args: list[str], env: dict[str, str]) -> str:
    """One `invoke` task of the clone, as a user runs it; its output, or StepFailed with it."""
    invoke = Path(sys.executable).with_name("invoke")
    command = [str(invoke) if invoke.is_file() else "invoke", *args]
    proc = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise StepFailed(f"invoke {' '.join(args)} exited with {proc.returncode}", _tail(output))
    return output


@dataclass(frozen=True)
class Stack:
    """A Terraform stack of the clone, with the variables that point it at its emulated account."""

    path: Path
    account: EmulatedAccount
    variables: dict[str, str]
    log: Path

    @property
    def name(self) -> str:
        return self.path.name

    def terraform(self, *args: str) -> str:
        """Run terraform here; its output, kept in the log, or StepFailed with its end."""
        result = terraform.run(list(args), self.path, self.variables)
        shown = result.output if args[0] != "show" else f"({len(result.output)} characters of plan JSON)"
        with self.log.open("a", encoding="utf-8") as log:
            log.write(f"$ terraform {' '.join(args)}\n{shown}\n")
        if not result.ok:
            raise StepFailed(f"terraform {args[0]} in {self.name} exited with {result.returncode}", _tail(result.output))
        return result.output


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StepFailed(f"git {' '.join(args[:2])} exited with {proc.returncode}", _tail(proc.stderr))
    return proc.stdout


# --- the workspace ---------------------------------------------------------------------------------


def changed_paths(root: Path) -> tuple[list[str], list[str]]:
    """Files of the working tree that differ from HEAD (modified or new, not ignored), and deleted ones."""
    present = git(root, "ls-files", "-z", "--modified", "--others", "--exclude-standard").split("\0")
    deleted = set(git(root, "ls-files", "-z", "--deleted").split("\0")) - {""}
    return sorted({p for p in present if p} - deleted), sorted(deleted)


def clone_working_tree(root: Path, workspace: Path) -> tuple[Path, str]:
    """A bare 'origin' and a clone of it holding the working tree as one commit; the clone tracks origin."""
    origin, clone = workspace / "origin.git", workspace / "repo"
    git(workspace, "clone", "--quiet", "--bare", "--no-local", str(root), str(origin))
    git(workspace, "clone", "--quiet", str(origin), str(clone))
    git(clone, "config", "user.name", "invoke rehearse")
    git(clone, "config", "user.email", "rehearse@localhost")
    # Terraform's working files in the stacks are not changes to promote.
    with (clone / ".git" / "info" / "exclude").open("a", encoding="utf-8") as exclude:
        exclude.write(".terraform/\n.terraform.lock.hcl\n*.tfplan\n*_override.tf\n")
    changed, deleted = changed_paths(root)
    for rel in changed:
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, clone / rel)
    for rel in deleted:
        (clone / rel).unlink(missing_ok=True)
    if changed or deleted:
        git(clone, "add", "--all")
        git(clone, "commit", "--quiet", "--no-verify", "-m", "The working tree under rehearsal")
        git(clone, "push", "--quiet", "origin", "HEAD")
    return clone, f"{len(changed)} changed and {len(deleted)} deleted files over HEAD" if changed or deleted else "HEAD"


# --- AWS, emulated -----------------------------------------------------------------------------------


def create_dns_zone(accounts: Accounts, zone: str) -> str:
    """The public hosted zone the stack looks up; in a real account it exists before the platform."""
    route53 = accounts.env.client("route53", accounts.region)
    created = route53.create_hosted_zone(Name=zone, CallerReference=f"rehearse-{time.time_ns()}")
    return str(created["HostedZone"]["Id"]).rsplit("/", 1)[-1]


def drop_conditioned_denies(account: EmulatedAccount, region: str, bucket: str) -> int:
    """Remove the Deny statements that carry a condition from a bucket policy in the emulator.

    moto 5 evaluates a statement whose condition it has no value for as matching, so the state
    bucket's "deny insecure transport" and "deny every principal but the plan, apply and break-glass
    roles" would refuse every object request, whoever makes it, over TLS or not. AWS does not."""
    s3 = account.client("s3", region)
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    statements = policy.get("Statement", [])
    kept = [s for s in statements if not (s.get("Effect") == "Deny" and s.get("Condition"))]
    if kept:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({**policy, "Statement": kept}))
    else:
        s3.delete_bucket_policy(Bucket=bucket)
    return len(statements) - len(kept)


def break_glass_environment(account: EmulatedAccount, region: str, stack: ClusterConfig) -> dict[str, str]:
    """The account's environment with a session of the stack's break-glass role, the one tf-backend
    writes as; the role is made in the emulator first (in AWS it exists before the platform)."""
    name = str(stack.get("aws.break_glass_role") or "")
    if not name:
        raise StepFailed(f"{stack.file}: no break_glass_role for {stack.name}; tf-backend needs one")
    iam = account.client("iam", region)
    trust = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account.account_id}:root"}, "Action": "sts:AssumeRole"}
    path, _, role = name.rpartition("/")
    try:
        iam.create_role(
            RoleName=role,
            Path=f"/{path}/" if path else "/",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
        )
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    arn = f"arn:aws:iam::{account.account_id}:role/{name}"
    credentials = account.client("sts", region).assume_role(RoleArn=arn, RoleSessionName="rehearse")["Credentials"]
    return {
        **account.environment(region),
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


def image_manifest(tag: str) -> tuple[str, str]:
    """A minimal OCI image manifest of its own for the tag, and its digest."""
    config = hashlib.sha256(f"rehearsal image config {tag}".encode()).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{config}", "size": 2},
            "layers": [],
        },
        sort_keys=True,
    )
    return manifest, "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


def seed_image(accounts: Accounts, repository: str, tag: str) -> str:
    """Push the tag the source environment pins into the repository Terraform made, and scan it."""
    ecr = accounts.registry.client("ecr", accounts.registry_region)
    ecr.describe_repositories(registryId=accounts.registry.account_id, repositoryNames=[repository])
    manifest, digest = image_manifest(tag)
    ecr.put_image(
        registryId=accounts.registry.account_id,
        repositoryName=repository,
        imageManifest=manifest,
        imageTag=tag,
        imageDigest=digest,
    )
    ecr.start_image_scan(registryId=accounts.registry.account_id, repositoryName=repository, imageId={"imageDigest": digest})
    return digest


def registry_digest(accounts: Accounts, repository: str, tag: str) -> str:
    ecr = accounts.registry.client("ecr", accounts.registry_region)
    images = ecr.describe_images(registryId=accounts.registry.account_id, repositoryName=repository, imageIds=[{"imageTag": tag}])
    return str(images["imageDetails"][0]["imageDigest"])


def delete_images(accounts: Accounts, repository: str) -> int:
    """Empty the repository, so that terraform can delete it as it would a repository nothing pushed to."""
    ecr = accounts.registry.client("ecr", accounts.registry_region)
    ids = ecr.list_images(registryId=accounts.registry.account_id, repositoryName=repository).get("imageIds", [])
    if ids:
        ecr.batch_delete_image(registryId=accounts.registry.account_id, repositoryName=repository, imageIds=ids)
    return len(ids)


# --- Terraform stacks ------------------------------------------------------------------------------


def backend_settings(stack: Path) -> dict[str, Any]:
    for tf in sorted(stack.glob("*.tf")):
        try:
            document = hcl.parse(tf.read_text(encoding="utf-8"))
        except hcl.HclError as exc:
            where = f"{tf.name}:{exc.line}" if exc.line else tf.name
            raise StepFailed(
                f"{stack.name}/{where} does not parse ({exc.message}); run `terraform validate` in the stack"
            ) from None
        for block in document.get("terraform", []):
            for backend in block.get("backend", []):
                if "s3" in backend:
                    return dict(backend["s3"])
    raise StepFailed(f'{stack}: no backend "s3" block; the rehearsal keeps state where the stack does')


def prepare_stack(stack: Stack) -> None:
    ca_bundle = str(stack.account.ca_bundle) if stack.account.ca_bundle else None
    text = emulated_apply.override_file(backend_settings(stack.path), stack.account.url, ca_bundle)
    (stack.path / OVERRIDE_FILE).write_text(text, encoding="utf-8")
    stack.terraform("init", "-input=false", "-no-color")


def apply_stack(stack: Stack) -> emulated_apply.Selection:
    """Plan, leave out what the emulator cannot create, apply the rest; the selection says what was left out."""
    stack.terraform("plan", "-input=false", "-no-color", "-out=rehearsal.tfplan")
    plan = json.loads(stack.terraform("show", "-json", "rehearsal.tfplan"))
    graph = emulated_apply.dependency_graph(stack.terraform("graph"))
    selection = emulated_apply.select_targets(emulated_apply.planned_resources(plan), graph)
    targets = [f"-target={address}" for address in selection.targets]
    stack.terraform("apply", "-input=false", "-no-color", "-auto-approve", *targets)
    return selection


def state_count(stack: Stack) -> int:
    return len([line for line in stack.terraform("state", "list").splitlines() if line.strip()])


def destroy_stack(stack: Stack) -> int:
    """Destroy everything in the stack's state; how many resources were in it."""
    before = state_count(stack)
    stack.terraform("destroy", "-input=false", "-no-color", "-auto-approve")
    left = state_count(stack)
    if left:
        raise StepFailed(f"{left} resources are still in the state of {stack.name} after terraform destroy")
    return before


# --- the run ---------------------------------------------------------------------------------------


@contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the clean-up runs when a CI job or a user stops the rehearsal."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def next_env(repo: Repo, env: str) -> str:
    envs = repo.envs
    if env not in envs:
        raise UsageError(f"--env {env}: no such environment; choose one of {', '.join(envs)}")
    position = envs.index(env)
    if position + 1 >= len(envs):
        raise UsageError(f"--env {env}: the rehearsal promotes into the next environment and {env} is the last; choose {envs[0]}")
    return envs[position + 1]


T = TypeVar("T")


@dataclass
class Rehearsal:
    repo: Repo
    env: str
    workspace: Path
    report: Reporter
    outcome: Outcome

    @property
    def cluster(self) -> ClusterConfig:
        return self.repo.cluster(self.env)

    def step(self, name: str, action: Callable[[], tuple[T, str]]) -> T:
        """Run one step, timed and reported; its value, or StepFailed."""
        started = time.monotonic()
        try:
            value, detail = action()
        except StepFailed as exc:
            self._record(name, exc.message, started, ok=False)
            raise
        except UsageError as exc:
            self._record(name, str(exc), started, ok=False)
            raise StepFailed(str(exc)) from None
        self._record(name, detail, started, ok=True)
        return value

    def _record(self, name: str, detail: str, started: float, ok: bool) -> None:
        record = StepRecord(name, detail, time.monotonic() - started, ok)
        self.outcome.steps.append(record)
        self.report(record)


def rehearse(repo: Repo, env: str, report: Reporter, keep_logs: Path | None = None) -> Outcome:
    """Run every step; the workspace, the clone, the terraform working directories and the emulators
    are gone when this returns or raises. `keep_logs` receives the emulators' and terraform's logs."""
    target = next_env(repo, env)
    outcome = Outcome(env, target)
    with tempfile.TemporaryDirectory(prefix="rehearse-") as tmp, terminated_as_interrupt():
        workspace = Path(tmp)
        (workspace / "logs").mkdir()
        try:
            with ExitStack() as emulators:
                _run_steps(Rehearsal(repo, env, workspace, report, outcome), emulators, target)
        except StepFailed as exc:
            if exc.log:
                print(f"\n{exc.message}; the output ends:\n{exc.log}\n", file=sys.stderr)
        finally:
            if keep_logs is not None:
                shutil.copytree(workspace / "logs", keep_logs, dirs_exist_ok=True)
    return outcome


def _run_steps(run: Rehearsal, emulators: ExitStack, target: str) -> None:
    cluster, workspace, logs = run.cluster, run.workspace, run.workspace / "logs"
    accounts = run.step("emulators", lambda: _start_accounts(emulators, cluster, logs))
    clone = run.step("workspace", lambda: _clone(run.repo.root, workspace))
    zone = str(cluster.get("dns.zone"))
    run.step("dns zone", lambda: (None, f"public zone {zone} ({create_dns_zone(accounts, zone)})"))
    run.step("tf-backend", lambda: (None, _backends(clone, cluster, accounts)))
    tf = terraform.environment()
    stacks = [
        Stack(
            clone / REGISTRY_STACK,
            accounts.registry,
            accounts.registry.environment(accounts.registry_region, tf),
            logs / "terraform-registry.log",
        ),
        Stack(
            clone / PLATFORM_STACK.format(env=run.env),
            accounts.env,
            accounts.env.environment(accounts.region, tf),
            logs / "terraform-platform.log",
        ),
    ]
    applied: list[Stack] = []
    try:
        for stack in stacks:
            run.step(f"{stack.name} stack", partial(_apply, stack, applied))
        run.step("secrets-init", lambda: (None, _secrets(clone, run.env, accounts)))
        repository, tag = _image_to_promote(run.repo, run.env, target)
        digest = run.step("seed image", lambda: _seed(accounts, repository, tag))
        run.step("promote", lambda: (None, _promote(clone, workspace, run.env, target, accounts, repository, tag, digest)))
    except StepFailed:
        # Destroy what was applied even so: the rehearsal proves the teardown too. (An interrupt skips
        # this: stopping the emulators discards their state all the same.)
        _try_destroy(run, applied, accounts, cluster)
        raise
    run.step("destroy", lambda: (None, _destroy(applied, accounts, cluster)))


def _try_destroy(run: Rehearsal, applied: list[Stack], accounts: Accounts, cluster: ClusterConfig) -> None:
    if not applied:
        return
    try:
        run.step("destroy", lambda: (None, _destroy(applied, accounts, cluster)))
    except StepFailed as exc:
        if exc.log:
            print(f"\n{exc.message}; the output ends:\n{exc.log}\n", file=sys.stderr)


def _start_accounts(emulators: ExitStack, cluster: ClusterConfig, logs: Path) -> tuple[Accounts, str]:
    registry = Registry.of(cluster)
    env_account = emulators.enter_context(emulated_account(cluster.account_id, logs / f"moto-{cluster.account_id}.log", tls=True))
    registry_account = env_account
    if registry.account_id != cluster.account_id:
        registry_account = emulators.enter_context(
            emulated_account(registry.account_id, logs / f"moto-{registry.account_id}.log", tls=True)
        )
    accounts = Accounts(env_account, registry_account, cluster.region, registry.region)
    urls = {a.account_id: a.url for a in (env_account, registry_account)}
    return accounts, ", ".join(f"account {account} at {url}" for account, url in urls.items())


def _clone(root: Path, workspace: Path) -> tuple[Path, str]:
    clone, what = clone_working_tree(root, workspace)
    return clone, f"scratch clone of {what}"


def _backends(clone: Path, cluster: ClusterConfig, accounts: Accounts) -> str:
    buckets = []
    runs = (
        (["tf-backend", "--env", cluster.env], cluster, accounts.env, accounts.region),
        (
            ["tf-backend", "--env", cluster.env, "--registry"],
            registry_stack(cluster),
            accounts.registry,
            accounts.registry_region,
        ),
    )
    for args, stack, account, region in runs:
        output = run_task(clone, args, break_glass_environment(account, region, stack))
        for bucket in re.findall(r"^s3://(\S+):", output, flags=re.MULTILINE):
            drop_conditioned_denies(account, region, bucket)
            buckets.append(f"s3://{bucket}")
    return (
        f"{', '.join(buckets)}, each with its KMS key, as the break-glass role (in the emulator without the "
        "conditioned denies of the bucket policy, which moto cannot evaluate)"
    )


def _apply(stack: Stack, applied: list[Stack]) -> tuple[None, str]:
    prepare_stack(stack)
    applied.append(stack)  # from here on, part of it may exist, so it is destroyed in any case
    selection = apply_stack(stack)
    return None, f"{len(selection.targets)} resources applied; left out: {selection.summary()}"


def _secrets(clone: Path, env: str, accounts: Accounts) -> str:
    lines = run_task(clone, ["secrets-init", "--env", env], accounts.env.environment(accounts.region)).strip().splitlines()
    return lines[-1] if lines else "no output"


def _image_to_promote(repo: Repo, env: str, target: str) -> tuple[str, str]:
    promotion = route(repo, PROMOTED_APP, target, env)
    move = image_move(route_pins(repo, promotion), promotion, None, cache_prefixes(repo, promotion.source))
    if move is None:
        raise StepFailed(f"{app_files(env, PROMOTED_APP)[1]}: no image pin to promote")
    return move.repository, move.tag


def _seed(accounts: Accounts, repository: str, tag: str) -> tuple[str, str]:
    digest = seed_image(accounts, repository, tag)
    return digest, f"{repository}:{tag} pushed as {digest[:19]}…, scanned"


def _promote(
    clone: Path,
    workspace: Path,
    env: str,
    target: str,
    accounts: Accounts,
    repository: str,
    tag: str,
    seeded: str,
) -> str:
    args = ["promote", "--app", PROMOTED_APP, "--from", env, "--to", target, "--mode", "commit"]
    variables = accounts.registry.environment(accounts.registry_region)
    run_task(clone, [*args, "--no-health-gate", "--max-severity", SCAN_GATE], variables)
    digest = registry_digest(accounts, repository, tag)
    values = app_files(target, PROMOTED_APP)[1]
    pinned = [p for p in collect_file(Repo.discover(clone), values) if p.dependency.endswith(f"/{repository}")]
    if digest != seeded or not pinned or pinned[0].version != tag or pinned[0].digest != digest:
        found = f"{pinned[0].version}@{pinned[0].digest}" if pinned else "no image pin"
        raise StepFailed(f"{values}: expected {tag}@{digest} (ECR; seeded {seeded}), found {found}")
    if f"Image-Digest: {digest}" not in git(workspace / "origin.git", "log", "-1", "--format=%B"):
        raise StepFailed("the promotion commit did not reach origin with its Image-Digest trailer")
    return f"{target} pins {tag}@{digest[:19]}…, committed and pushed to origin"


def _destroy(applied: list[Stack], accounts: Accounts, cluster: ClusterConfig) -> str:
    repository = str(cluster.get("airflow.image_repository", PROMOTED_APP))
    destroyed = 0
    for stack in reversed(applied):
        if stack.path.as_posix().endswith(REGISTRY_STACK) and state_count(stack):
            delete_images(accounts, repository)
        destroyed += destroy_stack(stack)
    return f"{destroyed} resources destroyed, none left in state"
