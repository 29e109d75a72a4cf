"""The gates after health: soak, the smoke run of the digest, and freeze windows, with break-glass.

Against the Argo CD API stand-in (its Application, sync history included, validated against the vendored
swagger), Airflow's list of platform_smoke runs on the same server, and through kmock for the Application
as the Kubernetes API serves it. Each refusal keeps the fault suite's guarantee: exit 2, one `error:` line,
and the tree, HEAD and remote untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_gitops.adapters import kube
from airflow_gitops.adapters.argocd import parse_application
from airflow_gitops.cli import common, releases
from airflow_gitops.model.findings import UsageError
from airflow_gitops.model.repo import Repo
from airflow_gitops.releases import gates, promote, release
from airflow_gitops.upgrades.freeze import write_sync_windows
from tests.adapters.kube_fixtures import APPLICATIONS, Emulator, running_emulator
from tests.release.conftest import (
    APP,
    IMAGE,
    NEW_TAG,
    OLD_TAG,
    ArgoCdStandIn,
    Images,
    Platform,
    cache_image,
    captured,
    digest_of,
    refusal,
    rollback,
    smoke_run,
)
from tests.release.conftest import (
    promote as run_promote,
)

PASS = {"max_severity": "CRITICAL", "mode": "commit"}
TODAY = datetime.now(UTC).date()
UNTIL = (TODAY + timedelta(days=2)).isoformat()  # a freeze in force while the tests run
ALWAYS = {
    "reason": "load test of the new workers",
    "start": (TODAY - timedelta(days=1)).isoformat(),
    "end": UNTIL,
    "time_zone": "UTC",
}


def refused(platform: Platform, run: Any, *needles: str, before: Any) -> str:
    line = refusal(run, *needles)
    assert platform.snapshot() == before
    return line


def freeze(platform: Platform, env: str, window: dict[str, str]) -> None:
    """Commit and push a freeze window for env, with its AppProject sync windows, as a reviewed change would."""
    rel = f"clusters/{env}/cluster.yaml"
    data = yaml.safe_load(platform.read(rel))
    data["promotion"]["freeze"] = [window]
    (platform.root / rel).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    changed = write_sync_windows(Repo(platform.root), env)
    platform.git("add", "--", rel, *changed)
    platform.git("commit", "-q", "-m", f"freeze {env}")
    platform.git("push", "-q", "origin", "HEAD:main")


# --- soak ------------------------------------------------------------------------------------------


def test_a_sync_too_recent_is_refused_with_when_it_may_go(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    synced = datetime.now(UTC) - timedelta(minutes=20)
    argocd.set(history=[(platform.head(), synced)])
    argocd.runs = [smoke_run(NEW_TAG, ago=timedelta(minutes=5))]
    before = platform.snapshot()
    line = refused(
        platform,
        run_promote(platform, capsys, to_env="staging", **PASS),
        "dev/airflow has run airflow 3.3.0-1 for 20m, since Argo CD first synced it at ",
        "dev soaks 1h (promotion.soak in clusters/dev/cluster.yaml): promote after ",
        'or break glass: --skip-soak --reason "..."',
        before=before,
    )
    ready = (synced + timedelta(hours=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    assert ready in line


def test_soak_counts_from_the_first_sync_holding_the_pin(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two syncs hold the pin (the second for an unrelated change): the soak began at the first."""
    older, head = platform.git("rev-parse", "HEAD~1"), platform.head()  # dev ran OLD_TAG at HEAD~1
    now = datetime.now(UTC)
    platform.commit(
        "a note in prod", {"clusters/prod/values/airflow.yaml": platform.read("clusters/prod/values/airflow.yaml") + "# n\n"}
    )
    argocd.set(
        revision=platform.head(),
        history=[
            (older, now - timedelta(days=3)),
            (head, now - timedelta(hours=3)),
            (platform.head(), now - timedelta(minutes=5)),
        ],
    )
    argocd.runs = [smoke_run(NEW_TAG, ago=timedelta(minutes=2))]
    run = run_promote(platform, capsys, to_env="staging", **PASS)
    assert run.code == 0, run
    assert "soak in dev                        3h since " in run.out and "(required 1h)" in run.out
    assert platform.trailers("HEAD")["Soak"].startswith("3h in dev since ")


