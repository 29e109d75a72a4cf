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
    rule: str
    severity: Severity
    file: str
    line: int | None
    message: str
    fix: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def error(rule: str, file: str, message: str, fix: str, line: int | None = None) -> Finding:
    return Finding(rule, Severity.ERROR, file, line, message, fix)


def warning(rule: str, file: str, message: str, fix: str, line: int | None = None) -> Finding:
    return Finding(rule, Severity.WARNING, file, line, message, fix)


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""
