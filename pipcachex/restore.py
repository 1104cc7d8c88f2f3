"""Restoring a backup into a cache: verify everything first, then plan, then apply.

``plan_restore`` reads the whole archive and checks every member against the manifest before
anything is decided, so a damaged archive changes nothing. It then compares each recorded file
with the cache: missing ones are to be added, identical ones skipped, different ones kept as they
are (merge) or, with ``replace``, their entries removed and rewritten from the backup together
with every entry the backup does not hold. ``apply_restore`` reads the archive a second time and
writes each file to a temp file in its directory with its recorded times; once a batch of them
is on disk (one ``sync`` for the batch on Linux, run while the next batch is written; an
fsync per file elsewhere) each is ``os.replace``d in. Removals go through
``pipcachex.deletion``, the only code that deletes.
"""

from __future__ import annotations

import os
import secrets
import stat
import threading
from array import array
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from pipcachex import capabilities
from pipcachex.archive import Manifest, member_namer, sha256_of
from pipcachex.atomic import fsync_directory, replace
from pipcachex.cache import CacheEntry, scan_cache
from pipcachex.cache.fileio import open_untouched
from pipcachex.deletion import delete_entries
from pipcachex.records import FileTable, Selection
from pipcachex.restore_directories import Directories, Obstacles
from pipcachex.tarstream import ArchiveReader
from pipcachex.tarstream import verify_archive as _verify_archive

ProgressCallback = Callable[[int, int], None]

#: A batch ends at whichever comes first: bounded leftovers after a crash, bounded dirty memory.
BATCH_FILES = 4096
BATCH_BYTES = 256 << 20
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_TEMP_FLAGS |= getattr(os, "O_BINARY", 0)
#: A temp file gets its times through its descriptor (futimens) where the platform allows it.
_UTIME_FD = os.utime in os.supports_fd


@dataclass(frozen=True)
class Problem:
    """A file that could not be restored or removed, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class RestorePlan:
    """What restoring ``archive`` into ``root`` would do; computed without changing anything."""

    root: Path
    archive: Path
    manifest: Manifest
    replace: bool
    add: Selection
    identical: Selection
    different: Selection
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


def _compare(path: str, size: int, sha256: bytes | bytearray) -> str:
    """Classify the cache's file against a record: missing, identical, different or blocked."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    if not stat.S_ISREG(info.st_mode):
        return "blocked"
    if info.st_size != size:
        return "different"
    try:
        with open_untouched(path) as stream:
            digest, _ = sha256_of(stream)
    except FileNotFoundError:
        return "missing"
    return "identical" if digest == sha256.hex() else "different"


def plan_restore(
    root: Path,
    archive: Path,
    *,
    replace: bool = False,
    on_progress: ProgressCallback | None = None,
) -> RestorePlan:
    """Verify the whole archive, then work out what restoring it into ``root`` would change.

    Raises ArchiveError, before anything is decided, when the archive is damaged in any way.
    """
    root = root.absolute()
    total = 0
    done = 0

    def learn_total(manifest: Manifest) -> None:
        nonlocal total
        total = manifest.size

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, max(done, total))

    manifest = _verify_archive(archive, advance, learn_total)
    table = manifest.files
    # Indices into the table, not records: a record object per file was most of the plan.
    groups = {"missing": array("q"), "identical": array("q"), "different": array("q")}
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
            # Its directory does not exist (a fresh cache): nothing to look at.
            state = "missing"
        else:
            state = _compare(os.path.join(top, path), table.sizes[index], table.digest(index))
        if state == "blocked":
            blocked.append(Problem(path, reason or "something other than a file is there"))
        else:
            groups[state].append(index)
    remove: list[CacheEntry] = []
    again: set[str] = set()
    if replace and root.is_dir():
        wanted = table.positions()
        same = {table.paths[i] for i in groups["identical"]}
        to_relative = member_namer(top)
        for entry in scan_cache(root).entries:
            relative = [to_relative(f.path) for f in entry.files]
            if not all(p in same for p in relative):
                remove.append(entry)
                # Files of a removed entry that the backup holds come back from the backup.
                groups["missing"].extend(wanted[p] for p in relative if p in wanted)
                again.update(relative)
    add = groups["missing"]
    if replace:
        add += groups["different"]
    return RestorePlan(
        root=root,
        archive=archive,
        manifest=manifest,
        replace=replace,
        add=Selection(table, _in_manifest_order(table, add)),
        identical=Selection(table, (i for i in groups["identical"] if table.paths[i] not in again)),
        different=Selection(table, groups["different"]),
        remove=tuple(remove),
        blocked=tuple(blocked),
    )


def _in_manifest_order(table: FileTable, indices: array[int]) -> Iterable[int]:
    """One record per path (the last one listed), in the order the manifest lists the paths."""
    if not table.has_duplicates:
        # Paths and indices correspond one to one: the order is the indices'.
        if all(a < b for a, b in pairwise(indices)):
            return indices  # a merge into a fresh cache: every file, in order
        flags = bytearray(len(table))
        for index in indices:
            flags[index] = 1
        return (index for index, flag in enumerate(flags) if flag)
    paths = table.paths
    order = table.positions()
    chosen = {paths[i]: i for i in indices}
    return sorted(chosen.values(), key=lambda i: order[paths[i]])


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


