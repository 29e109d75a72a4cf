"""A report on a DAG folder, made by the real Airflow: run it with the interpreter of .venv-airflow.

    python dag_report.py DAG_FOLDER --out REPORT.json [--runs N]
        loads DAG_FOLDER with Airflow's DagBag and writes, as JSON: the import errors, each DAG's
        owners, tags, tasks (operator, owner, retries, upstream tasks, and the pod settings of a
        KubernetesPodOperator) and cycle check, and each file's parse time (below).

    python dag_report.py --time-file FILE --out TIME.json
        the seconds (wall and CPU) it takes to import FILE in this fresh interpreter, once Airflow and the
        Task SDK's definitions are loaded, as they are in the DAG processor; what the file itself costs.

The pytest tests (tests/dags/) run in the tooling virtualenv, which has no Airflow: they call this
script as a subprocess. It imports nothing from the repository, and reaches no network and no
database: the DagBag only imports the files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

# What the DAG processor has loaded before it parses a file: Airflow and the Task SDK's authoring API.
PRELOADED = ("airflow", "airflow.sdk")
PRELOADED_NAMES = ("DAG", "dag", "task", "BaseOperator", "Variable")


def _isolate_airflow() -> None:
    """A private AIRFLOW_HOME and settings, so that no user's airflow.cfg or database is read."""
    if "AIRFLOW_HOME" not in os.environ:
        os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.dont_write_bytecode = True


def time_file(path: Path) -> dict[str, Any]:
    """Import Airflow as the DAG processor has it, then time the import of one DAG file."""
    _isolate_airflow()
    import airflow.sdk

    for name in PRELOADED_NAMES:
        getattr(airflow.sdk, name)
    module_name = f"dag_under_test_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    started, started_cpu = time.perf_counter(), time.process_time()
    error = None
    try:
        spec.loader.exec_module(module)
    except BaseException:  # a broken file is timed too; the DagBag reports its error
        error = traceback.format_exc(limit=3)
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - started_cpu, "error": error}


def _parse_times(folder: Path, runs: int) -> dict[str, dict[str, Any]]:
    """Each file timed in `runs` fresh interpreters, one after the other (never in parallel: they would share the CPUs)."""
    results: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*.py")):
        seconds, cpu_seconds = [], []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as scratch:
                out = Path(scratch) / "time.json"
                subprocess.run(
                    [sys.executable, __file__, "--time-file", str(path), "--out", str(out)],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                timing = json.loads(out.read_text())
                seconds.append(timing["seconds"])
                cpu_seconds.append(timing["cpu_seconds"])
        results[path.relative_to(folder).as_posix()] = {
            "runs": seconds,
            "median": statistics.median(seconds),
            "cpu_runs": cpu_seconds,
            "cpu_median": statistics.median(cpu_seconds),
        }
    return results


def _k8s(value: Any) -> Any:
    """A Kubernetes model (or a dict of them) as the plain camelCase JSON the API receives."""
    if value is None:
        return None
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(value)


def _pod(task: Any) -> dict[str, Any]:
    return {
        "image": task.image,
        "node_selector": dict(task.node_selector or {}),
        "tolerations": _k8s(list(task.tolerations or [])),
        "security_context": _k8s(task.security_context),
        "container_security_context": _k8s(task.container_security_context),
        "container_resources": _k8s(task.container_resources),
        "automount_service_account_token": task.automount_service_account_token,
        "namespace": task.namespace,
        "in_cluster": task.in_cluster,
        "do_xcom_push": task.do_xcom_push,
        "service_account_name": task.service_account_name,
    }


def _cycle_error(dag: Any) -> str | None:
    try:
        if hasattr(dag, "check_cycle"):
            dag.check_cycle()
        else:
            from airflow.utils.dag_cycle_tester import check_cycle

            check_cycle(dag)
    except Exception as error:  # AirflowDagCycleException
        return f"{type(error).__name__}: {error}"
    return None


def report(folder: Path, runs: int) -> dict[str, Any]:
    _isolate_airflow()
    import airflow

    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.1 and later
    except ImportError:
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(folder), include_examples=False)
    dags: dict[str, Any] = {}
    for dag_id, dag in sorted(bag.dags.items()):
        tasks = {}
        for task in dag.tasks:
            entry: dict[str, Any] = {
                "operator": type(task).__name__,
                "owner": task.owner,
                "retries": task.retries,
                "upstream": sorted(task.upstream_task_ids),
            }
            if any(cls.__name__ == "KubernetesPodOperator" for cls in type(task).__mro__):
                entry["pod"] = _pod(task)
            tasks[task.task_id] = entry
        dags[dag_id] = {
            "file": Path(dag.fileloc).relative_to(folder).as_posix(),
            "owners": sorted({t.owner for t in dag.tasks}),
            "tags": sorted(dag.tags or []),
            "cycle_error": _cycle_error(dag),
            "tasks": tasks,
        }
    return {
        "airflow_version": airflow.__version__,
        "python": sys.version.split()[0],
        "import_errors": {Path(f).relative_to(folder).as_posix(): str(e) for f, e in sorted(bag.import_errors.items())},
        "dags": dags,
        "dagbag_seconds": {
            Path(s.file.lstrip("/")).name: s.duration.total_seconds() if hasattr(s.duration, "total_seconds") else s.duration
            for s in bag.dagbag_stats
        },
        "parse_seconds": _parse_times(folder, runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, help="the DAG folder to report on")
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON")
    parser.add_argument("--runs", type=int, default=3, help="fresh interpreters per file for the parse time (median)")
    parser.add_argument("--time-file", type=Path, help="time the import of this one file instead")
    args = parser.parse_args()
    if args.time_file is not None:
        result = time_file(args.time_file.resolve())
    elif args.folder is not None:
        result = report(args.folder.resolve(), max(1, args.runs))
    else:
        parser.error("give a DAG folder or --time-file")
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
