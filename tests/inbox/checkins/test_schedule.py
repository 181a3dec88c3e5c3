"""When a check-in goes out: working days, Swedish holidays, summer time, the send window, the
appeal window and the reminder, all with the clock given."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from inbox.checkins.schedule import SendWindow, WindowError, parse_window, plan_checkin

WINDOW = SendWindow()  # 09:00-18:00 Stockholm, working days


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def plan(decided_on: date, now: datetime, delay: int = 3, window: SendWindow = WINDOW):
    return plan_checkin(decided_on=decided_on, delay_days=delay, window=window, now=now)


def test_three_working_days_skip_the_weekend() -> None:
    # Thursday 12 March 2026 → Fri (1), Mon (2), Tue 17 (3) at 09:00 CET = 08:00 UTC.
    p = plan(date(2026, 3, 12), now=utc(2026, 3, 12, 14, 0))
    assert p.ask_at == utc(2026, 3, 17, 8, 0)
    # Reminder four working days later: Wed, Thu, Fri, Mon 23 March.
    assert p.reminder_at == utc(2026, 3, 23, 8, 0)
    assert p.skip_reason is None


def test_midsummer_eve_is_not_a_working_day() -> None:
    # Wed 17 June 2026 → Thu 18 (1), Fri 19 midsommarafton closed, Mon 22 (2), Tue 23 (3); CEST.
    p = plan(date(2026, 6, 17), now=utc(2026, 6, 17, 10, 0))
    assert p.ask_at == utc(2026, 6, 23, 7, 0)


def test_christmas_and_new_year() -> None:
    # Mon 21 Dec 2026 → Tue 22 (1), Wed 23 (2), julafton–annandag and the weekend, Mon 28 (3).
    p = plan(date(2026, 12, 21), now=utc(2026, 12, 21, 10, 0))
    assert p.ask_at == utc(2026, 12, 28, 8, 0)
    # Tue 29 (1), Wed 30 (2), nyårsafton and nyårsdagen closed, Mon 4 Jan (3), Tue 5 Jan (4).
    assert p.reminder_at == utc(2027, 1, 5, 8, 0)


def test_summer_time_starts_between_decision_and_check_in() -> None:
    # Wed 25 March 2026; clocks go forward on Sun 29 March: 09:00 on Mon 30 is 07:00 UTC.
    p = plan(date(2026, 3, 25), now=utc(2026, 3, 25, 12, 0))
    assert p.ask_at == utc(2026, 3, 30, 7, 0)


def test_summer_time_ends_between_decision_and_check_in() -> None:
    # Thu 22 Oct 2026; clocks go back on Sun 25 October: 09:00 on Tue 27 is 08:00 UTC.
    p = plan(date(2026, 10, 22), now=utc(2026, 10, 22, 12, 0))
    assert p.ask_at == utc(2026, 10, 27, 8, 0)
    # The day before the change it was still 07:00 UTC.
    assert plan(date(2026, 10, 20), now=utc(2026, 10, 20, 12, 0)).ask_at == utc(2026, 10, 23, 7, 0)


def test_late_registration_goes_at_the_next_open_window() -> None:
    # Decided Mon 2 March; registered Fri 6 March 17:30 CET, inside the window: at once.
    at = utc(2026, 3, 6, 16, 30)
    assert plan(date(2026, 3, 2), now=at).ask_at == at
    # Registered Fri 18:30 CET, after the window: Monday 09:00.
    assert plan(date(2026, 3, 2), now=utc(2026, 3, 6, 17, 30)).ask_at == utc(2026, 3, 9, 8, 0)
    # Registered on the Sunday summer time begins: Monday 09:00 CEST.
    assert plan(date(2026, 3, 20), now=utc(2026, 3, 29, 10, 0)).ask_at == utc(2026, 3, 30, 7, 0)


def test_a_long_delay_is_brought_forward_into_the_appeal_window() -> None:
    # 15 working days would be after the two-week limit: the earliest open window instead.
    now = utc(2026, 3, 10, 7, 0)  # Tue 08:00 CET, before the window opens
    p = plan(date(2026, 3, 10), now=now, delay=15)
    assert p.ask_at == utc(2026, 3, 10, 8, 0)


def test_no_check_in_after_the_three_weeks() -> None:
    p = plan(date(2026, 2, 2), now=utc(2026, 2, 23, 10, 0))  # 21 days later
    assert p.ask_at is None and p.reminder_at is None
    assert p.skip_reason == "registered after the three-week appeal period"


def test_no_reminder_that_would_fall_after_the_three_weeks() -> None:
    # Decided Mon 2 March, registered Wed 18 March: ask at once, a reminder on Tue 24 would be
    # 22 days after the decision.
    p = plan(date(2026, 3, 2), now=utc(2026, 3, 18, 10, 0))
    assert p.ask_at == utc(2026, 3, 18, 10, 0)
    assert p.reminder_at is None


def test_always_sends_at_any_hour() -> None:
    always = parse_window("always")
    now = utc(2026, 3, 14, 22, 0)  # a Saturday night
    assert plan(date(2026, 3, 2), now=now, window=always).ask_at == now


def test_window_parsing() -> None:
    assert parse_window("08:30-16:00") == SendWindow(start=time(8, 30), end=time(16, 0))
    for bad in ("9-18", "18:00-09:00", "25:00-26:00", "sometimes"):
        with pytest.raises(WindowError):
            parse_window(bad)
