"""Every version pin in the repository, found the way Renovate's managers find them.

One recogniser per kind of file, each reading the text itself (not renovate.json), so that the
test comparing this list with Renovate's own extraction proves renovate.json misses nothing.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import yaml

from ..model import yamlio
from ..model.repo import APPS_DIR, CLUSTERS_DIR, Repo

# `# renovate: datasource=docker depName=x versioning=loose` above the line it describes.
RENOVATE_COMMENT = re.compile(r"^\s*#\s*renovate:\s*(?P<fields>.+?)\s*$")
_YAML_VALUE = re.compile(r"^\s*(?:-\s+)?(?P<key>[\w.-]+):\s*(?P<quote>[\"']?)(?P<value>[^\"'\s#]+)(?P=quote)")
# A tag may carry its digest inline (tag@sha256:...), where a chart has no digest field.
_INLINE_DIGEST = re.compile(r"^(?P<value>[^@]+)@(?P<digest>sha256:[0-9a-f]{64})$")
_HCL_VALUE = re.compile(r"^\s*\"?(?P<key>[\w-]+)\"?\s*=\s*\"(?P<value>[^\"]+)\"")
_DIGEST = re.compile(r"^\s*digest:\s*[\"']?(?P<digest>sha256:[0-9a-f]{64})")
_AMI_ALIAS = re.compile(r"^(?P<family>[\w-]+)@(?P<release>v\d+)$")
_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*(?P<version>[^\s;#]+)")
_PEP508 = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?P<spec>[^;]*)")


@dataclass(frozen=True)
class Pin:
    """One version pin: where it is, what it pins, and to what."""

    file: str
    line: int
    dependency: str
    datasource: str
    version: str
    env: str | None
    manager: str
    digest: str | None = None
    # where an editor finds the value: a YAML path, or None for a line edit
    yaml_path: tuple[str | int, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k in ("file", "line", "dependency", "datasource", "version", "env")}

    @property
    def app(self) -> str | None:
        """The app a per-environment pin belongs to (clusters/<env>/{apps,values}/<app>.yaml)."""
        parts = self.file.split("/")
        if len(parts) == 4 and parts[0] == CLUSTERS_DIR and parts[2] in ("apps", "values"):
            return parts[3].rsplit(".", 1)[0]
        return None


def env_of(file: str) -> str | None:
    parts = file.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == CLUSTERS_DIR else None


def comment_fields(line: str) -> dict[str, str] | None:
    """The key=value fields of a `# renovate:` comment line, or None for any other line."""
    match = RENOVATE_COMMENT.match(line)
    if not match:
        return None
    fields: dict[str, str] = {}
    for token in match.group("fields").split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


def _comment_pins(repo: Repo, file: str, hcl: bool) -> Iterator[Pin]:
    lines = repo.text(file).splitlines()
    for index, line in enumerate(lines[:-1]):
        fields = comment_fields(line)
        if fields is None:
            continue
        value_line = lines[index + 1]
        match = (_HCL_VALUE if hcl else _YAML_VALUE).match(value_line)
        if not match:
            continue
        value, dependency = match.group("value"), fields.get("depName", "")
        datasource = fields.get("datasource", "")
        if "eksAddonsFilter" in fields:
            dependency, datasource = match.group("key"), "aws-eks-addon"
        alias = _AMI_ALIAS.match(value) if match.group("key") == "alias" else None
        if alias:
            value = alias.group("release")
        digest_match = _DIGEST.match(lines[index + 2]) if not hcl and index + 2 < len(lines) else None
        inline = _INLINE_DIGEST.match(value) if not hcl else None
        if inline:
            value = inline.group("value")
        yield Pin(
            file=file,
            line=index + 2,
            dependency=dependency,
            datasource=datasource,
            version=value,
            env=env_of(file),
            manager="regex",
            digest=inline.group("digest") if inline else (digest_match.group("digest") if digest_match else None),
        )


def _application_pins(repo: Repo, file: str) -> Iterator[Pin]:
    try:
        docs = repo.yaml_docs(file)
    except yaml.YAMLError:
        return
    for index, doc in enumerate(docs):
        if not (
            isinstance(doc, dict)
            and doc.get("kind") == "Application"
            and str(doc.get("apiVersion", "")).startswith("argoproj.io/")
        ):
            continue
        spec = doc.get("spec") or {}
        sources: list[tuple[tuple[str | int, ...], Any]] = []
        if isinstance(spec.get("source"), dict):
            sources.append((("spec", "source"), spec["source"]))
        for i, source in enumerate(spec.get("sources") or []):
            sources.append((("spec", "sources", i), source))
        for path, source in sources:
            if not isinstance(source, dict) or not source.get("chart") or "targetRevision" not in source:
                continue
            dependency, datasource = chart_dependency(str(source.get("repoURL", "")), str(source["chart"]))
            yaml_path = (*path, "targetRevision")
            _, line = yamlio.match_depth(repo.yaml_nodes(file)[index], yaml_path)
            yield Pin(file, line, dependency, datasource, str(source["targetRevision"]), env_of(file), "argocd", None, yaml_path)


def is_values_file(file: str) -> bool:
    """Helm values: apps/<app>/values.yaml and clusters/<env>/values/<app>.yaml."""
    parts = file.split("/")
    return (parts[0] == CLUSTERS_DIR and len(parts) == 4 and parts[2] == "values") or (
        parts[0] == APPS_DIR and len(parts) == 3 and parts[2] == "values.yaml"
    )


def _scalar(node: yaml.Node, key: str) -> yaml.ScalarNode | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.ScalarNode):
                return v
    return None


def _image_pin(file: str, key_path: tuple[str | int, ...], value: yaml.Node) -> Pin | None:
    """What Renovate's helm-values manager reads under a key ending in `image`: {registry?, repository, tag}, or repo:tag."""
    if isinstance(value, yaml.MappingNode):
        repository, tag = _scalar(value, "repository"), _scalar(value, "tag")
        if repository is None or tag is None or not repository.value or not tag.value:
            return None
        registry = _scalar(value, "registry")
        name = f"{registry.value}/{repository.value}" if registry is not None and registry.value else repository.value
        version, _, digest = tag.value.partition("@")  # the tag kept beside its digest: v1.2.3@sha256:...
        return Pin(
            file,
            tag.start_mark.line + 1,
            name,
            "docker",
            version,
            env_of(file),
            "helm-values",
            digest or None,
            (*key_path, "tag"),
        )
    if isinstance(value, yaml.ScalarNode) and isinstance(value.value, str):
        image, sep, version = value.value.rpartition(":")
        if sep and image and "/" not in version and "@" not in value.value:
            return Pin(file, value.start_mark.line + 1, image, "docker", version, env_of(file), "helm-values")
    return None


