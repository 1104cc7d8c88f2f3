"""Purging a pip cache: a plan (what would go) and its execution.

``plan_purge`` scans the cache and decides, changing nothing, which entries go: those matching
every selector, or with ``--max-size`` the least recently used of them until the cache fits.
``execute_purge`` deletes them through ``deletion.delete_entries``, the only code that unlinks.
The workflow around the two (index check, confirmation, backup, lock, check afterwards) is
``run_purge`` in ``purge_workflow``.

A purge with no selector at all is pip's own job: ``execute_purge`` runs ``pip cache purge`` and
then removes what that pip left behind (a pip older than 23.3 does not know ``http-v2/``, and
pips before 26.0 leave empty directories and ``origin.json`` files), limited to what the plan
listed, so nothing written after the user confirmed is touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipcachex.cache import LAYOUT_DIRS, CacheEntry, Kind, Layout, scan_cache
from pipcachex.deletion import (
    DeletionProblem,
    delete_entries,
    ensure_deletable,
    refusal_reason,
    remove_empty_directories,
)
from pipcachex.deletion.rules import foreign_files, holds_more_than_pip_state, name_some
from pipcachex.errors import CacheError, PipError, UnsafeCacheError
from pipcachex.lock import LOCK_NAME
from pipcachex.operations.listing import PackageSummary, SortKey, summarise_packages
from pipcachex.pip_runner import PipPurgeResult, PipRunner
from pipcachex.selection import Selection, least_recently_used
from pipcachex.units import format_size

if TYPE_CHECKING:
    pass

#: Called with (entries done, entries in total) while scanning or deleting.
PurgeProgress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class PurgePlan:
    """What a purge will remove, decided from one scan; nothing has been changed yet.

    ``full`` means no selector was given: pip's own ``pip cache purge`` runs first. ``refused``
    lists selected entries that may not go (unrecognised, busy); pip's own state is never
    selected at all. ``cache_size`` is the whole cache's size at the scan. ``forced``: the user
    named this directory with ``--force``, so what pip never writes may go too.
    """

    root: Path
    full: bool
    allow_unknown: bool
    remove: tuple[CacheEntry, ...]
    refused: tuple[DeletionProblem, ...]
    kept: tuple[CacheEntry, ...]
    cache_size: int
    max_size: int | None
    scanned_at: float
    unreadable: tuple[str, ...] = ()
    worker_trouble: tuple[str, ...] = ()
    forced: bool = False

    @property
    def freed_bytes(self) -> int:
        """Bytes the planned removals would free."""
        return sum(e.size for e in self.remove)

    @property
    def size_after(self) -> int:
        """The cache's size once the plan is carried out."""
        return self.cache_size - self.freed_bytes

    @property
    def projects(self) -> tuple[PackageSummary, ...]:
        """The planned removals per project, largest first."""
        return summarise_packages(self.remove, SortKey.SIZE)


@dataclass(frozen=True)
class PurgeResult:
    """What a purge did (or, with ``dry_run``, would do).

    ``removed`` are entries entirely gone, ``failed`` files that could not be deleted, ``refused``
    entries that were not allowed to go. For a full purge, ``pip`` is what ``pip cache purge``
    reported and ``leftovers_removed`` how many entries pipcachex removed after it;
    ``pip_skipped`` says why pip was not run and pipcachex removed everything itself.
    """

    plan: PurgePlan
    dry_run: bool
    removed: tuple[CacheEntry, ...]
    failed: tuple[DeletionProblem, ...]
    refused: tuple[DeletionProblem, ...]
    kept_entries: int
    removed_directories: int = 0
    pip: PipPurgeResult | None = None
    pip_version: str | None = None
    leftovers_removed: int = 0
    pip_skipped: str | None = None

    @property
    def freed_bytes(self) -> int:
        """Bytes of the removed entries."""
        return sum(e.size for e in self.removed)

    @property
    def projects(self) -> tuple[PackageSummary, ...]:
        """The removed entries per project, largest first."""
        return summarise_packages(self.removed, SortKey.SIZE)


