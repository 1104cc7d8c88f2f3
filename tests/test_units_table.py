"""Table-driven unit tests of ``pipcachex.units``, written for the mutants mutation testing
found alive: sizes with ``i`` and no prefix, UTC stamps, the edges between age units."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from pipcachex.errors import UsageError
from pipcachex.units import format_age, iso_utc, parse_age, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("7", 7),
        ("2k", 2000),
        ("500MB", 500_000_000),
        ("5KiB", 5 * 1024),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("1Ti", 1024**4),
        (" 3 mb ", 3_000_000),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["5iB", "5i", "", "k", "-1", "1.5.2G", "5 GB extra", "1XB"])
def test_bad_sizes_name_the_value_and_the_option(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_size(text, option="--max-size")
    assert f"--max-size: {text!r}" in str(raised.value)


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("30d", datetime(2026, 1, 30, 12, 0, tzinfo=timezone.utc)),
        ("90m", datetime(2026, 3, 1, 10, 30, tzinfo=timezone.utc)),
        ("1w", datetime(2026, 2, 22, 12, 0, tzinfo=timezone.utc)),
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=timezone.utc)),
        ("2026-01-31T12:00+02:00", datetime(2026, 1, 31, 10, 0, tzinfo=timezone.utc)),
    ],
)
def test_ages(text: str, moment: datetime) -> None:
    parsed = parse_age(text, now=NOW)
    assert parsed == moment and parsed.utcoffset() is not None


@pytest.mark.parametrize("text", ["30", "30y", "", "yesterday", "2026-13-01"])
def test_bad_ages_name_the_value_and_the_option(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_age(text, option="--older-than", now=NOW)
    assert f"--older-than: {text!r}" in str(raised.value)


@pytest.mark.parametrize(
    ("timestamp", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1.9, "1970-01-01T00:00:01Z"),
        (86399, "1970-01-01T23:59:59Z"),
        (1_796_321_027.999, "2026-12-03T18:03:47Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
        # Outside what gmtime renders everywhere: the datetime path, the same shape.
        (-1.5, "1969-12-31T23:59:58Z"),
        (-86_400, "1969-12-31T00:00:00Z"),
    ],
)
def test_iso_utc_is_utc_to_the_second(timestamp: float, text: str) -> None:
    assert iso_utc(timestamp) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0s"),
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (86399, "23h"),
        (86400, "1d"),
        (7 * 86400 - 1, "6d"),
        (7 * 86400, "1w"),
        (30 * 86400, "4w"),
    ],
)
def test_format_age_at_the_edges_of_each_unit(seconds: float, text: str) -> None:
    assert format_age(1_000_000 - seconds, now=1_000_000) == text


def test_the_default_option_names_are_the_options_that_take_the_values() -> None:
    with pytest.raises(UsageError, match="--larger-than: 'x'"):
        parse_size("x")
    with pytest.raises(UsageError, match="--older-than: 'x'"):
        parse_age("x")


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset (POSIX)")
def test_dates_are_utc_whatever_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A date with no zone is UTC, and so is the result, on a machine far from UTC too."""
    monkeypatch.setenv("TZ", "IST-5:30")  # POSIX form: 5:30 east of UTC, no zone files needed
    time.tzset()
    try:
        assert parse_age("2026-01-31T12:00", now=NOW) == datetime(
            2026, 1, 31, 12, 0, tzinfo=timezone.utc
        )
        assert parse_age("2026-01-31T12:00", now=NOW).utcoffset() == timedelta(0)
        assert iso_utc(0) == "1970-01-01T00:00:00Z"
        assert parse_age("1d") <= datetime.now(timezone.utc)
    finally:
        monkeypatch.undo()
        time.tzset()
