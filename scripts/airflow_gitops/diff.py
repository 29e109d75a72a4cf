"""`invoke diff`: what a change does to each cluster, object by object."""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import git
from .findings import UsageError
from .rendering import EnvRender, RenderedFile, render_env_full
from .repo import Repo

if TYPE_CHECKING:
    from .charts import ChartRenderer


@dataclass
class ClusterDiff:
    env: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, str] = field(default_factory=dict)  # key -> unified diff
    charts_not_compared: dict[str, str] = field(default_factory=dict)  # app -> why its chart objects are left out

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


def _render_all(repo: Repo, envs: list[str], charts: ChartRenderer | None) -> dict[str, EnvRender]:
    return {env: render_env_full(repo, env, charts) for env in envs}


def compare_renders(env: str, before: EnvRender, after: EnvRender) -> ClusterDiff:
    """As compare, leaving out the chart objects of an app that one side could not render."""
    skipped = {**before.unrendered, **after.unrendered}
    kept = [[f for f in side.files if not (f.chart and f.group in skipped)] for side in (before, after)]
    result = compare(env, kept[0], kept[1])
    result.charts_not_compared = dict(sorted(skipped.items()))
    return result


def diff_against(
    repo: Repo, base: str, env: str | None = None, charts: ChartRenderer | None = None
) -> tuple[str, list[ClusterDiff]]:
    """Render every cluster at base and in the working tree; return the base commit and the diffs.

    With `charts`, the objects each chart renders are compared too."""
    with tempfile.TemporaryDirectory(prefix="invoke-diff-") as tmp:
        commit = git.export_tree(repo.root, base, Path(tmp))
        old_repo = Repo(Path(tmp))
        envs_now = repo.select_envs(env)
        envs_then = [e for e in envs_now if old_repo.exists(old_repo.cluster_file(e))]
        before = _render_all(old_repo, envs_then, charts)
    after = _render_all(repo, envs_now, charts)
    return commit, [compare_renders(e, before.get(e, EnvRender([])), after[e]) for e in envs_now]


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
    skipped = sorted(f"{d.env}/{app}" for d in diffs for app in d.charts_not_compared)
    if skipped:
        lines += ["", f"Chart objects not compared for {len(skipped)} apps (chart not in the cache, or not renderable)."]
    return "\n".join(lines) + "\n"


def to_json(commit: str, diffs: list[ClusterDiff]) -> dict[str, object]:
    return {
        "base": commit,
        "clusters": [
            {
                "env": d.env,
                "added": d.added,
                "removed": d.removed,
                "changed": d.changed,
                "charts_not_compared": d.charts_not_compared,
            }
            for d in diffs
        ],
    }


def require_format(fmt: str, allowed: tuple[str, ...]) -> None:
    if fmt not in allowed:
        raise UsageError(f"--format {fmt}: choose one of {', '.join(allowed)}")
