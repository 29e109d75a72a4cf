"""The edit engine's own guards, each shown to stop an edit that went wrong before it is written.

The round trip and the line edit are correct on every file the suite feeds them
(test_edit_property.py), so these tests break them on purpose, one at a time, and require the guard
that is left to refuse: the line verifier (only pin lines may change, only planned lines be added),
the pin verifier (the pins read back are the planned ones), and the changed-on-disk guard of apply.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from airflow_gitops.model.findings import UsageError
from airflow_gitops.model.repo import Repo
from airflow_gitops.upgrades import edit, pins
from airflow_gitops.upgrades.edit import Change
from tests.conftest import REPO_ROOT

VALUES = "clusters/dev/values/airflow.yaml"
IMAGE = "444444444444.dkr.ecr.eu-west-1.amazonaws.com/airflow"
REQUIREMENTS = "images/airflow/requirements.txt"
PROVIDER = "apache-airflow-providers-amazon"
AMI = "awslabs/amazon-eks-ami"  # a pin shared by several files


def pin_of(repo: Repo, file: str, dependency: str) -> pins.Pin:
    [found] = [p for p in pins.collect_file(repo, file) if p.dependency == dependency]
    return found


@pytest.fixture
def image_repo(tmp_path: Path) -> Repo:
    """The Airflow image's requirements.txt, whose pins are edited line by line (not as YAML)."""
    (tmp_path / REQUIREMENTS).parent.mkdir(parents=True)
    (tmp_path / REQUIREMENTS).write_text((REPO_ROOT / REQUIREMENTS).read_text(encoding="utf-8"), encoding="utf-8")
    return Repo(tmp_path)


def first_comment(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("#") and "renovate" not in line)


def test_a_changed_line_that_holds_no_pin_is_refused(pristine_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round trip that rewords a comment: the data is unchanged, only the line verifier can tell."""
    repo = Repo(pristine_repo)
    pin = pin_of(repo, VALUES, IMAGE)
    comment = first_comment(repo.text(VALUES))
    round_trip = edit._apply_ruamel

    def rewording(text: str, assignments: list[tuple[tuple[str | int, ...], str]]) -> str:
        return round_trip(text, assignments).replace(comment, "# reworded by the round trip", 1)

    monkeypatch.setattr(edit, "_apply_ruamel", rewording)
    with pytest.raises(UsageError, match=r"clusters/dev/values/airflow.yaml:1: the edit would change a line that holds no pin"):
        edit.plan(repo, [Change(pin, "3.2.1-1")])


def test_a_line_the_plan_does_not_add_is_refused(pristine_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round trip that appends a line at the end: no pin moves, no line changes, one too many."""
    repo = Repo(pristine_repo)
    pin = pin_of(repo, VALUES, IMAGE)
    round_trip = edit._apply_ruamel
    monkeypatch.setattr(edit, "_apply_ruamel", lambda text, assignments: round_trip(text, assignments) + "\n")
    with pytest.raises(UsageError, match="the edit would add 1 lines where the plan adds 0; nothing was written"):
        edit.plan(repo, [Change(pin, "3.2.1-1")])


def test_a_pin_that_reads_back_otherwise_is_refused(image_repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line edit that writes another version than planned: only the pin line changed, so only the pin verifier can tell."""
    repo = image_repo
    pin = pin_of(repo, REQUIREMENTS, PROVIDER)
    line_edit = edit._edit_line

    def off_target(file: str, text: str, changes: list[Change]) -> str:
        return line_edit(file, text, [replace(c, version=c.version + "1") for c in changes])

    monkeypatch.setattr(edit, "_edit_line", off_target)
    with pytest.raises(UsageError, match=f"{REQUIREMENTS}: after the edit the pins read back differently than planned"):
        edit.plan(repo, [Change(pin, "9.25.0")])


def test_the_planned_edit_of_those_pins_passes_every_guard(pristine_repo: Path, image_repo: Repo) -> None:
    """The same edits, done right, are planned: the guards above refuse the fault, not the edit."""
    repo = Repo(pristine_repo)
    [values] = edit.plan(repo, [Change(pin_of(repo, VALUES, IMAGE), "3.2.1-1")])
    [requirements] = edit.plan(image_repo, [Change(pin_of(image_repo, REQUIREMENTS, PROVIDER), "9.25.0")])
    assert values.new_text.count("3.2.1-1") == 1 and requirements.new_text.count("9.25.0") == 1


def test_a_file_changed_after_planning_is_not_overwritten_and_nothing_is_written(repo_copy: Path) -> None:
    repo = Repo(repo_copy)
    changes = [Change(p, "v20261101") for p in pins.collect(repo) if p.dependency == AMI]
    edits = edit.plan(repo, changes)
    assert len(edits) > 1
    *unchanged, last = edits
    theirs = (repo_copy / last.file).read_text() + "# someone else's change, made while the edit was planned\n"
    (repo_copy / last.file).write_text(theirs)

    with pytest.raises(UsageError, match=f"{last.file}: changed on disk while the edit was planned; run again"):
        edit.apply(repo, edits)
    assert (repo_copy / last.file).read_text() == theirs
    for other in unchanged:  # all or nothing: not even the files nobody touched are written
        assert (repo_copy / other.file).read_text() == other.old_text
