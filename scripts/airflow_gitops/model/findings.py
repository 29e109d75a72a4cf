"""What a check reports: one finding per problem, each with a place and a fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem at file:line. `fix` says what to do, in words.

    When the fix is a plain replacement, `actual` and `expected` say it for a machine as well: line
    `line` of `file` holds the text `actual`, and the fix writes `expected` in its place (every
    occurrence on that line). Both are None when the fix is not a replacement.
    """

    rule: str
    severity: Severity
    file: str
    line: int | None
    message: str
    fix: str
    expected: str | None = None
    actual: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    @property
    def replacement(self) -> tuple[str, str] | None:
        """(actual, expected) when the fix is to write `expected` where `actual` is, on `line` of `file`."""
        if self.line and self.actual is not None and self.expected is not None and self.actual != self.expected:
            return self.actual, self.expected
        return None


def error(
    rule: str,
    file: str,
    message: str,
    fix: str,
    line: int | None = None,
    *,
    expected: str | None = None,
    actual: str | None = None,
) -> Finding:
    return Finding(rule, Severity.ERROR, file, line, message, fix, expected, actual)


def warning(
    rule: str,
    file: str,
    message: str,
    fix: str,
    line: int | None = None,
    *,
    expected: str | None = None,
    actual: str | None = None,
) -> Finding:
    return Finding(rule, Severity.WARNING, file, line, message, fix, expected, actual)


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""
