"""Delivering a planned pin change through git: a commit, a pushed branch, or a pull request.

The change is planned by a callback, so that when a push is rejected because someone pushed first,
the tree is brought to the new upstream and everything is checked and planned again from the files
as they now are, a bounded number of times. The working tree never holds a half-written file: the
edit engine writes whole files, and a failed attempt is reset to where it started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..adapters import git
from ..model.findings import UsageError
from ..model.repo import Repo
from ..upgrades import edit
from ..upgrades.edit import FileEdit

MODES = ("pr", "push", "commit")
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Delivery:
    """What one attempt will commit: the proven edits and how to describe them."""

    edits: list[FileEdit]
    message: str
    branch: str  # for push and pr modes
    title: str
    body: Callable[[Repo], str]  # the PR body, built once the edits are in the tree (it may render them)


@dataclass(frozen=True)
class Outcome:
    mode: str
    commit: str
    branch: str
    pushed: bool
    attempts: int
    pull_url: str | None = None
    pull_created: bool = False


@dataclass(frozen=True)
class Tree:
    """Where the checkout stands: its branch and the upstream it must match."""

    branch: str
    remote: str | None
    remote_branch: str | None

    @property
    def upstream_ref(self) -> str | None:
        return f"refs/remotes/{self.remote}/{self.remote_branch}" if self.remote else None


def check_tree(root: Path, mode: str, fetch: bool = True) -> Tree:
    """Gate 1: a clean tree, on a branch, level with its upstream (fetched first)."""
    if mode not in MODES:
        raise UsageError(f"--mode {mode}: choose one of {', '.join(MODES)}")
    dirty = git.dirty_files(root)
    if dirty:
        shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
        raise UsageError(f"the git tree has uncommitted changes ({shown}); commit or stash them first")
    branch = git.current_branch(root)
    tracked = git.upstream(root, branch)
    if tracked is None:
        if mode != "commit":
            raise UsageError(
                f"branch {branch} tracks no remote branch; --mode {mode} pushes, so set one (git push -u origin {branch})"
            )
        return Tree(branch, None, None)
    remote, remote_branch = tracked
    if fetch:
        git.run(root, "fetch", "--quiet", remote, f"+refs/heads/{remote_branch}:refs/remotes/{remote}/{remote_branch}")
    ahead, behind = git.counts(root, "HEAD", f"refs/remotes/{remote}/{remote_branch}")
    if behind:
        raise UsageError(f"branch {branch} is {behind} commits behind {remote}/{remote_branch}; pull first (git pull --rebase)")
    if ahead:
        raise UsageError(f"branch {branch} has {ahead} commits not on {remote}/{remote_branch}; push or drop them first")
    return Tree(branch, remote, remote_branch)


def _commit(root: Path, repo: Repo, delivery: Delivery) -> str:
    edit.apply(repo, delivery.edits)
    return git.commit_files(root, [e.file for e in delivery.edits], delivery.message)


def _attempt_commit(root: Path, tree: Tree, delivery: Delivery, repo: Repo) -> tuple[str, bool]:
    start = git.head(root)
    sha = _commit(root, repo, delivery)
    if tree.remote is None or tree.remote_branch is None:
        return sha, True
    pushed, message = git.push(root, tree.remote, f"HEAD:refs/heads/{tree.remote_branch}")
    if not pushed:
        git.run(root, "reset", "--quiet", "--hard", start)
        if "rejected" not in message and "fetch first" not in message and "non-fast-forward" not in message:
            raise UsageError(f"git push to {tree.remote}/{tree.remote_branch} failed: {message}")
    return sha, pushed


def _attempt_branch(root: Path, tree: Tree, delivery: Delivery, repo: Repo) -> tuple[str, bool]:
    """Commit on a fresh promotion branch from the upstream, push it, and come back."""
    assert tree.remote is not None
    expected = git.remote_branch_sha(root, tree.remote, delivery.branch) or ""
    git.run(root, "switch", "--quiet", "-C", delivery.branch)
    try:
        sha = _commit(root, repo, delivery)
        # the promotion branch is ours: replace it, but only if nobody moved it since we looked
        pushed, message = git.push(root, tree.remote, f"HEAD:refs/heads/{delivery.branch}", lease=f"{delivery.branch}:{expected}")
        if not pushed and "stale info" not in message and "rejected" not in message:
            raise UsageError(f"git push of {delivery.branch} to {tree.remote} failed: {message}")
        return sha, pushed
    finally:
        git.run(root, "switch", "--quiet", tree.branch)


def _catch_up(root: Path, tree: Tree) -> None:
    """Bring the branch (reset to where the attempt started) forward to its upstream as it is now."""
    assert tree.remote is not None and tree.remote_branch is not None and tree.upstream_ref is not None
    git.run(root, "fetch", "--quiet", tree.remote, f"+refs/heads/{tree.remote_branch}:{tree.upstream_ref}")
    git.run(root, "merge", "--quiet", "--ff-only", tree.upstream_ref)


def deliver(
    root: Path,
    mode: str,
    plan: Callable[[Repo, Tree], Delivery],
    open_pull: Callable[[Tree, Delivery, Repo], tuple[str, bool]] | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> Outcome:
    """Check the tree, plan, commit and push; on a rejected push, catch up and do it all again."""
    last = ""
    for attempt in range(1, max_attempts + 1):
        tree = check_tree(root, mode)
        repo = Repo(root)
        delivery = plan(repo, tree)
        if mode == "commit":
            sha, pushed = _attempt_commit(root, tree, delivery, repo)
        else:
            sha, pushed = _attempt_branch(root, tree, delivery, repo)
        if not pushed:
            last = f"{tree.remote}: push rejected, someone pushed first"
            if mode == "commit":
                _catch_up(root, tree)  # the next attempt gates and plans on top of what was pushed first
            continue
        if mode != "pr":
            return Outcome(mode, sha, delivery.branch if mode == "push" else tree.branch, tree.remote is not None, attempt)
        assert open_pull is not None
        git.run(root, "switch", "--quiet", delivery.branch)
        try:
            url, created = open_pull(tree, delivery, Repo(root))
        finally:
            git.run(root, "switch", "--quiet", tree.branch)
        return Outcome(mode, sha, delivery.branch, True, attempt, url, created)
    raise UsageError(f"gave up after {max_attempts} attempts ({last}); run again when the branch is quiet")