def apply_restore(plan: RestorePlan, on_progress: ProgressCallback | None = None) -> RestoreResult:
    """Carry out ``plan``: remove (with ``replace``), then write each file atomically."""
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


#: A file written to its temp file but not renamed in yet: (temp path, target, record index).
_Staged = tuple[str, str, int]


class _Writer:
    """The second pass over the archive: writes the planned files as their members go by.

    Each file goes to a temp file beside its target and waits in a batch; once the batch is on
    disk, each temp file is renamed over its target (if the cache still lacks that file). On
    Linux a full batch is synced by a thread while the next one is written: the sync waits on
    the disk, the writing on the CPU. A crash leaves complete files and, at worst, two batches
    of ``.<name>.<random>.restore.tmp`` files.
    """

    def __init__(self, plan: RestorePlan, on_progress: ProgressCallback | None) -> None:
        self.plan = plan
        self.root = os.fspath(plan.root)
        table = plan.add.table
        # One flag per record; a member stands for its path's last record (see members()).
        self.todo = bytearray(len(table))
        last = table.positions() if table.has_duplicates else None
        for index in plan.add.indices:
            self.todo[index if last is None else last[table.paths[index]]] = 1
        self.pending = len(plan.add)
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
        self.table = table
        self.batch: list[_Staged] = []
        self.batch_bytes = 0
        # The batch whose sync is under way, and the thread running it.
        self.syncing: tuple[threading.Thread, list[_Staged]] | None = None
        self.renamed = False
        self._token = secrets.token_hex(4)
        self._counter = 0

    def run(self) -> None:
        if not self.pending:
            return
        try:
            with ArchiveReader(self.plan.archive, self.plan.manifest) as reader:
                for member in reader.members():
                    if self.todo[member.index]:
                        self._stage(member.index, member.chunks())
                        if len(self.batch) >= BATCH_FILES or self.batch_bytes >= BATCH_BYTES:
                            self._hand_over()
            self._hand_over()
            self._finish_sync()
        finally:
            # Whatever stopped the pass (a damaged archive, Ctrl-C), no temp file stays behind.
            leftovers = self.batch
            if self.syncing is not None:
                thread, synced = self.syncing
                thread.join()
                leftovers = synced + leftovers
                self.syncing = None
            for temp, _, _ in leftovers:
                _unlink(temp)
            self.batch = []
        if self.renamed:
            _make_renames_durable(self.directories)

    def _stage(self, index: int, chunks: Iterable[memoryview]) -> None:
        """Write record ``index``'s file to a temp file beside its target; add it to the batch."""
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
                for chunk in chunks:
                    while chunk:
                        chunk = chunk[os.write(fd, chunk) :]
                times = (table.atimes[index], table.mtimes[index])
                os.utime(fd if _UTIME_FD else temp, ns=times)
                if not _sync_in_batches():
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            _unlink(temp)
            self.problems.append(Problem(path, exc.strerror or str(exc)))
            return
        except BaseException:
            # A damaged archive (ArchiveError) or Ctrl-C: the temp file goes, the error stays.
            _unlink(temp)
            raise
        self.batch.append((temp, base + name, index))
        size = table.sizes[index]
        self.batch_bytes += size
        self._advance(size)

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

    def _hand_over(self) -> None:
        """Start putting the batch on disk; first rename in the batch synced before it."""
        if not self.batch:
            return
        self._finish_sync()
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        if not _sync_in_batches():
            self._rename(batch)  # each file was fsynced as it was written
            return
        # os.sync releases the GIL: the next batch is written while this one goes to disk.
        thread = threading.Thread(target=os.sync, name="pipcachex-sync", daemon=True)
        thread.start()
        self.syncing = (thread, batch)

    def _finish_sync(self) -> None:
        """Wait for the sync under way, then rename its batch in."""
        if self.syncing is not None:
            thread, batch = self.syncing
            thread.join()
            self.syncing = None
            self._rename(batch)

    def _rename(self, batch: list[_Staged]) -> None:
        """Rename each temp file of a batch that is on disk into place, in archive order."""
        table = self.table
        for temp, target, index in batch:
            path = table.paths[index]
            try:
                # The cache may have changed since the plan (a pip ran, or a removal was
                # refused): a file there now is compared again and never overwritten if different.
                state = _compare(target, table.sizes[index], table.digest(index))
                if state == "missing":
                    replace(temp, target)
                    self.renamed = True
                    if not _sync_in_batches():
                        self.directories.add(os.path.dirname(target))
                    self.added.append(path)
                    self.added_bytes += table.sizes[index]
                    continue
                if state == "identical":
                    self.identical += 1
                else:
                    self.kept.append(path)
            except OSError as exc:
                self.problems.append(Problem(path, exc.strerror or str(exc)))
            _unlink(temp)

    def _advance(self, count: int) -> None:
        self.done += count
        if self.on_progress is not None:
            self.on_progress(self.done, max(self.done, self.total))


def _sync_in_batches() -> bool:
    """Whether one ``os.sync`` makes a whole batch of temp files durable (see ``capabilities``).

    Elsewhere each temp file is fsynced as it is written.
    """
    return capabilities.current().sync


def _unlink(path: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)


def _make_renames_durable(directories: Iterable[str]) -> None:
    if _sync_in_batches():
        # One sync covers every directory the renames touched.
        os.sync()
    else:
        for directory in directories:
            fsync_directory(Path(directory))
