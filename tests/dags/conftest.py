"""Fixtures of the DAG tests: reports that the real Airflow (.venv-airflow) makes on a DAG folder.

The tests run in the tooling virtualenv, which has no Airflow; tests/dags/dag_report.py runs in
.venv-airflow (`make test` builds it from images/airflow/requirements.txt and the Airflow version of the
Dockerfile's FROM tag) and writes its report as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

DAGS = REPO_ROOT / "images" / "airflow" / "dags"
AIRFLOW_VENV = REPO_ROOT / ".venv-airflow"
AIRFLOW_PYTHON = AIRFLOW_VENV / "bin" / "python"
REPORTER = Path(__file__).with_name("dag_report.py")
# What one DAG file may cost the DAG processor to import: CPU seconds, median of the runs. CPU time, not
# wall time, so that a busy machine does not fail a file; a file waiting on the network at parse time
# fails here anyway, offline, as an import error.
PARSE_BUDGET_SECONDS = 2.0
# Fresh interpreters per file for the parse time of the image's DAGs.
PARSE_RUNS = 3
REPORT_TIMEOUT_SECONDS = 300

# Figures printed at the end of the run: (what, seconds).
FIGURES: list[tuple[str, float]] = []

# DAGs that must fail the checks, so that the tests are seen to catch them.
CYCLIC_DAG = """
    import pendulum
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    with DAG("cyclic", start_date=pendulum.datetime(2026, 1, 1), schedule=None, tags=["test"],
             default_args={"owner": "platform", "retries": 1}):
        first = EmptyOperator(task_id="first")
        second = EmptyOperator(task_id="second")
        first >> second >> first
"""
# Work at the top level (a stand-in for a heavy computation at parse time), the
# default owner, no tags and no retries.
SLOPPY_DAG = """
    import time

    import pendulum
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    started = time.process_time()
    while time.process_time() - started < 3:  # three CPU seconds of work at parse time
        pass

    with DAG("sloppy", start_date=pendulum.datetime(2026, 1, 1), schedule=None):
        EmptyOperator(task_id="only")
"""


def airflow_python() -> Path:
    if not AIRFLOW_PYTHON.is_file():
        pytest.fail(
            f"{AIRFLOW_PYTHON} is missing: run `make .venv-airflow/.installed` (make test builds it) to install Airflow for the DAG tests",
            pytrace=False,
        )
    return AIRFLOW_PYTHON


def make_report(folder: Path, scratch: Path, runs: int) -> dict[str, Any]:
    """dag_report.py on folder, in .venv-airflow, with a private AIRFLOW_HOME and none of this shell's Airflow settings."""
    home = scratch / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    out = scratch / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(folder),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        PYTHONDONTWRITEBYTECODE="1",
    )
    started = time.perf_counter()
    proc = subprocess.run(
        [str(airflow_python()), str(REPORTER), str(folder), "--out", str(out), "--runs", str(runs)],
        env=env,
        cwd=scratch,
        capture_output=True,
        text=True,
        timeout=REPORT_TIMEOUT_SECONDS,
    )
    FIGURES.append((f"dag_report.py on {folder.name}/ ({runs} run(s) per file)", time.perf_counter() - started))
    if proc.returncode != 0:
        pytest.fail(f"dag_report.py failed on {folder}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}", pytrace=False)
    report: dict[str, Any] = json.loads(out.read_text())
    return report


@pytest.fixture(scope="session")
def dag_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The report on the DAGs baked into the image."""
    report = make_report(DAGS, tmp_path_factory.mktemp("dag-report"), PARSE_RUNS)
    for file, timing in sorted(report["parse_seconds"].items()):
        FIGURES.append(
            (f"parse {file}, CPU (median of {', '.join(f'{s:.3f}' for s in timing['cpu_runs'])})", timing["cpu_median"])
        )
        FIGURES.append((f"parse {file}, wall (median of {', '.join(f'{s:.3f}' for s in timing['runs'])})", timing["median"]))
    return report


@pytest.fixture(scope="session")
def broken_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The report on a folder of DAGs that break the rules: a cycle, top-level work, no owner, tags or retries."""
    folder = tmp_path_factory.mktemp("broken-dags")
    (folder / "cyclic.py").write_text(textwrap.dedent(CYCLIC_DAG))
    (folder / "sloppy.py").write_text(textwrap.dedent(SLOPPY_DAG))
    report = make_report(folder, tmp_path_factory.mktemp("broken-report"), runs=1)
    for file, timing in sorted(report["parse_seconds"].items()):
        FIGURES.append((f"parse broken {file}, CPU", timing["cpu_median"]))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("DAG figures")
    terminalreporter.write_line(f"parse budget per DAG file: {PARSE_BUDGET_SECONDS:.1f} CPU s (median of fresh interpreters)")
    for what, seconds in FIGURES:
        terminalreporter.write_line(f"{seconds:8.3f} s  {what}")
