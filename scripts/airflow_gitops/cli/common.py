"""What every entry point shares: errors as one line and an exit code, required options, the chart renderer."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..model.findings import UsageError

if TYPE_CHECKING:
    from ..charts.renderer import ChartRenderer

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


def require(**flags: str) -> int:
    """0 when every named option has a value; else a usage error naming the first missing one."""
    for name, value in flags.items():
        if not value:
            raise UsageError(f"--{name.replace('_', '-')} is required; see invoke --help <task>")
    return 0


def chart_renderer(chart_cache: str | None, offline: bool = False) -> ChartRenderer:
    """Charts from `chart_cache` (default: the user's cache directory), pulled on a miss unless offline."""
    from ..adapters.chart_repository import ChartRepo, cache_dir, make_session
    from ..adapters.helm_engine import ChartError, make_engine
    from ..charts.renderer import ChartRenderer

    try:
        engine = make_engine(os.environ)
    except ChartError as exc:
        raise UsageError(exc.message) from exc
    cache = Path(chart_cache).expanduser() if chart_cache else cache_dir(os.environ)
    if cache.exists() and not cache.is_dir():
        raise UsageError(f"--chart-cache {cache}: not a directory")
    return ChartRenderer(engine, ChartRepo(make_session(retries=1), cache), offline=offline)  # offline shows fast