def _helm_values_pins(repo: Repo, file: str) -> Iterator[Pin]:
    try:
        docs = repo.yaml_nodes(file)
    except yaml.YAMLError:
        return

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> Iterator[Pin]:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = str(key.value)
                if name.lower().endswith("image") and (pin := _image_pin(file, (*path, name), value)):
                    yield pin
                else:
                    yield from walk(value, (*path, name))

    for doc in docs[:1]:
        yield from walk(doc, ())


def chart_dependency(repo_url: str, chart: str) -> tuple[str, str]:
    """Renovate's name for a chart source: the chart of an HTTP repository, or the OCI image."""
    if "://" in repo_url and not repo_url.startswith("oci://"):
        return chart, "helm"
    return f"{repo_url.removeprefix('oci://').rstrip('/')}/{chart}", "docker"


_PROVIDERS_OPEN = re.compile(r"^\s*required_providers\s*\{")
_PROVIDER_OPEN = re.compile(r"^\s*(?P<name>[\w-]+)\s*=\s*\{")
_VERSION = re.compile(r"^\s*version\s*=\s*\"(?P<value>[^\"]+)\"")
_REQUIRED_VERSION = re.compile(r"^\s*required_version\s*=\s*\"(?P<value>[^\"]+)\"")


def _terraform_pins(repo: Repo, file: str) -> Iterator[Pin]:
    """required_version and required_providers versions (a line scan: HCL parsing is slow and loses lines)."""
    depth, provider = 0, None
    for number, line in enumerate(repo.text(file).splitlines(), start=1):
        if match := _REQUIRED_VERSION.match(line):
            yield Pin(file, number, "hashicorp/terraform", "github-releases", match.group("value"), env_of(file), "terraform")
        if depth == 0 and _PROVIDERS_OPEN.match(line):
            depth = 1
            continue
        if depth == 0:
            continue
        if depth == 1 and (opened := _PROVIDER_OPEN.match(line)):
            provider = opened.group("name")
        if depth == 2 and provider and (match := _VERSION.match(line)):
            yield Pin(file, number, provider, "terraform-provider", match.group("value"), env_of(file), "terraform")
        depth += line.count("{") - line.count("}")
        if depth == 1:
            provider = None


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return 0