def test_break_glass_skips_the_soak_and_is_recorded(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    argocd.set(history=[(platform.head(), datetime.now(UTC) - timedelta(minutes=3))])
    argocd.runs = [smoke_run(NEW_TAG, ago=timedelta(minutes=1))]
    before = platform.snapshot()
    no_reason = run_promote(platform, capsys, to_env="staging", skip_soak=True, **PASS)
    refused(platform, no_reason, '--skip-soak needs --reason "..."', before=before)
    run = run_promote(
        platform, capsys, to_env="staging", skip_soak=True, reason="CVE-2026-1234 fix, soaked in dev by hand", **PASS
    )
    assert run.code == 0, run
    assert "soak in dev                        skipped (--skip-soak): CVE-2026-1234 fix" in run.out
    trailers = platform.trailers("HEAD")
    assert trailers["Break-Glass"] == "--skip-soak: CVE-2026-1234 fix, soaked in dev by hand"
    assert trailers["Soak"] == "skipped (required 1h)"
    assert trailers["Smoke-Run"].startswith("dev manual__") and " success at " in trailers["Smoke-Run"]
    shown = captured(capsys, common.guarded(lambda: releases.history(None, APP, "json", cwd=platform.root)))
    latest = json.loads(shown.out)[0]
    assert (latest["break_glass"], latest["soak"]) == (
        "--skip-soak: CVE-2026-1234 fix, soaked in dev by hand",
        "skipped (required 1h)",
    )
    assert latest["smoke"] == trailers["Smoke-Run"]


# --- the smoke run --------------------------------------------------------------------------------


def test_a_failed_smoke_is_refused_saying_what_ran_when_and_how_to_rerun(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    argocd.runs = [smoke_run(NEW_TAG, ago=timedelta(days=1, hours=1)), smoke_run(NEW_TAG, "failed", ago=timedelta(hours=2))]
    before = platform.snapshot()
    line = refused(
        platform,
        run_promote(platform, capsys, to_env="staging", **PASS),
        f"the smoke run of {digest_of(NEW_TAG)[7:19]} in dev failed: platform_smoke run manual__",
        " failed in 3m, after the sync at ",
        f"({platform.head()[:12]}); fix it, then run it again: invoke verify --env dev",
        before=before,
    )
    assert argocd.runs[1]["dag_run_id"] in line


def test_a_smoke_of_another_digest_is_refused(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    argocd.runs = [smoke_run(OLD_TAG, ago=timedelta(hours=1))]
    before = platform.snapshot()
    refused(
        platform,
        run_promote(platform, capsys, to_env="staging", **PASS),
        "the last smoke run in dev since the sync at ",
        f"tested {digest_of(OLD_TAG)[7:19]}, not {digest_of(NEW_TAG)[7:19]} being promoted: platform_smoke run manual__",
        "run it again: invoke verify --env dev",
        before=before,
    )


def test_no_smoke_since_the_last_sync_is_refused(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    argocd.runs = [smoke_run(NEW_TAG, ago=timedelta(days=3))]  # before the sync two days ago: not evidence
    before = platform.snapshot()
    refused(
        platform,
        run_promote(platform, capsys, to_env="staging", **PASS),
        f"no smoke run of {digest_of(NEW_TAG)[7:19]} in dev since the sync at ",
        "; run it: invoke verify --env dev",
        before=before,
    )
    argocd.runs = []
    refused(platform, run_promote(platform, capsys, to_env="staging", **PASS), "no smoke run of", before=before)


def test_a_smoke_still_running_is_refused(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    argocd.runs = [smoke_run(NEW_TAG, ago=timedelta(days=1)), smoke_run(NEW_TAG, "running", ago=timedelta(minutes=3))]
    before = platform.snapshot()
    refused(
        platform,
        run_promote(platform, capsys, to_env="staging", **PASS),
        "has not finished: platform_smoke run manual__",
        "running; wait for it, or run it again: invoke verify --env dev",
        before=before,
    )


def test_a_passing_promotion_records_soak_and_smoke(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_promote(platform, capsys, to_env="staging", **PASS)
    assert run.code == 0, run
    for step in ("freeze                             staging not frozen", "soak in dev ", "smoke in dev "):
        assert step in run.out, run.out
    trailers = platform.trailers("HEAD")
    assert trailers["Soak"].startswith("2d in dev since ") and trailers["Soak"].endswith("(required 1h)")
    assert trailers["Smoke-Run"] == f"dev {argocd.runs[0]['dag_run_id']} success at {argocd.runs[0]['end_date']}"
    assert "Break-Glass" not in trailers


def test_no_health_gate_skips_soak_and_smoke_and_says_so(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    argocd.runs = []
    run = run_promote(platform, capsys, to_env="staging", health_gate=False, **PASS)
    assert run.code == 0, run
    assert platform.trailers("HEAD")["Gates-Skipped"] == "health, soak, smoke (--no-health-gate)"
    assert argocd.requests == []


def test_charts_of_another_app_have_no_smoke_gate(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    rel = "clusters/dev/apps/metrics-server.yaml"
    platform.commit("metrics-server 3.13.2 in dev", {rel: platform.read(rel).replace("3.13.1", "3.13.2")})
    cache_image(images.ecr, "registry-k8s-io/metrics-server/metrics-server", "v0.8.1")  # its image moves with it
    argocd.set(revision=platform.head())
    argocd.runs = []
    run = run_promote(platform, capsys, app="metrics-server", to_env="staging", charts=True, **PASS)
    assert run.code == 0, run
    assert "smoke in" not in run.out and "soak in dev " in run.out


# --- freeze windows -------------------------------------------------------------------------------


def test_a_frozen_target_is_refused(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    freeze(platform, "staging", ALWAYS)
    argocd.set(revision=platform.head())
    before = platform.snapshot()
    refused(
        platform,
        run_promote(platform, capsys, to_env="staging", **PASS),
        f"clusters/staging/cluster.yaml: staging is frozen until {UNTIL}T00:00+00:00 (UTC) by promotion.freeze[0]: "
        "load test of the new workers; promoting into staging refused. Promote after the window ends",
        before=before,
    )
    assert argocd.requests == []  # refused before any gate that asks a server


def test_a_freeze_ends_when_its_window_does(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    window = {
        "reason": "release weekend",
        "start": "2026-06-05T16:00",
        "end": "2026-06-08T08:00",
        "time_zone": "Europe/Amsterdam",
    }
    freeze(platform, "staging", window)
    argocd.set(revision=platform.head())
    monkeypatch.setattr(release, "utcnow", lambda: datetime(2026, 6, 8, 5, 59, tzinfo=UTC))  # 07:59 in Amsterdam
    before = platform.snapshot()
    refused(
        platform,
        run_promote(platform, capsys, to_env="staging", **PASS),
        "staging is frozen until 2026-06-08T08:00+02:00 (Europe/Amsterdam) by promotion.freeze[0]: release weekend",
        before=before,
    )
    monkeypatch.setattr(release, "utcnow", lambda: datetime.now(UTC))
    assert run_promote(platform, capsys, to_env="staging", **PASS).code == 0


def test_rollback_in_a_freeze_needs_break_glass_and_records_it(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_promote(platform, capsys, to_env="staging", **PASS).code == 0
    freeze(platform, "staging", ALWAYS)
    before = platform.snapshot()
    given = {"to_env": "staging", "tag": OLD_TAG, "reason": "3.3.0-1 stalls the scheduler", **PASS}
    refused(
        platform,
        rollback(platform, capsys, **given),
        "staging is frozen until ",
        "rolling back airflow refused. To roll back anyway, break glass: add --break-glass (the --reason is recorded)",
        before=before,
    )
    run = rollback(platform, capsys, break_glass=True, **given)
    assert run.code == 0, run
    trailers = platform.trailers("HEAD")
    assert trailers["Break-Glass"].startswith("--break-glass in the freeze until ")
    assert trailers["Break-Glass"].endswith("(promotion.freeze[0]: load test of the new workers): 3.3.0-1 stalls the scheduler")
    assert platform.pin("staging", "main")["tag"] == OLD_TAG


def test_promote_refuses_break_glass(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    before = platform.snapshot()
    refused(
        platform,
        run_promote(platform, capsys, to_env="staging", break_glass=True, reason="x", **PASS),
        "--break-glass is for invoke rollback during a freeze",
        before=before,
    )


def test_bump_refuses_a_frozen_environment(platform: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_gitops.cli import upgrades

    freeze(platform, "dev", ALWAYS)
    before = platform.snapshot()
    run = captured(
        capsys,
        common.guarded(lambda: upgrades.bump("metrics-server", "3.13.2", "dev", False, run_check=False, cwd=platform.root)),
    )
    refused(platform, run, "dev is frozen until ", "bumping metrics-server refused", before=before)


def test_status_shows_a_frozen_environment_and_until_when(
    platform: Platform, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    freeze(platform, "staging", ALWAYS)
    # ARGOCD_SERVER (the stand-in) answers for one environment at a time: --env
    dev = captured(capsys, common.guarded(lambda: releases.status("dev", "table", None, None, cwd=platform.root)))
    assert dev.code == 0, dev
    assert "dev: not frozen" in dev.out
    run = captured(capsys, common.guarded(lambda: releases.status("staging", "table", None, None, cwd=platform.root)))
    assert run.code == 0, run
    assert f"staging: frozen until {UNTIL}T00:00+00:00 (UTC): load test of the new workers" in run.out
    as_json = captured(capsys, common.guarded(lambda: releases.status("staging", "json", None, None, cwd=platform.root)))
    rows = json.loads(as_json.out)
    assert {(r["frozen"], r["frozen_until"], r["freeze_reason"]) for r in rows} == {
        (True, f"{UNTIL}T00:00:00Z", "load test of the new workers")
    }


# --- the same gates on the Application as the Kubernetes API serves it (kmock) -----------------------------


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator() as emu:
        yield emu


def _application_cr(argocd: ArgoCdStandIn) -> dict[str, Any]:
    body = json.loads(argocd.answer[1])
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **body}


@pytest.mark.parametrize(
    ("synced_ago", "runs", "complaint"),
    [
        pytest.param(timedelta(minutes=30), [smoke_run(NEW_TAG, ago=timedelta(minutes=10))], "dev soaks 1h", id="too-recent"),
        pytest.param(
            timedelta(days=2), [smoke_run(NEW_TAG, "failed", ago=timedelta(hours=1))], "failed: platform_smoke", id="failed"
        ),
        pytest.param(timedelta(days=2), [smoke_run(OLD_TAG, ago=timedelta(hours=1))], "being promoted", id="other-digest"),
        pytest.param(timedelta(days=2), [], "no smoke run of", id="none"),
        pytest.param(timedelta(days=2), [smoke_run(NEW_TAG, ago=timedelta(hours=1))], None, id="passes"),
    ],
)
def test_the_gates_on_the_application_read_through_the_kubernetes_api(
    platform: Platform,
    argocd: ArgoCdStandIn,
    emulator: Emulator,
    tmp_path: Path,
    synced_ago: timedelta,
    runs: list[dict[str, Any]],
    complaint: str | None,
) -> None:
    argocd.set(history=[(platform.head(), datetime.now(UTC) - synced_ago)])
    argocd.runs = runs
    emulator.put(APPLICATIONS, "argocd", _application_cr(argocd))
    api = kube.api_client_from_kubeconfig(emulator.kubeconfig(tmp_path / "kubeconfig", "token"))
    state = parse_application(kube.get_application(api, APP, "argocd"))
    assert len(state.history) == 1
    repo = Repo(platform.root)
    route = promote.Route(APP, "dev", "staging")
    plan = promote.plan(repo, promote.route_pins(repo, route), route, None, False)
    trailers: dict[str, str] = {}

    def check() -> None:
        now = datetime.now(UTC)
        gates.soak_gate(repo, plan, state, "dev/airflow", now, None, trailers, lambda *_: None, release._timed)
        env = {"AIRFLOW_API_URL": f"http://127.0.0.1:{argocd.httpserver.port}", "AIRFLOW_API_TOKEN": "airflow-token-for-tests"}
        gates.smoke_gate(repo, plan, state, digest_of(NEW_TAG), env, trailers, lambda *_: None, release._timed)

    if complaint is None:
        check()
        assert set(trailers) == {"Soak", "Smoke-Run"}
    else:
        with pytest.raises(UsageError, match=complaint):
            check()
    assert IMAGE.startswith("444444444444")
