"""Adapter for the local git repository."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from .findings import UsageError


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True)


def resolve(root: Path, ref: str) -> str:
    proc = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if proc.returncode != 0:
        raise UsageError(f"--base {ref}: no such commit in {root}; name a branch, tag or commit (e.g. origin/main)")
    return proc.stdout.decode().strip()


def export_tree(root: Path, ref: str, target: Path) -> str:
    """Write the tree of ref into target (no .git); return the commit it resolved to."""
    commit = resolve(root, ref)
    proc = _git(root, "archive", "--format=tar", commit)
    if proc.returncode != 0:
        raise UsageError(f"--base {ref}: git archive failed: {proc.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(target, filter="data")
    return commit
