"""Which GitHub job can become which AWS role, proved from the files (rule `ci-trust`).

The workflows (.github/workflows/*.yml) say, for every job whose token may be minted (`id-token:
write`), which OIDC subjects that token can carry: `environment:<name>` for a job in a GitHub
environment, else `pull_request` or `ref:refs/heads|tags/<ref>` by the events that start it. The
Terraform trusts (the `ci_roles` module calls of the platform and registry stacks, through
modules/github-oidc) say which subjects each role admits. A job may assume exactly the roles its
`configure-aws-credentials` steps ask for, read from the role variables; any other role whose trust
admits one of its subjects is a finding, and so is a role it asks for that does not admit it, and
every wildcard subject in a trust.

Rule `iam-boundary`: every IAM role in terraform/ carries a permissions boundary, and the stacks pass
their guard rails' boundary to every module that takes one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from ...model import hcl
from ...model.findings import Finding, error
from ...model.repo import Repo
from ..context import CheckContext
from .terraform_contracts import interpolate

WORKFLOWS = ".github/workflows"
OIDC_MODULE = "terraform/modules/github-oidc/main.tf"
PLATFORM_CI = "terraform/modules/platform/ci.tf"
PLATFORM_MODULE = "terraform/modules/platform/main.tf"
REGISTRY_STACK = "terraform/stacks/shared/registry/main.tf"
REGISTRY = "registry"
CONFIGURE_AWS = "aws-actions/configure-aws-credentials"
# The trust of modules/github-oidc: the token's subject must match `repo:<repository>:<subject>`.
TRUST_TEMPLATE = '"repo:${var.repository}:${s}"'
# The role variables of .github/README.md, and the role each names: (stack, role). A stack of None is
# the job's own GitHub environment (AWS_APPLY_ROLE_ARN is an environment variable).
ROLE_VARIABLES: dict[str, tuple[str | None, str]] = {
    "AWS_APPLY_ROLE_ARN": (None, "terraform-apply"),
    "AWS_IMAGE_PUSH_ROLE_ARN": (REGISTRY, "image-push"),
    "AWS_IMAGE_READ_ROLE_ARN": (REGISTRY, "image-read"),
}
_PLAN_VARIABLE = re.compile(r"^AWS_PLAN_ROLE_ARN_([A-Z0-9_]+)$")
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_EVENT_ONLY = re.compile(r"^\s*(?:\$\{\{)?\s*github\.event_name\s*==\s*'([a-z_]+)'\s*(?:\}\})?\s*$")
# Events whose token names the ref they run on, which any ref can be (a dispatch picks it).
_ANY_REF = ("ref:refs/heads/*", "ref:refs/tags/*")


@dataclass(frozen=True)
class Role:
    stack: str  # dev, staging, prod, registry
    name: str  # terraform-plan, terraform-apply, image-push, image-read
    subjects: tuple[str, ...]
    file: str
    templates: tuple[str, ...] = ()  # as written, before cluster.yaml's values are put in

    @property
    def key(self) -> str:
        return f"{self.stack}/{self.name}"


@dataclass
class Job:
    workflow: str  # file
    id: str
    subjects: list[str]
    needs: set[str] = field(default_factory=set)  # role keys its steps ask for
    problems: list[str] = field(default_factory=list)
    line: int | None = None

    @property
    def key(self) -> str:
        return f"{self.workflow.rsplit('/', 1)[-1]}:{self.id}"


@dataclass
class Proof:
    roles: list[Role]
    jobs: list[Job]
    findings: list[Finding]

    def assumable(self, job: Job) -> dict[str, str]:
        """Role key -> the subject pair (job's, trust's) that lets the job in."""
        out: dict[str, str] = {}
        for role in self.roles:
            for ours, theirs in itertools.product(job.subjects, role.subjects):
                if globs_intersect(ours, theirs):
                    out[role.key] = f"{ours} matches {theirs}"
                    break
        return out

    def matrix(self) -> dict[str, set[str]]:
        """Job key -> the roles it can assume."""
        return {job.key: set(self.assumable(job)) for job in self.jobs}


def globs_intersect(a: str, b: str) -> bool:
    """Whether some string matches both IAM StringLike patterns (`*` any run, `?` one character)."""

    @cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*":
            if meet(i + 1, j):
                return True
            return j < len(b) and meet(i, j + 1)
        if j < len(b) and b[j] == "*":
            return meet(i, j + 1) or (i < len(a) and meet(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        return (a[i] == b[j] or "?" in (a[i], b[j])) and meet(i + 1, j + 1)

    return meet(0, 0)


# --- the files -------------------------------------------------------------------------------------


def _line(text: str, *needles: str) -> int | None:
    for needle in needles:
        for number, line in enumerate(text.splitlines(), start=1):
            if needle in line:
                return number
    return None


def _parse_hcl(repo: Repo, rel: str) -> dict[str, Any] | None:
    if not repo.exists(rel):
        return None
    try:
        return hcl.parse(repo.text(rel))
    except hcl.HclError:
        return None  # the hcl-syntax finding is the terraform contracts'


def _roles_of(module: dict[str, Any]) -> dict[str, list[str]]:
    roles = module.get("roles")
    if not isinstance(roles, dict):
        return {}
    return {str(name): [str(s) for s in (body or {}).get("subjects") or []] for name, body in roles.items()}


def trust_roles(repo: Repo, envs: Iterable[str]) -> tuple[list[Role], list[Finding]]:
    """Every role the stacks make for GitHub, with the subjects its trust admits."""
    roles: list[Role] = []
    findings: list[Finding] = []
    ci = _parse_hcl(repo, PLATFORM_CI)
    platform = _parse_hcl(repo, PLATFORM_MODULE)
    if ci is not None:
        module = hcl.named(ci, "module").get("ci_roles") or {}
        for env in envs:
            config = repo.cluster(env)
            scope = _scope(config.data, platform)
            for name, templates in _roles_of(module).items():
                subjects = []
                for template in templates:
                    value = interpolate(template, scope)
                    if value is None:
                        findings.append(
                            error(
                                "ci-trust",
                                PLATFORM_CI,
                                f"[{env}] the trust of {name} names the subject {template!r}, which cannot be read from cluster.yaml",
                                "write subjects from var.cluster.* only, so the proof can tell which jobs they admit",
                                _line(repo.text(PLATFORM_CI), template),
                            )
                        )
                        value = "*"
                    subjects.append(value)
                roles.append(Role(env, name, tuple(subjects), PLATFORM_CI, tuple(templates)))
    registry = _parse_hcl(repo, REGISTRY_STACK)
    if registry is not None:
        module = hcl.named(registry, "module").get("ci_roles") or {}
        for name, subjects in _roles_of(module).items():
            roles.append(Role(REGISTRY, name, tuple(subjects), REGISTRY_STACK, tuple(subjects)))
    for role in roles:
        for subject, template in zip(role.subjects, role.templates or role.subjects, strict=True):
            if "*" in subject or "?" in subject:
                findings.append(
                    error(
                        "ci-trust",
                        role.file,
                        f"[{role.stack}] the trust of {role.name} admits the wildcard subject {subject!r}: every workflow whose "
                        "token matches it, today's or a later one, can assume the role",
                        "name one subject exactly: `environment:<name>` of the one job that needs the role, or `pull_request`",
                        _line(repo.text(role.file), f'"{template}"', template),
                    )
                )
    if repo.exists(OIDC_MODULE) and TRUST_TEMPLATE not in repo.text(OIDC_MODULE):
        findings.append(
            error(
                "ci-trust",
                OIDC_MODULE,
                f"the trust no longer matches the token's subject against {TRUST_TEMPLATE}, so the proof does not hold",
                'keep StringLike { "token.actions.githubusercontent.com:sub" = ["repo:${var.repository}:${s}", ...] }',
                _line(repo.text(OIDC_MODULE), ":sub"),
            )
        )
    return roles, findings


def _scope(cluster: dict[str, Any], platform: dict[str, Any] | None) -> dict[str, Any]:
    scope: dict[str, Any] = {}

    def flatten(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                flatten(f"{prefix}.{key}", value)
        else:
            scope[prefix] = node

    flatten("var.cluster", cluster)
    if platform is not None:
        for key, template in hcl.locals_of(platform).items():
            value = interpolate(template, scope)
            if value is not None:
                scope[f"local.{key}"] = value
    return scope


def _load_workflow(repo: Repo, rel: str) -> dict[str, Any] | None:
    try:
        doc = yaml.safe_load(repo.text(rel))
    except yaml.YAMLError:
        return None
    return doc if isinstance(doc, dict) else None


def _triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    keys: dict[Any, Any] = dict(workflow)
    on = keys["on"] if "on" in keys else keys.get(True)  # YAML 1.1 reads a bare `on` as true
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {str(e): None for e in on}
    return dict(on) if isinstance(on, dict) else {}


def _grants_id_token(permissions: Any) -> bool:
    if permissions == "write-all":
        return True
    return isinstance(permissions, dict) and permissions.get("id-token") == "write"


def _matrix_values(job: dict[str, Any], key: str) -> list[Any] | None:
    matrix = (job.get("strategy") or {}).get("matrix")
    if not isinstance(matrix, dict):
        return None
    values: list[Any] = []
    axis = matrix.get(key)
    if isinstance(axis, list):
        values.extend(axis)
    for entry in matrix.get("include") or []:
        if isinstance(entry, dict) and key in entry:
            values.append(entry[key])
    return values or None


def _input_options(triggers: dict[str, Any], name: str) -> list[str] | None:
    for event in ("workflow_dispatch", "workflow_call"):
        inputs = ((triggers.get(event) or {}) or {}).get("inputs") or {}
        spec = inputs.get(name) if isinstance(inputs, dict) else None
        if isinstance(spec, dict) and spec.get("type") == "choice" and spec.get("options"):
            return [str(o) for o in spec["options"]]
    return None


def expand(text: Any, job: dict[str, Any], triggers: dict[str, Any]) -> list[str] | None:
    """Every value a string with `${{ }}` can take, or None if one of its expressions is not a matrix
    value, a choice input or a variable (whose name is kept as `vars.NAME`)."""
    if not isinstance(text, str):
        return None if text is None else [str(text)]
    parts = _EXPRESSION.split(text)
    options: list[list[str]] = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            options.append([part])
            continue
        if part.startswith("vars."):
            options.append([f"${{{{ {part} }}}}"])
            continue
        match = re.fullmatch(r"(?:github\.event\.)?inputs\.([A-Za-z0-9_-]+)", part)
        if match:
            choices = _input_options(triggers, match.group(1))
            if choices is None:
                return None
            options.append(choices)
            continue
        match = re.fullmatch(r"matrix\.([A-Za-z0-9_-]+)", part)
        if match:
            values = _matrix_values(job, match.group(1))
            if values is None:
                return None
            expanded: list[str] = []
            for value in values:
                inner = expand(value, job, triggers)
                if inner is None:
                    return None
                expanded.extend(inner)
            options.append(expanded)
            continue
        return None
    return sorted({"".join(combo) for combo in itertools.product(*options)})


def _ref_subjects(triggers: dict[str, Any], job: dict[str, Any]) -> list[str]:
    events = dict(triggers)
    condition = job.get("if")
    match = _EVENT_ONLY.match(condition) if isinstance(condition, str) else None
    if match:
        events = {k: v for k, v in events.items() if k == match.group(1)}
    subjects: list[str] = []
    for event, spec in events.items():
        spec = spec if isinstance(spec, dict) else {}
        if event == "pull_request":
            subjects.append("pull_request")
        elif event == "push":
            branches, tags = spec.get("branches"), spec.get("tags")
            filtered = any(k in spec for k in ("branches", "branches-ignore", "tags", "tags-ignore"))
            if isinstance(branches, list):
                subjects += [f"ref:refs/heads/{b}" for b in branches]
            elif "branches-ignore" in spec or not filtered:
                subjects.append("ref:refs/heads/*")
            if isinstance(tags, list):
                subjects += [f"ref:refs/tags/{t}" for t in tags]
            elif "tags-ignore" in spec or not filtered:
                subjects.append("ref:refs/tags/*")
        elif event == "pull_request_target":
            subjects += ["pull_request", *_ANY_REF]
        else:
            subjects += list(_ANY_REF)
    return sorted(set(subjects))


def _needs(job: dict[str, Any], triggers: dict[str, Any], environments: list[str]) -> tuple[set[str], list[str]]:
    needs: set[str] = set()
    problems: list[str] = []
    for step in job.get("steps") or []:
        if not isinstance(step, dict) or not str(step.get("uses", "")).startswith(f"{CONFIGURE_AWS}@"):
            continue
        role = (step.get("with") or {}).get("role-to-assume")
        values = expand(role, job, triggers)
        if not values:
            problems.append(f"its role-to-assume {role!r} is not a role variable of .github/README.md")
            continue
        for value in values:
            match = re.fullmatch(r"\$\{\{ vars\.([A-Z0-9_]+) \}\}", value)
            variable = match.group(1) if match else ""
            plan = _PLAN_VARIABLE.match(variable)
            if plan:
                needs.add(f"{plan.group(1).lower()}/terraform-plan")
            elif variable in ROLE_VARIABLES:
                stack, name = ROLE_VARIABLES[variable]
                if stack is None:
                    if len(environments) != 1:
                        problems.append(
                            f"{variable} is an environment variable, but the job runs in {environments or 'no environment'}"
                        )
                        continue
                    stack = environments[0]
                needs.add(f"{stack}/{name}")
            else:
                problems.append(f"its role-to-assume {value!r} is not a role variable of .github/README.md")
    return needs, problems


def token_jobs(repo: Repo) -> list[Job]:
    """Every job of every workflow that may mint an OIDC token, with the subjects it can carry."""
    jobs: list[Job] = []
    folder = repo.path(WORKFLOWS)
    if not folder.is_dir():
        return jobs
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".yml", ".yaml"):
            continue
        rel = repo.rel(path)
        workflow = _load_workflow(repo, rel)
        if workflow is None:
            continue
        text = repo.text(rel)
        triggers = _triggers(workflow)
        for job_id, job in (workflow.get("jobs") or {}).items():
            if not isinstance(job, dict):
                continue
            permissions = job["permissions"] if "permissions" in job else workflow.get("permissions")
            if not _grants_id_token(permissions):
                continue
            environment = job.get("environment")
            if isinstance(environment, dict):
                environment = environment.get("name")
            record = Job(rel, str(job_id), [], line=_line(text, f"  {job_id}:"))
            environments: list[str] = []
            if environment is not None:
                names = expand(environment, job, triggers)
                if names is None:
                    record.problems.append(f"its environment {environment!r} cannot be told from the file")
                    record.subjects = ["environment:*"]
                else:
                    environments = names
                    record.subjects = [f"environment:{n}" for n in names]
            else:
                record.subjects = _ref_subjects(triggers, job)
            record.needs, problems = _needs(job, triggers, environments)
            record.problems += problems
            jobs.append(record)
    return jobs


def prove(repo: Repo, envs: Iterable[str] | None = None) -> Proof:
    roles, findings = trust_roles(repo, list(envs) if envs is not None else repo.envs)
    proof = Proof(roles, token_jobs(repo), findings)
    known = {r.key for r in roles}
    for job in proof.jobs:
        text = repo.text(job.workflow)
        for problem in job.problems:
            proof.findings.append(
                error(
                    "ci-trust",
                    job.workflow,
                    f"job {job.id}: {problem}",
                    "name the environment literally, from a choice input or from the matrix, and the role by its variable",
                    job.line,
                )
            )
        assumable = proof.assumable(job)
        for key, why in sorted(assumable.items()):
            if key in job.needs:
                continue
            proof.findings.append(
                error(
                    "ci-trust",
                    job.workflow,
                    f"job {job.id} can assume {key}, which it does not use ({why}): whatever the job runs may act as that role",
                    "run the job in a GitHub environment of its own (as promote.yml runs in <env>-promote), or narrow the role's trust",
                    _line(text, "    environment: ") if job.subjects and job.subjects[0].startswith("environment:") else job.line,
                )
            )
        for key in sorted(job.needs - set(assumable)):
            detail = "no such role is made by the stacks" if key not in known else f"its trust admits none of {job.subjects}"
            proof.findings.append(
                error(
                    "ci-trust",
                    job.workflow,
                    f"job {job.id} assumes {key}, but {detail}",
                    "make the role's trust name the job's subject, or use the role the job is meant to",
                    job.line,
                )
            )
    return proof


# --- rule iam-boundary ----------------------------------------------------------------------------


def _tf_files(repo: Repo) -> Iterator[str]:
    root = repo.path("terraform")
    for path in sorted(root.rglob("*.tf")):
        rel = repo.rel(path)
        if "/tests/" in rel or "/.terraform/" in rel:
            continue
        yield rel


def boundaries(repo: Repo) -> list[Finding]:
    findings: list[Finding] = []
    if not repo.path("terraform").is_dir():
        return findings
    takes_boundary: set[str] = set()
    for rel in _tf_files(repo):
        if (
            rel.startswith("terraform/modules/")
            and rel.endswith("/variables.tf")
            and "permissions_boundary_arn" in repo.text(rel)
        ):
            doc = _parse_hcl(repo, rel)
            if doc is not None and "permissions_boundary_arn" in hcl.named(doc, "variable"):
                takes_boundary.add(rel.split("/")[2])
    for rel in _tf_files(repo):
        text = repo.text(rel)
        stack = rel.startswith("terraform/stacks/") or rel.startswith("terraform/modules/platform/")
        if '"aws_iam_role"' not in text and not (stack and "module " in text):
            continue  # parsing is the slow part: only files that make roles or call modules
        doc = _parse_hcl(repo, rel)
        if doc is None:
            continue
        for block in hcl.blocks(doc, "resource"):
            for name, body in (block.get("aws_iam_role") or {}).items():
                if not (body or {}).get("permissions_boundary"):
                    findings.append(
                        error(
                            "iam-boundary",
                            rel,
                            f"aws_iam_role.{name} has no permissions boundary: the apply role could make a role wider than itself",
                            "set permissions_boundary = var.permissions_boundary_arn and let the stack pass its guard rails' boundary",
                            _line(text, f'resource "aws_iam_role" "{name}"'),
                        )
                    )
        if not stack:
            continue
        for name, body in hcl.named(doc, "module").items():
            source = str(body.get("source", "")).rstrip("/").rsplit("/", 1)[-1]
            if (
                source in takes_boundary
                and body.get("permissions_boundary_arn") != "${module.guardrails.permissions_boundary_arn}"
            ):
                findings.append(
                    error(
                        "iam-boundary",
                        rel,
                        f'module "{name}" ({source}) makes IAM roles without the stack\'s permissions boundary',
                        "pass permissions_boundary_arn = module.guardrails.permissions_boundary_arn",
                        _line(text, f'module "{name}"'),
                    )
                )
    return findings


def run(ctx: CheckContext) -> None:
    repo = ctx.repo
    if not repo.path(WORKFLOWS).is_dir() or not repo.path("terraform").is_dir():
        return
    # a cluster.yaml that cannot be read is the parse stage's finding; the trust proof leaves it out
    envs = [e for e in repo.envs_readable() if repo.cluster_if_readable(e) and repo.cluster_file(e) not in ctx.broken_files]
    for finding in prove(repo, envs).findings:
        ctx.add(finding)
    for finding in boundaries(repo):
        ctx.add(finding)
