"""Restoring a backup into a cache: verify everything first, then plan, then apply.

``plan_restore`` reads the whole archive in one pass (``reader``) before anything is decided,
so a damaged archive changes nothing. It then compares each recorded file with the cache:
missing ones are to be added, identical ones skipped, different ones kept as they are (merge)
or, with ``replace``, their entries removed and rewritten from the backup together with every
entry the backup does not hold. ``apply_restore`` first checks there is room for what will be
written, then reads the archive a second time, checked against the table of the first pass,
and writes each file to a temp file beside its target, gives it the permissions pip would
(the cache directory's read/write bits, as pip's ``copy_directory_permissions``), makes it
durable (a batch at a time: ``syncfs`` of the cache's file system, or an fsync of each file),
``os.replace``\\ s it in and then sets its recorded times. Removals go through
``pipcachex.deletion``, the only code that deletes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pipcachex import capabilities
from pipcachex.atomic import fsync_directory, replace
from pipcachex.backup.catalog import ArchiveRef
from pipcachex.backup.directories import Directories, Obstacles
from pipcachex.backup.format import CHUNK, ArchiveError, BackupHeader
from pipcachex.backup.reader import ArchiveReader, verify
from pipcachex.backup.table import FileTable, RecordSubset
from pipcachex.cache import CacheEntry, scan_cache, untouched_descriptor
from pipcachex.deletion import delete_entries
from pipcachex.errors import PipcachexError
from pipcachex.lock import cache_lock

ProgressCallback = Callable[[int, int], None]
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_TEMP_FLAGS |= getattr(os, "O_BINARY", 0)
_CHMOD_FD = os.chmod in os.supports_fd
#: fsyncs under way at once (file systems commit concurrent fsyncs together), and temp files
#: written but not made durable and renamed in yet, at most.
FSYNC_THREADS = 64
PENDING_LIMIT = 1024
#: What a file costs on disk beyond its bytes, at most (one file system block), for the check
#: that a restore fits before it starts.
_BLOCK_SLACK = 4096


class RestoreError(PipcachexError):
    """A restore cannot start (no room, cache unusable); nothing was changed: exit 1."""


@dataclass(frozen=True)
class Problem:
    """A file that could not be restored or removed, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class RestorePlan:
    """What restoring ``archive`` into ``root`` would do; computed without changing anything."""

    root: Path
    archive: ArchiveRef
    header: BackupHeader
    replace: bool
    add: RecordSubset
    identical: RecordSubset
    different: RecordSubset
    remove: tuple[CacheEntry, ...]
    blocked: tuple[Problem, ...]


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did (or, with ``dry_run``, would do); ``added_bytes`` is ``added``'s size."""

    plan: RestorePlan
    dry_run: bool
    added: tuple[str, ...]
    added_bytes: int
    identical: int
    kept: tuple[str, ...]
    removed: tuple[CacheEntry, ...]
    warnings: tuple[Problem, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """Whether every file that should have been restored or removed was."""
        return not self.problems


def _compare(path: str, size: int, sha256: bytes) -> str:
    """Classify the cache's file against a record: missing, identical, different or blocked."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return "blocked: " + (exc.strerror or str(exc))
    if not stat.S_ISREG(info.st_mode):
        return "blocked"
    if info.st_size != size:
        return "different"
    try:
        with untouched_descriptor(path) as fd:
            digest = hashlib.sha256()
            while chunk := os.read(fd, CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return "blocked: cannot read it: " + (exc.strerror or str(exc))
    return "identical" if digest.digest() == sha256 else "different"


def _open(ref: ArchiveRef) -> BinaryIO:
    try:
        stream: BinaryIO = ref.store.open(ref.name)
    except OSError as exc:
        raise ArchiveError(f"cannot read {ref.label}: {exc.strerror or exc}") from None
    return stream


def plan_restore(
    root: Path,
    archive: ArchiveRef,
    *,
    replace: bool = False,
    on_progress: ProgressCallback | None = None,
) -> RestorePlan:
    """Verify the whole archive, then work out what restoring it into ``root`` would change.

    Raises ArchiveError, before anything is decided, when the archive is damaged in any way.
    """
    root = root.absolute()
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, done)

    stream = _open(archive)
    try:
        header, table = verify(stream, archive.label, advance)
    finally:
        stream.close()
    # Record indices as 64-bit arrays, not lists of int objects: 183,000 of them were 15 MB.
    groups: dict[str, array[int]] = {
        "missing": array("q"),
        "identical": array("q"),
        "different": array("q"),
    }
    blocked: list[Problem] = []
    top = os.fspath(root)
    obstacle = Obstacles(top)
    absent = obstacle.absent
    for index, path in enumerate(table.paths):
        directory = path.rpartition("/")[0]
        reason = obstacle.directory(directory)
        if reason:
            state = "blocked"
        elif directory in absent:
            state = "missing"  # its directory does not exist (a fresh cache)
        else:
            state = _compare(os.path.join(top, path), table.sizes[index], table.digest(index))
        if state.startswith("blocked"):
            why = reason or state.partition(": ")[2] or "something other than a file is there"
            blocked.append(Problem(path, why))
        else:
            groups[state].append(index)
    remove: list[CacheEntry] = []
    again: set[str] = set()
    if replace and root.is_dir():
        wanted = table.positions()
        same = {table.paths[i] for i in groups["identical"]}
        prefix = os.path.join(top, "")
        for entry in scan_cache(root).entries:
            relative = [_relative(f.path, prefix) for f in entry.files]
            if not all(p in same for p in relative):
                remove.append(entry)
                # Files of a removed entry that the backup holds come back from the backup.
                groups["missing"].extend(wanted[p] for p in relative if p in wanted)
                again.update(relative)
    wanted_now = bytearray(len(table))
    for index in groups["missing"]:
        wanted_now[index] = 1
    if replace:
        for index in groups["different"]:
            wanted_now[index] = 1
    return RestorePlan(
        root=root,
        archive=archive,
        header=header,
        replace=replace,
        add=RecordSubset(table, (i for i, flag in enumerate(wanted_now) if flag)),
        identical=RecordSubset(
            table, (i for i in groups["identical"] if table.paths[i] not in again)
        ),
        different=RecordSubset(table, groups["different"]),
        remove=tuple(remove),
        blocked=tuple(blocked),
    )


def _relative(path: str, prefix: str) -> str:
    text = path[len(prefix) :] if path.startswith(prefix) else path
    return text if os.sep == "/" else text.replace(os.sep, "/")


def dry_run_result(plan: RestorePlan) -> RestoreResult:
    """What ``apply_restore`` would report, without touching anything."""
    return RestoreResult(
        plan=plan,
        dry_run=True,
        added=tuple(plan.add.paths()),
        added_bytes=plan.add.total_size(),
        identical=len(plan.identical),
        kept=() if plan.replace else tuple(plan.different.paths()),
        removed=plan.remove,
        warnings=(),
        problems=plan.blocked,
    )


def check_space(plan: RestorePlan) -> None:
    """Raise RestoreError, before anything changes, when what will be written does not fit."""
    needed = plan.add.total_size() + _BLOCK_SLACK * len(plan.add)
    if not needed:
        return
    where = plan.root
    while not where.exists() and where.parent != where:
        where = where.parent
    usage = capabilities.disk_usage(where)
    if usage is None:
        return  # cannot tell: the writes themselves will say
    free = usage[0]
    freed = sum(e.size for e in plan.remove)
    if free + freed < needed:
        raise RestoreError(
            f"not enough space in {plan.root}: the restore writes about {needed} bytes, "
            f"{free} are free"
            + (f" ({freed} more after removals)" if freed else "")
            + "; nothing changed"
        )


def apply_restore(plan: RestorePlan, on_progress: ProgressCallback | None = None) -> RestoreResult:
    """Carry out ``plan`` under the cache lock: check space, remove (with ``replace``), then
    write each file. Raises CacheBusyError (nothing changed) while another pipcachex works on
    the cache: a purge or ``verify --fix`` must not take a restore's temp files for litter."""
    try:
        plan.root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RestoreError(f"cannot create {plan.root}: {exc.strerror or exc}") from None
    with cache_lock(plan.root, command="restore"):
        return _apply(plan, on_progress)


def _apply(plan: RestorePlan, on_progress: ProgressCallback | None) -> RestoreResult:
    check_space(plan)
    warnings: list[Problem] = []
    problems: list[Problem] = list(plan.blocked)
    removed: tuple[CacheEntry, ...] = ()
    if plan.remove:
        report = delete_entries(plan.root, plan.remove, allow_unknown=True)
        removed = report.removed
        warnings += [Problem(str(p.path), p.reason) for p in report.refused]
        problems += [Problem(str(p.path), p.reason) for p in report.failed]
    writer = _Writer(plan, on_progress)
    writer.run()
    kept = (() if plan.replace else tuple(plan.different.paths())) + tuple(writer.kept)
    return RestoreResult(
        plan=plan,
        dry_run=False,
        added=tuple(writer.added),
        added_bytes=writer.added_bytes,
        identical=len(plan.identical) + writer.identical,
        kept=kept,
        removed=removed,
        warnings=tuple(warnings),
        problems=tuple(problems + writer.problems),
    )


class _Writer:
    """The second pass over the archive: writes the planned files as their members go by.

    Each file goes to a temp file beside its target once its member has been read to the end
    and matched the verified table. Every ``PENDING_LIMIT`` files, the batch is made durable
    (``_settle``) and each file renamed over its target, in archive order, if the cache still
    lacks it. A crash leaves complete files and at most ``PENDING_LIMIT``
    ``.<name>.<random>.restore.tmp`` files.
    """

    def __init__(self, plan: RestorePlan, on_progress: ProgressCallback | None) -> None:
        self.plan = plan
        self.root = os.fspath(plan.root)
        self.table: FileTable = plan.add.table
        self.todo = bytearray(len(self.table))
        for index in plan.add.indices:
            self.todo[index] = 1
        self.total = plan.add.total_size()
        self.done = 0
        self.on_progress = on_progress
        self.added: list[str] = []
        self.added_bytes = 0
        self.kept: list[str] = []
        self.identical = 0
        self.problems: list[Problem] = []
        self.directories: set[str] = set()
        self.made = Directories(self.root)
        self.modes: dict[str, int] = {}
        self._token = secrets.token_hex(4)
        self._counter = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[str, str, int]] = deque()
        self.synced = False

    def run(self) -> None:
        if not len(self.plan.add):
            return
        ref = self.plan.archive
        stream = _open(ref)
        self._pool = ThreadPoolExecutor(FSYNC_THREADS, thread_name_prefix="pipcachex-fsync")
        try:
            reader = ArchiveReader(stream, ref.label, expected=self.table)
            if reader.header.digest != self.plan.header.digest:
                raise ArchiveError(f"{ref.label} changed since it was verified")
            for member in reader.members():
                if self.todo[member.index]:
                    self._restore(member.index, member.chunks())
            self._settle()
            # The renames, durable: the file system once more, or each directory that got a
            # new name, fsynced in parallel.
            if not (self.synced and capabilities.sync_file_system(self.root)):
                # (A syncfs that fails at the very end, after earlier ones worked, leaves the
                # renames to the file system's own commit, as a crash before it would.)
                list(self._pool.map(_fsync_directory, sorted(self.directories)))
        finally:
            stream.close()
            # Whatever stopped the pass (a damaged archive, Ctrl-C), no temp file stays.
            for temp, _, _ in self._pending:
                _unlink(temp)
            self._pending.clear()
            self._pool.shutdown(wait=True)

    def _settle(self) -> None:
        """Make the written temp files durable, then rename each in, in archive order.

        One ``syncfs`` of the cache's file system where the system has it; else an fsync of
        each file, in parallel. Either way, no write is under way meanwhile: fsyncs that
        overlap the writing make every ``mkdir`` and ``open`` wait for the journal (twice the
        time of a restore, measured on ext4).
        """
        assert self._pool is not None
        batch = self._pending
        if not batch:
            return
        if capabilities.sync_file_system(self.root):
            self.synced = True
            self.directories.clear()  # a syncfs at the end covers them all
            errors: list[str | None] = [None] * len(batch)
        else:
            errors = list(self._pool.map(_fsync_file, [temp for temp, _, _ in batch]))
        while batch:
            temp, target, index = batch.popleft()
            error = errors[len(errors) - len(batch) - 1]
            if error is not None:
                _unlink(temp)
                self.problems.append(Problem(self.table.paths[index], error))
            else:
                self._rename(temp, target, index)

    def _mode(self, path: str) -> int:
        """The mode pip gives a new file: its cache directory's read/write bits, plus 0600."""
        top = path.split("/", 1)[0] if "/" in path else ""
        mode = self.modes.get(top)
        if mode is None:
            try:
                mode = (os.stat(os.path.join(self.root, top)).st_mode & 0o666) | 0o600
            except OSError:
                mode = 0o600
            self.modes[top] = mode
        return mode

    def _restore(self, index: int, chunks: Iterable[memoryview]) -> None:
        """Write record ``index``'s file to a temp file, then rename it in if still wanted."""
        table = self.table
        path = table.paths[index]
        directory, _, name = path.rpartition("/")
        reason = self.made.ensure(directory)
        if reason is not None:
            self.problems.append(Problem(path, reason))
            return
        base = f"{self.root}/{directory}/" if directory else f"{self.root}/"
        try:
            temp, fd = self._create_temp(base, name)
        except OSError as exc:
            self.problems.append(Problem(path, exc.strerror or str(exc)))
            return
        try:
            try:
                for chunk in chunks:  # the last step raises ArchiveError if the data differ
                    while chunk:
                        chunk = chunk[os.write(fd, chunk) :]
                mode = self._mode(path)
                if _CHMOD_FD:
                    os.chmod(fd, mode)
                else:
                    os.chmod(temp, mode)
            finally:
                os.close(fd)
        except OSError as exc:
            _unlink(temp)
            self.problems.append(Problem(path, exc.strerror or str(exc)))
            return
        except BaseException:
            _unlink(temp)  # a damaged archive (ArchiveError) or Ctrl-C: the error stays
            raise
        self._pending.append((temp, base + name, index))
        if len(self._pending) >= PENDING_LIMIT:
            self._settle()
        self._advance(table.sizes[index])

    def _create_temp(self, base: str, name: str) -> tuple[str, int]:
        # As tempfile.mkstemp (O_EXCL, mode 0600) without its per-call cost: a random token
        # per process and a counter make the names unique.
        while True:
            self._counter += 1
            temp = f"{base}.{name}.{self._token}{self._counter:x}.restore.tmp"
            try:
                return temp, os.open(temp, _TEMP_FLAGS, 0o600)
            except FileExistsError:
                continue

    def _rename(self, temp: str, target: str, index: int) -> None:
        table = self.table
        path = table.paths[index]
        try:
            # The cache may have changed since the plan (a pip ran, or a removal was
            # refused): a file there now is compared again and never overwritten if different.
            state = _compare(target, table.sizes[index], table.digest(index))
            if state == "missing":
                replace(temp, target)
                # Times after the rename: a temp file never looks old to anything that
                # cleans up old temp files.
                os.utime(target, ns=(table.atimes[index], table.mtimes[index]))
                if not self.synced:
                    # At 100,000 entries, every directory's name was 17 MB of the peak.
                    self.directories.add(os.path.dirname(target))
                self.added.append(path)
                self.added_bytes += table.sizes[index]
                return
            if state == "identical":
                self.identical += 1
            elif state == "different":
                self.kept.append(path)
            else:
                self.problems.append(Problem(path, state.partition(": ")[2] or state))
        except OSError as exc:
            self.problems.append(Problem(path, exc.strerror or str(exc)))
        _unlink(temp)

    def _advance(self, count: int) -> None:
        self.done += count
        if self.on_progress is not None:
            self.on_progress(self.done, max(self.done, self.total))


def _fsync_file(path: str) -> str | None:
    """Put a file's data on disk (opened for writing: Windows flushes only such handles);
    why that failed, or None."""
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _fsync_directory(path: str) -> None:
    fsync_directory(Path(path))


def _unlink(path: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)