def _pyproject_pins(repo: Repo, file: str) -> Iterator[Pin]:
    text = repo.text(file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return
    project = data.get("project", {})
    if "requires-python" in project:
        value = str(project["requires-python"])
        yield Pin(file, _line_of(text, "requires-python"), "python", "python-version", value, None, "pep621")
    groups = [project.get("dependencies", []), *project.get("optional-dependencies", {}).values()]
    groups.append(data.get("build-system", {}).get("requires", []))
    for requirement in (r for group in groups for r in group):
        match = _PEP508.match(str(requirement))
        spec = match.group("spec").strip() if match else ""
        if match and spec:  # an unversioned requirement pins nothing
            yield Pin(file, _line_of(text, f'"{requirement}"'), match.group("name"), "pypi", spec, None, "pep621")


def _requirements_pins(repo: Repo, file: str) -> Iterator[Pin]:
    for number, line in enumerate(repo.text(file).splitlines(), start=1):
        if match := _REQUIREMENT.match(line.strip()):
            yield Pin(file, number, match.group("name"), "pypi", match.group("version"), None, "pip_requirements")


def _npm_pins(repo: Repo, file: str) -> Iterator[Pin]:
    text = repo.text(file)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return
    for section in ("dependencies", "devDependencies", "optionalDependencies"):
        for name, version in (data.get(section) or {}).items():
            yield Pin(file, _line_of(text, f'"{name}": '), name, "npm", str(version), None, "npm")


_FROM = re.compile(
    r"^\s*FROM\s+(?:--platform=\S+\s+)?(?P<image>[^\s:@]+(?::\d+/[^\s:@]+)?)(?::(?P<tag>[^\s@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?",
    re.I,
)


def _dockerfile_pins(repo: Repo, file: str) -> Iterator[Pin]:
    for number, line in enumerate(repo.text(file).splitlines(), start=1):
        match = _FROM.match(line)
        if match and match.group("tag") and "$" not in line:
            yield Pin(file, number, match.group("image"), "docker", match.group("tag"), None, "dockerfile", match.group("digest"))


_USES = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)(?:/[\w./-]+)?@(?P<ref>[\w.-]+)$")
_VERSION_COMMENT = re.compile(r"#\s*(?:renovate:\s*)?(?:tag=)?(?P<tag>v?\d[\w.+-]*)")
_RUNNER = re.compile(r"^(?P<os>ubuntu|windows|macos)-(?P<version>\d[\d.]*)$")
# Tool versions that Renovate's github-actions manager reads from the inputs of setup actions.
_SETUP_INPUTS = {
    "actions/setup-python": ("python-version", "python", "github-releases"),
    "actions/setup-node": ("node-version", "node", "node-version"),
    "actions/setup-go": ("go-version", "go", "golang-version"),
    "hashicorp/setup-terraform": ("terraform_version", "terraform", "github-releases"),
}


def _workflow_pins(repo: Repo, file: str) -> Iterator[Pin]:
    """Actions by SHA with their version comment, runner images, and tool versions of setup actions."""
    try:
        docs = repo.yaml_nodes(file)
    except yaml.YAMLError:
        return
    lines = repo.text(file).splitlines()
    jobs = _mapping_value(docs[0], "jobs") if docs else None
    for _, job in jobs.value if isinstance(jobs, yaml.MappingNode) else []:
        runs_on = _mapping_value(job, "runs-on")
        if isinstance(runs_on, yaml.ScalarNode) and (runner := _RUNNER.match(str(runs_on.value))):
            yield Pin(
                file, runs_on.start_mark.line + 1, runner["os"], "github-runners", runner["version"], None, "github-actions"
            )
        steps = _mapping_value(job, "steps")
        for step in steps.value if isinstance(steps, yaml.SequenceNode) else []:
            yield from _step_pins(file, lines, step)


