"""The upgrade machinery's own contracts: every image tag is visible to Renovate, and every hold is
known to Renovate (and every hold rule belongs to a hold)."""

from __future__ import annotations

import re

from ...model import yamlio
from ...model.findings import UsageError, error
from ...upgrades import holds
from ...upgrades.pins import comment_fields, is_values_file
from ..context import CheckContext

_TAG = re.compile(r"^(?P<indent>\s*)tag:\s*\S")
_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[\w.-]+):\s*(#.*)?$")


def run(ctx: CheckContext) -> None:
    for file in ctx.repo.tracked_files:
        if is_values_file(file):
            _visible_tags(ctx, file)
    _holds(ctx)


def _parent_key(lines: list[str], index: int, indent: int) -> str:
    for line in reversed(lines[:index]):
        match = _KEY.match(line)
        if match and len(match.group("indent")) < indent:
            return match.group("key")
    return ""


def _visible_tags(ctx: CheckContext, file: str) -> None:
    """An image tag is a pin: Renovate must see it, through helm-values (`image:` parents) or a comment."""
    lines = ctx.repo.text(file).splitlines()
    for index, line in enumerate(lines):
        match = _TAG.match(line)
        if not match:
            continue
        if index and comment_fields(lines[index - 1]) is not None:
            continue
        if _parent_key(lines, index, len(match.group("indent"))).lower().endswith("image"):
            continue
        ctx.add(
            error(
                "pin-not-visible",
                file,
                "an image tag that Renovate cannot see: no `# renovate:` comment above it, and its parent key is not `image`",
                "put `# renovate: datasource=docker depName=<image repository>` on the line above the tag",
                index + 1,
            )
        )


def _holds(ctx: CheckContext) -> None:
    for env in ctx.repo.envs_readable():
        try:
            holds.load(ctx.repo, env)
        except UsageError as exc:
            rel = holds.holds_file(env)
            ctx.add(
                error(
                    "hold-invalid",
                    rel,
                    str(exc),
                    "fix the file, or release the hold with invoke hold --release",
                    yamlio.line_of(ctx.repo.text(rel), ["holds"]) or 1,
                )
            )
            return
    try:
        problems = holds.rule_mismatches(ctx.repo)
    except UsageError as exc:
        ctx.add(error("renovate-config-invalid", holds.RENOVATE_FILE, str(exc), "fix renovate.json"))
        return
    for problem in problems:
        ctx.add(
            error(
                "hold-not-in-renovate",
                problem.file,
                problem.message,
                "set and release holds only with invoke hold / invoke rollback, which write both files",
                problem.line,
            )
        )
