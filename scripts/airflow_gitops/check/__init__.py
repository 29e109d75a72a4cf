"""`invoke check`: proves the repository deployable, offline. Stages run in order."""

from .runner import CheckResult, run_check

__all__ = ["CheckResult", "run_check"]
