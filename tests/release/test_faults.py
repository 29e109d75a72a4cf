"""Bad input and faults around `invoke promote` and `invoke rollback`.

A refusal is exit code 2 and one line on stderr, `error: ...`, naming the problem; the working tree, the checkout, the
local branches and the remote's refs are as they were (the gate's fetch may move remote-tracking refs only). Faults
that happen after something was pushed say so in their test.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import threading
import time
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_gitops.adapters.argocd import ArgoCd, make_session
from airflow_gitops.cli import common, releases
from airflow_gitops.releases import release
from tests.adapters.test_ecr import throttling_proxy
from tests.adapters.test_github import FakeRepository, reply
from tests.conftest import REPO_ROOT
from tests.release.conftest import (
    APP,
    IMAGE,
    INVOKE,
    NEW_TAG,
    OLD_TAG,
    OWNER,
    VALUES,
    ArgoCdStandIn,
    Images,
    Platform,
    Run,
    Snapshot,
    captured,
    github_calls,
    invoke,
    promote,
    refusal,
    rollback,
    write_hook,
)

STAGING_VALUES = VALUES.format(env="staging")
BRANCH = f"promote/{APP}/staging/{NEW_TAG}"
PASS = {"max_severity": "CRITICAL"}  # moto scans every image to one HIGH finding


def refused(platform: Platform, before: Snapshot, run: Run, *needles: str) -> str:
    line = refusal(run, *needles)
    assert platform.snapshot() == before
    return line


# --- what the command line names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "needles"),
    [
        pytest.param(
            {"app": "airflw", "to_env": "staging"},
            ["--app airflw: no file clusters/dev/apps/airflw.yaml; choose one of airflow, argo-cd,"],
            id="unknown-app",
        ),
        pytest.param({"to_env": "qa"}, ["--to qa: no such environment; choose one of dev, staging, prod"], id="unknown-env"),
        pytest.param({"to_env": "staging", "from_env": "test"}, ["--from test: no such environment"], id="unknown-source-env"),
        pytest.param({"to_env": "dev"}, ["--to dev: dev is the first environment", "invoke bump"], id="first-env"),
        pytest.param(
            {"to_env": "staging", "from_env": "prod"},
            ["--from prod --to staging: promotion goes forward (dev → staging → prod); to go back, use invoke rollback"],
            id="backwards",
        ),
        pytest.param(
            {"to_env": "prod", "tag": NEW_TAG},
            [
                f"--tag {NEW_TAG}: staging runs airflow {OLD_TAG} ({STAGING_VALUES}:8)",
                f"promote {NEW_TAG} into staging first, or name the environment that runs it with --from",
            ],
            id="skips-a-stage",
        ),
        pytest.param(
            {"to_env": "staging", "tag": "9.9.9-1"},
            [f"--tag 9.9.9-1: dev runs airflow {NEW_TAG} (clusters/dev/values/airflow.yaml:8)"],
            id="tag-the-source-does-not-run",
        ),
        pytest.param({"to_env": "staging", "mode": "bogus"}, ["--mode bogus: choose one of pr, push, commit"], id="bogus-mode"),
        pytest.param(
            {"to_env": "staging", "max_severity": "bogus"},
            ["max severity 'bogus' is not one of: CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, NONE"],
            id="bogus-max-severity",
        ),
    ],
)
def test_bad_input_is_refused_before_anything_moves(
    platform: Platform,
    images: Images,
    argocd: ArgoCdStandIn,
    capsys: pytest.CaptureFixture[str],
    given: dict[str, Any],
    needles: list[str],
) -> None:
    before = platform.snapshot()
    refused(platform, before, promote(platform, capsys, **{"mode": "commit", **PASS, **given}), *needles)
    assert argocd.requests == []


def test_the_task_exits_2_with_one_line(platform: Platform) -> None:
    before = platform.snapshot()
    run = invoke(platform.root, "promote", "--app", APP, "--to", "staging", "--mode", "bogus")
    refused(platform, before, run, "--mode bogus: choose one of pr, push, commit")
    assert run.out.startswith(f"promote {APP} → staging (bogus)")


def test_pr_mode_without_a_github_token_fails_before_any_gate(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="pr", **PASS)
    refused(platform, before, run, "GITHUB_TOKEN is not set; set it to a token that may write pull requests, or use --mode push")
    assert argocd.requests == []


def test_rollback_without_history_or_to(platform: Platform, images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    before = platform.snapshot()
    run = rollback(platform, capsys, to_env="prod", reason="the scheduler crashes", mode="commit", **PASS)
    refused(
        platform,
        before,
        run,
        f"clusters/prod/values/airflow.yaml: git history holds no other version of {IMAGE} than {OLD_TAG}; name one with --to",
    )


def test_rollback_without_a_reason(platform: Platform, images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    before = platform.snapshot()
    run = rollback(platform, capsys, to_env="staging", tag=OLD_TAG, reason="  ", mode="commit", **PASS)
    refused(platform, before, run, "--reason is required")


# --- the registry ------------------------------------------------------------------------------


def test_a_tag_missing_in_the_registry(
    platform: Platform, empty_registry: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    empty_registry.push(OLD_TAG)
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refused(
        platform,
        before,
        run,
        f"airflow:{NEW_TAG} is not in the registry 444444444444.dkr.ecr.eu-west-1.amazonaws.com; push it",
    )
    assert argocd.requests == []  # the health gate comes after the image gates


def test_findings_at_the_default_gate_block(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit")
    refused(
        platform,
        before,
        run,
        f"scan of airflow@{images.digests[NEW_TAG]} found 1 HIGH; the gate blocks HIGH and above",
        "raise the gate's max severity",
    )


def test_the_same_findings_pass_a_critical_gate(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    run = promote(platform, capsys, to_env="staging", mode="commit", max_severity="critical")
    assert run.code == 0, run
    assert "scan (blocks CRITICAL and above)   COMPLETE: 1 HIGH" in run.out
    assert platform.pin("staging", "main")["tag"] == NEW_TAG


def test_a_tag_pushed_again_is_not_promoted_under_that_tag(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    """Staging runs NEW_TAG by digest; then another image is pushed under NEW_TAG. Prod must get what
    staging proved, so the tag is refused rather than promoted with the new digest."""
    assert promote(platform, capsys, to_env="staging", mode="commit", **PASS).code == 0
    argocd.set(revision=platform.head())
    proven = images.digests[NEW_TAG]
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": [], "note": "rebuilt"}
    )
    images.ecr.put_image(repositoryName="airflow", imageManifest=manifest, imageTag=NEW_TAG)
    pushed_again = images.ecr.describe_images(repositoryName="airflow", imageIds=[{"imageTag": NEW_TAG}])["imageDetails"][0]
    assert pushed_again["imageDigest"] != proven
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="prod", mode="commit", **PASS)
    refused(
        platform,
        before,
        run,
        f"{VALUES.format(env='staging')}:",
        f"airflow:{NEW_TAG} now resolves to {pushed_again['imageDigest']}, but staging runs {proven}",
        "the tag was pushed again, so promote by a new tag",
    )
    assert platform.pin("prod", "main")["tag"] == OLD_TAG


def test_an_image_never_scanned_blocks(
    platform: Platform, empty_registry: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    empty_registry.push(OLD_TAG)
    digest = empty_registry.push(NEW_TAG, scan=False)
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refused(platform, before, run, f"airflow@{digest} has no scan; turn on scan on push")


def test_ecr_throttling_is_retried_then_the_promotion_goes_through(
    platform: Platform,
    images: Images,
    argocd: ArgoCdStandIn,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen = throttling_proxy(httpserver, images.moto.url, throttle=2)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{httpserver.port}")
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    assert run.code == 0, run
    actions = [r.headers["X-Amz-Target"].rsplit(".", 1)[1] for r in seen]
    assert actions == ["DescribeImages"] * 3 + ["DescribeImageScanFindings"]
    assert [re.search(r"attempt=(\d+)", r.headers["amz-sdk-request"])[1] for r in seen[:3]] == ["1", "2", "3"]  # type: ignore[index]
    assert platform.pin("staging", "main") == {"repository": IMAGE, "tag": NEW_TAG, "digest": images.digests[NEW_TAG]}


# --- the git tree ------------------------------------------------------------------------------


def test_a_dirty_tree(platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    (platform.root / "clusters/prod/notes.txt").write_text("to do\n", encoding="utf-8")
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refused(platform, before, run, "the git tree has uncommitted changes (clusters/prod/notes.txt); commit or stash them first")
    assert argocd.requests == []


def test_a_modified_file(platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    rel = VALUES.format(env="prod")
    (platform.root / rel).write_text(platform.read(rel) + "# a note\n", encoding="utf-8")
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refused(platform, before, run, f"the git tree has uncommitted changes ({rel}); commit or stash them first")


def test_a_tree_behind_its_upstream(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    other = platform.clone("other")
    platform.commit("note in prod", {VALUES.format(env="prod"): platform.read(VALUES.format(env="prod")) + "# n\n"}, cwd=other)
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refused(platform, before, run, "branch main is 1 commits behind origin/main; pull first (git pull --rebase)")


def test_a_tree_ahead_of_its_upstream(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    rel = VALUES.format(env="prod")
    platform.commit("unpushed note", {rel: platform.read(rel) + "# n\n"}, push=False)
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="push", **PASS)
    refused(platform, before, run, "branch main has 1 commits not on origin/main; push or drop them first")


def test_a_detached_head(platform: Platform, images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    platform.git("checkout", "-q", "--detach")
    status = platform.git("status", "--porcelain", "--untracked-files=all")
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refusal(run, "HEAD is detached; check out the branch to change (git switch main)")
    assert platform.git("status", "--porcelain", "--untracked-files=all") == status
    assert platform.git("for-each-ref", "--format=%(refname)", "refs/heads") == "refs/heads/main"
    assert platform.remote_refs()["refs/heads/main"] == platform.head()


def test_a_hold_on_the_target(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    held = captured(
        capsys,
        common.guarded(lambda: releases.hold("staging", APP, "load test until Friday", False, "commit", cwd=platform.root)),
    )
    assert held.code == 0, held
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refused(
        platform,
        before,
        run,
        "clusters/staging/holds.yaml: staging/airflow is on hold since ",
        "by Release Manager <release@example.com>: load test until Friday; promoting into staging refused. "
        "Release it first: invoke hold --release --env staging --app airflow",
    )


def test_a_malformed_values_file_in_the_target(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    text = platform.read(STAGING_VALUES)
    broken = text.replace("      - name: airflow.staging.example.com", '      - name: "airflow.staging.example.com', 1)
    assert broken != text
    platform.commit("a bad edit to staging", {STAGING_VALUES: broken})
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    line = refused(platform, before, run, f"{STAGING_VALUES}:", "not valid YAML (", "fix it, then run again")
    assert re.match(rf"error: {STAGING_VALUES}:\d+: not valid YAML", line)


# --- pushes that race ---------------------------------------------------------------------------


def race_hook(platform: Platform, other: Any, always: bool) -> None:
    """A pre-push hook in the platform clone: someone else pushes to main just before our push (once, or every time)."""
    once = "" if always else f'[ -e "{platform.folder}/raced" ] && exit 0\n'
    write_hook(
        platform.root,
        "pre-push",
        once
        + f'echo x >> "{platform.folder}/raced"\n'
        + f'cd "{other}" && git pull -q --ff-only origin main && '
        + f"printf '# edited elsewhere, push %s\\n' \"$(wc -l < {platform.folder}/raced)\" >> {STAGING_VALUES} && "
        + 'git commit -qam "a change pushed first" && git push -q origin HEAD:main >/dev/null 2>&1\n',
    )


def test_a_push_that_loses_a_race_is_planned_again_and_goes_through(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    start = platform.head()
    race_hook(platform, platform.clone("other"), always=False)
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    assert run.code == 0, run
    assert "(after 2 attempts: someone pushed in between; the gates ran again on their change)" in run.out
    assert len(argocd.requests) == 2
    log = platform.git("log", "--format=%s", f"{start}..main", cwd=platform.remote)
    assert log.splitlines() == [f"promote {APP} {NEW_TAG} to staging", "a change pushed first"]
    assert platform.head() == platform.remote_refs()["refs/heads/main"]
    assert platform.git("status", "--porcelain") == ""
    text = platform.remote_file(STAGING_VALUES)
    assert text.endswith("# edited elsewhere, push 1\n")  # their line, kept under ours
    assert yaml.safe_load(text)["images"]["airflow"] == {"repository": IMAGE, "tag": NEW_TAG, "digest": images.digests[NEW_TAG]}
    assert platform.git("diff", "--stat", f"{start}", "main", cwd=platform.remote).count("|") == 1


def test_a_push_that_always_loses_gives_up_after_three_attempts(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    start = platform.head()
    race_hook(platform, platform.clone("other"), always=True)
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refusal(
        run,
        "gave up after 3 attempts (origin: push rejected, someone pushed first); run again when the branch is quiet",
    )
    assert len(argocd.requests) == 3
    # nothing of ours reached the remote; the checkout is clean and level with what the others pushed
    log = platform.git("log", "--format=%s", f"{start}..main", cwd=platform.remote).splitlines()
    assert log == ["a change pushed first"] * 3
    assert platform.git("status", "--porcelain", "--untracked-files=all") == ""
    assert platform.head() == platform.remote_refs()["refs/heads/main"]
    assert platform.pin("staging")["tag"] == OLD_TAG


def test_two_promotions_at_once_both_land(platform: Platform, images: Images, argocd: ArgoCdStandIn) -> None:
    """Two clones promote different things into main together; both push at the same moment, one retries."""
    start = platform.head()
    other = platform.clone("other", user="Second Operator <second@example.com>")
    for clone, me, them in ((platform.root, "a", "b"), (other, "b", "a")):
        # each waits at its first push until the other has got there too, so both push on the same main
        write_hook(
            clone,
            "pre-push",
            f'[ -e "{platform.folder}/{me}" ] && exit 0\ntouch "{platform.folder}/{me}"\n'
            f'i=0; while [ ! -e "{platform.folder}/{them}" ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done\n',
        )
    common = ["--app", APP, "--mode", "commit", "--max-severity", "CRITICAL"]
    runs = [
        subprocess.Popen(
            [str(INVOKE), "-r", str(REPO_ROOT), "promote", *args, *common],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cwd, args in ((platform.root, ["--to", "staging"]), (other, ["--to", "prod", "--from", "dev"]))
    ]
    results = [(proc.returncode, out, err) for proc in runs for out, err in [proc.communicate(timeout=60)]]
    assert [code for code, _, _ in results] == [0, 0], results
    retried = [out for _, out, _ in results if "(after 2 attempts: someone pushed in between" in out]
    assert len(retried) == 1, results
    subjects = platform.git("log", "--format=%s", f"{start}..main", cwd=platform.remote).splitlines()
    assert sorted(subjects) == [f"promote {APP} {NEW_TAG} to prod", f"promote {APP} {NEW_TAG} to staging"]
    expected = {"repository": IMAGE, "tag": NEW_TAG, "digest": images.digests[NEW_TAG]}
    assert platform.pin("staging", "main") == platform.pin("prod", "main") == expected
    for env in ("staging", "prod"):  # each commit moved its own file and nothing else
        commit = platform.git("log", "-1", "--format=%H", f"--grep=to {env}$", "main", cwd=platform.remote)
        changed = platform.git("show", "--format=", "--name-only", commit, cwd=platform.remote)
        assert changed == VALUES.format(env=env)
    for clone in (platform.root, other):
        assert platform.git("status", "--porcelain", cwd=clone) == ""


# --- GitHub, after the branch is pushed -------------------------------------------------------------


def pulls_api(
    httpserver: HTTPServer, path: str, create: int | None = None, listing: int | None = None
) -> tuple[FakeRepository, dict[str, int | None]]:
    """GitHub's pulls API that answers its list with `listing` or its create with `create` (a status) while those are
    set in the dict it returns."""
    fake = FakeRepository()
    failing: dict[str, int | None] = {"create": create, "listing": listing}
    bodies = {
        401: {"message": "Bad credentials", "status": "401"},
        422: {
            "message": "Validation Failed",
            "errors": [{"resource": "PullRequest", "code": "custom", "message": f"No commits between main and {BRANCH}"}],
            "status": "422",
        },
        500: {"message": "Server Error"},
    }

    def listing_or_fail(request: Request) -> Response:
        status = failing["listing"]
        return reply(status, bodies[status]) if status else fake.list(request)

    def create_or_fail(request: Request) -> Response:
        status = failing["create"]
        return reply(status, bodies[status]) if status else fake.create(request)

    httpserver.expect_request(path, method="GET").respond_with_handler(listing_or_fail)
    httpserver.expect_request(path, method="POST").respond_with_handler(create_or_fail)
    return fake, failing


def only_the_branch_was_pushed(platform: Platform, before: Snapshot) -> None:
    """The tree, the checkout and main (here and on the remote) as they were; the promotion branch pushed.

    The branch stays pushed on purpose: a rerun finds it (force-with-lease replaces it) and opens the pull request."""
    after = platform.snapshot()
    assert (after.status, after.head) == (before.status, before.head)
    branch = f"refs/heads/{BRANCH}"
    local = dict(line.split(" ", 1) for line in after.branches.splitlines())
    assert {k: v for k, v in local.items() if k != branch} == dict(line.split(" ", 1) for line in before.branches.splitlines())
    remote = platform.remote_refs()
    assert local[branch] == remote.pop(branch)
    assert remote == json.loads(before.remote)


@pytest.mark.parametrize(
    ("failure", "needles"),
    [
        pytest.param(
            {"listing": 401},
            ["GitHub refused the token (HTTP 401) at http://127.0.0.1:", "set GITHUB_TOKEN to a valid token, or use --mode push"],
            id="401",
        ),
        pytest.param(
            {"create": 422},
            [
                f"GitHub rejected the request to create a pull request from {BRANCH} to main on {OWNER}/airflow-eks-platform "
                f"(HTTP 422: Validation Failed: No commits between main and {BRANCH})"
            ],
            id="422",
        ),
        pytest.param(
            {"create": 500},
            [f"GitHub answered HTTP 500: Server Error trying to create a pull request from {BRANCH} to main", "try again later"],
            id="500",
        ),
    ],
)
def test_github_refusing_the_pull_request(
    platform: Platform,
    images: Images,
    argocd: ArgoCdStandIn,
    github_env: str,
    httpserver: HTTPServer,
    capsys: pytest.CaptureFixture[str],
    failure: dict[str, int],
    needles: list[str],
) -> None:
    fake, failing = pulls_api(httpserver, github_env, **failure)
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="pr", **PASS)
    refusal(run, *needles)
    assert "ghp_" not in run.err
    only_the_branch_was_pushed(platform, before)
    assert fake.pulls == []
    # once GitHub answers again, the same command opens the pull request from the branch it pushes again
    failing.update(create=None, listing=None)
    again = promote(platform, capsys, to_env="staging", mode="pr", **PASS)
    assert again.code == 0, again
    assert [p["head"]["ref"] for p in fake.pulls] == [BRANCH]
    assert [m for m, _, _ in github_calls(httpserver)].count("POST") == (2 if "create" in failure else 1)


# --- Argo CD ---------------------------------------------------------------------------------------


def test_a_degraded_source(platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    argocd.set(health="Degraded")
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refused(
        platform,
        before,
        run,
        f"Argo CD http://127.0.0.1:{argocd.httpserver.port}: dev/airflow is Synced/Degraded, not Synced/Healthy",
        "or pass --no-health-gate",
    )


def test_an_out_of_sync_source(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    argocd.set(sync="OutOfSync", health="Progressing")
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="push", **PASS)
    refused(platform, before, run, "dev/airflow is OutOfSync/Progressing, not Synced/Healthy")


def test_argocd_refusing_the_token(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    argocd.refuse(401, 16, "invalid session: token signature is invalid")
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refused(platform, before, run, "Argo CD refused the token (HTTP 401) at http://127.0.0.1:", "set ARGOCD_AUTH_TOKEN")
    assert "argocd-token" not in run.err


def test_argocd_not_answering_in_time(
    platform: Platform,
    images: Images,
    argocd: ArgoCdStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The CLI has no timeout option: the gate's client is given a 0.3 s read timeout and no retries here.
    monkeypatch.setattr(release, "ArgoCd", functools.partial(ArgoCd, session=make_session(retries=0, backoff=0), timeout=0.3))
    argocd.stall = threading.Event()
    before = platform.snapshot()
    started = time.monotonic()
    try:
        run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    finally:
        argocd.stall.set()
        deadline = time.monotonic() + 5
        while not argocd.httpserver.log and time.monotonic() < deadline:  # let the server finish the stalled answer
            time.sleep(0.01)
    refused(
        platform,
        before,
        run,
        f"Argo CD at http://127.0.0.1:{argocd.httpserver.port} did not answer for Application 'airflow': no answer within 0.3 s",
    )
    assert time.monotonic() - started < 5


def test_a_source_synced_to_a_revision_without_the_pin(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    before_bump = platform.git("rev-parse", "HEAD~1")  # dev still ran OLD_TAG there
    argocd.set(revision=before_bump)
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refused(
        platform,
        before,
        run,
        f"dev/airflow runs {before_bump[:12]}, which does not yet hold {IMAGE} {NEW_TAG} (clusters/dev/values/airflow.yaml); "
        "wait for Argo CD to sync it, or pass --no-health-gate",
    )


def test_a_source_synced_to_a_revision_this_clone_lacks(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    argocd.set(revision="5" * 40)
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refused(platform, before, run, "dev/airflow runs 555555555555, which this clone does not have; git fetch, then run again")


def test_no_argocd_token(
    platform: Platform, images: Images, argocd: ArgoCdStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ARGOCD_AUTH_TOKEN")
    before = platform.snapshot()
    run = promote(platform, capsys, to_env="staging", mode="commit", **PASS)
    refused(platform, before, run, "ARGOCD_AUTH_TOKEN is not set", "or pass --no-health-gate to skip the gate")
    skipped = promote(platform, capsys, to_env="staging", mode="commit", health_gate=False, **PASS)
    assert skipped.code == 0 and "health of dev                      skipped (--no-health-gate)" in skipped.out
