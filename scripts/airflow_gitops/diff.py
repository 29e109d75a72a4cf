"""`invoke diff`: what a change does to each cluster, object by object."""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import git
from .findings import UsageError
from .rendering import RenderedFile, render_env
from .repo import Repo


@dataclass
class ClusterDiff:
    env: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, str] = field(default_factory=dict)  # key -> unified diff

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def compare(env: str, before: list[RenderedFile], after: list[RenderedFile]) -> ClusterDiff:
    old = {f.key: f.text for f in before}
    new = {f.key: f.text for f in after}
    result = ClusterDiff(env)
    result.added = sorted(set(new) - set(old))
    result.removed = sorted(set(old) - set(new))
    for key in sorted(set(old) & set(new)):
        if old[key] != new[key]:
            lines = difflib.unified_diff(
                old[key].splitlines(keepends=True),
                new[key].splitlines(keepends=True),
                fromfile=f"a/{env}/{key}",
                tofile=f"b/{env}/{key}",
                n=3,
            )
            result.changed[key] = "".join(lines)
    return result


def _render_all(repo: Repo, envs: list[str]) -> dict[str, list[RenderedFile]]:
    return {env: render_env(repo, env) for env in envs}


def diff_against(repo: Repo, base: str, env: str | None = None) -> tuple[str, list[ClusterDiff]]:
    """Render every cluster at base and in the working tree; return the base commit and the diffs."""
    with tempfile.TemporaryDirectory(prefix="invoke-diff-") as tmp:
        commit = git.export_tree(repo.root, base, Path(tmp))
        old_repo = Repo(Path(tmp))
        envs_now = repo.select_envs(env)
        envs_then = [e for e in envs_now if old_repo.exists(old_repo.cluster_file(e))]
        before = _render_all(old_repo, envs_then)
    after = _render_all(repo, envs_now)
    return commit, [compare(e, before.get(e, []), after[e]) for e in envs_now]


def summary_markdown(commit: str, diffs: list[ClusterDiff]) -> str:
    lines = [
        f"### Cluster changes against `{commit[:12]}`",
        "",
        "| cluster | added | removed | changed |",
        "|---|---:|---:|---:|",
    ]
    for d in diffs:
        lines.append(f"| {d.env} | {len(d.added)} | {len(d.removed)} | {len(d.changed)} |")
    for d in diffs:
        if d.empty:
            continue
        lines += ["", f"<details><summary>{d.env}</summary>", ""]
        lines += [f"- added `{k}`" for k in d.added] + [f"- removed `{k}`" for k in d.removed]
        for key, text in d.changed.items():
            lines += ["", f"`{key}`", "```diff", text.rstrip(), "```"]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def to_json(commit: str, diffs: list[ClusterDiff]) -> dict[str, object]:
    return {
        "base": commit,
        "clusters": [{"env": d.env, "added": d.added, "removed": d.removed, "changed": d.changed} for d in diffs],
    }


def require_format(fmt: str, allowed: tuple[str, ...]) -> None:
    if fmt not in allowed:
        raise UsageError(f"--format {fmt}: choose one of {', '.join(allowed)}")
