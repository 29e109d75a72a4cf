"""`invoke rollback`, `invoke hold`, `invoke history` and `invoke status` against the local stand-ins."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer

from airflow_gitops.cli import common, releases, upgrades
from tests.release.conftest import (
    APP,
    IMAGE,
    NEW_TAG,
    OLD_TAG,
    USER,
    ArgoCdStandIn,
    FakeRepository,
    Images,
    Platform,
    Run,
    captured,
    invoke,
    promote,
    refusal,
    rollback,
)

REASON = "scheduler crash loop on 3.3.0-1"
HELD_FILES = ["clusters/staging/apps/airflow.yaml", "clusters/staging/values/airflow.yaml"]
PASS = {"max_severity": "CRITICAL"}


def hold(platform: Platform, capsys: pytest.CaptureFixture[str], env: str, reason: str = "", release: bool = False) -> Run:
    return captured(capsys, common.guarded(lambda: releases.hold(env, APP, reason, release, "commit", cwd=platform.root)))


def renovate(platform: Platform) -> dict[str, Any]:
    return dict(json.loads(platform.read("renovate.json")))


def hold_rules(platform: Platform) -> list[dict[str, Any]]:
    return [r for r in renovate(platform).get("packageRules", []) if str(r.get("description", "")).startswith("hold ")]


def promoted_then_rolled_back(platform: Platform, capsys: pytest.CaptureFixture[str]) -> Run:
    """staging runs NEW_TAG (promoted from dev), then is rolled back."""
    assert promote(platform, capsys, to_env="staging", mode="commit", health_gate=False, **PASS).code == 0
    return rollback(platform, capsys, to_env="staging", reason=REASON, mode="commit", **PASS)


def test_rollback_pins_the_previous_version_from_history_and_holds_it(
    platform: Platform, images: Images, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped_renovate = renovate(platform)
    run = promoted_then_rolled_back(platform, capsys)
    assert run.code == 0, run
    assert f"clusters/staging/values/airflow.yaml:8: {IMAGE} {NEW_TAG} -> {OLD_TAG}" in run.out
    assert "staging/airflow is on hold; release it with: invoke hold --release --env staging --app airflow" in run.out
    assert platform.pin("staging", "main") == {"repository": IMAGE, "tag": OLD_TAG, "digest": images.digests[OLD_TAG]}

    holds_text = platform.read("clusters/staging/holds.yaml")
    assert holds_text.startswith("# Holds: apps whose pins nothing moves")
    entry = yaml.safe_load(holds_text)["holds"][APP]
    assert (entry["reason"], entry["set_by"], entry["version"]) == (REASON, USER, OLD_TAG)
    assert datetime.fromisoformat(entry["set_at"].replace("Z", "+00:00")).tzinfo is not None
    [rule] = hold_rules(platform)
    assert rule["matchFileNames"] == HELD_FILES and rule["enabled"] is False
    assert rule["description"].startswith(f"hold staging/airflow: {REASON} (set by {USER} at ")
    # the rest of renovate.json is as it was
    rest = renovate(platform)
    rest["packageRules"] = [r for r in rest["packageRules"] if r is not rule and r != rule]
    assert rest == shipped_renovate

    # one commit, pushed, holding the pin and both hold files
    assert platform.head() == platform.remote_refs()["refs/heads/main"]
    changed = platform.git("show", "--format=", "--name-only", "HEAD").splitlines()
    assert sorted(changed) == ["clusters/staging/holds.yaml", "clusters/staging/values/airflow.yaml", "renovate.json"]
    assert platform.trailers()["Promotion-Kind"] == "rollback"
    assert (platform.trailers()["Promoted-To"], platform.trailers()["Image-Tag"]) == ("staging", OLD_TAG)
    assert f"Held: {REASON}" in platform.git("log", "-1", "--format=%B")
    assert platform.git("status", "--porcelain") == ""


def test_rollback_to_a_named_tag(platform: Platform, images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    older = images.push("3.1.0-1")
    run = rollback(platform, capsys, to_env="prod", tag="3.1.0-1", reason="3.2 breaks the DAG parser", mode="commit", **PASS)
    assert run.code == 0, run
    assert platform.pin("prod", "main") == {"repository": IMAGE, "tag": "3.1.0-1", "digest": older}
    assert yaml.safe_load(platform.read("clusters/prod/holds.yaml"))["holds"][APP]["version"] == "3.1.0-1"


def test_promoting_into_a_held_environment_is_refused(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert promoted_then_rolled_back(platform, capsys).code == 0
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refusal(
        run,
        "clusters/staging/holds.yaml: staging/airflow is on hold since ",
        f"by {USER}: {REASON}; promoting into staging refused",
    )
    assert platform.snapshot() == before
    assert argocd.requests == []


def test_bumping_a_held_dev_pin_is_refused(platform: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    assert hold(platform, capsys, "dev", "keep 3.3.0-1 while we debug").code == 0
    before = platform.snapshot()
    run = captured(
        capsys, common.guarded(lambda: upgrades.bump(IMAGE, "3.4.0-1", "dev", False, run_check=False, cwd=platform.root))
    )
    refusal(
        run,
        "clusters/dev/holds.yaml: dev/airflow is on hold since ",
        f"keep 3.3.0-1 while we debug; bumping {IMAGE} refused. Release it first: invoke hold --release --env dev --app airflow",
    )
    assert platform.snapshot() == before
    assert platform.pin("dev")["tag"] == NEW_TAG


def test_hold_and_release_through_the_task(platform: Platform) -> None:
    shipped_renovate = platform.read("renovate.json")
    set_run = invoke(platform.root, "hold", "--env", "staging", "--app", APP, "--reason", "load test until Friday")
    assert set_run.code == 0, set_run
    assert "staging/airflow: hold set" in set_run.out
    assert list(yaml.safe_load(platform.read("clusters/staging/holds.yaml"))["holds"]) == [APP]
    assert [r["matchFileNames"] for r in hold_rules(platform)] == [HELD_FILES]
    assert platform.remote_refs()["refs/heads/main"] == platform.head()

    released = invoke(platform.root, "hold", "--release", "--env", "staging", "--app", APP)
    assert released.code == 0, released
    assert "staging/airflow: hold released" in released.out
    assert not (platform.root / "clusters/staging/holds.yaml").exists()  # releasing the last hold removes the file
    assert platform.read("renovate.json") == shipped_renovate
    assert platform.remote_refs()["refs/heads/main"] == platform.head()
    assert platform.git("status", "--porcelain") == ""

    again = invoke(platform.root, "hold", "--release", "--env", "staging", "--app", APP)
    refusal(again, "clusters/staging/holds.yaml: staging/airflow is not on hold; nothing to release")


def test_after_the_release_promotion_goes_on(platform: Platform, images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    assert promoted_then_rolled_back(platform, capsys).code == 0
    assert hold(platform, capsys, "staging", release=True).code == 0
    assert hold_rules(platform) == []
    run = promote(platform, capsys, to_env="staging", mode="commit", health_gate=False, **PASS)
    assert run.code == 0, run
    assert "staging/airflow not held" in run.out
    assert platform.pin("staging", "main")["tag"] == NEW_TAG


def test_releasing_one_hold_keeps_the_others(platform: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    assert hold(platform, capsys, "staging", "load test").code == 0
    assert hold(platform, capsys, "prod", "change freeze").code == 0
    assert len(hold_rules(platform)) == 2
    assert hold(platform, capsys, "staging", release=True).code == 0
    [rule] = hold_rules(platform)
    assert rule["matchFileNames"] == ["clusters/prod/apps/airflow.yaml", "clusters/prod/values/airflow.yaml"]
    assert list(yaml.safe_load(platform.read("clusters/prod/holds.yaml"))["holds"]) == [APP]


def test_a_hold_needs_a_reason(platform: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    before = platform.snapshot()
    refusal(hold(platform, capsys, "staging", " "), "--reason is required: say why the pins must not move")
    assert platform.snapshot() == before


def test_history_lists_promotions_and_the_rollback(
    platform: Platform, images: Images, capsys: pytest.CaptureFixture[str]
) -> None:
    assert promoted_then_rolled_back(platform, capsys).code == 0
    rolled_back = platform.head()
    assert promote(platform, capsys, to_env="prod", from_env="dev", mode="commit", health_gate=False, **PASS).code == 0

    listed = captured(capsys, common.guarded(lambda: releases.history(None, None, "json", cwd=platform.root)))
    assert listed.code == 0, listed
    entries = json.loads(listed.out)
    assert [(e["kind"], e["source"], e["target"], e["tag"], e["digest"]) for e in entries] == [
        ("promotion", "dev", "prod", NEW_TAG, images.digests[NEW_TAG]),
        ("rollback", "staging", "staging", OLD_TAG, images.digests[OLD_TAG]),
        ("promotion", "dev", "staging", NEW_TAG, images.digests[NEW_TAG]),
    ]
    for entry in entries:
        assert set(entry) == {
            "commit",
            "when",
            "who",
            "kind",
            "app",
            "source",
            "target",
            "tag",
            "digest",
            "soak",
            "smoke",
            "break_glass",
        }
        assert (entry["app"], entry["who"]) == (APP, USER)
        assert datetime.fromisoformat(entry["when"]).tzinfo is not None
    assert entries[1]["commit"] == rolled_back

    staging = captured(capsys, common.guarded(lambda: releases.history("staging", APP, "json", cwd=platform.root)))
    assert [e["kind"] for e in json.loads(staging.out)] == ["rollback", "promotion"]
    none = captured(capsys, common.guarded(lambda: releases.history(None, "keda", "json", cwd=platform.root)))
    assert json.loads(none.out) == []

    table = invoke(platform.root, "history", "--env", "prod")
    assert table.code == 0, table
    assert "1 promotions and rollbacks" in table.out and NEW_TAG in table.out
    refusal(invoke(platform.root, "history", "--format", "yaml"), "--format yaml: choose one of table, json")


def test_status_reads_every_application_from_argocd(
    platform: Platform, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    run = captured(capsys, common.guarded(lambda: releases.status("staging", "json", None, None, cwd=platform.root)))
    assert run.code == 0, run
    rows = json.loads(run.out)
    apps = sorted(p.stem for p in (platform.root / "clusters/staging/apps").glob("*.yaml"))
    assert [r["app"] for r in rows] == apps
    assert {(r["env"], r["sync"], r["health"], r["revision"]) for r in rows} == {
        ("staging", "Synced", "Healthy", argocd.revision)
    }
    assert sorted(r.path.rsplit("/", 1)[1] for r in argocd.requests) == apps

    argocd.set(health="Degraded")
    degraded = captured(capsys, common.guarded(lambda: releases.status("staging", "table", None, None, cwd=platform.root)))
    assert degraded.code == 1 and "Degraded" in degraded.out


def test_rollback_in_pr_mode_opens_a_pull_request_holding_the_pin_and_the_hold(
    platform: Platform, images: Images, pulls: FakeRepository, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert promote(platform, capsys, to_env="staging", mode="commit", health_gate=False, **PASS).code == 0
    main = platform.head()
    run = rollback(platform, capsys, to_env="staging", reason=REASON, mode="pr", **PASS)
    assert run.code == 0, run
    [pull] = pulls.pulls
    branch = f"rollback/{APP}/staging/{OLD_TAG}"
    assert f"opened pull request {pull['html_url']} from {branch} (" in run.out
    sent = next(r for r, _ in httpserver.log if r.method == "POST").get_json()
    assert (sent["head"], sent["base"]) == (branch, "main") and sent["title"] == f"roll back {APP} {OLD_TAG} to staging"
    assert f"Held: {REASON}" in sent["body"]
    pushed = platform.remote_refs()[f"refs/heads/{branch}"]
    changed = platform.git("diff", "--name-only", main, pushed).split()
    assert sorted(changed) == ["clusters/staging/holds.yaml", "clusters/staging/values/airflow.yaml", "renovate.json"]
    # the user's checkout stays on main, unchanged; main itself moves only when the pull request merges
    assert platform.remote_refs()["refs/heads/main"] == main == platform.head()
    assert platform.git("status", "--porcelain") == ""
