"""Opening hours: validation and open-now in the store's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from commerce.errors import Unprocessable
from commerce.stores.rules import check_opening_hours, check_special_hours, interval, is_open
from commerce.stores.schemas import OpeningHours, SpecialHours

CHICAGO = "America/Chicago"


def weekly(*rows: tuple[str, str, str]) -> list[OpeningHours]:
    return [OpeningHours(day=d, opens=o, closes=c) for d, o, c in rows]  # type: ignore[arg-type]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_closing_before_opening_runs_into_the_next_morning() -> None:
    assert interval("22:00", "02:00", "x") == (22 * 60, 26 * 60)
    assert interval("09:00", "24:00", "x") == (9 * 60, 24 * 60)


@pytest.mark.parametrize(
    ("opens", "closes"),
    [
        ("25:00", "26:00"),
        ("09:60", "10:00"),
        ("24:00", "02:00"),
        ("09:00", "24:01"),
        ("9:00", "10:00"),
        ("10:00", "10:00"),
    ],
)
def test_bad_times_are_refused(opens: str, closes: str) -> None:
    with pytest.raises(Unprocessable):
        check_opening_hours(weekly(("mon", opens, closes)))


def test_split_hours_on_one_day_are_fine_and_sorted_in_week_order() -> None:
    hours = check_opening_hours(weekly(("tue", "09:00", "17:00"), ("mon", "13:00", "18:00"), ("mon", "08:00", "12:00")))
    assert [(h.day, h.opens) for h in hours] == [("mon", "08:00"), ("mon", "13:00"), ("tue", "09:00")]


def test_overlapping_hours_on_one_day_are_refused() -> None:
    with pytest.raises(Unprocessable, match="overlap"):
        check_opening_hours(weekly(("mon", "08:00", "12:00"), ("mon", "11:30", "18:00")))


def test_an_overnight_interval_may_not_run_into_the_next_days_hours() -> None:
    with pytest.raises(Unprocessable, match="overlap"):
        check_opening_hours(weekly(("fri", "20:00", "03:00"), ("sat", "02:00", "12:00")))
    check_opening_hours(weekly(("fri", "20:00", "03:00"), ("sat", "03:00", "12:00")))


def test_sunday_overnight_wraps_into_monday() -> None:
    with pytest.raises(Unprocessable, match="end of the week"):
        check_opening_hours(weekly(("sun", "20:00", "06:00"), ("mon", "05:00", "12:00")))


def test_special_hours_are_closed_or_have_both_times() -> None:
    with pytest.raises(Unprocessable, match="needs `opens` and `closes`"):
        check_special_hours([SpecialHours(date=date(2026, 12, 24), opens="09:00")])
    with pytest.raises(Unprocessable, match="give no"):
        check_special_hours([SpecialHours(date=date(2026, 12, 25), opens="09:00", closes="12:00", closed=True)])
    with pytest.raises(Unprocessable, match="is closed"):
        check_special_hours(
            [
                SpecialHours(date=date(2026, 12, 25), closed=True),
                SpecialHours(date=date(2026, 12, 25), opens="09:00", closes="12:00"),
            ]
        )
    with pytest.raises(Unprocessable, match="overlap"):
        check_special_hours(
            [
                SpecialHours(date=date(2026, 12, 31), opens="20:00", closes="03:00"),
                SpecialHours(date=date(2027, 1, 1), opens="02:00", closes="06:00"),
            ]
        )


def test_open_now_is_judged_on_the_stores_own_clock() -> None:
    hours = weekly(("fri", "09:00", "21:00"))
    # 2026-11-27 is a Friday. 14:30 UTC is 08:30 in Chicago (CST, UTC-6): not yet open.
    assert is_open(at("2026-11-27T14:30:00+00:00"), CHICAGO, hours, []) is False
    assert is_open(at("2026-11-27T15:00:00+00:00"), CHICAGO, hours, []) is True
    # 02:30 UTC on Saturday is 20:30 on Friday in Chicago: still open; 03:00 UTC is closing time.
    assert is_open(at("2026-11-28T02:30:00+00:00"), CHICAGO, hours, []) is True
    assert is_open(at("2026-11-28T03:00:00+00:00"), CHICAGO, hours, []) is False
    # The same instant in UTC's own store: Saturday 02:30, closed.
    assert is_open(at("2026-11-28T02:30:00+00:00"), "UTC", hours, []) is False


def test_open_now_follows_daylight_saving_time() -> None:
    hours = weekly(("mon", "09:00", "17:00"))
    # Summer (CDT, UTC-5): 14:00 UTC is 09:00 local, open. Winter (CST, UTC-6): 14:00 UTC is 08:00, closed.
    assert is_open(at("2026-07-06T14:00:00+00:00"), CHICAGO, hours, []) is True
    assert is_open(at("2026-11-30T14:00:00+00:00"), CHICAGO, hours, []) is False


def test_overnight_hours_stay_open_after_midnight() -> None:
    hours = weekly(("fri", "22:00", "02:00"))
    assert is_open(at("2026-11-28T01:30:00+00:00"), "UTC", hours, []) is True  # Saturday 01:30
    assert is_open(at("2026-11-28T02:00:00+00:00"), "UTC", hours, []) is False
    assert is_open(at("2026-11-27T21:59:00+00:00"), "UTC", hours, []) is False
    assert is_open(at("2026-11-27T22:00:00+00:00"), "UTC", hours, []) is True


def test_a_special_date_replaces_the_weekday_hours() -> None:
    hours = weekly(("thu", "09:00", "21:00"), ("fri", "09:00", "21:00"))
    closed = [SpecialHours(date=date(2026, 11, 26), closed=True)]
    short = [SpecialHours(date=date(2026, 11, 27), opens="06:00", closes="12:00")]
    assert is_open(at("2026-11-26T12:00:00+00:00"), "UTC", hours, closed) is False
    assert is_open(at("2026-11-27T12:00:00+00:00"), "UTC", hours, short) is False
    assert is_open(at("2026-11-27T07:00:00+00:00"), "UTC", hours, short) is True
    assert is_open(at("2026-11-27T07:00:00+00:00"), "UTC", hours, []) is False


def test_open_now_is_unknown_without_published_hours() -> None:
    assert is_open(datetime(2026, 11, 27, 12, tzinfo=UTC), "UTC", [], []) is None
    # Only exceptions published: known on those days, unknown otherwise.
    closed = [SpecialHours(date=date(2026, 11, 26), closed=True)]
    assert is_open(datetime(2026, 11, 26, 12, tzinfo=UTC), "UTC", [], closed) is False
    assert is_open(datetime(2026, 11, 28, 12, tzinfo=UTC), "UTC", [], closed) is None
