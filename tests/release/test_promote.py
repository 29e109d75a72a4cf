"""`invoke promote` that succeeds: dev to staging in each mode, with charts (and the third-party images that move with
them), as a dry run, and on to prod."""

from __future__ import annotations

import json
import re

import pytest
from pytest_httpserver import HTTPServer

from airflow_gitops.model.repo import Repo
from airflow_gitops.releases import history
from airflow_gitops.upgrades.pins import collect_file
from tests.adapters.test_github import FakeRepository
from tests.release.conftest import (
    APP,
    ARGOCD_TOKEN,
    CHART_APP,
    GITHUB_TOKEN,
    IMAGE,
    NEW_TAG,
    OLD_TAG,
    OWNER,
    USER,
    VALUES,
    ArgoCdStandIn,
    Images,
    Platform,
    cache_image,
    github_calls,
    invoke,
    promote,
    refusal,
)

STAGING_VALUES = VALUES.format(env="staging")
BRANCH = f"promote/{APP}/staging/{NEW_TAG}"
SHIPPED_DIGEST = "sha256:db607dca431b2caa2a6d5f20a28bee0df084835cbd1c002da343082c0000e569"
# The Airflow chart's third-party images, as cached repositories of the registry (clusters/<env>/values/airflow.yaml).
AIRFLOW_IMAGES = {
    "pgbouncer": "docker-hub/apache/airflow",
    "redis": "docker-hub/library/redis",
    "statsd": "quay/prometheus/statsd-exporter",
}


