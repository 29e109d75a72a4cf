"""Stage 1: every YAML and JSON file in the repository parses."""

from __future__ import annotations

import json
import re

from ..adapters import terraform as tf
from ..model.findings import UsageError, error
from ..model.repo import BrokenYaml
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
    _parse_terraform(ctx)


_HCL_ERROR = re.compile(r"Error: (.+?)\n\s*\n\s*on (\S+) line (\d+)", re.S)


def _parse_terraform(ctx: CheckContext) -> None:
    """`terraform fmt -check` parses every .tf file in Go (fast) and names the unformatted ones."""
    if not (ctx.repo.root / "terraform").is_dir():
        return
    try:
        result = tf.run(
            ["fmt", "-check", "-recursive", "-list=true", "-diff", "-no-color", "terraform"], ctx.repo.root, tf.environment()
        )
    except UsageError as exc:
        ctx.add(error("tool-missing", "terraform", str(exc), "install terraform 1.9 or newer and put it on PATH"))
        return
    if result.returncode == 0:
        return
    syntax = list(_HCL_ERROR.finditer(result.output))
    for match in syntax:
        rel = match.group(2)
        ctx.broken_files.add(rel)
        ctx.add(
            error(
                "hcl-syntax", rel, f"not valid HCL: {match.group(1).strip()}", "fix the syntax at that line", int(match.group(3))
            )
        )
    if syntax:
        return
    for rel, line in _unformatted(result.output):
        ctx.add(error("terraform-fmt", rel, "not in terraform's canonical format", f"run `terraform fmt {rel}`", line))


_HUNK = re.compile(r"^@@ -(\d+)")


def _unformatted(output: str) -> list[tuple[str, int | None]]:
    """(file, first line fmt would change) from `terraform fmt -check -list=true -diff`."""
    found: list[tuple[str, int | None]] = []
    lines = output.splitlines()
    for index, text in enumerate(lines):
        rel = text.strip()
        if not rel.endswith((".tf", ".tfvars", ".tftest.hcl")) or text.startswith(("---", "+++", " ", "-", "+")):
            continue
        first: int | None = None
        for offset, following in enumerate(lines[index + 1 :], start=index + 1):
            hunk = _HUNK.match(following)
            if hunk:
                context = 0
                for body in lines[offset + 1 :]:
                    if not body.startswith(" ") and body != "":
                        break
                    context += 1
                first = int(hunk.group(1)) + context
                break
            if following.strip().endswith((".tf", ".tfvars", ".tftest.hcl")) and not following.startswith(("---", "+++")):
                break  # the next file: this one's diff is not there
        found.append((rel, first))
    return found


def _parse_yaml(ctx: CheckContext, rel: str) -> None:
    try:
        docs = ctx.repo.yaml_docs(rel)
    except BrokenYaml as exc:
        ctx.broken_files.add(rel)
        ctx.add(
            error(
                "yaml-syntax",
                rel,
                f"not valid YAML: {exc.problem}",
                "fix the syntax at that line (indentation, a missing ':' or an unclosed quote)",
                exc.line,
            )
        )
        return
    except UnicodeDecodeError:
        ctx.broken_files.add(rel)
        ctx.add(error("yaml-syntax", rel, "not UTF-8 text", "save the file as UTF-8"))
        return
    env = rel.split("/")[1] if rel.startswith("clusters/") and rel.endswith("/cluster.yaml") else None
    if env is not None and rel == ctx.repo.cluster_file(env) and not (docs and isinstance(docs[0], dict)):
        # Read as it is, nothing could be derived from it: every later stage leaves it alone.
        ctx.broken_files.add(rel)
        ctx.add(
            error(
                "cluster-config",
                rel,
                "the file is empty or not a mapping; it must describe the environment",
                "write the environment's settings as schemas/cluster.schema.json describes them",
                1,
            )
        )


def _parse_json(ctx: CheckContext, rel: str) -> None:
    try:
        json.loads(ctx.repo.text(rel))
    except json.JSONDecodeError as exc:
        ctx.broken_files.add(rel)
        ctx.add(error("json-syntax", rel, f"not valid JSON: {exc.msg}", "fix the JSON syntax at that line", exc.lineno))
    except UnicodeDecodeError:
        ctx.broken_files.add(rel)
        ctx.add(error("json-syntax", rel, "not UTF-8 text", "save the file as UTF-8"))
