"""The slow real tools, behind --all: checkov over the rendered manifests of every cluster (the root
Application's objects and, as --all renders the charts, every object the charts render) and over
terraform/, then terraform init, validate and test on every module and stack, then Renovate's
config validator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..charts.renderer import ChartObject
from ..model import yamlio
from ..model.findings import error
from ..model.rendered import RenderedObject
from . import renovate_slow, terraform_slow
from .context import CheckContext
from .rules.chart_policy import where_rendered

CHECKOV_ENV = "CHECKOV"
LOCAL_CHECKOV = ".venv-tools/bin/checkov"
# When set, each checkov scan also writes its SARIF report there, as checkov-<env|terraform>.sarif (for code scanning).
SARIF_DIR_ENV = "CHECKOV_SARIF_DIR"


def find_checkov(root: Path) -> str | None:
    """checkov pins libraries that clash with ours, so it lives in its own virtualenv."""
    for candidate in (os.environ.get(CHECKOV_ENV), str(root / LOCAL_CHECKOV), shutil.which("checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def run(ctx: CheckContext) -> None:
    checkov = find_checkov(ctx.repo.root)
    if checkov is None:
        ctx.add(
            error(
                "tool-missing",
                "Makefile",
                "checkov is not installed, so --all cannot scan the rendered manifests",
                f"run `make tools` (installs it into {LOCAL_CHECKOV}) or set {CHECKOV_ENV} to its path",
            )
        )
        return
    for cluster in ctx.clusters.values():
        _scan(ctx, checkov, cluster.env, cluster.objects, cluster.chart_objects)
    if (ctx.repo.root / "terraform").is_dir():
        _scan_terraform(ctx, checkov)
    terraform_slow.run(ctx)
    renovate_slow.run(ctx)


def with_skips(ctx: CheckContext, obj: ChartObject) -> dict[str, Any]:
    """The rendered object with the catalog's checkov skips for its chart as `checkov.io/skipN` annotations."""
    entry = ctx.schemas.chart(obj.release.source.chart)
    skips = [s for s in (entry.checkov_skips if entry else ()) if s.applies_to(obj.rendered.kind, obj.rendered.name)]
    if not skips:
        return obj.rendered.obj
    out = dict(obj.rendered.obj)
    metadata = dict(out.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    taken = sum(1 for key in annotations if key.startswith("checkov.io/skip"))
    for number, skip in enumerate(skips, start=taken + 1):
        annotations[f"checkov.io/skip{number}"] = f"{skip.check}={skip.reason}"
    metadata["annotations"] = annotations
    out["metadata"] = metadata
    return out


def _scan(
    ctx: CheckContext,
    checkov: str,
    env: str,
    objects: list[RenderedObject],
    chart_objects: Sequence[ChartObject] = (),
) -> None:
    with tempfile.TemporaryDirectory(prefix=f"checkov-{env}-") as tmp:
        by_file: dict[str, RenderedObject | ChartObject] = {}
        for index, obj in enumerate(objects):
            name = f"{index:04d}-{obj.kind.lower()}-{obj.name}.yaml"
            Path(tmp, name).write_text(yamlio.dump(obj.obj), encoding="utf-8")
            by_file[name] = obj
        for index, chart_obj in enumerate(chart_objects):
            name = f"chart-{index:04d}-{chart_obj.rendered.kind.lower()}-{chart_obj.rendered.name}.yaml"
            Path(tmp, name).write_text(yamlio.dump(with_skips(ctx, chart_obj)), encoding="utf-8")
            by_file[name] = chart_obj
        report = _checkov(ctx, checkov, tmp, "kubernetes", ctx.repo.root, f"clusters/{env}/kustomization.yaml", env)
        for failed in report:
            found = by_file.get(Path(str(failed.get("file_path", ""))).name)
            if isinstance(found, ChartObject):
                file, line = where_rendered(ctx, found)
                label = found.label
                fix = "fix it in the chart's values, or skip it with a reason under the chart's checkov_skips in schemas/catalog.yaml"
            else:
                file, line = ctx.locate(found, []) if found else (f"clusters/{env}/kustomization.yaml", None)
                label = found.label() if found else failed.get("resource", "")
                fix = "fix the setting, or skip it on the object with a `checkov.io/skip1: <id>=<reason>` annotation"
            ctx.add(
                error(
                    f"checkov:{failed.get('check_id')}",
                    file,
                    f"[{env}] {label}: {failed.get('check_name')}",
                    f"{fix}" + (f" ({failed['guideline']})" if failed.get("guideline") else ""),
                    line,
                )
            )


def _failed_checks(report: Any) -> list[dict[str, Any]]:
    reports = report if isinstance(report, list) else [report]
    failed: list[dict[str, Any]] = []
    for item in reports:
        failed.extend(((item or {}).get("results") or {}).get("failed_checks") or [])
    return failed


def _checkov(
    ctx: CheckContext, checkov: str, directory: str, framework: str, cwd: Path, where: str, label: str
) -> list[dict[str, Any]]:
    """checkov's failed checks over a directory, or none and a finding when checkov itself fails."""
    command = [checkov, "-d", directory, "--framework", framework, "--skip-download", "--quiet", "--compact", "-o", "json"]
    sarif_dir = os.environ.get(SARIF_DIR_ENV)
    if sarif_dir:
        # JSON stays on stdout for the findings; the SARIF report goes to its own file.
        command += ["-o", "sarif", "--output-file-path", f"console,{Path(sarif_dir).resolve() / f'checkov-{label}.sarif'}"]
    proc = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        ctx.add(
            error(
                "checkov",
                where,
                f"checkov did not run on {directory}: {proc.stderr.strip()[-300:]}",
                f"run checkov -d {directory} --framework {framework} by hand and fix what stops it",
            )
        )
        return []
    return _failed_checks(json.loads(proc.stdout))


def _scan_terraform(ctx: CheckContext, checkov: str) -> None:
    for failed in _checkov(ctx, checkov, "terraform", "terraform", ctx.repo.root, "terraform", "terraform"):
        path = str(failed.get("file_path", "")).lstrip("/")
        lines = failed.get("file_line_range") or [None]
        ctx.add(
            error(
                f"checkov:{failed.get('check_id')}",
                f"terraform/{path}",
                f"{failed.get('resource')}: {failed.get('check_name')}",
                failed.get("guideline") or "fix the setting, or skip it inside the resource with `#checkov:skip=<id>:<reason>`",
                lines[0],
            )
        )
