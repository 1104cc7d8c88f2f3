"""Walking a pip cache directory and turning what is there into ``CacheEntry`` records.

The walk never follows symlinks, never reads a file it does not need, and reads the files it does
need without moving their atime (see ``fileio``). Whatever it cannot recognise becomes an
``unknown`` entry, and whatever is broken a ``damaged`` one, so no command crashes on a bad cache.
"""

from __future__ import annotations

import contextlib
import gc
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from pipcachex import capabilities
from pipcachex.cache.attribute import attribute
from pipcachex.cache.directory import PIP_STATE_NAMES, STALE_SECONDS
from pipcachex.cache.fileio import directory_opener, put_atime_back, scandir_untouched
from pipcachex.cache.identify import Identity
from pipcachex.cache.layout import (
    LOCK_NAME,
    folder_prefix,
    http_name_kind,
    is_entry_name,
    is_wheel_level,
    unknown_entry,
)
from pipcachex.cache.memo import AttributionMemo, memo_directory, memo_key, stamp_of
from pipcachex.cache.model import CacheEntry, CacheFile, Kind, Layout, Problem, ProblemCode
from pipcachex.cache.readahead import ReadAhead, Unread
from pipcachex.cache.tally import CacheTally
from pipcachex.cache.walkers import Part, WalkStart, spread_tally
from pipcachex.cache.wheels import Subdirectory, built_wheel_entries
from pipcachex.errors import CacheError

_HTTP_LAYOUTS = {"http": Layout.HTTP, "http-v2": Layout.HTTP_V2}

ProgressCallback = Callable[[int, int], None]
_ORPHAN_BODY = Problem(ProblemCode.ORPHAN_BODY, "body without its metadata file")
_ORPHAN_METADATA = Problem(ProblemCode.ORPHAN_METADATA, "metadata without its body file")
_STALE_TEMP = Problem(ProblemCode.STALE_TEMP, "stale temporary file left by an interrupted write")


@dataclass(frozen=True)
class CacheScan:
    """Everything found in one cache directory at one moment."""

    root: Path
    exists: bool
    entries: tuple[CacheEntry, ...]
    unreadable: tuple[str, ...]
    scanned_at: float
    #: Workers that were lost, and why (for ``--verbose``); their work was redone in-process.
    worker_trouble: tuple[str, ...] = ()

    @property
    def total_size(self) -> int:
        """Bytes held by all entries."""
        return sum(e.size for e in self.entries)


class CacheWalk:
    """A scan as a stream, for summaries that need not hold 100,000 entries at once.

    Iterate ``entries()`` once; afterwards ``unreadable`` lists what could not be read,
    ``worker_trouble`` what went wrong with worker processes that were lost (their work was
    redone in this process), and the attribution memo (see ``memo``) has been saved for the
    next scan.
    """

    def __init__(
        self,
        root: Path,
        on_progress: ProgressCallback | None = None,
        examine: Callable[[CacheEntry], bool] | None = None,
    ) -> None:
        self.root = root
        self.scanned_at = time.time()
        self.exists = root.is_dir()
        self.unreadable: list[str] = []
        self.worker_trouble: list[str] = []
        self._on_progress = on_progress
        self._examine = examine

    def entries(self) -> Iterator[CacheEntry]:
        """Every entry of the cache, layout by layout (nothing for an absent root)."""
        if not self.exists:
            return
        with _collector_paused():
            memo = AttributionMemo(self.root, memo_directory())
            walker = _Walker(self.root, self.scanned_at, self._on_progress, memo, self._examine)
            walker.unreadable = self.unreadable
            with memo.recording():
                yield from walker.entries()
            self.worker_trouble += walker.worker_trouble

    def tally(self) -> CacheTally:
        """Every entry of the cache added into one tally, rather than yielded.

        On a large cache the walk is spread over worker processes that tally their own parts
        (see ``walkers``); use it instead of ``entries()`` whenever totals are all that is needed.
        """
        if not self.exists:
            return CacheTally()
        with _collector_paused():
            directory = memo_directory()
            memo = AttributionMemo(self.root, directory)
            walker = _Walker(self.root, self.scanned_at, None, memo, read_ahead=False)
            walker.unreadable = self.unreadable
            start = WalkStart(
                str(self.root.absolute()),
                None if directory is None else str(directory),
                self.scanned_at,
            )
            with memo.recording():
                tally = spread_tally(walker, memo, start, self._on_progress)
            self.worker_trouble += walker.worker_trouble
            return tally


