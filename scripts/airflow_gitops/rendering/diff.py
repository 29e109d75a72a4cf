"""`invoke diff`: what a change does to each cluster, object by object."""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..adapters import git
from ..check.rules import crd_rules
from ..model import yamlio
from ..model.findings import UsageError
from ..model.repo import Repo
from ..model.schemas import SchemaStore
from .render import EnvRender, RenderedFile, render_env_full

if TYPE_CHECKING:
    from ..charts.renderer import ChartRenderer


@dataclass
class ClusterDiff:
    env: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, str] = field(default_factory=dict)  # key -> unified diff
    charts_not_compared: dict[str, str] = field(default_factory=dict)  # app -> why its chart objects are left out
    refused: list[str] = field(default_factory=list)  # updates a CRD transition rule (oldSelf) refuses

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.refused)


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


FieldPath = tuple[str | int, ...]
GENERATED = "<generated at render time>"


def _differing_scalars(a: Any, b: Any, path: FieldPath = ()) -> list[FieldPath]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in a.keys() & b.keys() for p in _differing_scalars(a[k], b[k], (*path, k))]
    if isinstance(a, list) and isinstance(b, list):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=False)) for p in _differing_scalars(x, y, (*path, i))]
    return [] if a == b else [path]


def volatile_fields(first: list[RenderedFile], second: list[RenderedFile]) -> dict[str, list[FieldPath]]:
    """Fields of chart objects that differ between two renders of the same tree: what a chart
    generates afresh on every render (genCA certificates, randAlphaNum passwords), by file key."""
    again = {f.key: f.text for f in second if f.chart}
    found: dict[str, list[FieldPath]] = {}
    for f in first:
        if f.chart and f.key in again and again[f.key] != f.text:
            found[f.key] = _differing_scalars(yamlio.load(f.text), yamlio.load(again[f.key]))
    return found


def _mask(obj: Any, path: FieldPath) -> None:
    node = obj
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict) and path and path[-1] in node:
        node[path[-1]] = GENERATED
    elif isinstance(node, list) and path and isinstance(path[-1], int) and path[-1] < len(node):
        node[path[-1]] = GENERATED


def masked(files: list[RenderedFile], volatile: dict[str, list[FieldPath]]) -> list[RenderedFile]:
    """The files with every volatile field replaced by a marker, so that only real changes remain."""
    out = []
    for f in files:
        if f.key in volatile:
            obj = yamlio.load(f.text)
            for path in volatile[f.key]:
                _mask(obj, path)
            f = replace(f, text=yamlio.dump(obj))
        out.append(f)
    return out


def diff_against(
    repo: Repo, base: str, env: str | None = None, charts: ChartRenderer | None = None
) -> tuple[str, list[ClusterDiff]]:
    """Render every cluster at base and in the working tree; return the base commit and the diffs.

    With `charts`, the objects each chart renders are compared too; the working tree is rendered a
    second time to find the fields a chart generates afresh on each render, which are left out."""
    with tempfile.TemporaryDirectory(prefix="invoke-diff-") as tmp:
        commit = git.export_tree(repo.root, base, Path(tmp))
        old_repo = Repo(Path(tmp))
        envs_now = repo.select_envs(env)
        envs_then = [e for e in envs_now if old_repo.exists(old_repo.cluster_file(e))]
        before = _render_all(old_repo, envs_then, charts)
    after = _render_all(repo, envs_now, charts)
    if charts is not None:
        again = _render_all(repo, envs_now, charts)
        for e in envs_now:
            volatile = volatile_fields(after[e].files, again[e].files)
            after[e] = replace(after[e], files=masked(after[e].files, volatile))
            if e in before:
                before[e] = replace(before[e], files=masked(before[e].files, volatile))
    diffs = [compare_renders(e, before.get(e, EnvRender([])), after[e]) for e in envs_now]
    plans = crd_rules.CrdPlans(SchemaStore(repo.root))
    for d in diffs:
        if d.env in before:
            d.refused = refused_updates(plans, before[d.env], after[d.env])
    return commit, diffs


def refused_updates(plans: crd_rules.CrdPlans, before: EnvRender, after: EnvRender) -> list[str]:
    """What the API server would refuse of updating each changed custom resource from before to after:
    the CRD's transition rules (`oldSelf`), with the CRDs of the working tree."""
    old = {o.identity: o.obj for o in before.objects}
    refused = []
    for obj in after.objects:
        previous = old.get(obj.identity)
        if previous is None or previous == obj.obj:
            continue
        gvk = (obj.group, obj.api_version.rpartition("/")[2], obj.kind)
        plan = next((p for p in (plans.plan(folder, gvk) for folder in after.crd_dirs) if p is not None), None)
        if plan is None or not plan.transition_rules:
            continue
        for violation in crd_rules.transition_violations(obj.obj, previous, plan, crd_rules.Stats()):
            refused.append(f"{obj.label()}: {violation.message}")
    return refused


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
        lines += [f"- **refused by the API server:** {r}" for r in d.refused]
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
                "refused": d.refused,
            }
            for d in diffs
        ],
    }


def require_format(fmt: str, allowed: tuple[str, ...]) -> None:
    if fmt not in allowed:
        raise UsageError(f"--format {fmt}: choose one of {', '.join(allowed)}")
