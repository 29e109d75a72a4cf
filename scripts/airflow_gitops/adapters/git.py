"""Adapter for the local git repository."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from ..model.findings import UsageError


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


def run(root: Path, *args: str) -> str:
    """Run git; a failure becomes one line naming the command and git's own message."""
    proc = _git(root, *args)
    if proc.returncode != 0:
        message = " ".join(proc.stderr.decode(errors="replace").split()) or f"exit {proc.returncode}"
        raise UsageError(f"git {' '.join(args[:2])}: {message}")
    return proc.stdout.decode(errors="replace").strip()


def ok(root: Path, *args: str) -> bool:
    return _git(root, *args).returncode == 0


def current_branch(root: Path) -> str:
    branch = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD").stdout.decode().strip()
    if not branch:
        raise UsageError(f"{root}: HEAD is detached; check out the branch to change (git switch main)")
    return branch


def upstream(root: Path, branch: str) -> tuple[str, str] | None:
    """(remote, remote branch) the branch tracks, or None."""
    remote = _git(root, "config", f"branch.{branch}.remote").stdout.decode().strip()
    merge = _git(root, "config", f"branch.{branch}.merge").stdout.decode().strip()
    if not remote or not merge or remote == ".":
        return None
    return remote, merge.removeprefix("refs/heads/")


def dirty_files(root: Path) -> list[str]:
    run(root, "rev-parse", "--git-dir")  # a clear error outside a repository
    out = _git(root, "status", "--porcelain=v1", "--untracked-files=normal").stdout.decode(errors="replace")
    return [line[3:] for line in out.splitlines() if line.strip()]  # `XY path`: never strip the status columns


def head(root: Path) -> str:
    return run(root, "rev-parse", "HEAD")


def counts(root: Path, left: str, right: str) -> tuple[int, int]:
    """(commits only in left, commits only in right)."""
    out = run(root, "rev-list", "--left-right", "--count", f"{left}...{right}")
    ahead, behind = out.split()
    return int(ahead), int(behind)


def is_ancestor(root: Path, ancestor: str, descendant: str) -> bool:
    return ok(root, "merge-base", "--is-ancestor", ancestor, descendant)


def show_file(root: Path, rev: str, path: str) -> str | None:
    proc = _git(root, "show", f"{rev}:{path}")
    return proc.stdout.decode() if proc.returncode == 0 else None


def has_commit(root: Path, rev: str) -> bool:
    return ok(root, "cat-file", "-e", f"{rev}^{{commit}}")


def remote_url(root: Path, remote: str) -> str:
    return run(root, "remote", "get-url", remote)


def identity(root: Path) -> str:
    """`Name <email>` of whoever commits here."""
    name = _git(root, "config", "user.name").stdout.decode().strip()
    email = _git(root, "config", "user.email").stdout.decode().strip()
    if not name or not email:
        raise UsageError("git user.name and user.email are not set; set them (git config user.name ...) so the commit names you")
    return f"{name} <{email}>"


def commit_files(root: Path, files: list[str], message: str) -> str:
    run(root, "add", "--", *files)
    run(root, "commit", "--quiet", "--no-verify", "-m", message, "--", *files)
    return head(root)


def push(root: Path, remote: str, refspec: str, lease: str | None = None) -> tuple[bool, str]:
    """Push; (True, "") or (False, git's message). A rejection is not an exception: callers retry."""
    args = ["push", "--porcelain", remote, refspec]
    if lease is not None:
        args.insert(1, f"--force-with-lease={lease}")
    proc = _git(root, *args)
    message = " ".join((proc.stderr + proc.stdout).decode(errors="replace").split())
    return proc.returncode == 0, message


def remote_branch_sha(root: Path, remote: str, branch: str) -> str | None:
    out = _git(root, "ls-remote", "--heads", remote, f"refs/heads/{branch}").stdout.decode().split()
    return out[0] if out else None
