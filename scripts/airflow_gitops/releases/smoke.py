"""The smoke run: `platform_smoke` triggered through Airflow's REST API once an environment runs a digest,
and read back as the evidence the promotion gate needs.

`invoke verify` waits for the rollout, then triggers `platform_smoke` with `conf` naming the image
(`<repository>@<digest>`), its tag and the revision of this repository Argo CD synced. The DAG checks
that its workers run that image before it checks anything else, so a run that succeeds is a smoke
run of exactly that digest. The gate of `invoke promote` reads the runs back: the newest run for the
digest since the source's last sync must have succeeded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..adapters.airflow import AirflowApi, DagRun
from ..model.findings import UsageError
from ..model.windows import human, utc_text

DAG_ID = "platform_smoke"
SMOKE_APP = "airflow"  # the app whose image carries the DAG
NOTE = "smoke run by invoke verify"


def conf(repository: str, tag: str, digest: str, revision: str | None) -> dict[str, str]:
    found = {"image": f"{repository}@{digest}", "tag": tag, "digest": digest, "by": "invoke verify"}
    if revision:
        found["revision"] = revision
    return found


def rerun_hint(env: str) -> str:
    return f"run it again: invoke verify --env {env}"


def describe(run: DagRun) -> str:
    when = utc_text(run.when) if run.when else "?"
    took = f" in {human(run.end_date - run.start_date)}" if run.end_date and run.start_date else ""
    return f"{DAG_ID} run {run.run_id} ({when}) {run.state}{took}"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    run: DagRun | None
    message: str


def judge(runs: Sequence[DagRun], env: str, digest: str, since: datetime | None, synced: str) -> Verdict:
    """Pure: does `runs` (any order) hold a successful smoke run of digest since the last sync?

    The newest run of the digest asked for at or after `since` decides; runs of other digests, and
    scheduled runs that name no image, are not evidence. `synced` says what the last sync was, for the
    message."""
    short = digest.split(":", 1)[-1][:12]
    after = [r for r in runs if since is None or (r.when is not None and r.when >= since)]
    after.sort(key=lambda r: r.when or datetime.min, reverse=True)
    mine = [r for r in after if r.conf.get("digest") == digest or str(r.conf.get("image", "")).endswith(f"@{digest}")]
    hint = rerun_hint(env)
    if mine:
        run = mine[0]
        if run.state == "success":
            return Verdict(True, run, f"{describe(run)}, after the sync {synced}")
        if run.state == "failed":
            return Verdict(
                False,
                run,
                f"the smoke run of {short} in {env} failed: {describe(run)}, after the sync {synced}; fix it, then {hint}",
            )
        return Verdict(False, run, f"the smoke run of {short} in {env} has not finished: {describe(run)}; wait for it, or {hint}")
    others = [r for r in after if r.conf.get("digest") or r.conf.get("image")]
    if others:
        run = others[0]
        ran = str(run.conf.get("digest") or run.conf.get("image")).split(":")[-1][:12]
        return Verdict(
            False,
            run,
            f"the last smoke run in {env} since the sync {synced} tested {ran}, not {short} being promoted: "
            f"{describe(run)}; {hint}",
        )
    return Verdict(False, None, f"no smoke run of {short} in {env} since the sync {synced}; run it: invoke verify --env {env}")


def trigger_and_wait(
    api: AirflowApi,
    run_conf: dict[str, str],
    timeout_s: float,
    poll_s: float = 10.0,
    on_progress: Callable[[DagRun], None] | None = None,
) -> DagRun:
    """Trigger platform_smoke and follow the run until it finishes; UsageError if paused or out of time."""
    if api.is_paused(DAG_ID):
        raise UsageError(f"{DAG_ID} is paused in Airflow at {api.url}, so a run would never start; unpause it, then run again")
    run = api.trigger(DAG_ID, run_conf, NOTE)
    deadline = time.monotonic() + timeout_s
    while True:
        if on_progress:
            on_progress(run)
        if run.finished:
            return run
        left = deadline - time.monotonic()
        if left <= 0:
            raise UsageError(
                f"{DAG_ID} run {run.run_id} is still {run.state} after {timeout_s:g} s; follow it in the Airflow UI at {api.url}, "
                "then run invoke verify again"
            )
        time.sleep(min(poll_s, left))
        run = api.run(DAG_ID, run.run_id)
