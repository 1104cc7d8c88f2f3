"""The read-only views of a cache: every entry (``list``), per-project totals, and ``info``."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from pipcachex.cache import CacheEntry, CacheScan, Kind, Layout
from pipcachex.errors import PipcachexError
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


def _entry_order(key: SortKey) -> Callable[[CacheEntry], tuple[Any, ...]]:
    if key is SortKey.SIZE:
        return lambda e: (-e.size, e.package or "", str(e.path))
    if key is SortKey.AGE:
        return lambda e: (e.last_used, str(e.path))
    return lambda e: (
        e.package is None,
        e.package or "",
        _version_key(e.version),
        e.kind.value,
        str(e.path),
    )


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
    chosen = sorted((e for e in scan.entries if selection.matches(e)), key=_entry_order(sort))
    summary = summarise_packages(chosen, sort) if packages else None
    return ListResult(scan.root, tuple(chosen), summary, scan.scanned_at)


def summarise_packages(
    entries: Iterable[CacheEntry], sort: SortKey = SortKey.NAME
) -> tuple[PackageSummary, ...]:
    """Aggregate entries into one row per project."""
    groups: dict[str | None, list[CacheEntry]] = defaultdict(list)
    for entry in entries:
        groups[entry.package].append(entry)
    rows = [
        PackageSummary(
            package=name,
            entries=len(members),
            size=sum(e.size for e in members),
            versions=tuple(sorted({e.version for e in members if e.version}, key=_version_key)),
            oldest_use=min(e.last_used for e in members),
            newest_use=max(e.last_used for e in members),
        )
        for name, members in groups.items()
    ]
    if sort is SortKey.SIZE:
        rows.sort(key=lambda r: (-r.size, r.package or ""))
    elif sort is SortKey.AGE:
        rows.sort(key=lambda r: (r.newest_use, r.package or ""))
    else:
        rows.sort(key=lambda r: (r.package is None, r.package or ""))
    return tuple(rows)


def _totals(entries: Sequence[CacheEntry]) -> Totals:
    return Totals(len(entries), sum(e.size for e in entries))


def pip_figures(scan: CacheScan) -> PipFigures:
    """Count what ``pip cache info`` counts: every file under the HTTP dirs, every built wheel."""
    http = [f for e in scan.entries if e.layout in (Layout.HTTP, Layout.HTTP_V2) for f in e.files]
    wheel_files = [f for e in scan.entries if e.layout is Layout.WHEELS for f in e.files]
    wheels = [f for f in wheel_files if f.path.name.endswith(".whl") and "-" in f.path.name]
    return PipFigures(
        http_files=len(http),
        http_size=sum(f.size for f in http),
        wheels=len(wheels),
        wheels_size=sum(f.size for f in wheel_files),
    )


def cache_info(target: CacheTarget, scan: CacheScan) -> InfoResult:
    """Summarise a scanned cache: totals by kind and layout, damage, biggest projects."""
    try:
        version = target.pip.version()
        pip_version: str | None = str(version)
        pip_layout: str | None = "http-v2" if target.pip.writes_http_v2() else "http"
    except PipcachexError:
        if not target.explicit:
            raise
        pip_version = pip_layout = None  # --cache-dir works without a pip to ask
    entries = list(scan.entries)
    by_kind = {k.value: _totals([e for e in entries if e.kind is k]) for k in Kind}
    by_layout = {lay.value: _totals([e for e in entries if e.layout is lay]) for lay in Layout}
    attributed = [e for e in entries if e.package is not None]
    largest = summarise_packages(attributed, SortKey.SIZE)[:10]
    return InfoResult(
        cache_dir=scan.root,
        exists=scan.exists,
        pip_version=pip_version,
        pip_layout=pip_layout,
        total=_totals(entries),
        by_kind={k: v for k, v in by_kind.items() if v.entries},
        by_layout={k: v for k, v in by_layout.items() if v.entries},
        damaged=by_kind[Kind.DAMAGED.value],
        largest_projects=largest,
        pip_figures=pip_figures(scan),
        unreadable=scan.unreadable,
    )
