"""The repository model: finds the repo, reads each file once, and describes each environment."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from . import windows, yamlio
from .findings import UsageError

CLUSTERS_DIR = "clusters"
APPS_DIR = "apps"
SCHEMAS_DIR = "schemas"


@dataclass(frozen=True)
class ClusterConfig:
    """One environment, as clusters/<env>/cluster.yaml describes it."""

    env: str
    file: str
    data: dict[str, Any]

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    @property
    def name(self) -> str:
        return str(self.get("cluster.name", ""))

    @property
    def kubernetes_version(self) -> str:
        return str(self.get("cluster.kubernetes_version", ""))

    @property
    def order(self) -> int:
        value = self.get("promotion.order", 0)
        return value if isinstance(value, int) else 0

    @property
    def account_id(self) -> str:
        return str(self.get("aws.account_id", ""))

    @property
    def region(self) -> str:
        return str(self.get("aws.region", ""))

    @property
    def repo_url(self) -> str:
        return str(self.get("gitops.repo_url", ""))

    @property
    def revision(self) -> str:
        return str(self.get("gitops.revision", ""))

    @property
    def pins_by_digest(self) -> bool:
        return bool(self.get("promotion.pin_images_by_digest", False))

    @property
    def soak(self) -> timedelta:
        """promotion.soak: how long this environment runs a pin before it may be promoted on (0 when unset)."""
        value = self.get("promotion.soak")
        return windows.parse_duration(value, f"{self.file}: promotion.soak") if value not in (None, "") else timedelta(0)

    @property
    def freeze(self) -> list[windows.FreezeWindow]:
        """promotion.freeze: the windows in which nothing moves into this environment."""
        return windows.parse_freeze(self.get("promotion.freeze"), self.file)

    @property
    def addons(self) -> list[str]:
        value = self.get("addons", [])
        return [str(v) for v in value] if isinstance(value, list) else []

    @property
    def workload_identities(self) -> dict[str, dict[str, Any]]:
        value = self.get("workload_identities", {})
        return value if isinstance(value, dict) else {}

    @property
    def logs_bucket(self) -> str:
        return f"{self.name}-logs-{self.account_id}"

    @property
    def registry(self) -> str:
        """The shared ECR registry's host."""
        return f"{self.get('registry.account_id', '')}.dkr.ecr.{self.get('registry.region', '')}.amazonaws.com"


class BrokenYaml(UsageError, yaml.YAMLError):
    """A YAML file that does not parse. Every reader goes through Repo, so every task says the same
    one line: the file, the line and the problem; `invoke check` reports it as a yaml-syntax finding."""

    def __init__(self, rel: str, problem: str, line: int | None) -> None:
        self.rel, self.problem, self.line = rel, problem, line
        super().__init__(f"{rel}:{line or 1}: not valid YAML: {problem}; fix the syntax at that line")


def git_toplevel(start: Path) -> Path:
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True, check=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        raise UsageError(f"{start}: not inside a git repository; run invoke from a clone of the platform repo") from exc
    return Path(out.stdout.strip())