def walk_worker(start: WalkStart) -> tuple[_Walker, AttributionMemo]:
    """The walker and memo of a walk worker (see ``walkers``): the same as its parent's."""
    directory = None if start.memo_directory is None else Path(start.memo_directory)
    memo = AttributionMemo(Path(start.root), directory)
    return _Walker(Path(start.root), start.now, None, memo, read_ahead=False), memo


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the block, back as it was afterwards.

    A scan allocates a few objects per file (stat results, listings, entries), none of them in
    reference cycles, and a caller that keeps the entries has the collector walk all of them
    again and again as they pile up: paused, a warm ``list --json`` of 100,000 entries took
    6.9-9.4 s against 8.4-11.2 s. Garbage without cycles is still freed at once.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def scan_cache(
    root: Path,
    *,
    on_progress: ProgressCallback | None = None,
    examine: Callable[[CacheEntry], bool] | None = None,
) -> CacheScan:
    """Read the whole cache under ``root`` into entries (an absent root is an empty cache).

    ``examine``, for callers that select by paths, sizes and times alone, is asked about each
    HTTP entry before its files are read: one it turns down is not attributed (unless the memo
    already knows it) and comes back as ``unknown``, good for counting and nothing else. A
    purge by age reads only what it removes.
    """
    walk = CacheWalk(root, on_progress, examine)
    entries = tuple(walk.entries())
    return CacheScan(
        root,
        walk.exists,
        entries,
        tuple(walk.unreadable),
        walk.scanned_at,
        tuple(walk.worker_trouble),
    )


def _cache_file(path: str, info: os.stat_result) -> CacheFile:
    return CacheFile(path, info.st_size, info.st_mtime, info.st_atime)


Listing = list[tuple[str, os.stat_result]]


