"""The only code that deletes anything from a cache, under the rules that keep deletion safe.

The rules themselves (what is a cache one may delete from, what an entry may never lose) are
in ``deletion.rules``; this module carries them out.

Every removal goes through ``delete_entries``, which
- refuses a root that does not look like a pip cache (``ensure_deletable``),
- never removes the root, a layout's top directory, a symlink, or anything outside the root,
- never removes pip's own state, an entry a pip is writing right now (``busy``), or an
  unrecognised entry unless asked to,
- removes a file only if it is still the file that was scanned (same size and mtime): pip may
  have replaced it since, and the new file was never selected; a file already gone (another
  pipcachex, a pip) is not a failure: it is what was wanted,
- removes an HTTP entry's metadata before its body, so an interruption leaves at worst an
  orphaned body that pip treats as a miss, and
- removes directories only once they are empty, bottom-up, up to the layout directory.

Large deletions run on a few threads, each taking a run of consecutive entries: removing a file
waits on the disk far longer than the Python around it runs, and the file system serves several
such waits at once. Each entry is still removed by one thread in the order above; directories
two threads share are removed by whichever empties them last.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from pipcachex.cache import CacheEntry, CacheFile, Layout
from pipcachex.deletion.rules import directories_below, has_fresh_build
from pipcachex.deletion.rules import ensure_deletable as ensure_deletable
from pipcachex.deletion.rules import refusal_reason as refusal_reason
from pipcachex.lock import LOCK_NAME

_LAYOUT_DIRS = ("http", "http-v2", "wheels")
#: Threads that delete at once. Measured on a 100,000-entry cache (ext4): two `find -delete`
#: over halves of the tree took 15 s where one over all of it took 27-29 s; four took 15 s.
_WORKERS = 4
#: Entries per task at most: small enough that Ctrl-C stops within a moment and progress moves
#: steadily, large enough that handing out tasks costs nothing next to the deletions.
_CHUNK = 128


@dataclass(frozen=True)
class DeletionProblem:
    """A path that was not deleted, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class DeletionReport:
    """What a deletion did: entries fully removed, entries refused, files that failed."""

    removed: tuple[CacheEntry, ...]
    refused: tuple[DeletionProblem, ...]
    failed: tuple[DeletionProblem, ...]
    removed_directories: int

    @property
    def freed_bytes(self) -> int:
        """Bytes of the entries that were removed."""
        return sum(e.size for e in self.removed)


class _Deleter:
    def __init__(self, root: Path) -> None:
        self.root = os.path.abspath(root)
        self.root_prefix = self.root.rstrip(os.sep) + os.sep
        self.stops = {self.root} | {f"{self.root}/{name}" for name in _LAYOUT_DIRS}
        self.lock_file = f"{self.root}/{LOCK_NAME}"
        self.failed: list[DeletionProblem] = []
        self.removed_directories = 0
        self._inside: dict[str, bool] = {}
        # Counts rmdirs from several threads; set when the caller gives up (Ctrl-C, an error).
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def inside(self, path: str) -> bool:
        """Whether ``path``'s directory really lies within the root (no symlinked parents)."""
        return self._directory_inside(os.path.dirname(path))

    def _directory_inside(self, directory: str) -> bool:
        # Inside means: below the root by name, and no directory between the root and here is a
        # symlink. Each directory is judged once, from its parent's answer and one lstat, where
        # realpath would stat every component of every path again (a third of a purge's time).
        known = self._inside.get(directory)
        if known is None:
            if directory == self.root:
                known = True
            elif not directory.startswith(self.root_prefix):
                known = False
            else:
                parent = os.path.dirname(directory)
                known = self._directory_inside(parent) and not os.path.islink(directory)
            self._inside[directory] = known
        return known

    def unlink(self, member: CacheFile) -> bool:
        """Remove one file if it is still the scanned regular file; record why not otherwise."""
        path = member.path
        if not self.inside(path) or path == self.root:
            self.failed.append(DeletionProblem(path, "outside the cache directory"))
            return False
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return True  # gone already (another purge, a pip): what was wanted
        if not stat.S_ISREG(info.st_mode):
            self.failed.append(DeletionProblem(path, "not a regular file (left alone)"))
            return False
        if info.st_size != member.size or info.st_mtime != member.mtime:
            self.failed.append(DeletionProblem(path, "changed since it was scanned (left alone)"))
            return False
        try:
            os.unlink(path)
        except FileNotFoundError:
            return True
        except OSError as exc:
            self.failed.append(DeletionProblem(path, exc.strerror or str(exc)))
            return False
        return True

    def prune(self, directory: str) -> None:
        """Remove ``directory`` and its parents while they are empty, stopping at a layout dir."""
        # _directory_inside also says the directory itself is no symlink (judged once per run).
        while directory not in self.stops and self._directory_inside(directory):
            try:
                os.rmdir(directory)
            except OSError:
                return
            self._count_directory()
            self._inside.pop(directory, None)
            directory = os.path.dirname(directory)

    def _count_directory(self) -> None:
        with self._lock:
            self.removed_directories += 1

    def remove_tree_files(self, entry: CacheEntry) -> bool:
        """Remove a built-wheel directory's files, then its now empty subdirectories.

        An interrupted build leaves nested directories, some without a file: when the entry
        owns anything below its directory (or is an empty directory), every directory below is
        tried, deepest first. ``rmdir`` only ever removes an empty one, and the caller made sure
        no build is under way in this directory. A plain wheel directory is not listed again.
        """
        ok = all([self.unlink(member) for member in entry.files])
        owns_below = not entry.files or any(m.directory != entry.path for m in entry.files)
        for directory in directories_below(entry.path) if owns_below else ():
            if self._directory_inside(directory):
                try:
                    os.rmdir(directory)
                    self._count_directory()
                except OSError:
                    pass
        self.prune(entry.path)
        # The directory may stay for what is not this entry's: a stale build beside the wheel
        # (an entry of its own) or a file pip wrote since the scan. Without files, the entry is
        # the directory itself.
        return ok and (bool(entry.files) or not os.path.exists(entry.path))

    def remove(self, entry: CacheEntry) -> bool:
        """Remove one entry's files in pip-safe order; return whether all of it is gone."""
        if entry.layout is Layout.WHEELS and os.path.isdir(entry.path):
            if has_fresh_build(entry.path):
                self.failed.append(
                    DeletionProblem(entry.path, "a pip started building here (left alone)")
                )
                return False
            return self.remove_tree_files(entry)
        # The anchor (metadata) goes first, then the body: see the module docstring.
        ordered = sorted(entry.files, key=lambda m: m.path != entry.path)
        ok = True
        for member in ordered:
            if not self.unlink(member):
                ok = False
                break
        for parent in {m.directory for m in entry.files}:
            self.prune(parent)
        return ok


