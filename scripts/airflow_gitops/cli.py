"""Entry points behind tasks.py. Each returns an exit code; none lets a traceback reach the user."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from .findings import UsageError

EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
DEBUG_ENV = "AIRFLOW_GITOPS_DEBUG"


def guarded(action: Callable[[], int]) -> int:
    """Turn failures into one line on stderr and an exit code."""
    try:
        return action()
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the user gets one line; the traceback is opt-in
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def check(env: str | None, all_tools: bool, fmt: str, cwd: Path | None = None) -> int:
    from .check import run_check
    from .repo import Repo
    from .report import FORMATS, print_check

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    repo = Repo.discover(cwd)
    result = run_check(repo, env, include_slow=all_tools)
    print_check(result, fmt, sys.stdout)
    return 0 if result.ok else EXIT_FINDINGS
