"""Stage 1: every YAML and JSON file in the repository parses."""

from __future__ import annotations

import json

import yaml

from .. import yamlio
from ..findings import error
from .context import CheckContext

PARSED_SUFFIXES = (".yaml", ".yml", ".json")
# Vendored upstream schemas are loaded (and so parsed) by the validate stage when a pin needs them.
SKIPPED_PREFIXES = ("schemas/", "node_modules/", ".venv/")


def files_to_parse(ctx: CheckContext) -> list[str]:
    return [f for f in ctx.repo.tracked_files if f.endswith(PARSED_SUFFIXES) and not f.startswith(SKIPPED_PREFIXES)]


def run(ctx: CheckContext) -> None:
    for rel in files_to_parse(ctx):
        if rel.endswith(".json"):
            _parse_json(ctx, rel)
        else:
            _parse_yaml(ctx, rel)


def _parse_yaml(ctx: CheckContext, rel: str) -> None:
    try:
        ctx.repo.yaml_docs(rel)
    except yaml.YAMLError as exc:
        ctx.broken_files.add(rel)
        ctx.add(
            error(
                "yaml-syntax",
                rel,
                f"not valid YAML: {yamlio.error_text(exc)}",
                "fix the syntax at that line (indentation, a missing ':' or an unclosed quote)",
                yamlio.error_line(exc),
            )
        )
    except UnicodeDecodeError:
        ctx.broken_files.add(rel)
        ctx.add(error("yaml-syntax", rel, "not UTF-8 text", "save the file as UTF-8"))


def _parse_json(ctx: CheckContext, rel: str) -> None:
    try:
        json.loads(ctx.repo.text(rel))
    except json.JSONDecodeError as exc:
        ctx.broken_files.add(rel)
        ctx.add(error("json-syntax", rel, f"not valid JSON: {exc.msg}", "fix the JSON syntax at that line", exc.lineno))
    except UnicodeDecodeError:
        ctx.broken_files.add(rel)
        ctx.add(error("json-syntax", rel, "not UTF-8 text", "save the file as UTF-8"))