def remove_empty_directories(
    root: Path,
    directories: Iterable[str | Path],
    *,
    root_checked: bool = False,
    force: bool = False,
) -> int:
    """Remove each of ``directories`` and its parents while empty, up to a layout directory.

    For directories a pip emptied itself (``pip cache purge`` before pip 26.0 leaves them);
    returns how many were removed. ``root_checked`` and ``force`` as for ``delete_entries``.
    """
    if not root_checked:
        ensure_deletable(root, force=force)
    deleter = _Deleter(root)
    paths = {os.path.abspath(directory) for directory in directories}
    for directory in sorted(paths, key=lambda p: -p.count(os.sep)):
        deleter.prune(directory)
    return deleter.removed_directories


def delete_entries(
    root: Path,
    entries: Iterable[CacheEntry],
    *,
    allow_unknown: bool = False,
    on_progress: Callable[[int], None] | None = None,
    root_checked: bool = False,
    force: bool = False,
) -> DeletionReport:
    """Delete ``entries`` from the cache at ``root`` under the rules in this module's docstring.

    Entries that may not be deleted are reported as refused; files that could not be deleted are
    reported as failed and the rest carries on. ``root_checked`` says the caller already ran
    ``ensure_deletable`` on this root: a full purge checks before ``pip cache purge`` runs,
    because pip 26 then removes the very directories the check looks for. ``force`` accepts a
    cache that also holds what pip never writes: the user named it with ``--force``.
    """
    if not root_checked:
        ensure_deletable(root, force=force)
    deleter = _Deleter(root)
    todo = list(entries)
    # A few entries per task when there are few, so even a small deletion is shared out.
    size = max(2, min(_CHUNK, -(-len(todo) // (4 * _WORKERS))))
    chunks = [todo[start : start + size] for start in range(0, len(todo), size)]
    removed: list[CacheEntry] = []
    refused: list[DeletionProblem] = []
    done = 0
    with closing(_run(deleter, chunks, allow_unknown)) as results:
        for chunk, outcomes in zip(chunks, results, strict=True):
            for entry, outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, DeletionProblem):
                    refused.append(outcome)
                elif outcome:
                    removed.append(entry)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done)
    # Threads finish in any order; a report in path order reads the same on every run.
    failed = tuple(sorted(deleter.failed, key=lambda problem: problem.path))
    return DeletionReport(tuple(removed), tuple(refused), failed, deleter.removed_directories)


#: What became of one entry: removed (True), not wholly removed (False), or refused (why).
_Outcome = bool | DeletionProblem


def _run(
    deleter: _Deleter, chunks: Sequence[Sequence[CacheEntry]], allow_unknown: bool
) -> Generator[list[_Outcome], None, None]:
    """Each chunk's outcomes, in chunk order; chunks go to threads when there are several."""

    def settle(chunk: Sequence[CacheEntry]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        for entry in chunk:
            if deleter.stopping.is_set():
                break
            reason = refusal_reason(entry, allow_unknown=allow_unknown)
            if reason is None and os.path.abspath(entry.path) == deleter.root:
                reason = "the cache directory itself is never removed"
            if reason is None and os.path.abspath(entry.path) == deleter.lock_file:
                reason = "pipcachex's own lock file is never removed"
            outcomes.append(
                DeletionProblem(entry.path, reason) if reason is not None else deleter.remove(entry)
            )
        return outcomes

    if len(chunks) < 2:
        yield from map(settle, chunks)
        return
    pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="pipcachex-delete")
    futures: list[Future[list[_Outcome]]] = []
    try:
        futures = [pool.submit(settle, chunk) for chunk in chunks]
        for future in futures:
            yield future.result()
    finally:
        # Whatever stops the caller (Ctrl-C, an error), no chunk starts after it, and the
        # threads finish the entries they are on: no entry is left half removed.
        deleter.stopping.set()
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True)
