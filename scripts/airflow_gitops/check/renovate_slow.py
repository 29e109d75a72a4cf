"""Renovate's own validator over renovate.json, behind --all (it needs the Node.js tooling)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..model.findings import error
from .context import CheckContext

VALIDATOR_ENV = "RENOVATE_CONFIG_VALIDATOR"
NODE_BIN = "node_modules/.bin"
CONFIG = "renovate.json"


def find_validator(root: Path) -> str | None:
    for candidate in (
        os.environ.get(VALIDATOR_ENV),
        str(root / NODE_BIN / "renovate-config-validator"),
        shutil.which("renovate-config-validator"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def run(ctx: CheckContext) -> None:
    root = ctx.repo.root
    if not (root / CONFIG).is_file():
        return
    validator = find_validator(root)
    if validator is None:
        ctx.add(
            error(
                "tool-missing",
                "package.json",
                "renovate-config-validator is not installed, so --all cannot validate renovate.json",
                f"run `make tools` (npm ci installs it into {NODE_BIN}) or set {VALIDATOR_ENV} to its path",
            )
        )
        return
    # Renovate needs the Node.js 24 that package.json installs next to it; re2 cannot build offline.
    env = {
        **os.environ,
        "PATH": f"{Path(validator).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "RENOVATE_X_IGNORE_RE2": "true",
    }
    proc = subprocess.run([validator, "--strict"], cwd=root, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode == 0:
        return
    lines = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    # the validator prints each problem as a `"message": "..."` line under its errors or warnings
    problems = [line.split(":", 1)[1].strip().strip('",') for line in lines if line.startswith('"message"')] or lines[-3:]
    ctx.add(
        error(
            "renovate-config",
            CONFIG,
            f"renovate-config-validator --strict failed: {' | '.join(problems)[:600]}",
            "fix renovate.json until `renovate-config-validator --strict` passes (see docs/upgrades.md)",
        )
    )
