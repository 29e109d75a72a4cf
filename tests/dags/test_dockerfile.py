"""images/airflow/Dockerfile: hadolint finds nothing, and it builds what the platform expects."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT

IMAGE = REPO_ROOT / "images" / "airflow"
DOCKERFILE = IMAGE / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
CONSTRAINTS_URL = (
    "https://raw.githubusercontent.com/apache/airflow/constraints-${airflow_version}/constraints-${python_version}.txt"
)
BASE = re.compile(r"apache/airflow:(?P<airflow>\d+\.\d+\.\d+)-python(?P<python>\d+\.\d+)(@sha256:[0-9a-f]{64})?")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.strip().startswith("#") and not current:
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip():
            logical.append(current.strip())
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in logical]


def base_versions() -> dict[str, str]:
    """The Airflow and Python versions of the base image's tag: the one place they are set."""
    [base] = [a for kind, a in instructions() if kind == "FROM"]
    match = BASE.fullmatch(base)
    assert match, f"FROM {base}: expected apache/airflow:<airflow>-python<x.y>, by tag (a digest is Renovate's to add)"
    return {"AIRFLOW_VERSION": match["airflow"], "PYTHON_VERSION": match["python"]}


def test_hadolint_finds_nothing() -> None:
    proc = subprocess.run([str(HADOLINT), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


def test_runs_as_the_non_root_airflow_user() -> None:
    users = [a for kind, a in instructions() if kind == "USER"]
    assert users, "no USER: the image would run as whatever the base image last set"
    assert users[-1].split(":")[0] in ("50000", "airflow")


def test_base_image_is_the_official_image_by_tag() -> None:
    assert base_versions()["PYTHON_VERSION"] in ("3.10", "3.11", "3.12", "3.13")


def test_the_versions_are_read_from_the_image_not_repeated() -> None:
    """No ARG repeats the base image's versions, so a Renovate bump of the FROM tag is the whole change."""
    names = {a.split("=", 1)[0] for kind, a in instructions() if kind == "ARG"}
    assert not names & {"AIRFLOW_VERSION", "PYTHON_VERSION"}, names


def test_airflow_version_is_the_one_the_chart_is_told() -> None:
    # The chart adapts its templates to airflowVersion: set in the values, or the chart's default.
    app = yaml.safe_load((REPO_ROOT / "clusters" / "dev" / "apps" / "airflow.yaml").read_text())
    [chart] = [s for s in app["spec"]["sources"] if s.get("chart") == "airflow"]
    schema = json.loads(
        (REPO_ROOT / "schemas" / "charts" / "airflow" / chart["targetRevision"] / "values.schema.json").read_text()
    )
    values = yaml.safe_load((REPO_ROOT / "apps" / "airflow" / "values.yaml").read_text())
    dev = yaml.safe_load((REPO_ROOT / "clusters" / "dev" / "values" / "airflow.yaml").read_text())
    told = dev.get("airflowVersion") or values.get("airflowVersion") or schema["properties"]["airflowVersion"]["default"]
    assert base_versions()["AIRFLOW_VERSION"] == told


def test_installs_with_the_constraints_of_that_version_without_moving_airflow() -> None:
    runs = " ".join(a for kind, a in instructions() if kind == "RUN")
    assert CONSTRAINTS_URL in runs
    pip = re.search(r"pip install (?P<args>.*?)(&&|$)", runs)
    assert pip, "no pip install"
    assert "--constraint" in pip["args"] and "--no-cache-dir" in pip["args"]
    assert '"apache-airflow==${airflow_version}"' in pip["args"] and "requirements.txt" in pip["args"]
    assert 'm.version("apache-airflow")' in runs, "the Airflow version must be read from the base image"


def test_requirements_are_exact_pins() -> None:
    lines = [
        ln.strip()
        for ln in (IMAGE / "requirements.txt").read_text().splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][0-9A-Za-z.+!-]*", ln) for ln in lines), lines
    names = {ln.split("==")[0] for ln in lines}
    assert {
        "apache-airflow-providers-amazon",
        "apache-airflow-providers-celery",
        "apache-airflow-providers-cncf-kubernetes",
        "apache-airflow-providers-fab",
    } <= names


def test_labels_the_revision_source_and_version() -> None:
    labels = " ".join(a for kind, a in instructions() if kind == "LABEL")
    assert 'org.opencontainers.image.revision="${GIT_COMMIT}"' in labels
    assert "org.opencontainers.image.source=" in labels and "org.opencontainers.image.version=" in labels
    assert any(kind == "ARG" and a.startswith("GIT_COMMIT") for kind, a in instructions())


def test_dags_are_copied_for_the_airflow_user() -> None:
    copies = [a for kind, a in instructions() if kind == "COPY"]
    assert any(c.startswith("--chown=50000:0") and c.endswith("dags/ /opt/airflow/dags/") for c in copies), copies
