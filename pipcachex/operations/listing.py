"""The read-only views of a cache: every entry (``list``), per-project totals, and ``info``."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from pipcachex.cache import (
    AGE_RESOLUTION,
    CacheEntry,
    CacheScan,
    CacheWalk,
    Kind,
    Layout,
    ProjectTally,
)
from pipcachex.errors import PipcachexError
from pipcachex.lastuse import LastUsed, last_used
from pipcachex.selection import Selection
from pipcachex.target import CacheTarget


class SortKey(str, enum.Enum):
    """Orders ``list`` can show entries in."""

    NAME = "name"
    SIZE = "size"
    AGE = "age"


@dataclass(frozen=True)
class PackageSummary:
    """One project's share of the cache (``package`` is None for unattributed entries)."""

    package: str | None
    entries: int
    size: int
    versions: tuple[str, ...]
    oldest_use: float
    newest_use: float


@dataclass(frozen=True)
class ListResult:
    """The entries a ``list`` selected, in display order, plus per-project rows if asked."""

    cache_dir: Path
    entries: tuple[CacheEntry, ...]
    packages: tuple[PackageSummary, ...] | None
    scanned_at: float


@dataclass(frozen=True)
class Totals:
    """A count of entries and their bytes."""

    entries: int = 0
    size: int = 0


@dataclass(frozen=True)
class PipFigures:
    """The figures ``pip cache info`` prints, computed the way pip computes them."""

    http_files: int
    http_size: int
    wheels: int
    wheels_size: int


@dataclass(frozen=True)
class AgeBand:
    """Entries last used within ``up_to_days`` days but not within the band before it.

    ``up_to_days`` is None for the last band: everything used longer ago (or never).
    """

    label: str
    up_to_days: int | None
    entries: int
    size: int


#: The bands of ``info``'s age profile: (label, last used at most this many days ago).
AGE_BANDS: tuple[tuple[str, int | None], ...] = (
    ("within 1 day", 1),
    ("1 day to 1 week", 7),
    ("1 week to 1 month", 30),
    ("1 to 3 months", 90),
    ("3 months to 1 year", 365),
    ("over 1 year", None),
)


def age_profile(last_used: dict[int, list[int]], now: float) -> tuple[AgeBand, ...]:
    """How many entries and bytes were last used within each band of ``AGE_BANDS`` of ``now``.

    ``last_used`` is ``CacheTally.last_used``: counts by the hour of last use, so a band's edge
    is exact to the hour.
    """
    counts = [[0, 0] for _ in AGE_BANDS]
    for hour, (count, size) in last_used.items():
        age_days = (now - (hour + 1) * AGE_RESOLUTION) / 86400  # the hour's most recent second
        band = next(
            (i for i, (_, days) in enumerate(AGE_BANDS) if days is not None and age_days < days),
            len(AGE_BANDS) - 1,
        )
        counts[band][0] += count
        counts[band][1] += size
    return tuple(
        AgeBand(label, days, entries, size)
        for (label, days), (entries, size) in zip(AGE_BANDS, counts, strict=True)
    )


@dataclass(frozen=True)
class InfoResult:
    """What ``info`` reports about a cache."""

    cache_dir: Path
    exists: bool
    pip_version: str | None
    pip_layout: str | None
    total: Totals
    by_kind: dict[str, Totals]
    by_layout: dict[str, Totals]
    damaged: Totals
    largest_projects: tuple[PackageSummary, ...]
    pip_figures: PipFigures
    unreadable: tuple[str, ...]
    python: str | None = None
    python_source: str | None = None
    age_profile: tuple[AgeBand, ...] = ()
    #: What "last used" means on the cache's file system (None: the cache does not exist).
    last_used: LastUsed | None = None


def _entry_order(
    key: SortKey, entries: Sequence[CacheEntry]
) -> Callable[[CacheEntry], tuple[Any, ...]]:
    if key is SortKey.SIZE:
        return lambda e: (-e.size, e.package or "", e.path)
    if key is SortKey.AGE:
        return lambda e: (e.last_used, e.path)
    # Each distinct version is parsed once and replaced by its rank among them: comparing
    # Version objects (Python code) while sorting 100,000 entries cost more than the sort, and
    # a Version object per entry held tens of MB of keys at once.
    # Versions equal as versions ("1.0", "1.0.0") share a rank, as they compared equal before.
    keyed = sorted(
        ((_version_key(version), version) for version in {e.version for e in entries}),
        key=itemgetter(0),
    )
    rank = {
        version: index
        for index, (_, equal) in enumerate(groupby(keyed, key=itemgetter(0)))
        for _, version in equal
    }

    def by_name(e: CacheEntry) -> tuple[Any, ...]:
        return (e.package is None, e.package or "", rank[e.version], e.kind._value_, e.path)

    return by_name


