"""Parsing and formatting of the ages, sizes and times users type and read."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from fractions import Fraction

from rich.filesize import decimal

from pipcachex.errors import UsageError

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_AGE_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)(b?)\s*$", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
MAX_SIZE = 2**63 - 1
"""The largest size accepted: what a signed 64-bit ``st_size`` can say."""
_MAX_AGE_SECONDS = 10_000 * 366 * 86400
"""More than any moment since the year 1: beyond it, an age is out of range before any sum."""


def parse_age(text: str, *, option: str = "--older-than", now: datetime | None = None) -> datetime:
    """Turn ``30d``/``90m``/``2w`` or an ISO date into the UTC cut-off moment it names.

    An age counts back from ``now``; an ISO date or date-time is taken as given (UTC when it
    carries no zone). Anything else, an empty value and a moment outside the years 1-9999 are
    usage errors that name the value.
    """
    now = now or datetime.now(timezone.utc)
    match = _AGE_RE.match(text)
    try:
        if match:
            amount = _exact(match.group(1)) * _AGE_SECONDS[match.group(2).lower()]
            if amount > _MAX_AGE_SECONDS:
                raise OverflowError(text)
            return now - timedelta(seconds=float(amount))
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(
                f"invalid value for {option}: {text!r} "
                "(use a number with s, m, h, d or w, such as 30d, or an ISO date such as "
                "2026-01-31)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    except OverflowError:
        # timedelta and astimezone cannot leave the years 1-9999 (9999 years is ~3.6 million d).
        raise UsageError(
            f"invalid value for {option}: {_shown(text)!r} reaches outside the years 1 to 9999"
        ) from None


def parse_size(text: str, *, option: str = "--larger-than") -> int:
    """Turn ``500MB``, ``1.5GiB``, ``200k`` or ``1024`` into a number of bytes.

    Units without ``i`` are decimal (k = 1000), with ``i`` binary (Ki = 1024), as in ``du --si``
    and ``du -h`` respectively. The value is exact (no float rounding) and at most 8 EiB, the
    largest size a file system reports; an empty value is a usage error.
    """
    match = _SIZE_RE.match(text)
    if not match or (match.group(3) and not match.group(2)):
        raise UsageError(
            f"invalid value for {option}: {text!r} "
            "(use bytes or a number with k, M, G or T, optionally followed by B or iB, "
            "such as 500MB or 1.5GiB)"
        )
    number, prefix, binary, _ = match.groups()
    base = 1024 if binary else 1000
    size = int(_exact(number) * base ** _SIZE_POWERS[prefix.lower()])
    if size > MAX_SIZE:
        raise UsageError(
            f"invalid value for {option}: {_shown(text)!r} is larger than 8 EiB "
            f"({MAX_SIZE} bytes), the most a file system can hold"
        )
    return size


def _exact(number: str) -> Fraction:
    """The decimal ``number`` exactly; one too long to matter is simply huge.

    Python refuses to turn more than a few thousand digits into an int: a number with more
    than 30 digits before its point is out of every range here anyway, and the digits after
    the point are cut where they stop counting.
    """
    whole, _, fraction = number.partition(".")
    whole = whole.lstrip("0")
    if len(whole) > 30:
        return Fraction(10**31)
    return Fraction(f"{whole or 0}.{fraction[:30] or 0}")


def _shown(text: str) -> str:
    """``text`` for an error message: a very long value is shown by its ends."""
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]}"


def format_size(size: int) -> str:
    """Render a byte count for people, in the decimal units pip itself prints."""
    return decimal(size)


#: The timestamps ``time.gmtime`` turns into a four-digit year on every platform (Windows
#: refuses negative ones): years 1970 to 9999.
_GMTIME_RANGE = (0, 253_402_300_800)


def iso_utc(timestamp: float) -> str:
    """Render a POSIX timestamp as an ISO 8601 UTC string with a ``Z`` suffix (to the second).

    ``list --json`` renders two per entry: ``time.gmtime`` and ``strftime`` take a third of
    the time a ``datetime`` does. Both drop the fraction of the second.
    """
    if _GMTIME_RANGE[0] <= timestamp < _GMTIME_RANGE[1]:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
    moment = datetime.fromtimestamp(timestamp, timezone.utc).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def format_age(timestamp: float, *, now: float) -> str:
    """Render how long ago a timestamp was, in the largest whole unit (``3d``, ``5h``, ``40s``)."""
    seconds = max(0.0, now - timestamp)
    for unit in ("w", "d", "h", "m"):
        if seconds >= _AGE_SECONDS[unit]:
            return f"{int(seconds // _AGE_SECONDS[unit])}{unit}"
    return f"{int(seconds)}s"
