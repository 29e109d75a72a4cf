"""`invoke history`: past promotions and rollbacks, read from the trailers of git commits."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..adapters import git

_FIELD = "\x1f"
_RECORD = "\x1e"


@dataclass(frozen=True)
class Promotion:
    commit: str
    when: str
    who: str
    kind: str
    app: str
    source: str
    target: str
    tag: str
    digest: str
    soak: str = ""  # the soak the source had (Soak trailer)
    smoke: str = ""  # the smoke run the gate relied on (Smoke-Run trailer)
    break_glass: str = ""  # why a gate was broken or skipped (Break-Glass, Gates-Skipped trailers)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def trailers(message: str) -> dict[str, str]:
    """`Key: value` lines of the last paragraph of a commit message."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    found: dict[str, str] = {}
    for line in paragraphs[-1].splitlines() if paragraphs else []:
        key, sep, value = line.partition(": ")
        if sep and key and " " not in key:
            found[key] = value.strip()
    return found


def parse_log(output: str) -> list[Promotion]:
    found = []
    for record in output.split(_RECORD):
        if not record.strip():
            continue
        commit, when, message = record.strip("\n").split(_FIELD, 2)
        fields = trailers(message)
        if "Promoted-To" not in fields:
            continue
        found.append(
            Promotion(
                commit=commit,
                when=when,
                who=fields.get("Promoted-By", ""),
                kind=fields.get("Promotion-Kind", "promotion"),
                app=fields.get("Promoted-App", ""),
                source=fields.get("Promoted-From", ""),
                target=fields["Promoted-To"],
                tag=fields.get("Image-Tag", ""),
                digest=fields.get("Image-Digest", ""),
                soak=fields.get("Soak", ""),
                smoke=fields.get("Smoke-Run", ""),
                break_glass="; ".join(v for v in (fields.get("Break-Glass", ""), _skipped(fields.get("Gates-Skipped", ""))) if v),
            )
        )
    return found


def _skipped(gates: str) -> str:
    return f"skipped {gates}" if gates else ""


def read(root: Path, env: str | None = None, app: str | None = None, limit: int = 200) -> list[Promotion]:
    output = git.run(root, "log", f"-{limit * 5}", "--grep=^Promoted-To: ", f"--format=%H{_FIELD}%aI{_FIELD}%B{_RECORD}")
    found = [p for p in parse_log(output) if (env is None or p.target == env) and (app is None or p.app == app)]
    return found[:limit]
