"""How findings are shown: a rich table for people, JSON for machines."""

from __future__ import annotations

import json
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..check import CheckResult
from ..model.findings import Severity

FORMATS = ("table", "json")


def print_check(result: CheckResult, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        out.write(json.dumps(result.to_json(), indent=2) + "\n")
        return
    console = Console(file=out, width=200 if not out.isatty() else None, highlight=False)
    if result.findings:
        table = Table(title="invoke check findings", show_lines=False, expand=False)
        for column in ("severity", "rule", "location", "message", "fix"):
            table.add_column(column, overflow="fold")
        for f in result.findings:
            style = "red" if f.severity is Severity.ERROR else "yellow"
            table.add_row(Text(f.severity.value, style=style), Text(f.rule), Text(f.location()), Text(f.message), Text(f.fix))
        console.print(table)
    errors = len(result.errors)
    warnings = len(result.findings) - errors
    verdict = "[green]deployable[/green]" if result.ok else "[red]not deployable[/red]"
    for note in result.notes:
        console.print(f"note: {note}")
    console.print(
        f"{verdict}: {', '.join(result.clusters) or 'no clusters'}; {result.objects_validated} objects validated; "
        f"{errors} errors, {warnings} warnings"
    )
