"""The package's layers hold: `lint-imports` checks the contracts in pyproject.toml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(scripts: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(scripts)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(config)], capture_output=True, text=True, env=env, timeout=120)


def test_every_contract_is_kept() -> None:
    proc = lint_imports(ROOT / "scripts", ROOT / "pyproject.toml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def copy_package(tmp_path: Path) -> Path:
    scripts = tmp_path / "scripts"
    shutil.copytree(ROOT / "scripts" / "airflow_gitops", scripts / "airflow_gitops", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return scripts


def add_import(module: Path, line: str) -> None:
    text = module.read_text()
    marker = "from __future__ import annotations\n"
    module.write_text(text.replace(marker, marker + "\n" + line + "\n", 1))


def test_an_adapter_importing_a_flow_breaks_the_layers(tmp_path: Path) -> None:
    scripts = copy_package(tmp_path)
    add_import(scripts / "airflow_gitops/adapters/git.py", "from ..releases import promote  # noqa: F401")
    proc = lint_imports(scripts, tmp_path / "pyproject.toml")
    assert proc.returncode == 1
    assert "Each layer imports only the layers below it BROKEN" in proc.stdout
    assert "airflow_gitops.adapters.git -> airflow_gitops.releases.promote" in proc.stdout


def test_planning_reaching_an_adapter_through_another_module_is_refused(tmp_path: Path) -> None:
    scripts = copy_package(tmp_path)
    # promote (planning) imports gitflow (a flow), which imports the git adapter: indirect, still refused
    add_import(scripts / "airflow_gitops/releases/promote.py", "from . import gitflow  # noqa: F401")
    proc = lint_imports(scripts, tmp_path / "pyproject.toml")
    assert proc.returncode == 1
    assert "Planning and check rules import no adapter, directly or through another module BROKEN" in proc.stdout


def test_a_new_subpackage_must_be_given_a_layer(tmp_path: Path) -> None:
    scripts = copy_package(tmp_path)
    (scripts / "airflow_gitops/misc").mkdir()
    (scripts / "airflow_gitops/misc/__init__.py").write_text('"""."""\n')
    proc = lint_imports(scripts, tmp_path / "pyproject.toml")
    assert proc.returncode == 1
    assert "airflow_gitops.misc" in proc.stdout
