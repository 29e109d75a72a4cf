"""Soak arithmetic and freeze windows as pure functions of a fixed clock: cron windows across midnight and
across a DST change, overlapping and adjoining windows, date ranges, and what Argo CD is given for each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from airflow_gitops.model import windows
from airflow_gitops.model.findings import UsageError
from airflow_gitops.model.windows import Soak, Sync, frozen, parse_duration, parse_freeze, soak_start

AMS = ZoneInfo("Europe/Amsterdam")


def at(text: str, tz: Any = UTC) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def cron(schedule: str, duration: str, tz: str = "Europe/Amsterdam", reason: str = "r") -> dict[str, str]:
    return {"reason": reason, "schedule": schedule, "duration": duration, "time_zone": tz}


def span(start: str, end: str, tz: str = "Europe/Amsterdam", reason: str = "r") -> dict[str, str]:
    return {"reason": reason, "start": start, "end": end, "time_zone": tz}


def until(entries: list[dict[str, str]], now: datetime) -> datetime | None:
    found = frozen(parse_freeze(entries, "cluster.yaml"), now)
    return found.until if found else None


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "minutes"), [("24h", 1440), ("90m", 90), ("1h30m", 90), ("0m", 0), ("360h", 21600)])
def test_durations_read_as_argo_cd_reads_them(text: str, minutes: int) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)
    assert parse_duration(windows.format_duration(timedelta(minutes=minutes))) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "1d", "24", "h", "1.5h", "-1h", "1m30s"])
def test_bad_durations_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(UsageError, match=r"is not a duration such as 24h, 90m or 1h30m"):
        parse_duration(text, "promotion.soak")


def test_human_spans() -> None:
    assert [windows.human(timedelta(seconds=s)) for s in (12, 240, 3600, 26 * 3600 + 300, 50 * 3600)] == [
        "12s",
        "4m",
        "1h",
        "26h 5m",
        "2d 2h",
    ]


# --- cron windows --------------------------------------------------------------------------------


def test_a_nightly_window_across_midnight() -> None:
    night = [cron("0 22 * * *", "10h")]  # 22:00 to 08:00, Amsterdam (UTC+1 in January)
    assert until(night, at("2026-01-14T20:59")) is None  # 21:59 local
    assert until(night, at("2026-01-14T21:00")) == at("2026-01-15T08:00", AMS)  # 22:00 local: begins
    assert until(night, at("2026-01-14T23:30")) == at("2026-01-15T08:00", AMS)  # after midnight local
    assert until(night, at("2026-01-15T06:59")) == at("2026-01-15T08:00", AMS)
    assert until(night, at("2026-01-15T07:00")) is None  # 08:00 local: over


def test_a_window_across_the_spring_dst_change_lasts_its_elapsed_duration() -> None:
    # Amsterdam moves from 02:00 CET to 03:00 CEST on 29 March 2026. A window of 10 h from 22:00 on the 28th
    # lasts 10 elapsed hours, as Argo CD (Go's time.Add) counts it: until 09:00 on the wall clock, not 08:00.
    night = [cron("0 22 * * *", "10h")]
    assert until(night, at("2026-03-28T21:00")) == at("2026-03-29T09:00", AMS) == at("2026-03-29T07:00")
    assert until(night, at("2026-03-29T06:59")) is not None
    assert until(night, at("2026-03-29T07:00")) is None
    # the next night's window begins at 22:00 summer time, an hour earlier in UTC
    assert until(night, at("2026-03-29T19:59")) is None
    assert until(night, at("2026-03-29T20:00")) == at("2026-03-30T08:00", AMS)


def test_a_window_across_the_autumn_dst_change() -> None:
    # 25 October 2026: 03:00 CEST becomes 02:00 CET. 22:00 CEST + 10 h = 07:00 CET on the wall clock.
    night = [cron("0 22 * * *", "10h")]
    assert until(night, at("2026-10-24T20:00")) == at("2026-10-25T07:00", AMS) == at("2026-10-25T06:00")
    assert until(night, at("2026-10-25T06:00")) is None


def test_a_weekend_freeze_in_its_own_time_zone() -> None:
    weekend = [cron("0 16 * * 5", "64h", tz="America/New_York", reason="weekend")]  # Friday 16:00 to Monday 08:00
    assert until(weekend, at("2026-06-05T19:59")) is None  # Friday 15:59 EDT
    assert until(weekend, at("2026-06-05T20:00")) == at("2026-06-08T08:00", ZoneInfo("America/New_York"))
    assert until(weekend, at("2026-06-08T11:59")) is not None
    assert until(weekend, at("2026-06-08T12:00")) is None


def test_overlapping_windows_freeze_until_the_last_one_ends() -> None:
    entries = [
        cron("0 16 * * 5", "64h", reason="weekend"),  # Friday 16:00 to Monday 08:00
        span("2026-06-08T06:00", "2026-06-08T12:00", reason="database upgrade"),  # Monday 06:00 to 12:00
    ]
    found = frozen(parse_freeze(entries, "cluster.yaml"), at("2026-06-06T12:00"))
    assert found is not None
    assert found.until == at("2026-06-08T12:00", AMS)  # the weekend hands over to the upgrade
    assert found.reasons == "weekend; database upgrade"
    assert found.until_text() == "2026-06-08T12:00+02:00 (Europe/Amsterdam)"


def test_adjoining_windows_join_and_a_gap_does_not() -> None:
    joined = [span("2026-06-01T08:00", "2026-06-01T10:00"), span("2026-06-01T10:00", "2026-06-01T11:00")]
    assert until(joined, at("2026-06-01T07:00")) == at("2026-06-01T11:00", AMS)
    gap = [span("2026-06-01T08:00", "2026-06-01T10:00"), span("2026-06-01T10:01", "2026-06-01T11:00")]
    assert until(gap, at("2026-06-01T07:00")) == at("2026-06-01T10:00", AMS)


def test_a_date_range_in_local_days() -> None:
    year_end = [span("2026-12-20", "2027-01-04", reason="year end")]
    assert until(year_end, at("2026-12-19T22:59")) is None  # 23:59 local
    assert until(year_end, at("2026-12-19T23:00")) == at("2027-01-04T00:00", AMS)
    assert until(year_end, at("2027-01-03T22:59")) is not None
    assert until(year_end, at("2027-01-03T23:00")) is None


def test_no_windows_no_freeze() -> None:
    assert parse_freeze(None, "f") == [] and parse_freeze([], "f") == []
    assert frozen([], at("2026-01-01T00:00")) is None


def test_a_naive_clock_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        frozen(parse_freeze([cron("0 0 * * *", "1h")], "f"), datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ({"schedule": "0 0 * * *", "duration": "1h", "time_zone": "UTC"}, "promotion.freeze[0]: no reason"),
        (cron("0 0 * * *", "1h", tz="Mars/Olympus"), "time zone 'Mars/Olympus' is not an IANA zone"),
        (cron("61 0 * * *", "1h"), "'61 0 * * *' is not a five-field cron schedule"),
        (cron("0 0 * * * *", "1h"), "is not a five-field cron schedule"),
        (cron("0 0 * * *", "0m"), "a window must last longer than 0m"),
        (span("2026-12-20", "2026-12-19"), "is not after start"),
        (span("2026-12-20T18:00+01:00", "2026-12-21"), "carries an offset; write the local time and set time_zone"),
        ({**span("2026-12-20", "2026-12-21"), "duration": "1h"}, "give either schedule and duration, or start and end"),
        ({"reason": "r", "time_zone": "UTC"}, "give either schedule and duration, or start and end"),
    ],
)
def test_bad_windows_are_refused_naming_the_entry(entry: dict[str, Any], complaint: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_freeze([entry], "clusters/prod/cluster.yaml")
    assert str(caught.value).startswith("clusters/prod/cluster.yaml: promotion.freeze[0]")
    assert complaint in str(caught.value)


# --- what Argo CD is given -------------------------------------------------------------------------


def test_a_cron_window_becomes_a_deny_sync_window_that_allows_manual_sync() -> None:
    (window,) = parse_freeze([cron("0 16 * * 5", "64h", reason="weekend")], "f")
    assert window.sync_window() == {
        "kind": "deny",
        "schedule": "0 16 * * 5",
        "duration": "64h",
        "timeZone": "Europe/Amsterdam",
        "applications": ["*"],
        "manualSync": True,
        "description": "promotion.freeze[0]: weekend",
    }


def test_a_date_range_becomes_a_yearly_cron_firing_at_its_start_for_its_elapsed_length() -> None:
    # 29 March 2026 02:00 does not exist in Amsterdam: the range from midnight to 12:00 lasts 11 elapsed hours
    (window,) = parse_freeze([span("2026-03-29T00:00", "2026-03-29T12:00")], "f")
    rendered = window.sync_window()
    assert (rendered["schedule"], rendered["duration"]) == ("0 0 29 3 *", "11h")
    (long,) = parse_freeze([span("2026-12-20", "2027-01-04T06:30")], "f")
    assert (long.sync_window()["schedule"], long.sync_window()["duration"]) == ("0 0 20 12 *", "366h30m")


def test_the_rendered_window_is_active_when_invoke_says_frozen() -> None:
    """Argo CD's rule (active from a firing s while now < s + duration) applied to the rendered cron agrees."""
    from croniter import croniter

    entries = [cron("0 22 * * *", "10h"), span("2026-07-01T09:00", "2026-07-03T17:30"), cron("30 6 1 * *", "3h", tz="UTC")]
    parsed = parse_freeze(entries, "f")
    start = at("2026-06-28T00:00")
    for step in range(0, 24 * 8 * 4):  # every 15 minutes for eight days
        now = start + timedelta(minutes=15 * step)
        ours = frozen(parsed, now) is not None
        theirs = False
        for rendered in windows.sync_windows(parsed):
            tz = ZoneInfo(rendered["timeZone"])
            fired = croniter(rendered["schedule"], now.astimezone(tz) + timedelta(microseconds=1)).get_prev(datetime)
            theirs |= now < fired + parse_duration(rendered["duration"])
        assert ours == theirs, now


