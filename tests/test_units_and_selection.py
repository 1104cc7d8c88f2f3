"""Parsing ages, sizes and specs, and which entries a selection matches: table-driven units."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipcachex.cache import CacheEntry, CacheFile, CacheScan, Kind, Layout
from pipcachex.errors import UsageError
from pipcachex.operations.listing import list_entries
from pipcachex.selection import Selection, build_selection, least_recently_used, parse_spec
from pipcachex.units import MAX_SIZE, format_age, iso_utc, parse_age, parse_size

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
DAY = 86400.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1024", 1024),
        ("500MB", 500_000_000),
        ("500M", 500_000_000),
        ("500mb", 500_000_000),
        ("1.5GiB", 1536 * 1024**2),
        ("200k", 200_000),
        ("2KiB", 2048),
        ("3 G", 3_000_000_000),
        (" 7 ", 7),
        ("1TB", 10**12),
        ("1PiB", 1024**5),
        ("0.1k", 100),
        ("1.0000001k", 1000),
        ("000000000000000000000000000000000000000042", 42),
        (str(MAX_SIZE), MAX_SIZE),
    ],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "''"),
        ("   ", "'   '"),
        ("lots", "'lots'"),
        ("5Xi", "'5Xi'"),
        ("5i", "'5i'"),
        ("-1", "'-1'"),
        ("1e9", "'1e9'"),
        ("nan", "'nan'"),
        ("inf", "'inf'"),
        ("1.", "'1.'"),
        ("8EiB", "'8EiB'"),
        (str(MAX_SIZE + 1), "is larger than 8 EiB"),
        ("9" * 400, "'99999999999999999999...9999999999' is larger than 8 EiB"),
        ("1" * 5000 + "k", "is larger than 8 EiB"),
        ("10000000PB", "is larger than 8 EiB"),
    ],
)
def test_bad_sizes_are_usage_errors_naming_the_value(text: str, says: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_size(text, option="--max-size")
    message = raised.value.message
    assert message.startswith("invalid value for --max-size: ") and says in message
    assert "\n" not in message and len(message) < 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW - timedelta(days=30)),
        ("90m", NOW - timedelta(minutes=90)),
        ("2w", NOW - timedelta(weeks=2)),
        ("12h", NOW - timedelta(hours=12)),
        ("45s", NOW - timedelta(seconds=45)),
        ("0s", NOW),
        ("1.5D", NOW - timedelta(hours=36)),
        (" 3 d ", NOW - timedelta(days=3)),
        ("2026-01-01", datetime(2026, 1, 1, tzinfo=timezone.utc)),
        ("2026-01-01T10:00", datetime(2026, 1, 1, 10, tzinfo=timezone.utc)),
        ("2026-01-01T10:00+02:00", datetime(2026, 1, 1, 8, tzinfo=timezone.utc)),
        ("0001-01-01T00:00+00:00", datetime(1, 1, 1, tzinfo=timezone.utc)),
        ("9999-12-31T23:59", datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc)),
        ("700000d", NOW - timedelta(days=700_000)),
    ],
)
def test_ages(text: str, expected: datetime) -> None:
    assert parse_age(text, now=NOW) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "'' (use a number"),
        ("  ", "'  ' (use a number"),
        ("30x", "'30x'"),
        ("d", "'d'"),
        ("-3d", "'-3d'"),
        ("yesterday", "'yesterday'"),
        ("99999999d", "'99999999d' reaches outside the years 1 to 9999"),
        ("800000d", "'800000d' reaches outside the years 1 to 9999"),
        ("1" * 400 + "s", "reaches outside the years 1 to 9999"),
        ("1" * 5000 + "w", "reaches outside the years 1 to 9999"),
        ("0001-01-01T00:00+14:00", "'0001-01-01T00:00+14:00' reaches outside the years"),
        ("9999-12-31T23:59-14:00", "reaches outside the years 1 to 9999"),
    ],
)
def test_bad_ages_are_usage_errors_naming_the_value(text: str, says: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_age(text, option="--newer-than", now=NOW)
    message = raised.value.message
    assert message.startswith("invalid value for --newer-than: ") and says in message
    assert "\n" not in message and len(message) < 200


def test_formatting() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(1.9) == "1970-01-01T00:00:01Z"
    assert [format_age(1000 - s, now=1000) for s in (0, 59, 60, 3600, DAY, 7 * DAY)] == [
        "0s",
        "59s",
        "1m",
        "1h",
        "1d",
        "1w",
    ]
    assert format_age(2000, now=1000) == "0s"


# -- selections --------------------------------------------------------------------------------


def entry(
    package: str | None = "alpha-pkg",
    version: str | None = "1.0",
    kind: Kind = Kind.DISTRIBUTION,
    layout: Layout = Layout.HTTP_V2,
    size: int = 100,
    used: float = NOW.timestamp() - 10 * DAY,
    path: str = "/c/http-v2/0/1/2/3/4/x",
) -> CacheEntry:
    """One entry of ``size`` bytes in one file, last used at ``used``."""
    return CacheEntry(path, kind, layout, (CacheFile(path, size, used, used),), package, version)


ALPHA_1 = entry()
ALPHA_2_NEW = entry(version="2.0", used=NOW.timestamp() - DAY)
BETA_PAGE = entry("beta-pkg", None, Kind.INDEX_PAGE, Layout.HTTP, 5000)
BUILT = entry("gamma", "0.1", Kind.BUILT_WHEEL, Layout.WHEELS, 10**6, NOW.timestamp() - 100 * DAY)
STRAY = entry(None, None, Kind.UNKNOWN, Layout.OTHER, 1)
ALL = (ALPHA_1, ALPHA_2_NEW, BETA_PAGE, BUILT, STRAY)


@pytest.mark.parametrize(
    ("specs", "options", "matched"),
    [
        ([], {}, ALL),
        (["alpha-pkg"], {}, (ALPHA_1, ALPHA_2_NEW)),
        (["Alpha_Pkg"], {}, (ALPHA_1, ALPHA_2_NEW)),
        (["alpha-pkg<2"], {}, (ALPHA_1,)),
        (["alpha-pkg>=2", "beta-pkg"], {}, (ALPHA_2_NEW, BETA_PAGE)),
        (["beta-pkg<2"], {}, ()),
        (["*-pkg"], {}, (ALPHA_1, ALPHA_2_NEW, BETA_PAGE)),
        (["gam?a"], {}, (BUILT,)),
        ([], {"older_than": "5d"}, (ALPHA_1, BETA_PAGE, BUILT, STRAY)),
        ([], {"older_than": "50d"}, (BUILT,)),
        ([], {"newer_than": "5d"}, (ALPHA_2_NEW,)),
        ([], {"newer_than": "50d"}, (ALPHA_1, ALPHA_2_NEW, BETA_PAGE, STRAY)),
        ([], {"newer_than": "50d", "older_than": "5d"}, (ALPHA_1, BETA_PAGE, STRAY)),
        ([], {"newer_than": "10d", "older_than": "10d"}, ()),
        ([], {"larger_than": "100"}, (BETA_PAGE, BUILT)),
        ([], {"larger_than": "0"}, ALL),
        ([], {"larger_than": "1MB"}, ()),
        ([], {"layouts": [Layout.WHEELS]}, (BUILT,)),
        ([], {"layouts": [Layout.HTTP, Layout.HTTP_V2]}, (ALPHA_1, ALPHA_2_NEW, BETA_PAGE)),
        ([], {"kinds": [Kind.UNKNOWN]}, (STRAY,)),
        (["alpha-pkg"], {"kinds": [Kind.INDEX_PAGE]}, ()),
        (["*"], {"layouts": [Layout.HTTP_V2], "older_than": "5d"}, (ALPHA_1,)),
    ],
)
def test_selection_matches(
    specs: list[str], options: dict[str, object], matched: tuple[CacheEntry, ...]
) -> None:
    selection = build_selection(specs, now=NOW, **options)  # type: ignore[arg-type]
    assert tuple(e for e in ALL if selection.matches(e)) == matched
    assert selection.is_empty is (not specs and not options)


@pytest.mark.parametrize(
    "option", ["older_than", "newer_than", "larger_than"], ids=lambda name: name
)
@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_value_is_bad_input_never_no_selector(option: str, value: str) -> None:
    with pytest.raises(UsageError, match="invalid value for --" + option.replace("_", "-")):
        build_selection([], now=NOW, **{option: value})  # type: ignore[arg-type]


def test_every_selector_alone_makes_a_selection_not_empty() -> None:
    assert Selection().is_empty
    for selection in (
        Selection(specs=(parse_spec("x"),)),
        Selection(kinds=frozenset({Kind.DAMAGED})),
        Selection(layouts=frozenset({Layout.WHEELS})),
        Selection(older_than=0.0),
        Selection(newer_than=0.0),
        Selection(larger_than=0),
    ):
        assert not selection.is_empty, selection


@pytest.mark.parametrize(
    ("text", "pattern", "specifier"),
    [
        ("Requests", "requests", None),
        ("django-*", "django-*", None),
        ("numpy<2", "numpy", "<2"),
        ("Beta_Pkg >= 1.0, != 1.5", "beta-pkg", "!=1.5,>=1.0"),
        ("  zope.interface  ", "zope-interface", None),
    ],
)
def test_specs(text: str, pattern: str, specifier: str | None) -> None:
    spec = parse_spec(text)
    assert spec.pattern == pattern
    assert (None if spec.specifier is None else str(spec.specifier)) == specifier


@pytest.mark.parametrize("text", ["", "numpy<<2", "bad name!", "<2", "x>=", "a;b"])
def test_bad_specs(text: str) -> None:
    with pytest.raises(UsageError, match="invalid"):
        parse_spec(text)


def test_least_recently_used_takes_the_oldest_until_the_budget_holds() -> None:
    candidates = [ALPHA_1, ALPHA_2_NEW, BETA_PAGE, BUILT]
    total = sum(e.size for e in candidates)
    assert least_recently_used(candidates, total, total) == []
    assert least_recently_used(candidates, total, total - 1) == [BUILT]
    # Same last use: the path breaks the tie, so the order is the same on every run.
    assert least_recently_used(candidates, total, 0) == [BUILT, ALPHA_1, BETA_PAGE, ALPHA_2_NEW]
    assert least_recently_used([], 10, 0) == []


@pytest.mark.parametrize(
    ("spec", "version", "matched"),
    [
        ("alpha-pkg>=1", "2.0b1", True),  # a cached pre-release is selected like any version
        ("alpha-pkg<2", "2.0rc1", False),
        ("alpha-pkg<2", "1.5.dev0", True),
        ("alpha-pkg>=1", "not-a-version", False),  # an unparsable version never matches
        ("alpha-pkg>=1", None, False),  # nor does an entry without a version
        ("alpha-pkg", "not-a-version", True),  # without a specifier the name is enough
    ],
)
def test_version_specifiers_take_pre_releases_and_refuse_what_they_cannot_read(
    spec: str, version: str | None, matched: bool
) -> None:
    assert parse_spec(spec).matches(entry(version=version)) is matched


def test_the_newer_than_boundary_is_inclusive() -> None:
    # "Last used within AGE": an entry last used exactly AGE ago matches --newer-than AGE and
    # not --older-than AGE, so the two never both select it and never both leave it.
    boundary = entry(used=NOW.timestamp() - 10 * DAY)
    assert build_selection([], newer_than="10d", now=NOW).matches(boundary)
    assert not build_selection([], older_than="10d", now=NOW).matches(boundary)


def test_a_spec_keeps_the_text_the_user_gave() -> None:
    assert parse_spec(" Beta_Pkg>=1 ").text == " Beta_Pkg>=1 "
    assert parse_spec("gamma").text == "gamma"


# -- the order of a listing --------------------------------------------------------------------


def _listed(*entries: CacheEntry) -> list[tuple[str | None, str | None, str]]:
    scan = CacheScan(Path("/c"), True, entries, (), NOW.timestamp())
    result = list_entries(scan, Selection())
    return [(e.package, e.version, e.path) for e in result.entries]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # Versions in version order, not text order; invalid ones after, entries without last.
        (
            [("a", "10", "/p1"), ("a", "9", "/p2"), ("a", "bad", "/p3"), ("a", None, "/p4")],
            [("a", "9", "/p2"), ("a", "10", "/p1"), ("a", "bad", "/p3"), ("a", None, "/p4")],
        ),
        # Equal versions written apart ("1.0", "1.0.0") tie, and the path decides.
        (
            [("a", "1.0.0", "/p1"), ("a", "1.0", "/p2"), ("a", "1.0", "/p0"), ("a", "1.0.0", "/p")],
            [("a", "1.0.0", "/p"), ("a", "1.0", "/p0"), ("a", "1.0.0", "/p1"), ("a", "1.0", "/p2")],
        ),
        # Projects first by name, then entries of no project; pre-releases before releases.
        (
            [(None, None, "/z"), ("b", "1", "/b"), ("a", "2.0", "/a2"), ("a", "2.0rc1", "/a1")],
            [("a", "2.0rc1", "/a1"), ("a", "2.0", "/a2"), ("b", "1", "/b"), (None, None, "/z")],
        ),
    ],
)
def test_a_listing_is_ordered_by_project_then_version(
    given: list[tuple[str | None, str | None, str]],
    expected: list[tuple[str | None, str | None, str]],
) -> None:
    entries = [entry(package, version, path=path) for package, version, path in given]
    assert _listed(*entries) == expected