def _step_pins(file: str, lines: list[str], step: yaml.Node) -> Iterator[Pin]:
    uses = _scalar(step, "uses")
    match = _USES.match(str(uses.value)) if uses is not None else None
    if uses is None or match is None:
        return
    line = uses.start_mark.line + 1
    text = lines[line - 1]
    comment = _VERSION_COMMENT.search(text[text.index("#") :]) if "#" in text else None
    ref = match["ref"]
    digest = ref if re.fullmatch(r"[0-9a-f]{40}", ref) else None
    version = comment["tag"] if comment else ref
    yield Pin(file, line, match["action"], "github-tags", version, None, "github-actions", digest)
    if match["action"] in _SETUP_INPUTS:
        key, dependency, datasource = _SETUP_INPUTS[match["action"]]
        value = _scalar(_mapping_value(step, "with") or yaml.MappingNode("tag:yaml.org,2002:map", []), key)
        if value is not None and value.value:
            yield Pin(file, value.start_mark.line + 1, dependency, datasource, str(value.value), None, "github-actions")


def _pre_commit_pins(repo: Repo, file: str) -> Iterator[Pin]:
    """Each hook repository's `rev`; `local` and `meta` hooks pin nothing."""
    try:
        docs = repo.yaml_nodes(file)
    except yaml.YAMLError:
        return
    repos = _mapping_value(docs[0], "repos") if docs else None
    for entry in repos.value if isinstance(repos, yaml.SequenceNode) else []:
        url, rev = _scalar(entry, "repo"), _scalar(entry, "rev")
        if url is None or rev is None or url.value in ("local", "meta"):
            continue
        name = str(url.value).removesuffix(".git").rstrip("/")
        host, _, path = name.partition("://")[2].partition("/")
        datasource = {"github.com": "github-tags", "gitlab.com": "gitlab-tags"}.get(host, "git-tags")
        yield Pin(
            file,
            rev.start_mark.line + 1,
            path if datasource != "git-tags" else name,
            datasource,
            str(rev.value),
            None,
            "pre-commit",
        )


def _mapping_value(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                value: yaml.Node = v
                return value
    return None


Recogniser = Callable[[Repo, str], Iterator[Pin]]


def _recognisers(file: str) -> list[Recogniser]:
    name = file.rsplit("/", 1)[-1]
    top = file.split("/", 1)[0]
    found: list[Recogniser] = []
    if top in (APPS_DIR, CLUSTERS_DIR) and name.endswith((".yaml", ".yml")):
        found += [_application_pins, lambda repo, f: _comment_pins(repo, f, hcl=False)]
    if is_values_file(file):
        found.append(_helm_values_pins)
    if top == "terraform" and name.endswith(".tf"):
        found += [_terraform_pins, lambda repo, f: _comment_pins(repo, f, hcl=True)]
    if file == "pyproject.toml":
        found.append(_pyproject_pins)
    if re.fullmatch(r"requirements(-[\w-]+)?\.lock", file) or re.fullmatch(r"[\w-]*requirements([-.]\w+)?\.(txt|pip)", name):
        found.append(_requirements_pins)
    if file == ".pre-commit-config.yaml":
        found.append(_pre_commit_pins)
    if file == "package.json":
        found.append(_npm_pins)
    if name == "Dockerfile" or name.startswith("Dockerfile."):
        found.append(_dockerfile_pins)
    if file.startswith(".github/workflows/") and name.endswith((".yml", ".yaml")):
        found.append(_workflow_pins)
    return found


def collect_file(repo: Repo, file: str) -> list[Pin]:
    return [pin for recognise in _recognisers(file) for pin in recognise(repo, file)]


def collect(repo: Repo, env: str | None = None) -> list[Pin]:
    """Every pin in the working tree, by file and line; with env, that environment's pins and the shared ones."""
    pins = [pin for file in repo.tracked_files for pin in collect_file(repo, file)]
    if env is not None:
        pins = [pin for pin in pins if pin.env in (None, env)]
    return sorted(pins, key=lambda p: (p.file, p.line, p.dependency))