# --- soak ----------------------------------------------------------------------------------------------


def history(*entries: tuple[str, str]) -> list[Sync]:
    return [Sync(revision, at(when)) for revision, when in entries]


def test_soak_counts_from_the_first_sync_of_the_pin_in_the_last_run_of_syncs_holding_it() -> None:
    syncs = history(("old1", "2026-06-01T08:00"), ("new1", "2026-06-01T10:00"), ("new2", "2026-06-01T12:00"))
    start = soak_start(syncs, lambda r: r.startswith("new"))
    assert start == at("2026-06-01T10:00")
    soak = Soak(timedelta(hours=24), start, at("2026-06-02T09:00"))
    assert (soak.done, soak.had, soak.left, soak.ready_at) == (
        False,
        timedelta(hours=23),
        timedelta(hours=1),
        at("2026-06-02T10:00"),
    )
    assert Soak(timedelta(hours=24), start, at("2026-06-02T10:00")).done


def test_soak_starts_again_after_the_pin_was_rolled_away_and_back() -> None:
    syncs = history(("new1", "2026-06-01T08:00"), ("old", "2026-06-01T09:00"), ("new2", "2026-06-01T11:00"))
    assert soak_start(syncs, lambda r: r.startswith("new")) == at("2026-06-01T11:00")


def test_no_soak_when_the_last_sync_does_not_hold_the_pin() -> None:
    syncs = history(("new1", "2026-06-01T08:00"), ("old", "2026-06-01T09:00"))
    start = soak_start(syncs, lambda r: r.startswith("new"))
    assert start is None
    soak = Soak(timedelta(hours=1), start, at("2026-06-02T00:00"))
    assert (soak.done, soak.left, soak.ready_at) == (False, timedelta(hours=1), None)
    assert soak_start([], lambda r: True) is None


def test_a_zero_soak_is_done_at_the_first_sync() -> None:
    assert Soak(timedelta(0), at("2026-06-01T08:00"), at("2026-06-01T08:00")).done
