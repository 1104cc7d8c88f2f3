"""The ``verify`` service: find every damaged cache entry and, when asked, remove it.

Finding is ``scan_cache`` plus ``cache.integrity.find_damage`` per entry; fixing is
``deletion.delete_entries`` on exactly the damaged entries, so purge's safety rules apply (a
foreign directory is refused, busy entries and files changed since the scan are left alone).
A damaged entry is always safe to remove: pip simply fetches or builds it again. An entry that
cannot be read (another user's file, mode 0000) is reported as unreadable and never removed:
what could not be checked may be perfectly good.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipcachex.cache import CacheEntry, CacheScan, Finding, Kind, Problem, find_damage
from pipcachex.deletion import delete_entries

ProgressCallback = Callable[[int, int], None]
UNREADABLE_LEFT = "cannot be read: never removed as damaged (purge --kind unknown selects it)"


@dataclass(frozen=True)
class Found:
    """One entry ``verify`` reports: ``fixed`` is None until a fix was attempted.

    ``path`` is the file that is wrong; ``problem.code.is_damage`` is false for an entry that
    could not be read, which a fix leaves alone.
    """

    path: str
    entry: CacheEntry
    problem: Problem
    fixed: bool | None = None
    fix_error: str | None = None

    @property
    def damaged(self) -> bool:
        """Whether the entry is damaged (removing it is the repair), not merely unreadable."""
        return self.problem.code.is_damage


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify`` found (and, with ``--fix``, did) in one cache."""

    cache_dir: Path
    deep: bool
    checked_entries: int
    problems: tuple[Found, ...]
    unreadable: tuple[str, ...]
    freed_bytes: int = 0

    @property
    def damaged(self) -> tuple[Found, ...]:
        """The damaged entries found: what ``--fix`` removes."""
        return tuple(p for p in self.problems if p.damaged)

    @property
    def unreadable_entries(self) -> tuple[Found, ...]:
        """The entries that could not be read: reported, never removed by ``--fix``."""
        return tuple(p for p in self.problems if not p.damaged)

    @property
    def all_fixed(self) -> bool:
        """Whether every problem found was removed (vacuously true when none was found)."""
        return all(p.fixed for p in self.problems)


def verify_scan(
    scan: CacheScan, *, deep: bool = False, on_progress: ProgressCallback | None = None
) -> VerifyResult:
    """Check every entry of ``scan``; ``on_progress(done, total)`` is called along the way."""
    total = len(scan.entries)
    found: list[Found] = []
    for done, entry in enumerate(scan.entries, start=1):
        finding = find_damage(entry, deep=deep)
        if finding is not None:
            found.append(_found(finding))
        if on_progress is not None:
            on_progress(done, total)
    found.sort(key=lambda p: p.path)
    return VerifyResult(scan.root, deep, total, tuple(found), scan.unreadable)


def _found(finding: Finding) -> Found:
    if not finding.problem.code.is_damage:
        return Found(finding.path, finding.entry, finding.problem)
    # Report (and delete) the entry as damaged whatever the scanner first took it for, so the
    # JSON ``entry.kind`` says what it is now and deletion treats it as the broken thing it is.
    entry = dataclasses.replace(finding.entry, kind=Kind.DAMAGED, problem=finding.problem)
    return Found(finding.path, entry, finding.problem)


def fix_problems(
    result: VerifyResult, *, on_progress: Callable[[int], None] | None = None
) -> VerifyResult:
    """Remove every damaged entry of ``result`` through ``deletion``; mark each fixed or not.

    Unreadable entries are marked not fixed, with the reason, and left alone.
    """
    report = delete_entries(
        result.cache_dir, [p.entry for p in result.damaged], on_progress=on_progress
    )
    removed = {e.path for e in report.removed}
    reasons = {d.path: d.reason for d in (*report.refused, *report.failed)}
    fixed: list[Found] = []
    for problem in result.problems:
        if not problem.damaged:
            fixed.append(dataclasses.replace(problem, fixed=False, fix_error=UNREADABLE_LEFT))
            continue
        if problem.entry.path in removed:
            fixed.append(dataclasses.replace(problem, fixed=True))
            continue
        files = (problem.entry.path, *problem.entry.paths)
        reason = next((reasons[p] for p in files if p in reasons), "could not be removed")
        fixed.append(dataclasses.replace(problem, fixed=False, fix_error=reason))
    return dataclasses.replace(result, problems=tuple(fixed), freed_bytes=report.freed_bytes)
