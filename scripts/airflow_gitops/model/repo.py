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
    def discover(cls, start: Path | None = None) -> Repo:
        root = git_toplevel(start or Path.cwd())
        if not (root / CLUSTERS_DIR).is_dir():
            raise UsageError(f"{root}: no {CLUSTERS_DIR}/ folder; run invoke from the platform repository")
        return cls(root)

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
        """Parsed documents of a YAML file; raises yaml.YAMLError on bad syntax."""
        if rel not in self._docs:
            self._docs[rel] = yamlio.load_all(self.text(rel))
        return self._docs[rel]

    def yaml_nodes(self, rel: str) -> list[yaml.Node]:
        """The composed documents of a YAML file, with line marks; composed once, when a finding needs a line."""
        if rel not in self._nodes:
            self._nodes[rel] = yamlio.documents(self.text(rel))
        return self._nodes[rel]

    def definitions(self, rel: str, kind: str, name: str) -> list[tuple[yaml.Node, dict[str, Any]]]:
        """Every document of a YAML file that defines kind/name, with its node for line numbers."""
        return [
            (node, doc)
            for node, doc in zip(self.yaml_nodes(rel), self.yaml_docs(rel), strict=True)
            if isinstance(doc, dict) and doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name
        ]

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

    @cached_property
    def envs(self) -> list[str]:
        """Environments in promotion order (those with a cluster.yaml)."""
        found = [p.parent.name for p in (self.root / CLUSTERS_DIR).glob("*/cluster.yaml")]
        return sorted(found, key=lambda env: (self._order_or_last(env), env))

    def _order_or_last(self, env: str) -> int:
        try:
            order = self.cluster(env).order
        except Exception:  # an unreadable cluster.yaml sorts last; the parse stage reports it
            return 1 << 30
        return order or (1 << 30)

    def cluster_file(self, env: str) -> str:
        return f"{CLUSTERS_DIR}/{env}/cluster.yaml"

    def cluster(self, env: str) -> ClusterConfig:
        rel = self.cluster_file(env)
        if not self.exists(rel):
            raise UsageError(f"{rel}: no such environment '{env}'; choose one of: {', '.join(self.envs) or 'none'}")
        data = self.yaml_doc(rel)
        return ClusterConfig(env, rel, data if isinstance(data, dict) else {})

    def select_envs(self, env: str | None) -> list[str]:
        if env is None:
            return list(self.envs)
        if env not in self.envs:
            raise UsageError(f"--env {env}: no file {CLUSTERS_DIR}/{env}/cluster.yaml; choose one of: {', '.join(self.envs)}")
        return [env]
