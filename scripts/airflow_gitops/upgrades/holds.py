"""Holds: an app in an environment whose pins nothing may move until the hold is released.

A hold lives in `clusters/<env>/holds.yaml` (reason, who, when, what it holds) and as a disabling
packageRule in renovate.json, so promote, bump and Renovate all see it. Both files are written
through the edit engine's atomic write, and both are planned before either is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from ..model import yamlio
from ..model.findings import UsageError
from ..model.repo import CLUSTERS_DIR, Repo
from .edit import FileEdit

RENOVATE_FILE = "renovate.json"
HOLD_RULE_PREFIX = "hold "
HEADER = (
    "# Holds: apps whose pins nothing moves (not promote, not bump, not Renovate) until\n"
    "# `invoke hold --release --env <env> --app <app>`. Set by `invoke rollback` and `invoke hold`.\n"
)


@dataclass(frozen=True)
class Hold:
    env: str
    app: str
    reason: str
    set_by: str
    set_at: str
    version: str

    def describe(self) -> str:
        return f"{self.env}/{self.app} is on hold since {self.set_at} by {self.set_by}: {self.reason}"


def holds_file(env: str) -> str:
    return f"{CLUSTERS_DIR}/{env}/holds.yaml"


def held_files(env: str, app: str) -> list[str]:
    """The files whose pins a hold freezes."""
    return [f"{CLUSTERS_DIR}/{env}/apps/{app}.yaml", f"{CLUSTERS_DIR}/{env}/values/{app}.yaml"]


def load(repo: Repo, env: str) -> dict[str, Hold]:
    rel = holds_file(env)
    if not repo.exists(rel):
        return {}
    try:
        data = repo.yaml_doc(rel)
    except yaml.YAMLError as exc:
        raise UsageError(f"{rel}: not valid YAML ({yamlio.error_text(exc)}); fix it or restore it from git") from None
    if data is None:  # empty: what releasing the last hold leaves
        return {}
    entries = data.get("holds") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise UsageError(f"{rel}: expected a mapping `holds: {{<app>: {{reason, set_by, set_at, version}}}}`; fix the file")
    found: dict[str, Hold] = {}
    for app, entry in entries.items():
        if not isinstance(entry, dict):
            raise UsageError(f"{rel}: holds.{app} must be a mapping with reason, set_by, set_at and version")
        fields = {k: str(entry.get(k, "")) for k in ("reason", "set_by", "set_at", "version")}
        found[str(app)] = Hold(env, str(app), **fields)
    return found


def find(repo: Repo, env: str, app: str) -> Hold | None:
    return load(repo, env).get(app)


def refuse_if_held(repo: Repo, env: str, app: str, action: str) -> None:
    hold = find(repo, env, app)
    if hold:
        raise UsageError(
            f"{holds_file(env)}: {hold.describe()}; {action} refused. Release it first: invoke hold --release --env {env} --app {app}"
        )


def renovate_rule(hold: Hold) -> dict[str, Any]:
    return {
        "description": f"{HOLD_RULE_PREFIX}{hold.env}/{hold.app}: {hold.reason} (set by {hold.set_by} at {hold.set_at}; "
        f"invoke hold --release --env {hold.env} --app {hold.app})",
        "matchFileNames": held_files(hold.env, hold.app),
        "enabled": False,
    }


def is_hold_rule(rule: Any, env: str | None = None, app: str | None = None) -> bool:
    if not isinstance(rule, dict) or not str(rule.get("description", "")).startswith(HOLD_RULE_PREFIX):
        return False
    if env is None or app is None:
        return True
    return rule.get("matchFileNames") == held_files(env, app)


def _renovate_config(repo: Repo) -> dict[str, Any]:
    try:
        config = json.loads(repo.text(RENOVATE_FILE))
    except FileNotFoundError:
        raise UsageError(f"{RENOVATE_FILE}: missing; holds are written there for Renovate") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{RENOVATE_FILE}:{exc.lineno}: not valid JSON ({exc.msg}); fix it first") from None
    if not isinstance(config, dict):
        raise UsageError(f"{RENOVATE_FILE}: expected a JSON object")
    return config


def _renovate_edit(repo: Repo, rules: list[dict[str, Any]]) -> FileEdit:
    config = _renovate_config(repo)
    config["packageRules"] = [r for r in config.get("packageRules", []) if not is_hold_rule(r)] + rules
    return FileEdit(RENOVATE_FILE, repo.text(RENOVATE_FILE), json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def _holds_edit(repo: Repo, env: str, holds: dict[str, Hold]) -> FileEdit | None:
    rel = holds_file(env)
    old = repo.text(rel) if repo.exists(rel) else ""
    body = {
        "holds": {
            h.app: {"reason": h.reason, "set_by": h.set_by, "set_at": h.set_at, "version": h.version} for h in holds.values()
        }
    }
    new = HEADER + yamlio.dump(body) if holds else ""
    return FileEdit(rel, old, new)


def all_holds(repo: Repo) -> list[Hold]:
    return [hold for env in repo.env_folders() for hold in load(repo, env).values()]


def plan_set(repo: Repo, hold: Hold) -> list[FileEdit]:
    """The edits that put a hold in place (replacing an older hold on the same app)."""
    holds = load(repo, hold.env)
    holds[hold.app] = hold
    everyone = [h for h in all_holds(repo) if (h.env, h.app) != (hold.env, hold.app)] + [hold]
    edits = [_holds_edit(repo, hold.env, holds), _renovate_edit(repo, [renovate_rule(h) for h in everyone])]
    return [e for e in edits if e is not None]


def plan_release(repo: Repo, env: str, app: str) -> list[FileEdit]:
    holds = load(repo, env)
    if app not in holds:
        raise UsageError(f"{holds_file(env)}: {env}/{app} is not on hold; nothing to release")
    del holds[app]
    remaining = [h for h in all_holds(repo) if (h.env, h.app) != (env, app)]
    edits = [_holds_edit(repo, env, holds), _renovate_edit(repo, [renovate_rule(h) for h in remaining])]
    return [e for e in edits if e is not None]


@dataclass(frozen=True)
class Mismatch:
    """A hold and its Renovate rule that disagree: where, and what."""

    file: str
    line: int | None
    message: str


def _json_line(text: str, needle: str) -> int | None:
    at = text.find(json.dumps(needle, ensure_ascii=False))
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def rule_mismatches(repo: Repo) -> list[Mismatch]:
    """Holds without their Renovate rule, and hold rules without a hold (for invoke check)."""
    config = _renovate_config(repo)
    rules = [r for r in config.get("packageRules", []) if is_hold_rule(r)]
    holds = all_holds(repo)
    problems = [
        Mismatch(
            holds_file(h.env),
            yamlio.line_of(repo.text(holds_file(h.env)), ["holds", h.app]),
            f"{h.env}/{h.app} is held, but {RENOVATE_FILE} has no rule disabling its files",
        )
        for h in holds
        if not any(is_hold_rule(r, h.env, h.app) for r in rules)
    ]
    text = repo.text(RENOVATE_FILE)
    for rule in rules:
        files = rule.get("matchFileNames") or []
        if not any(files == held_files(h.env, h.app) for h in holds):
            problems.append(
                Mismatch(
                    RENOVATE_FILE,
                    _json_line(text, str(rule.get("description", ""))),
                    f"hold rule for {files} has no hold in any clusters/<env>/holds.yaml",
                )
            )
    return problems