def changed_lines(platform: Platform, old: str, new: str) -> dict[str, tuple[list[str], list[str]]]:
    """file -> (removed lines, added lines) between two commits."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    current = ""
    for line in platform.git("diff", "--unified=0", old, new).splitlines():
        if line.startswith("+++ b/"):
            current = line[6:]
            found[current] = ([], [])
        elif line.startswith("-") and not line.startswith("---"):
            found[current][0].append(line[1:])
        elif line.startswith("+") and not line.startswith("+++"):
            found[current][1].append(line[1:])
    return found


def pin_lines(old_tag: str, old_digest: str, new_tag: str, new_digest: str) -> tuple[list[str], list[str]]:
    return [f'    tag: "{old_tag}"', f"    digest: {old_digest}"], [f'    tag: "{new_tag}"', f"    digest: {new_digest}"]


def step_lines(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.startswith("  ok  ")]


def test_commit_mode_passes_every_gate_then_commits_and_pushes(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    start = platform.head()
    run = promote(platform, capsys, to_env="staging", mode="commit", max_severity="CRITICAL")
    assert run.code == 0, run
    digest = images.digests[NEW_TAG]
    assert run.err == ""
    assert step_lines(run.out) == ["hold", "freeze", "ECR", "scan", "health", "soak", "smoke"]
    assert f"ECR tag                            airflow:{NEW_TAG} = {digest}" in run.out
    assert "scan (blocks CRITICAL and above)   COMPLETE: 1 HIGH" in run.out
    assert f"health of dev                      Synced/Healthy at {start[:12]}" in run.out
    head = platform.head()
    assert f"committed {head[:12]} on main and pushed" in run.out
    assert platform.git("rev-parse", "HEAD~1") == start
    assert platform.remote_refs()["refs/heads/main"] == head
    assert platform.git("status", "--porcelain") == ""
    assert platform.pin("staging", "main") == {"repository": IMAGE, "tag": NEW_TAG, "digest": digest}
    assert changed_lines(platform, start, head) == {STAGING_VALUES: pin_lines(OLD_TAG, SHIPPED_DIGEST, NEW_TAG, digest)}
    trailers = platform.trailers()
    # the evidence the soak and smoke gates relied on, as `invoke history` shows it
    soak, smoke = trailers.pop("Soak"), trailers.pop("Smoke-Run")
    assert trailers == {
        "Promoted-App": APP,
        "Promoted-From": "dev",
        "Promoted-To": "staging",
        "Image-Tag": NEW_TAG,
        "Image-Digest": digest,
        "Promoted-By": USER,
        "Promotion-Kind": "promotion",
    }
    assert re.fullmatch(r"\S+ in dev since \S+Z \(required 1h\)", soak), soak
    assert re.fullmatch(r"dev manual__\S+ success at \S+Z", smoke), smoke
    [request] = [r for r in argocd.requests if r.path.startswith("/api/v1/")]
    assert request.path == f"/api/v1/applications/{APP}"
    assert request.headers["Authorization"] == f"Bearer {ARGOCD_TOKEN}"


def test_push_mode_pushes_a_promotion_branch_and_leaves_main_alone(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    start = platform.head()
    run = promote(platform, capsys, to_env="staging", mode="push", max_severity="CRITICAL")
    assert run.code == 0, run
    refs = platform.remote_refs()
    assert refs["refs/heads/main"] == start
    pushed = refs[f"refs/heads/{BRANCH}"]
    assert f"pushed {BRANCH} ({pushed[:12]})" in run.out
    assert platform.git("rev-parse", f"{pushed}~1") == start
    assert changed_lines(platform, start, pushed) == {
        STAGING_VALUES: pin_lines(OLD_TAG, SHIPPED_DIGEST, NEW_TAG, images.digests[NEW_TAG])
    }
    assert platform.git("symbolic-ref", "--short", "HEAD") == "main" and platform.head() == start
    assert platform.git("status", "--porcelain") == ""
    assert platform.pin("staging")["tag"] == OLD_TAG  # the checkout stays on main
    assert platform.trailers(pushed)["Promoted-To"] == "staging"


def test_pr_mode_opens_one_pull_request_and_a_rerun_updates_it(
    platform: Platform,
    images: Images,
    argocd: ArgoCdStandIn,
    pulls: FakeRepository,
    httpserver: HTTPServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start = platform.head()
    first = promote(platform, capsys, to_env="staging", mode="pr", max_severity="CRITICAL")
    assert first.code == 0, first
    [pull] = pulls.pulls
    assert f"opened pull request {pull['html_url']} from {BRANCH} (" in first.out
    post = next(r for r, _ in httpserver.log if r.method == "POST")
    sent = post.get_json()
    assert (sent["head"], sent["base"], sent["title"]) == (BRANCH, "main", f"promote {APP} {NEW_TAG} to staging")
    digest = images.digests[NEW_TAG]
    body = sent["body"]
    assert "| pin | file | from | to |" in body
    assert f"| {IMAGE} | `{STAGING_VALUES}` | {OLD_TAG} | {NEW_TAG} |" in body
    assert f"- Image digest: `{digest}`" in body
    assert "- Scan: COMPLETE, 1 HIGH" in body
    assert f"- Source commit: `{start}` (synced in dev: `{start}`)" in body
    assert f"### Cluster changes against `{start[:12]}`" in body  # invoke diff against the commit before the promotion
    assert "| staging | 0 | 0 | 1 |" in body and "<details><summary>staging</summary>" in body
    assert f"-    tag: {OLD_TAG}\n-    digest: {SHIPPED_DIGEST}\n+    tag: {NEW_TAG}\n+    digest: {digest}\n" in body
    first_branch = platform.remote_refs()[f"refs/heads/{BRANCH}"]

    again = promote(platform, capsys, to_env="staging", mode="pr", max_severity="CRITICAL")
    assert again.code == 0, again
    assert f"updated pull request {pull['html_url']} from {BRANCH}" in again.out
    methods = [method for method, _, _ in github_calls(httpserver)]
    assert methods == ["GET", "POST", "GET", "PATCH"]
    assert methods.count("POST") == 1 and methods.count("PATCH") == 1
    assert [p["state"] for p in pulls.pulls] == ["open"]
    for request, _ in httpserver.log:
        if request.path.startswith("/repos/"):
            assert request.headers["Authorization"] == f"Bearer {GITHUB_TOKEN}"
            if request.method == "GET":
                assert request.args.to_dict() == {"head": f"{OWNER}:{BRANCH}", "state": "open"}
    # the branch was replaced by the rerun's commit, on the same base
    second_branch = platform.remote_refs()[f"refs/heads/{BRANCH}"]
    assert second_branch != first_branch and platform.git("rev-parse", f"{second_branch}~1") == start
    assert platform.remote_refs()["refs/heads/main"] == start
    assert platform.git("status", "--porcelain") == "" and platform.git("symbolic-ref", "--short", "HEAD") == "main"


def test_charts_moves_the_chart_version_with_the_image(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    rel = CHART_APP.format(env="dev")
    text = platform.read(rel)
    assert text.count("targetRevision: 1.21.0") == 1
    bumped = platform.commit(
        "airflow chart 1.22.0 in dev", {rel: text.replace("targetRevision: 1.21.0", "targetRevision: 1.22.0")}
    )
    # the chart's third-party images move with it, each at the digest the cache holds for its tag
    third_party = [
        (line, AIRFLOW_IMAGES[key], tag)
        for key, line, tag in (
            ("pgbouncer", '    tag: "airflow-pgbouncer-2025.03.05-1.23.1"', "airflow-pgbouncer-2025.03.05-1.23.1"),
            (
                "pgbouncer",
                '    tag: "airflow-pgbouncer-exporter-2025.03.05-0.18.0"',
                "airflow-pgbouncer-exporter-2025.03.05-0.18.0",
            ),
            (
                "redis",
                '    tag: "7.2.16-bookworm@sha256:74566c6910d13ae61e7ce73ebd3127438a1fe805b309b097c323142719ec8a5b"',
                "7.2.16-bookworm",
            ),
            ("statsd", '    tag: "v0.29.0@sha256:632f705804922d50c1c95ba8ff9c8c0cc18d4bbb0cc265dc4f9ae708271c95b3"', "v0.29.0"),
        )
    ]
    cached = [f'    tag: "{tag}@{cache_image(images.ecr, repository, tag)}"' for _, repository, tag in third_party]
    # Argo CD still runs the commit before the chart moved: the gate wants the chart there too
    stale = promote(platform, capsys, to_env="staging", mode="push", charts=True, max_severity="CRITICAL")
    refusal(stale, f"runs {argocd.revision[:12]}, which does not yet hold airflow 1.22.0 ({rel})", "wait for Argo CD to sync it")

    argocd.set(revision=bumped)
    run = promote(platform, capsys, to_env="staging", mode="push", charts=True, max_severity="CRITICAL")
    assert run.code == 0, run
    pushed = platform.remote_refs()[f"refs/heads/{BRANCH}"]
    assert changed_lines(platform, bumped, pushed) == {
        CHART_APP.format(env="staging"): (["      targetRevision: 1.21.0"], ["      targetRevision: 1.22.0"]),
        STAGING_VALUES: tuple(
            a + b
            for a, b in zip(
                pin_lines(OLD_TAG, SHIPPED_DIGEST, NEW_TAG, images.digests[NEW_TAG]),
                ([line for line, _, _ in third_party], cached),
                strict=True,
            )
        ),
    }
    assert "clusters/staging/apps/airflow.yaml:11: airflow 1.21.0 -> 1.22.0" in run.out


def test_dry_run_prints_the_diff_and_changes_nothing(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    before = platform.snapshot()
    for mode in ("pr", "push", "commit"):  # pr: a dry run opens no pull request, so it needs no GITHUB_TOKEN
        run = promote(platform, capsys, to_env="staging", mode=mode, dry_run=True, max_severity="CRITICAL")
        assert run.code == 0, run
        assert f"--- a/{STAGING_VALUES}" in run.out and f"+++ b/{STAGING_VALUES}" in run.out
        assert f'-    tag: "{OLD_TAG}"' in run.out and f'+    tag: "{NEW_TAG}"' in run.out
        assert f"+    digest: {images.digests[NEW_TAG]}" in run.out
        assert run.out.rstrip().endswith("dry run: nothing written, committed or pushed")
        assert platform.snapshot() == before
    assert len(argocd.requests) == 3  # the gates ran all the same


def test_staging_to_prod_after_staging_runs_it(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert promote(platform, capsys, to_env="staging", mode="commit", max_severity="CRITICAL").code == 0
    to_staging = platform.head()
    argocd.set(revision=to_staging)  # staging's Argo CD synced the promotion
    run = promote(platform, capsys, to_env="prod", mode="commit", max_severity="CRITICAL")
    assert run.code == 0, run
    assert f"health of staging                  Synced/Healthy at {to_staging[:12]}" in run.out
    digest = images.digests[NEW_TAG]
    assert (
        platform.pin("prod", "main") == platform.pin("staging", "main") == {"repository": IMAGE, "tag": NEW_TAG, "digest": digest}
    )
    assert changed_lines(platform, to_staging, platform.head()) == {
        VALUES.format(env="prod"): pin_lines(OLD_TAG, SHIPPED_DIGEST, NEW_TAG, digest)
    }
    trailers = platform.trailers()
    assert (trailers["Promoted-From"], trailers["Promoted-To"], trailers["Image-Digest"]) == ("staging", "prod", digest)
    assert [(p.source, p.target, p.tag) for p in history.read(platform.root)] == [
        ("staging", "prod", NEW_TAG),
        ("dev", "staging", NEW_TAG),
    ]


def test_promoting_what_the_target_already_runs_is_refused(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert promote(platform, capsys, to_env="staging", mode="commit", max_severity="CRITICAL").code == 0
    before = platform.snapshot()
    again = promote(platform, capsys, to_env="staging", mode="commit", max_severity="CRITICAL")
    refusal(again, "staging already runs what dev runs for airflow; nothing to promote")
    assert platform.snapshot() == before


def test_the_task_promotes_from_the_command_line(platform: Platform, images: Images, argocd: ArgoCdStandIn) -> None:
    """tasks.py wiring: --from, --mode, --max-severity and the gates' report, in a process of its own."""
    start = platform.head()
    run = invoke(
        platform.root, "promote", "--app", APP, "--to", "staging", "--from", "dev", "--mode", "push", "--max-severity", "CRITICAL"
    )
    assert run.code == 0, run
    assert run.out.startswith(f"promote {APP} → staging (push)\n")
    assert step_lines(run.out) == ["hold", "freeze", "ECR", "scan", "health", "soak", "smoke"]
    assert all(line.rstrip().endswith(" s)") for line in run.out.splitlines() if line.startswith("  ok  "))
    pushed = platform.remote_refs()[f"refs/heads/{BRANCH}"]
    assert f"pushed {BRANCH} ({pushed[:12]})" in run.out
    assert platform.remote_refs()["refs/heads/main"] == start
    assert json.loads(json.dumps(platform.trailers(pushed)))["Promoted-By"] == USER


