"""The Terraform half of `invoke check --all`: fmt, init + validate on every module and stack, the
modules' `terraform test` suites, and checkov over terraform/. Runs on a scratch copy of the tree."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..adapters import terraform as tf
from ..model.findings import Finding, error
from .context import CheckContext

WORKERS = 2  # each run starts the (large) AWS provider; more than the cores starves its handshake
_FAILED_ASSERT = re.compile(r"on (tests/[^\s]+\.tftest\.hcl) line (\d+)")
_FAILED_RUN = re.compile(r'run "([^"]+)"\.\.\. fail')


@dataclass(frozen=True)
class Unit:
    """A folder terraform runs in: a module or a stack."""

    rel: str  # repo-relative folder
    has_tests: bool
    offline: bool  # every provider it needs can be installed here


def units(root: Path, mirror_only_aws: bool) -> list[Unit]:
    found = []
    for folder in sorted({p.parent for p in (root / "terraform").rglob("*.tf")}):
        if "tests" in folder.parts or ".terraform" in folder.parts:
            continue
        rel = folder.relative_to(root).as_posix()
        text = "\n".join(p.read_text(encoding="utf-8") for p in folder.glob("*.tf"))
        other_providers = re.findall(r'source\s*=\s*"hashicorp/(?!aws")([a-z0-9-]+)"', text)
        found.append(Unit(rel, (folder / "tests").is_dir(), not (mirror_only_aws and other_providers)))
    return found


def run(ctx: CheckContext) -> None:
    if not (ctx.repo.root / "terraform").is_dir():
        return
    env = tf.environment()
    mirror_only_aws = bool(env.get("TF_CLI_CONFIG_FILE", "").endswith("mirror.tfrc"))
    with tf.scratch_copy(ctx.repo.root) as copy:
        offline = [u for u in units(copy, mirror_only_aws) if u.offline]
        for finding in check_units(copy, offline, env):
            ctx.add(finding)


def check_units(copy: Path, units: list[Unit], env: dict[str, str]) -> list[Finding]:
    """Init every unit first, one at a time, then validate and test them side by side.

    An init links the provider from terraform's plugin cache and may rewrite the cache entry, so no
    init may overlap another unit's validate or test (that unit's link would dangle meanwhile)."""
    findings: list[Finding] = []
    ready = []
    for unit in units:
        init = tf.init(copy / unit.rel, env)
        if init.ok:
            ready.append(unit)
        else:
            file, line = _init_location(init.output)
            findings.append(
                error(
                    "terraform-init",
                    f"{unit.rel}/{file}",
                    f"terraform init failed: {_last_error(init.output)}",
                    "fix the module sources and provider requirements it names",
                    line,
                )
            )
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for found in pool.map(lambda unit: _validate_and_test(copy / unit.rel, unit, env), ready):
            findings.extend(found)
    return findings


def _validate_and_test(folder: Path, unit: Unit, env: dict[str, str]) -> list[Finding]:
    findings = _validate(unit, tf.validate(folder, env))
    if unit.has_tests and not findings:
        findings += _tests(unit, tf.test(folder, env))
    return findings


def _validate(unit: Unit, result: tf.TfResult) -> list[Finding]:
    try:
        report: dict[str, Any] = json.loads(result.output[result.output.index("{") :])
    except ValueError:
        if result.ok:
            return []
        return [
            error(
                "terraform-validate",
                unit.rel,
                f"terraform validate failed: {_last_error(result.output)}",
                "run terraform validate there",
            )
        ]
    findings = []
    for diag in report.get("diagnostics") or []:
        if diag.get("severity") != "error":
            continue
        rng = diag.get("range") or {}
        file = f"{unit.rel}/{rng['filename']}" if rng.get("filename") else unit.rel
        line = (rng.get("start") or {}).get("line")
        detail = " ".join(str(diag.get("detail", "")).split())
        findings.append(
            error(
                "terraform-validate",
                file,
                f"{diag.get('summary')}: {detail}"[:300],
                "declare what is referenced (variables, outputs, modules) or stop passing what is not declared",
                line,
            )
        )
    return findings


def _tests(unit: Unit, result: tf.TfResult) -> list[Finding]:
    if result.ok:
        return []
    failed_runs = _FAILED_RUN.findall(result.output)
    where = _FAILED_ASSERT.search(result.output)
    file = f"{unit.rel}/{where.group(1)}" if where else f"{unit.rel}/tests"
    line = int(where.group(2)) if where else None
    return [
        error(
            "terraform-test",
            file,
            f"terraform test failed ({', '.join(failed_runs) or 'see output'}): {_last_error(result.output)}",
            f"run `terraform test` in {unit.rel} and fix the module or the test",
            line,
        )
    ]


_INIT_AT = re.compile(r"(?:\bat ([\w./-]+\.tf):(\d+)|\bon ([\w./-]+\.tf) line (\d+))")


def _init_location(output: str) -> tuple[str, int | None]:
    """The file and line terraform init names (`at main.tf:12`, `on main.tf line 12`), else versions.tf."""
    found = _INIT_AT.search(output)
    if not found:
        return "versions.tf", None
    file = found.group(1) or found.group(3)
    return file, int(found.group(2) or found.group(4))


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("Error:")]
    if not errors:
        return (lines[-1] if lines else "no output")[:300]
    start = errors[0]
    return " ".join(lines[start : start + 4])[:300]
