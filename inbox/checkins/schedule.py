"""When a check-in goes out: working days after the decision, inside the send window, in time for
the appeal. Pure functions over Stockholm local time, so summer time and holidays are handled once.

The appeal period is three weeks from the day the client was told of the decision (delgivning,
förvaltningslagen 44 §). We do not know that day, so we count from `decided_on`, which is never
later: a check-in planned against it is early enough whatever day the client was told.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from inbox.core.time import STOCKHOLM, add_working_days, is_working_day

APPEAL_DAYS = 21  # three weeks
LATEST_ASK_DAYS = 14  # ask at the latest two weeks after the decision: a week is left to appeal
REMINDER_WORKING_DAYS = 4
ANSWER_DAYS = 28  # answers (and the link) are accepted this long after the ask

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class WindowError(ValueError):
    """A send window that is neither `HH:MM-HH:MM` nor `always`."""


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Local (Stockholm) hours on working days when check-ins may go out; `always` has none."""

    start: time = time(9, 0)
    end: time = time(18, 0)
    always: bool = False

    def day_start(self, day: date) -> datetime:
        """The moment `day`'s window opens (midnight when there is no window), in UTC."""
        return local(day, time(0, 0) if self.always else self.start)

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when the window is open then, else the moment it next opens."""
        if self.always:
            return at
        here = at.astimezone(STOCKHOLM)
        day = here.date()
        if is_working_day(day):
            if at < local(day, self.start):
                return local(day, self.start)
            if at < local(day, self.end):
                return at
        day += timedelta(days=1)
        while not is_working_day(day):
            day += timedelta(days=1)
        return local(day, self.start)


def parse_window(value: str) -> SendWindow:
    """`09:00-18:00` (Stockholm time, working days) or `always`."""
    if value.strip().lower() == "always":
        return SendWindow(always=True)
    match = _WINDOW.match(value)
    if match is None:
        raise WindowError(f"send window {value!r}: use HH:MM-HH:MM (e.g. 09:00-18:00) or always")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError as exc:
        raise WindowError(f"send window {value!r}: {exc}") from exc
    if start >= end:
        raise WindowError(f"send window {value!r}: the start must be before the end")
    return SendWindow(start=start, end=end)


def local(day: date, at: time) -> datetime:
    """Stockholm wall-clock `day at` as a UTC instant (zoneinfo picks CET or CEST)."""
    return datetime.combine(day, at, tzinfo=STOCKHOLM).astimezone(UTC)


def local_date(at: datetime) -> date:
    return at.astimezone(STOCKHOLM).date()


@dataclass(frozen=True, slots=True)
class Plan:
    """When to ask and remind (UTC), until when answers count; or why there is no check-in."""

    ask_at: datetime | None
    reminder_at: datetime | None
    closes_at: datetime
    skip_reason: str | None = None


def plan_checkin(*, decided_on: date, delay_days: int, window: SendWindow, now: datetime) -> Plan:
    """The check-in `delay_days` working days after the decision, at the window's opening.

    Registered late, it goes at the next open window. Should that be more than two weeks after
    the decision (a long delay, or a late registration), it goes at the earliest open window
    instead; once the three weeks are over there is no check-in. The one reminder follows a few
    working days later, if that is still inside the three weeks.
    """
    earliest = window.next_open(now)
    ask = max(
        window.next_open(window.day_start(add_working_days(decided_on, delay_days))), earliest
    )
    if local_date(ask) > decided_on + timedelta(days=LATEST_ASK_DAYS):
        ask = earliest
    deadline = decided_on + timedelta(days=APPEAL_DAYS)
    if local_date(ask) >= deadline:
        return Plan(
            ask_at=None,
            reminder_at=None,
            closes_at=now,
            skip_reason="registered after the three-week appeal period",
        )
    reminder: datetime | None = window.next_open(
        window.day_start(add_working_days(local_date(ask), REMINDER_WORKING_DAYS))
    )
    if reminder is not None and local_date(reminder) >= deadline:
        reminder = None
    return Plan(ask_at=ask, reminder_at=reminder, closes_at=ask + timedelta(days=ANSWER_DAYS))
