"""Soak and freeze windows: the promotion policy of `cluster.yaml` as pure functions of a clock.

`promotion.soak` is how long an environment must run a pin before it may be promoted out of it,
measured from when Argo CD first synced a revision holding the pin. `promotion.freeze` lists the
windows in which nothing may be promoted, bumped or rolled back into the environment; each is a
cron schedule with a duration, or a date range, in a time zone, with a reason.

The same windows are rendered into the `syncWindows` of the environment's AppProjects (deny,
manual sync allowed), so that Argo CD refuses to sync a change merged during a freeze too. Argo CD
evaluates a window as its robfig/cron schedule in `timeZone`: active from a firing `s` until
`s + duration`, the duration counted in elapsed time (so a window that spans a DST change ends an
hour earlier or later on the wall clock). `active` below does the same. A date range is rendered as
the cron firing once at its start (minute, hour, day, month) with the range's length: Argo CD's
schedules have no year, so it repeats every year until the window is removed.

Nothing here reads a clock: every function takes `now`, an aware datetime.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from .findings import UsageError

DURATION = re.compile(r"^(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?$")
# The AppProjects whose Applications promote, bump and rollback move (argo-cd: Argo CD's own chart);
# `bootstrap` (the root Application) stays open, so that a change to the windows themselves can still be synced.
FROZEN_PROJECTS = ("airflow", "argo-cd", "platform")
SYNC_WINDOWS_PATCH = "patches/sync-windows.yaml"


def parse_duration(text: str, where: str = "duration") -> timedelta:
    """'24h', '90m', '1h30m' (Go's time.ParseDuration, as Argo CD reads it, in hours and minutes)."""
    value = str(text).strip()
    match = DURATION.match(value)
    if not value or not match:
        raise UsageError(f"{where}: '{text}' is not a duration such as 24h, 90m or 1h30m")
    return timedelta(hours=int(match["h"] or 0), minutes=int(match["m"] or 0))


def format_duration(span: timedelta) -> str:
    """timedelta -> '1h30m', '24h', '45m', '0m' (the form Argo CD's duration takes)."""
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")


def human(span: timedelta) -> str:
    """A span for people: '2d 3h', '26h 5m' under two days, '4m', '12s'."""
    seconds = max(int(span.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        days, hours = divmod(hours, 24)
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"{where}: time zone '{name}' is not an IANA zone such as Europe/Amsterdam or UTC") from None


def _local(text: Any, tz: ZoneInfo, where: str) -> datetime:
    """'2026-12-20' or '2026-12-20T18:00' (YAML may hand either as a date or datetime) in the zone."""
    if isinstance(text, datetime):
        value = text
    elif isinstance(text, date):
        value = datetime.combine(text, time())
    else:
        try:
            value = datetime.fromisoformat(str(text))
        except ValueError:
            raise UsageError(f"{where}: '{text}' is not a date (2026-12-20) or local time (2026-12-20T18:00)") from None
    if value.tzinfo is not None:
        raise UsageError(f"{where}: '{text}' carries an offset; write the local time and set time_zone")
    return value.replace(tzinfo=tz)


@dataclass(frozen=True)
class FreezeWindow:
    """One entry of promotion.freeze: a cron schedule and duration, or a start and end, in a time zone."""

    index: int
    reason: str
    time_zone: str
    schedule: str | None = None
    duration: timedelta | None = None
    start: datetime | None = None  # date ranges: aware, in time_zone
    end: datetime | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def describe(self) -> str:
        if self.schedule is not None and self.duration is not None:
            return f"'{self.schedule}' for {format_duration(self.duration)} ({self.time_zone})"
        assert self.start is not None and self.end is not None
        return f"{self.start.isoformat(timespec='minutes')} to {self.end.isoformat(timespec='minutes')} ({self.time_zone})"

    def occurrence(self, now: datetime) -> tuple[datetime, datetime] | None:
        """(start, end) of the occurrence that contains now, as aware datetimes; None when not active."""
        # Arithmetic and comparison in UTC: Python adds to and compares datetimes of one zone by the wall clock.
        now = now.astimezone(UTC)
        if self.schedule is None or self.duration is None:
            assert self.start is not None and self.end is not None
            start, end = self.start.astimezone(UTC), self.end.astimezone(UTC)
        else:
            # the latest firing at or before now; a firing exactly at now counts
            local: datetime = croniter(self.schedule, now.astimezone(self.tz) + timedelta(microseconds=1)).get_prev(datetime)
            start = local.astimezone(UTC)
            end = start + self.duration  # elapsed time, as Go's time.Add
        return (start.astimezone(self.tz), end.astimezone(self.tz)) if start <= now < end else None

    def next_start(self, now: datetime) -> datetime | None:
        """When this window next begins after now (None for a date range already begun or over)."""
        if self.schedule is None:
            return self.start if self.start is not None and self.start > now else None
        nxt: datetime = croniter(self.schedule, now.astimezone(self.tz)).get_next(datetime)
        return nxt

    def sync_window(self) -> dict[str, Any]:
        """The Argo CD syncWindow that enforces this window: deny automated syncs, allow a manual one."""
        if self.schedule is not None and self.duration is not None:
            schedule, duration = self.schedule, self.duration
        else:
            assert self.start is not None and self.end is not None
            start = self.start
            schedule = f"{start.minute} {start.hour} {start.day} {start.month} *"
            duration = self.end.astimezone(UTC) - self.start.astimezone(UTC)  # elapsed time, as Argo CD adds it
        return {
            "kind": "deny",
            "schedule": schedule,
            "duration": format_duration(duration),
            "timeZone": self.time_zone,
            "applications": ["*"],
            "manualSync": True,
            "description": f"promotion.freeze[{self.index}]: {self.reason}",
        }


def parse_freeze(entries: Any, where: str) -> list[FreezeWindow]:
    """promotion.freeze of a cluster.yaml -> windows; a UsageError names the entry and what is wrong."""
    if entries in (None, []):
        return []
    if not isinstance(entries, list):
        raise UsageError(f"{where}: promotion.freeze is not a list of windows")
    windows = []
    for index, entry in enumerate(entries):
        at = f"{where}: promotion.freeze[{index}]"
        if not isinstance(entry, Mapping):
            raise UsageError(f"{at} is not a mapping")
        reason = str(entry.get("reason") or "").strip()
        if not reason:
            raise UsageError(f"{at}: no reason; say why, so whoever is refused knows")
        tz_name = str(entry.get("time_zone") or "")
        tz = zone(tz_name, f"{at}.time_zone")
        has_cron, has_range = "schedule" in entry or "duration" in entry, "start" in entry or "end" in entry
        if has_cron == has_range:
            raise UsageError(f"{at}: give either schedule and duration, or start and end")
        if has_cron:
            schedule = " ".join(str(entry.get("schedule") or "").split())
            if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
                raise UsageError(f"{at}.schedule: '{schedule}' is not a five-field cron schedule such as '0 16 * * 5'")
            duration = parse_duration(entry.get("duration", ""), f"{at}.duration")
            if duration <= timedelta(0):
                raise UsageError(f"{at}.duration: a window must last longer than 0m")
            windows.append(FreezeWindow(index, reason, tz_name, schedule=schedule, duration=duration))
        else:
            start = _local(entry.get("start"), tz, f"{at}.start")
            end = _local(entry.get("end"), tz, f"{at}.end")
            if end.astimezone(UTC) <= start.astimezone(UTC):
                raise UsageError(f"{at}: end {end.isoformat()} is not after start {start.isoformat()}")
            if (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() % 60:
                raise UsageError(f"{at}: start and end must be whole minutes")
            windows.append(FreezeWindow(index, reason, tz_name, start=start, end=end))
    return windows


@dataclass(frozen=True)
class Freeze:
    """The environment is frozen from `since` until `until` by these windows (overlapping ones joined)."""

    windows: tuple[FreezeWindow, ...]
    since: datetime
    until: datetime

    @property
    def reasons(self) -> str:
        return "; ".join(dict.fromkeys(w.reason for w in self.windows))

    def until_text(self) -> str:
        """'2026-12-28T08:00+01:00 (Europe/Amsterdam)': in the zone of the window that ends it."""
        last = self.windows[-1]
        return f"{self.until.astimezone(last.tz).isoformat(timespec='minutes')} ({last.time_zone})"


def frozen(windows: Sequence[FreezeWindow], now: datetime, horizon: timedelta = timedelta(days=400)) -> Freeze | None:
    """The freeze in force at now, if any: until when, following overlapping and adjoining windows."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")

    def hits(moment: datetime) -> list[tuple[FreezeWindow, datetime, datetime]]:  # in UTC, to compare elapsed time
        found = []
        for window in windows:
            hit = window.occurrence(moment)
            if hit:
                found.append((window, hit[0].astimezone(UTC), hit[1].astimezone(UTC)))
        return found

    found = hits(now)
    if not found:
        return None
    since = min(start for _, start, _ in found)
    until = max(end for _, _, end in found)
    enders = [w for w, _, end in found if end == until]
    # a window that is in force when the freeze would end carries it on
    while until - now < horizon:
        longer = [(w, start, end) for w, start, end in hits(until) if end > until]
        if not longer:
            break
        until = max(end for _, _, end in longer)
        enders = [w for w, _, end in longer if end == until]
        found += longer
    involved = tuple(dict.fromkeys([w for w, _, _ in found if w not in enders] + enders))
    last = involved[-1].tz
    return Freeze(involved, since.astimezone(last), until.astimezone(last))


def sync_windows(windows: Iterable[FreezeWindow]) -> list[dict[str, Any]]:
    return [w.sync_window() for w in windows]


# --- soak ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sync:
    """One entry of an Application's sync history: the revision of this repository and when it was deployed."""

    revision: str
    deployed_at: datetime


def soak_start(history: Sequence[Sync], holds: Callable[[str], bool]) -> datetime | None:
    """When Argo CD first synced a revision holding the pin, in the run of syncs that ends with the last one.

    history is oldest first, as Argo CD keeps it. None if the last sync does not hold the pin. History is
    cut at the Application's revisionHistoryLimit, so an older first sync may be lost: the soak found is then
    shorter than the real one, never longer."""
    start = None
    for entry in reversed(history):
        if not holds(entry.revision):
            break
        start = entry.deployed_at
    return start


@dataclass(frozen=True)
class Soak:
    required: timedelta
    since: datetime | None  # first sync holding the pin
    now: datetime

    @property
    def had(self) -> timedelta:
        return self.now - self.since if self.since is not None else timedelta(0)

    @property
    def left(self) -> timedelta:
        return max(self.required - self.had, timedelta(0)) if self.since is not None else self.required

    @property
    def done(self) -> bool:
        return self.since is not None and self.had >= self.required

    @property
    def ready_at(self) -> datetime | None:
        return self.since + self.required if self.since is not None else None


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