@dataclass
class Repo:
    """Read-once view of a working tree. Paths handed out are relative to the root, with '/'."""

    root: Path
    _texts: dict[str, str] = field(default_factory=dict, repr=False)
    _docs: dict[str, list[Any]] = field(default_factory=dict, repr=False)
    _nodes: dict[str, list[yaml.Node]] = field(default_factory=dict, repr=False)

    @classmethod
    def discover(cls, start: Path | None = None, load_clusters: bool = True) -> Repo:
        """The repository around `start`. With load_clusters (every task but check, which reports a broken
        file as a finding), every clusters/<env>/cluster.yaml is read first: a broken one is a UsageError
        naming the file and line, before the task does anything."""
        root = git_toplevel(start or Path.cwd())
        if not (root / CLUSTERS_DIR).is_dir():
            raise UsageError(f"{root}: no {CLUSTERS_DIR}/ folder; run invoke from the platform repository")
        repo = cls(root)
        if load_clusters:
            for env in repo.env_folders():
                repo.cluster(env)
        return repo

    def path(self, rel: str) -> Path:
        return self.root / rel

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.root.resolve()).as_posix()

    def exists(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def text(self, rel: str) -> str:
        if rel not in self._texts:
            self._texts[rel] = (self.root / rel).read_text(encoding="utf-8")
        return self._texts[rel]

    def overlay(self, rel: str, text: str) -> Repo:
        """A view of the same tree in which one file has other content (to read an edit before writing it)."""
        other = Repo(self.root)
        other._texts[rel] = text
        return other

    def forget(self, rel: str) -> None:
        """Drop what was read of a file, after it was written."""
        for cache in (self._texts, self._docs, self._nodes):
            cache.pop(rel, None)

    def yaml_docs(self, rel: str) -> list[Any]:
        """Parsed documents of a YAML file; raises BrokenYaml (a yaml.YAMLError and a UsageError) on bad syntax."""
        if rel not in self._docs:
            try:
                self._docs[rel] = yamlio.load_all(self.text(rel))
            except yaml.YAMLError as exc:
                raise BrokenYaml(rel, yamlio.error_text(exc), yamlio.error_line(exc, self.text(rel))) from None
        return self._docs[rel]

    def yaml_nodes(self, rel: str) -> list[yaml.Node]:
        """The composed documents of a YAML file, with line marks; composed once, when a finding needs a line."""
        if rel not in self._nodes:
            try:
                self._nodes[rel] = yamlio.documents(self.text(rel))
            except yaml.YAMLError as exc:
                raise BrokenYaml(rel, yamlio.error_text(exc), yamlio.error_line(exc, self.text(rel))) from None
        return self._nodes[rel]

    def definitions(self, rel: str, kind: str, name: str) -> list[tuple[yaml.Node, dict[str, Any]]]:
        """Every document of a YAML file that defines kind/name, with its node for line numbers; the items
        of a `kind: List` document count as documents of their own, as kustomize reads them."""

        def defines(doc: Any) -> bool:
            return isinstance(doc, dict) and doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name

        found = []
        for node, doc in zip(self.yaml_nodes(rel), self.yaml_docs(rel), strict=True):
            if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(node, yaml.MappingNode):
                items = next((v for k, v in node.value if k.value == "items"), None)
                if isinstance(items, yaml.SequenceNode) and isinstance(doc.get("items"), list):
                    found += [(n, d) for n, d in zip(items.value, doc["items"], strict=False) if defines(d)]
            elif defines(doc):
                found.append((node, doc))
        return found

    def yaml_doc(self, rel: str) -> Any:
        docs = self.yaml_docs(rel)
        return docs[0] if docs else None

    @cached_property
    def tracked_files(self) -> list[str]:
        """Files git knows or would add (tracked plus untracked, not ignored); every file outside git."""
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=self.root,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:  # an exported tree (invoke diff renders one) has no .git
            return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        return sorted({f for f in out.stdout.split("\0") if f and (self.root / f).is_file()})

    def env_folders(self) -> list[str]:
        """Folders under clusters/ that hold a cluster.yaml, by name (nothing is read)."""
        return sorted(p.parent.name for p in (self.root / CLUSTERS_DIR).glob("*/cluster.yaml"))

    @cached_property
    def envs(self) -> list[str]:
        """Environments in promotion order. Reads every cluster.yaml: a broken one is a UsageError naming it."""
        return sorted(self.env_folders(), key=lambda env: (self.cluster(env).order or (1 << 30), env))

    def envs_readable(self) -> list[str]:
        """Environments in promotion order, for `invoke check`: a cluster.yaml that cannot be read sorts last
        instead of stopping the run (the parse stage reports it)."""
        return sorted(self.env_folders(), key=lambda env: (self._order_or_last(env), env))

    def _order_or_last(self, env: str) -> int:
        config = self.cluster_if_readable(env)
        return (config.order if config else None) or (1 << 30)

    def cluster_if_readable(self, env: str) -> ClusterConfig | None:
        """The environment's cluster.yaml, or None where it cannot be read (the parse stage of check reports it)."""
        try:
            return self.cluster(env)
        except UsageError:
            return None

    def cluster_file(self, env: str) -> str:
        return f"{CLUSTERS_DIR}/{env}/cluster.yaml"

    def cluster(self, env: str) -> ClusterConfig:
        """The environment's cluster.yaml, read through the guarded loader: a file that does not parse, or
        is not a mapping, is a UsageError that names the file and the line."""
        rel = self.cluster_file(env)
        if not self.exists(rel):
            raise UsageError(f"{rel}: no such environment '{env}'; choose one of: {', '.join(self.envs_readable()) or 'none'}")
        try:
            data = self.yaml_doc(rel)
        except BrokenYaml as exc:
            raise UsageError(
                f"{rel}:{exc.line or 1}: the {env} environment's file is not valid YAML: {exc.problem}; fix the syntax at that line"
            ) from None
        if not isinstance(data, dict):
            kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
            raise UsageError(
                f"{rel}:1: the {env} environment's file is {kind}; it must describe the environment (schemas/cluster.schema.json)"
            )
        return ClusterConfig(env, rel, data)

    def select_envs(self, env: str | None, readable_only: bool = False) -> list[str]:
        """--env checked against the folders; without it every environment in promotion order (readable_only:
        `invoke check`'s order, which does not stop at a broken cluster.yaml)."""
        if env is None:
            return self.envs_readable() if readable_only else list(self.envs)
        folders = self.env_folders()
        if env not in folders:
            known = ", ".join(self.envs_readable())
            raise UsageError(f"--env {env}: no file {CLUSTERS_DIR}/{env}/cluster.yaml; choose one of: {known}")
        return [env]