KEDA_IMAGES = ("ghcr/kedacore/keda", "ghcr/kedacore/keda-metrics-apiserver", "ghcr/kedacore/keda-admission-webhooks")
KEDA_VALUES = "clusters/{env}/values/keda.yaml"
KEDA_APP = "clusters/{env}/apps/keda.yaml"


def keda_in_dev(platform: Platform, version: str) -> str:
    """dev moves KEDA's chart and its three images to `version`, by tag (as a Renovate PR does); the commit."""
    chart, values = KEDA_APP.format(env="dev"), KEDA_VALUES.format(env="dev")
    return platform.commit(
        f"keda {version} in dev",
        {
            chart: platform.read(chart).replace("targetRevision: 2.20.2", f"targetRevision: {version}"),
            values: platform.read(values).replace('tag: "2.20.2"', f'tag: "{version}"'),
        },
    )


def test_charts_moves_the_third_party_images_with_digests_from_the_cache(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    argocd.set(revision=keda_in_dev(platform, "2.21.0"))
    # what the cache holds once dev pulled them; staging pins by digest, so each tag is resolved there
    digests = {repository: cache_image(images.ecr, repository, "2.21.0") for repository in KEDA_IMAGES}
    start = platform.head()
    run = promote(platform, capsys, app="keda", to_env="staging", mode="push", charts=True, max_severity="CRITICAL")
    assert run.code == 0, run
    assert "3 images resolved in 444444444444.dkr.ecr.eu-west-1.amazonaws.com" in run.out
    pushed = platform.remote_refs()["refs/heads/promote/keda/staging/2.21.0"]
    removed, added = changed_lines(platform, start, pushed)[KEDA_VALUES.format(env="staging")]
    assert added == [f'    tag: "2.21.0@{digests[repository]}"' for repository in KEDA_IMAGES]
    assert all(line.startswith('    tag: "2.20.2@sha256:') for line in removed) and len(removed) == 3
    assert changed_lines(platform, start, pushed)[KEDA_APP.format(env="staging")] == (
        ["      targetRevision: 2.20.2"],
        ["      targetRevision: 2.21.0"],
    )
    message = platform.git("log", "-1", "--format=%B", pushed)
    for repository in KEDA_IMAGES:
        assert f"444444444444.dkr.ecr.eu-west-1.amazonaws.com/{repository} 2.20.2 -> 2.21.0@{digests[repository]}" in message
    # invoke check reads the result back as pinned by digest through the cache
    staging = Repo(platform.root).overlay(
        KEDA_VALUES.format(env="staging"), platform.git("show", f"{pushed}:{KEDA_VALUES.format(env='staging')}")
    )
    assert {p.digest for p in collect_file(staging, KEDA_VALUES.format(env="staging"))} == set(digests.values())


def test_charts_refuses_an_image_the_cache_has_not_pulled(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    argocd.set(revision=keda_in_dev(platform, "2.21.0"))
    for repository in KEDA_IMAGES[:2]:
        cache_image(images.ecr, repository, "2.21.0")
    before = platform.snapshot()
    run = promote(platform, capsys, app="keda", to_env="staging", mode="push", charts=True, max_severity="CRITICAL")
    refusal(
        run,
        "no repository 'ghcr/kedacore/keda-admission-webhooks' in the registry 444444444444.dkr.ecr.eu-west-1.amazonaws.com",
        "the cache has not pulled it yet: pull 444444444444.dkr.ecr.eu-west-1.amazonaws.com/ghcr/kedacore/keda-admission-webhooks:2.21.0",
    )
    assert platform.snapshot() == before


def test_charts_refuses_when_the_target_lacks_a_source_image(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    values = KEDA_VALUES.format(env="staging")
    text = platform.read(values)
    start = text.index("  webhooks:")
    platform.commit("staging without the webhooks image", {values: text[:start]})
    argocd.set(revision=keda_in_dev(platform, "2.21.0"))
    run = promote(platform, capsys, app="keda", to_env="staging", mode="push", charts=True, max_severity="CRITICAL")
    refusal(
        run,
        f"{values}: no pin of 444444444444.dkr.ecr.eu-west-1.amazonaws.com/ghcr/kedacore/keda-admission-webhooks at image.webhooks.tag",
        "add it as the source has it",
    )


def test_charts_refuses_a_source_digest_the_cache_contradicts(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    """dev runs keda at one digest; the cache now holds another under the same tag: the upstream tag moved."""
    for repository in KEDA_IMAGES:
        cache_image(images.ecr, repository, "2.21.0")
    stale = "sha256:" + "0" * 64
    values = KEDA_VALUES.format(env="dev")
    keda_in_dev(platform, "2.21.0")
    text = platform.read(values).replace('tag: "2.21.0"', f'tag: "2.21.0@{stale}"', 1)
    argocd.set(revision=platform.commit("dev runs keda 2.21.0 by digest", {values: text}))
    before = platform.snapshot()
    run = promote(platform, capsys, app="keda", to_env="staging", mode="push", charts=True, max_severity="CRITICAL")
    refusal(run, f"{values}:", f"but dev runs {stale}; the upstream tag moved")
    assert platform.snapshot() == before
