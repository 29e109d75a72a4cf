"""`invoke check --all` runs Renovate's own validator over renovate.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from airflow_gitops.check import renovate_slow
from airflow_gitops.check.context import CheckContext
from airflow_gitops.model.repo import Repo
from tests.conftest import REPO_ROOT

VALIDATOR = REPO_ROOT / renovate_slow.NODE_BIN / "renovate-config-validator"


@pytest.fixture
def validator(monkeypatch: pytest.MonkeyPatch) -> Path:
    assert VALIDATOR.is_file(), "Renovate is not installed: run `make test`, which installs it from package-lock.json"
    monkeypatch.setenv(renovate_slow.VALIDATOR_ENV, str(VALIDATOR))
    return VALIDATOR


def _findings(root: Path) -> list[str]:
    ctx = CheckContext(Repo(root), None, [])  # type: ignore[arg-type]  # this stage reads only the repo
    renovate_slow.run(ctx)
    return [f"{f.rule}: {f.message}" for f in ctx.findings]


def test_the_shipped_renovate_json_validates(validator: Path) -> None:
    assert _findings(REPO_ROOT) == []


def test_a_broken_renovate_json_is_one_finding_quoting_the_validator(validator: Path, tmp_path: Path) -> None:
    shutil.copy(REPO_ROOT / "renovate.json", tmp_path / "renovate.json")
    config = json.loads((tmp_path / "renovate.json").read_text())
    config["packageRules"][0]["matchFileNames"] = "clusters/staging/**"
    (tmp_path / "renovate.json").write_text(json.dumps(config))
    [finding] = _findings(tmp_path)
    assert finding.startswith("renovate-config: ")
    assert "packageRules[0].matchFileNames" in finding


def test_without_the_validator_the_finding_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(REPO_ROOT / "renovate.json", tmp_path / "renovate.json")
    monkeypatch.setenv(renovate_slow.VALIDATOR_ENV, str(tmp_path / "absent"))
    monkeypatch.setenv("PATH", str(tmp_path))
    [finding] = _findings(tmp_path)
    assert finding.startswith("tool-missing: ") and "renovate-config-validator" in finding