def plan_purge(
    root: Path,
    selection: Selection,
    *,
    max_size: int | None = None,
    force: bool = False,
    on_progress: PurgeProgress | None = None,
) -> PurgePlan:
    """Scan the cache at ``root`` and decide what a purge with these selectors removes.

    Raises ``UnsafeCacheError`` for a directory that is not a pip cache, before reading
    anything in it: one holding at its top anything pip never writes there (see
    ``layout_names``). A full purge, which takes everything, also refuses a cache holding any
    file pip never writes anywhere in it. ``force`` (the user named this directory with
    ``--force``) lifts both. A cache that does not exist yet, or that holds only pip's own
    state (as after a full purge), is an empty plan.
    """
    full = selection.is_empty and max_size is None
    allow_unknown = full or Kind.UNKNOWN in selection.kinds
    if not holds_more_than_pip_state(root):
        return PurgePlan(root, full, allow_unknown, (), (), (), 0, max_size, 0.0, forced=force)
    ensure_deletable(root, force=force, hint=f" (add --force {root} to purge it anyway)")
    # Selected by age and size alone, an entry needs reading only if it is to be removed.
    by_times_and_sizes = not (full or selection.specs or selection.kinds or max_size is not None)
    scan = scan_cache(
        root,
        on_progress=on_progress,
        examine=selection.matches if by_times_and_sizes else None,
    )
    candidates: list[CacheEntry] = []
    refused: list[DeletionProblem] = []
    lock_file = os.path.join(os.path.abspath(root), LOCK_NAME)
    for entry in scan.entries:
        # pip's own state and pipcachex's lock file are not part of the cache a user purges:
        # never selected, never listed.
        if entry.kind is Kind.PIP_STATE or entry.path == lock_file:
            continue
        if not (full or selection.matches(entry)):
            continue
        reason = refusal_reason(entry, allow_unknown=allow_unknown)
        if reason is None:
            candidates.append(entry)
        elif not (max_size is not None and selection.is_empty and entry.kind is Kind.UNKNOWN):
            # With --max-size alone every unrecognised file "matches"; listing each is noise.
            refused.append(DeletionProblem(entry.path, reason))
    if full and not force:
        # Only what would be deleted: a link is kept (refused above), whatever its name.
        _refuse_foreign_files(root, candidates)
    if max_size is not None:
        chosen = least_recently_used(candidates, scan.total_size, max_size)
    else:
        chosen = sorted(candidates, key=lambda e: e.path)
    chosen_ids = {id(e) for e in chosen}
    return PurgePlan(
        root=root,
        full=full,
        allow_unknown=allow_unknown,
        remove=tuple(chosen),
        refused=tuple(refused),
        kept=tuple(e for e in scan.entries if id(e) not in chosen_ids),
        cache_size=scan.total_size,
        max_size=max_size,
        scanned_at=scan.scanned_at,
        unreadable=scan.unreadable,
        worker_trouble=scan.worker_trouble,
        forced=force,
    )


def _refuse_foreign_files(root: Path, entries: list[CacheEntry]) -> None:
    """Raise ``UnsafeCacheError`` when any file in ``entries`` is not one pip writes."""
    foreign = foreign_files(
        root, (f.path for e in entries if e.kind is not Kind.PIP_STATE for f in e.files)
    )
    if foreign:
        raise UnsafeCacheError(
            f"refusing to purge everything: {root} holds files pip never writes in a cache: "
            f"{name_some(foreign)} (select what to remove, or add --force {root} to remove "
            "these too)"
        )


def preview_purge(plan: PurgePlan) -> PurgeResult:
    """The result a ``--dry-run`` reports: the plan as if carried out, nothing touched."""
    return PurgeResult(plan, True, plan.remove, (), plan.refused, len(plan.kept))


def execute_purge(
    plan: PurgePlan, pip: PipRunner | None = None, *, on_progress: PurgeProgress | None = None
) -> PurgeResult:
    """Carry out ``plan``: delete its entries (after ``pip cache purge`` for a full purge).

    A file that cannot be deleted is reported in ``failed`` and the rest carries on. ``pip`` is
    required for a full purge.
    """
    total = len(plan.remove)

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    if not plan.remove:
        return PurgeResult(plan, False, (), (), plan.refused, len(plan.kept))
    if plan.full:
        if pip is None:
            raise ValueError("a full purge needs a PipRunner")
        return _execute_full(plan, pip, progress)
    report = delete_entries(
        plan.root,
        plan.remove,
        allow_unknown=plan.allow_unknown,
        on_progress=progress,
        force=plan.forced,
    )
    return PurgeResult(
        plan,
        False,
        report.removed,
        report.failed,
        plan.refused + report.refused,
        len(plan.kept) + total - len(report.removed),
        report.removed_directories,
    )