def _version_key(version: str | None) -> tuple[int, Version | str]:
    if version is None:
        return (2, "")
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def list_entries(
    scan: CacheScan, selection: Selection, sort: SortKey = SortKey.NAME, packages: bool = False
) -> ListResult:
    """Select and order the scanned entries; with ``packages`` also aggregate them per project."""
    chosen = [e for e in scan.entries if selection.matches(e)]
    chosen.sort(key=_entry_order(sort, chosen))
    summary = summarise_packages(chosen, sort) if packages else None
    return ListResult(scan.root, tuple(chosen), summary, scan.scanned_at)


def _project_summary(name: str | None, tally: ProjectTally) -> PackageSummary:
    versions = tuple(sorted(tally.versions, key=_version_key))
    return PackageSummary(name, tally.entries, tally.size, versions, tally.oldest, tally.newest)


def _project_rows(
    tallies: dict[str | None, ProjectTally], sort: SortKey
) -> tuple[PackageSummary, ...]:
    rows = [_project_summary(name, tally) for name, tally in tallies.items()]
    if sort is SortKey.SIZE:
        rows.sort(key=lambda r: (-r.size, r.package or ""))
    elif sort is SortKey.AGE:
        rows.sort(key=lambda r: (r.newest_use, r.package or ""))
    else:
        rows.sort(key=lambda r: (r.package is None, r.package or ""))
    return tuple(rows)


def _largest_projects(tallies: dict[str, ProjectTally], count: int) -> tuple[PackageSummary, ...]:
    # Only the rows shown get their versions sorted: parsing every version of every project
    # in a 100,000-entry cache took longer than the rest of the summary.
    largest = sorted(tallies.items(), key=lambda item: (-item[1].size, item[0]))[:count]
    return tuple(_project_summary(name, tally) for name, tally in largest)


def summarise_packages(
    entries: Iterable[CacheEntry], sort: SortKey = SortKey.NAME
) -> tuple[PackageSummary, ...]:
    """Aggregate entries into one row per project."""
    tallies: dict[str | None, ProjectTally] = defaultdict(ProjectTally)
    for entry in entries:
        tallies[entry.package].add(entry)
    return _project_rows(tallies, sort)


def _pip_version_and_layout(target: CacheTarget) -> tuple[str | None, str | None]:
    """The target pip's version and the HTTP layout it writes (None, None: no pip to ask)."""
    try:
        version = target.pip.version()
        return str(version), "http-v2" if target.pip.writes_http_v2() else "http"
    except PipcachexError:
        if not target.explicit:
            raise
        return None, None  # --cache-dir works without a pip to ask


def cache_info(target: CacheTarget, walk: CacheWalk) -> InfoResult:
    """Summarise a cache as it is walked, holding totals rather than entries.

    Totals by kind and layout, damage, the biggest projects, and the figures ``pip cache info``
    prints, computed the way pip computes them (every file under the HTTP directories; every
    ``*-*.whl`` under ``wheels/``).
    """
    # pip is asked in a subprocess while the cache is walked: its answer (about 0.1 s) is
    # waited for beside the walk, not before it.
    with ThreadPoolExecutor(1) as asking:
        asked = asking.submit(_pip_version_and_layout, target)
        tally = walk.tally()
        pip_version, pip_layout = asked.result()
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_layout: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (kind, layout), (count, size) in tally.buckets.items():
        for total in (by_kind[kind.value], by_layout[layout.value]):
            total[0] += count
            total[1] += size
    order = {k.value: i for i, k in enumerate(Kind)} | {
        lay.value: i for i, lay in enumerate(Layout)
    }

    def totals(buckets: dict[str, list[int]]) -> dict[str, Totals]:
        return {k: Totals(*buckets[k]) for k in sorted(buckets, key=order.__getitem__)}

    kinds = totals(by_kind)
    return InfoResult(
        cache_dir=walk.root,
        exists=walk.exists,
        pip_version=pip_version,
        pip_layout=pip_layout,
        total=Totals(sum(t.entries for t in kinds.values()), sum(t.size for t in kinds.values())),
        by_kind=kinds,
        by_layout=totals(by_layout),
        damaged=kinds.get(Kind.DAMAGED.value, Totals()),
        largest_projects=_largest_projects(tally.projects, 10),
        pip_figures=PipFigures(
            tally.http_files, tally.http_size, tally.wheel_files, tally.wheels_size
        ),
        unreadable=tuple(walk.unreadable),
        python=target.python.path,
        python_source=target.python.source,
        age_profile=age_profile(tally.last_used, walk.scanned_at),
        last_used=last_used(walk.root) if walk.exists else None,
    )