class _Walker:
    """One scan: yields entries layout by layout and remembers what could not be listed.

    Paths are plain strings throughout: a walk of 100,000 entries lists some 260,000
    directories, and ``pathlib`` joins were a fifth of a scan's time.
    """

    def __init__(
        self,
        root: Path,
        now: float,
        on_progress: ProgressCallback | None,
        memo: AttributionMemo,
        examine: Callable[[CacheEntry], bool] | None = None,
        *,
        read_ahead: bool = True,
    ) -> None:
        self.root = os.path.abspath(root)
        self._memo = memo
        self._examine = examine
        self.now = now
        self.unreadable: list[str] = []
        self._on_progress = on_progress
        # Without descriptors on directories (Windows), directories are listed by path.
        have = capabilities.current()
        self._by_fd = have.directory_fd
        self._open_directory = directory_opener(have)
        # Without O_NOATIME, listing a directory moves its atime: put it back (a dry run
        # changes nothing).
        self._put_atimes_back = not have.noatime
        # A walk worker reads what it finds itself: it is one of several processes already.
        self._read_ahead = ReadAhead(self._finish, None if read_ahead else 0)
        self.worker_trouble = self._read_ahead.worker_trouble

    def entries(self) -> Iterator[CacheEntry]:
        """Every entry, in walk order, counted for the progress callback."""
        progress = self._on_progress
        if progress is None:
            yield from self._read_ahead.in_order(self._found())
            return
        count = size = 0
        for entry in self._read_ahead.in_order(self._found()):
            count += 1
            size += entry.size
            if count % 500 == 0:
                progress(count, size)
            yield entry
        progress(count, size)

    def _found(self) -> Iterator[CacheEntry | Unread]:
        """Every piece's entries in order."""
        for piece in self.parts():
            if isinstance(piece, CacheEntry):
                yield piece
            else:
                yield from self._part_items(piece)

    def parts(self) -> Iterator[Part | CacheEntry]:
        """The whole walk in its order, cut into parts (256 and more per HTTP layout).

        What belongs to no part (pip's own state, unknown things at the top) comes as entries.
        """
        try:
            with scandir_untouched(self.root) as listing:
                top = sorted((item.name, item.is_dir(follow_symlinks=False)) for item in listing)
        except OSError as exc:
            raise CacheError(
                f"cannot read the cache directory {self.root}: {exc.strerror}"
            ) from None
        for name, is_dir in top:
            item_path = f"{self.root}/{name}"
            if name in _HTTP_LAYOUTS and is_dir:
                yield from self._http_parts(item_path, _HTTP_LAYOUTS[name])
            elif name == "wheels" and is_dir:
                files, dirs = self._listing(item_path)
                yield from self._litter(item_path, files, Layout.WHEELS)
                for sub in dirs:
                    if is_wheel_level(sub.rsplit("/", 1)[-1], 1):
                        yield Part(sub, Layout.WHEELS, depth=1)
                    else:
                        yield from self._unknown(sub, Layout.WHEELS)
            elif name in PIP_STATE_NAMES:
                yield from self._pip_state(item_path, is_dir)
            elif name == LOCK_NAME and not is_dir:
                continue  # pipcachex's own lock file: not pip's, and never to be deleted
            else:
                yield from self._unknown(item_path, Layout.OTHER)

    def _http_parts(self, directory: str, layout: Layout) -> Iterator[Part]:
        files, dirs = self._listing(directory)
        if files:
            yield Part(directory, layout, whole=False)
        for first in dirs:
            files, subdirs = self._listing(first)
            if files:
                yield Part(first, layout, whole=False)
            yield from (Part(sub, layout) for sub in subdirs)

    def part_entries(self, part: Part) -> Iterator[CacheEntry]:
        """The entries of one part, in walk order."""
        if not self._read_ahead.may_hand_over:
            # Nothing is handed over, so every item is an entry already.
            return cast(Iterator[CacheEntry], self._part_items(part))
        return self._read_ahead.in_order(self._part_items(part))

    def _part_items(self, part: Part) -> Iterator[CacheEntry | Unread]:
        if part.layout is Layout.WHEELS:
            return self._wheel_dirs(part.path, part.depth)
        if part.whole:
            return self._http(self._tree(part.path), part.layout)
        files = self._listing(part.path)[0]
        return self._http([(part.path, files)] if files else [], part.layout)

    def _listing(self, directory: str) -> tuple[Listing, list[str]]:
        """The files (name, lstat) and subdirectories (full paths) of ``directory``, sorted."""
        files: Listing = []
        dirs: list[str] = []
        by_fd = self._by_fd
        target: int | str = directory
        atime = None
        try:
            if self._put_atimes_back:
                atime = os.stat(directory).st_atime_ns
            if by_fd:
                target = self._open_directory(directory)
        except FileNotFoundError:
            return files, dirs
        except OSError as exc:
            self.unreadable.append(f"{directory}: {exc.strerror}")
            return files, dirs
        try:
            with os.scandir(target) as listing:
                for item in listing:
                    try:
                        if item.is_dir(follow_symlinks=False):
                            dirs.append(f"{directory}/{item.name}")
                        else:
                            files.append((item.name, item.stat(follow_symlinks=False)))
                    except FileNotFoundError:
                        continue  # pip replaced or removed it while we looked
        except FileNotFoundError:
            pass  # listed by path (no directory descriptors): removed while we looked
        except OSError as exc:
            self.unreadable.append(f"{directory}: {exc.strerror}")
        finally:
            if by_fd:
                os.close(cast(int, target))
            if atime is not None:
                put_atime_back(directory, atime)
        if len(files) > 1:
            files.sort()
        if len(dirs) > 1:
            dirs.sort()
        return files, dirs

    def _tree(self, directory: str) -> Iterator[tuple[str, Listing]]:
        """Every directory below ``directory`` (depth first, sorted) with its files."""
        stack = [directory]
        listing = self._listing
        while stack:
            folder = stack.pop()
            files, dirs = listing(folder)
            if files:
                yield folder, files
            if dirs:
                dirs.reverse()
                stack.extend(dirs)

    def _files(self, directory: str) -> Iterator[tuple[str, os.stat_result]]:
        for folder, files in self._tree(directory):
            for name, info in files:
                yield f"{folder}/{name}", info

    def _unknown(self, path: str, layout: Layout) -> Iterator[CacheEntry]:
        """One ``unknown`` entry per file at or below ``path`` (a link is one, never followed)."""
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return  # removed while we looked: nothing to report
        if stat.S_ISDIR(info.st_mode):
            pairs: Iterable[tuple[str, os.stat_result]] = self._files(path)
        else:
            pairs = [(path, info)]
        for file_path, file_info in pairs:
            yield unknown_entry(file_path, file_info, layout)

    def _litter(self, directory: str, files: Listing, layout: Layout) -> Iterator[CacheEntry]:
        """The ``unknown`` entries of files lying where pip keeps only directories."""
        for name, info in files:
            yield unknown_entry(f"{directory}/{name}", info, layout)

    def _pip_state(self, path: str, is_dir: bool) -> Iterator[CacheEntry]:
        """pip's version-check state: ``selfcheck.json``, or ``selfcheck/<56 hex>`` files."""
        if not is_dir:
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                yield CacheEntry(path, Kind.PIP_STATE, Layout.OTHER, (_cache_file(path, info),))
            else:
                yield unknown_entry(path, info, Layout.OTHER)
            return
        for file_path, info in self._files(path):
            folder, name = os.path.split(file_path)
            if folder == path and stat.S_ISREG(info.st_mode) and is_entry_name(name):
                member = (_cache_file(file_path, info),)
                yield CacheEntry(file_path, Kind.PIP_STATE, Layout.OTHER, member)
            else:
                yield unknown_entry(file_path, info, Layout.OTHER)

    def _temp(self, path: str, info: os.stat_result, layout: Layout) -> CacheEntry:
        files = (_cache_file(path, info),)
        if self.now - info.st_mtime > STALE_SECONDS:
            return CacheEntry(
                path,
                Kind.DAMAGED,
                layout,
                files,
                problem=_STALE_TEMP,
            )
        return CacheEntry(path, Kind.UNKNOWN, layout, files, busy=True)

    def _http(
        self, folders: Iterable[tuple[str, Listing]], layout: Layout
    ) -> Iterator[CacheEntry | Unread]:
        v2 = layout is Layout.HTTP_V2
        layout_dir = f"{self.root}/{layout.value}"
        is_regular = stat.S_ISREG
        for folder, files in folders:
            # Only names pip writes, where pip writes them (see ``layout``), are pip's.
            prefix = folder_prefix(folder, layout_dir)
            by_name = dict(files) if v2 and prefix is not None else {}
            for name, info in files:
                path = f"{folder}/{name}"
                what = http_name_kind(prefix, name) if is_regular(info.st_mode) else None
                if what == "entry":
                    body = by_name.get(name + ".body") if v2 else None
                    if body is not None and not is_regular(body.st_mode):
                        body = None  # a FIFO or device would block or lie: never open it
                    yield self._http_entry(path, name, info, layout, body)
                elif what == "temp":
                    yield self._temp(path, info, layout)
                elif what == "body" and v2:
                    if name[:-5] not in by_name:
                        yield self._orphan(path, info, _ORPHAN_BODY)
                else:
                    yield unknown_entry(path, info, layout)

    def _orphan(self, path: str, info: os.stat_result, problem: Problem) -> CacheEntry:
        return CacheEntry(
            path, Kind.DAMAGED, Layout.HTTP_V2, (_cache_file(path, info),), problem=problem
        )

    def _http_entry(
        self,
        path: str,
        name: str,
        info: os.stat_result,
        layout: Layout,
        body_info: os.stat_result | None,
    ) -> CacheEntry | Unread:
        meta = CacheFile(path, info.st_size, info.st_mtime, info.st_atime)
        if body_info is not None:
            body = CacheFile(
                path, body_info.st_size, body_info.st_mtime, body_info.st_atime, ".body"
            )
            files: tuple[CacheFile, ...] = (meta, body)
        elif layout is Layout.HTTP_V2:
            return self._orphan(path, info, _ORPHAN_METADATA)
        else:
            files = (meta,)
        key = memo_key(layout is Layout.HTTP_V2, name)
        stamp = stamp_of(info, body_info)
        identity = self._memo.lookup(key, stamp)
        if identity is None:
            if self._examine is not None:
                unexamined = CacheEntry(path, Kind.UNKNOWN, layout, files)
                if not self._examine(unexamined):
                    return unexamined
            task = (
                path,
                info.st_size,
                path + ".body" if body_info is not None else None,
                body_info.st_size if body_info else 0,
            )
            unread = Unread(path, layout, files, key, stamp, task)
            if self._read_ahead.hand_over():
                return unread
            return self._finish(unread, attribute(*task))
        return _http_entry(path, layout, files, identity)

    def _finish(self, unread: Unread, identity: Identity) -> CacheEntry:
        """The entry ``unread`` is, now that it has been read; the memo learns it."""
        self._memo.record(unread.key, unread.stamp, identity)
        return _http_entry(unread.path, unread.layout, unread.files, identity)

    def _wheel_dirs(self, directory: str, depth: int) -> Iterator[CacheEntry]:
        """The entries ``depth`` levels below ``wheels/``: built-wheel directories at 4."""
        unreadable = len(self.unreadable)
        files, dirs = self._listing(directory)
        if depth >= 4:
            if len(self.unreadable) > unreadable:
                yield self._unreadable_directory(directory)
                return
            mtime = 0.0 if files or dirs else self._mtime(directory)
            if mtime is None:
                return  # removed while we looked: nothing to report
            found = [self._subdirectory(sub) for sub in dirs]
            subdirectories = [sub for sub in found if sub is not None]
            yield from built_wheel_entries(directory, files, subdirectories, self.now, mtime)
            return
        yield from self._litter(directory, files, Layout.WHEELS)
        for sub in dirs:
            if is_wheel_level(sub.rsplit("/", 1)[-1], depth + 1):
                yield from self._wheel_dirs(sub, depth + 1)
            else:
                yield from self._unknown(sub, Layout.WHEELS)

    def _unreadable_directory(self, directory: str) -> CacheEntry:
        """A built-wheel directory that cannot be listed: unknown, never called damaged."""
        problem = Problem(ProblemCode.UNREADABLE, "cannot be read: the directory cannot be listed")
        return CacheEntry(
            directory,
            Kind.UNKNOWN,
            Layout.WHEELS,
            (),
            problem=problem,
            mtime=self._mtime(directory) or 0.0,
        )

    @staticmethod
    def _mtime(directory: str) -> float | None:
        """The directory's own mtime (0 when it cannot be had), None when it is gone."""
        try:
            return os.lstat(directory).st_mtime
        except FileNotFoundError:
            return None
        except OSError:
            return 0.0

    def _subdirectory(self, path: str) -> Subdirectory | None:
        try:
            mtime = os.lstat(path).st_mtime
        except FileNotFoundError:
            return None  # removed while we looked
        return Subdirectory(path, mtime, list(self._files(path)))


def _http_entry(
    path: str, layout: Layout, files: tuple[CacheFile, ...], identity: Identity
) -> CacheEntry:
    package, version = identity.package, identity.version
    # Positional: this runs once per HTTP entry of every scan. Many entries name the same
    # project and version: one interned string each keeps a 100,000-entry listing MBs smaller.
    return CacheEntry(
        path,
        identity.kind,
        layout,
        files,
        None if package is None else sys.intern(package),
        None if version is None else sys.intern(version),
        identity.filename,
        identity.problem,
    )