def pip_would_overreach(plan: PurgePlan) -> str | None:
    """Why ``pip cache purge`` must not run for ``plan``, or None when it may.

    pip removes every file below its layout directories, following a layout directory that
    is a symbolic link to wherever it points, and unlinking file links and entries a pip is
    writing right now. When the plan keeps any such thing, pipcachex removes the planned
    entries itself, so that what the report calls kept is kept.
    """
    linked = sorted(name for name in LAYOUT_DIRS if os.path.islink(plan.root / name))
    if linked:
        return f"{', '.join(linked)} is a symbolic link, which pip would follow"
    if plan.refused:
        return "it would remove what this purge keeps (symbolic links, entries being written)"
    return None


def _execute_full(plan: PurgePlan, pip: PipRunner, progress: Callable[[int], None]) -> PurgeResult:
    pip_result: PipPurgeResult | None = None
    pip_version: str | None = None
    skipped = pip_would_overreach(plan)
    if skipped is not None:
        report = delete_entries(
            plan.root, plan.remove, allow_unknown=True, on_progress=progress, force=plan.forced
        )
        return PurgeResult(
            plan,
            False,
            report.removed,
            report.failed,
            plan.refused + report.refused,
            len(plan.kept) + len(plan.remove) - len(report.removed),
            report.removed_directories,
            pip_skipped=skipped,
        )
    # An old pip fails on a purge that finds nothing, so only ask it when its layouts hold some.
    if any(e.layout is not Layout.OTHER for e in plan.remove):
        pip_version = str(pip.require_supported())
        if not os.access(plan.root, os.W_OK):
            # pip calls a cache it cannot write "disabled", which would send the user looking
            # for a setting that is not there.
            raise CacheError(
                f"cannot purge {plan.root}: the directory is not writable (a read-only file "
                "system, or not yours); nothing was removed"
            )
        try:
            pip_result = pip.cache_purge()
        except PipError as exc:
            removed = tuple(e for e in plan.remove if _gone(e))
            raise PurgeFailed(exc, removed, len(plan.remove)) from None
    after = scan_cache(plan.root)
    planned_files = {f.path for e in plan.remove for f in e.files}
    planned_dirs = {e.path for e in plan.remove if e.is_directory_entry}
    leftovers = [
        e
        for e in after.entries
        if e.kind is not Kind.PIP_STATE
        and (all(f.path in planned_files for f in e.files) if e.files else e.path in planned_dirs)
    ]
    # The root passed ensure_deletable when planned; pip may since have removed its layout dirs.
    report = delete_entries(
        plan.root, leftovers, allow_unknown=True, on_progress=progress, root_checked=True
    )
    pruned = remove_empty_directories(
        plan.root, {os.path.dirname(f) for f in planned_files}, root_checked=True
    )
    removed = tuple(e for e in plan.remove if _gone(e))
    already_refused = {p.path for p in plan.refused}
    return PurgeResult(
        plan,
        False,
        removed,
        report.failed,
        plan.refused + tuple(p for p in report.refused if p.path not in already_refused),
        len(after.entries) - len(report.removed),
        report.removed_directories + pruned,
        pip_result,
        pip_version,
        len(report.removed),
    )


def _gone(entry: CacheEntry) -> bool:
    return not os.path.lexists(entry.path) and not any(os.path.lexists(f.path) for f in entry.files)


class PurgeFailed(PipError):
    """``pip cache purge`` failed part-way: what it had removed by then is in ``removed``."""

    def __init__(self, cause: PipError, removed: tuple[CacheEntry, ...], planned: int) -> None:
        freed = format_size(sum(e.size for e in removed))
        super().__init__(
            f"{cause.message}; it had removed {len(removed)} of the {planned} entries "
            f"({freed}) by then: run the purge again to finish",
            command=cause.command,
            returncode=cause.returncode,
            stderr=cause.stderr,
        )
        self.removed = removed


__all__ = [
    "PurgeFailed",
    "PurgePlan",
    "PurgeProgress",
    "PurgeResult",
    "execute_purge",
    "pip_would_overreach",
    "plan_purge",
    "preview_purge",
]
