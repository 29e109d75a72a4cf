"""`invoke bump`: move one dependency to a new version in the first environment and the shared files.

Pure planning: which pins move, and every refusal (unknown dependency, bad version, downgrade,
held pin, an environment that only promotion may change). Writing goes through the edit engine.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime

from packaging.version import InvalidVersion, Version

from ..model.findings import UsageError
from ..model.repo import Repo
from ..model.versions import is_exact_chart_version
from . import freeze, holds
from .edit import Change
from .pins import Pin

# What a version may look like in any pin we edit: no spaces, quotes or range operators.
_VERSION = re.compile(r"^v?[0-9][0-9A-Za-z.+_-]*$")


@dataclass(frozen=True)
class BumpPlan:
    dependency: str
    version: str
    env: str
    changes: list[Change]

    @property
    def charts(self) -> list[Pin]:
        return [c.pin for c in self.changes if c.pin.manager == "argocd"]


def _comparable(version: str) -> Version | None:
    try:
        return Version(version.removeprefix("v"))
    except InvalidVersion:
        return None


def _check_env(repo: Repo, env: str) -> None:
    repo.select_envs(env)
    first = repo.envs[0]
    if env != first:
        raise UsageError(
            f"--env {env}: only {first} is bumped; {env} changes only through promotion (invoke promote --app <app> --to {env})"
        )


def _matching(pins: list[Pin], dependency: str, env: str) -> list[Pin]:
    found = [p for p in pins if p.dependency == dependency]
    if not found:
        names = sorted({p.dependency for p in pins})
        close = difflib.get_close_matches(dependency, names, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "list them with invoke pins"
        raise UsageError(f"{dependency}: no pin of that dependency in the repository; {hint}")
    in_scope = [p for p in found if p.env in (None, env)]
    if not in_scope:
        envs = ", ".join(sorted({p.env or "shared" for p in found}))
        raise UsageError(f"{dependency}: pinned only in {envs}; those move by invoke promote, not bump")
    return in_scope


def _check_version(pin: Pin, version: str, allow_downgrade: bool) -> None:
    if not _VERSION.match(version):
        raise UsageError(
            f"{pin.file}:{pin.line}: '{version}' is not a version for {pin.dependency}; give an exact version such as {pin.version}"
        )
    if pin.manager == "argocd" and not is_exact_chart_version(version):
        raise UsageError(
            f"{pin.file}:{pin.line}: '{version}' is not an exact chart version; Helm would read it as a range. "
            f"Give one release as MAJOR.MINOR.PATCH, such as {pin.version}"
        )
    old = _comparable(pin.version)
    if old is None:
        raise UsageError(
            f"{pin.file}:{pin.line}: {pin.dependency} is pinned as '{pin.version}', a range or a non-version; edit it by hand"
        )
    new = _comparable(version)
    if new is None:
        raise UsageError(f"{pin.file}:{pin.line}: '{version}' is not a valid version for {pin.dependency} (now {pin.version})")
    if new < old and not allow_downgrade:
        raise UsageError(
            f"{pin.file}:{pin.line}: {version} is older than {pin.dependency} {pin.version}; pass --allow-downgrade if that is meant"
        )


def plan_bump(
    repo: Repo,
    pins: list[Pin],
    dependency: str,
    version: str,
    env: str,
    allow_downgrade: bool = False,
    now: datetime | None = None,
) -> BumpPlan:
    """The pins that move; with `now`, refused while the environment is frozen (cluster.yaml promotion.freeze)."""
    _check_env(repo, env)
    if now is not None:
        freeze.refuse_if_frozen(
            repo, env, f"bumping {dependency}", now, "Bump after the window ends, or change promotion.freeze in a reviewed change"
        )
    matching = _matching(pins, dependency, env)
    for pin in matching:
        _check_version(pin, version, allow_downgrade)
        if pin.app and pin.env:
            holds.refuse_if_held(repo, pin.env, pin.app, f"bumping {dependency}")
    changes = [Change(pin, version) for pin in matching if pin.version != version]
    return BumpPlan(dependency, version, env, changes)
