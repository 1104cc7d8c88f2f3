"""The ``verify`` service: find every damaged cache entry and, when asked, remove it.

Finding is ``scan_cache`` plus ``cache.integrity.find_damage`` per entry; fixing is
``deletion.delete_entries`` on exactly the damaged entries, so purge's safety rules apply (a
foreign directory is refused, busy entries and files changed since the scan are left alone).
A damaged entry is always safe to remove: pip simply fetches or builds it again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipcachex.cache import CacheEntry, CacheScan, Kind
from pipcachex.cache.integrity import Damage, find_damage
from pipcachex.deletion import delete_entries

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Problem:
    """One damaged entry as reported: ``fixed`` is None until a fix was attempted."""

    path: str
    entry: CacheEntry
    problem: str
    fixed: bool | None = None
    fix_error: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify`` found (and, with ``--fix``, did) in one cache."""

    cache_dir: Path
    deep: bool
    checked_entries: int
    problems: tuple[Problem, ...]
    unreadable: tuple[str, ...]
    freed_bytes: int = 0

    @property
    def all_fixed(self) -> bool:
        """Whether every problem found was removed (vacuously true when none was found)."""
        return all(p.fixed for p in self.problems)


def verify_scan(
    scan: CacheScan, *, deep: bool = False, on_progress: ProgressCallback | None = None
) -> VerifyResult:
    """Check every entry of ``scan``; ``on_progress(done, total)`` is called along the way."""
    total = len(scan.entries)
    found: list[Problem] = []
    for done, entry in enumerate(scan.entries, start=1):
        damage = find_damage(entry, deep=deep)
        if damage is not None:
            found.append(_problem(damage))
        if on_progress is not None:
            on_progress(done, total)
    found.sort(key=lambda p: p.path)
    return VerifyResult(scan.root, deep, total, tuple(found), scan.unreadable)


def _problem(damage: Damage) -> Problem:
    # Report (and delete) the entry as damaged whatever the scanner first took it for, so the
    # JSON ``entry.kind`` says what it is now and deletion treats it as the broken thing it is.
    entry = dataclasses.replace(damage.entry, kind=Kind.DAMAGED, problem=damage.problem)
    return Problem(damage.path, entry, damage.problem)


def fix_problems(
    result: VerifyResult, *, on_progress: Callable[[int], None] | None = None
) -> VerifyResult:
    """Remove every damaged entry of ``result`` through ``deletion``; mark each fixed or not."""
    report = delete_entries(
        result.cache_dir, [p.entry for p in result.problems], on_progress=on_progress
    )
    removed = {e.path for e in report.removed}
    reasons = {d.path: d.reason for d in (*report.refused, *report.failed)}
    fixed: list[Problem] = []
    for problem in result.problems:
        if problem.entry.path in removed:
            fixed.append(dataclasses.replace(problem, fixed=True))
            continue
        files = (problem.entry.path, *problem.entry.paths)
        reason = next((reasons[p] for p in files if p in reasons), "could not be removed")
        fixed.append(dataclasses.replace(problem, fixed=False, fix_error=reason))
    return dataclasses.replace(result, problems=tuple(fixed), freed_bytes=report.freed_bytes)
