"""What Argo CD would apply to an environment, as files: the root Application's objects and each
chart's merged values. `invoke render` writes it; `invoke diff` compares two of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import yamlio
from .check.context import CheckContext
from .files import replace_folder
from .findings import UsageError
from .kustomize import KustomizeError, RenderedObject, render
from .repo import Repo
from .schemas import SchemaStore

ROOT_APP = "root"


@dataclass(frozen=True)
class RenderedFile:
    group: str  # the Application that applies it: 'root' for what the root Application renders
    name: str  # file name inside the group
    text: str

    @property
    def key(self) -> str:
        return f"{self.group}/{self.name}"


def object_file_name(obj: RenderedObject) -> str:
    group = obj.group.replace(".", "_") or "core"
    namespace = obj.namespace or "_cluster"
    return f"{obj.kind.lower()}-{group}-{namespace}-{obj.name}.yaml"


def render_env(repo: Repo, env: str) -> list[RenderedFile]:
    """Every object of the environment, grouped by the Application that applies it."""
    try:
        objects = render(repo.root, env, repo.path(f"clusters/{env}"))
    except KustomizeError as exc:
        raise UsageError(
            f"clusters/{env}/kustomization.yaml: kustomize failed: {exc.message}; run `invoke check --env {env}`"
        ) from exc
    files = [RenderedFile(ROOT_APP, object_file_name(o), yamlio.dump(o.obj)) for o in objects]
    ctx = CheckContext(repo=repo, schemas=SchemaStore(repo.root), envs=[env])
    for app in (o for o in objects if o.kind == "Application"):
        for release in ctx.releases_of(app):
            suffix = "" if release.source.index == 0 else f"-{release.source.index}"
            header = (
                f"# Helm values Argo CD passes to {release.source.chart} {release.source.version}"
                f" (release {release.source.release_name}), merged from: {', '.join(release.merged.files) or 'nothing'}\n"
            )
            files.append(RenderedFile(app.name, f"values{suffix}.yaml", header + yamlio.dump(release.merged.values)))
    return sorted(files, key=lambda f: f.key)


def write_tree(files: list[RenderedFile], out: Path) -> None:
    """Replace out/ with the files, whole or not at all."""

    def fill(folder: Path) -> None:
        for f in files:
            target = folder / f.group / f.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.text, encoding="utf-8")

    replace_folder(out, fill)
