"""Restoring a backup into a cache: verify everything first, then plan, then apply.

``plan_restore`` reads the whole archive and checks every member against the manifest before
anything is decided, so a damaged archive changes nothing. It then compares each recorded file
with the cache: missing ones are to be added, identical ones skipped, different ones kept as they
are (merge) or, with ``replace``, their entries removed and rewritten from the backup together
with every entry the backup does not hold. ``apply_restore`` reads the archive a second time and
writes each file to a temp file in its directory, fsynced, with its recorded times, then
``os.replace``s it in. Removals go through ``pipcachex.deletion``, the only code that deletes.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pipcachex.archive import (
    ArchiveError,
    ArchiveReader,
    Manifest,
    ManifestFile,
    read_manifest,
    sha256_of,
)
from pipcachex.archive import verify_archive as _verify_archive
from pipcachex.atomic import fsync_directory
from pipcachex.cache import CacheEntry, scan_cache
from pipcachex.cache.fileio import open_untouched
from pipcachex.deletion import delete_entries

ProgressCallback = Callable[[int, int], None]


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
    add: tuple[ManifestFile, ...]
    identical: tuple[ManifestFile, ...]
    different: tuple[ManifestFile, ...]
    remove: tuple[CacheEntry, ...]
    blocked: tuple[Problem, ...]


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did (or, with ``dry_run``, would do)."""

    plan: RestorePlan
    dry_run: bool
    added: tuple[str, ...]
    identical: int
    kept: tuple[str, ...]
    removed: tuple[CacheEntry, ...]
    warnings: tuple[Problem, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """Whether every file that should have been restored or removed was."""
        return not self.problems


def _obstacle(root: Path, relative: str) -> str | None:
    """Say why ``root/relative`` cannot be written safely (a symlink or file on the way)."""
    current = root
    for part in relative.split("/")[:-1]:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return None
        if not stat.S_ISDIR(info.st_mode):
            return f"{current} is not a directory (a link or file is in the way)"
    return None


def _compare(path: Path, record: ManifestFile) -> str:
    """Classify the cache's file against the record: missing, identical, different or blocked."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    if not stat.S_ISREG(info.st_mode):
        return "blocked"
    if info.st_size != record.size:
        return "different"
    try:
        with open_untouched(path) as stream:
            digest, _ = sha256_of(stream)
    except FileNotFoundError:
        return "missing"
    return "identical" if digest == record.sha256 else "different"


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
    total = read_manifest(archive).size
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, max(done, total))

    manifest = _verify_archive(archive, advance)
    groups: dict[str, list[ManifestFile]] = {
        "missing": [],
        "identical": [],
        "different": [],
    }
    blocked: list[Problem] = []
    for record in manifest.files:
        reason = _obstacle(root, record.path)
        state = "blocked" if reason else _compare(root / record.path, record)
        if state == "blocked":
            blocked.append(Problem(record.path, reason or "something other than a file is there"))
        else:
            groups[state].append(record)
    remove: list[CacheEntry] = []
    again: set[str] = set()
    if replace and root.is_dir():
        wanted = {r.path: r for r in manifest.files}
        same = {r.path for r in groups["identical"]}
        for entry in scan_cache(root).entries:
            relative = [Path(f.path).relative_to(root).as_posix() for f in entry.files]
            if not all(p in same for p in relative):
                remove.append(entry)
                # Files of a removed entry that the backup holds come back from the backup.
                groups["missing"] += [wanted[p] for p in relative if p in wanted]
                again.update(relative)
    add = groups["missing"] + (groups["different"] if replace else [])
    order = {r.path: i for i, r in enumerate(manifest.files)}
    return RestorePlan(
        root=root,
        archive=archive,
        manifest=manifest,
        replace=replace,
        add=tuple(sorted({r.path: r for r in add}.values(), key=lambda r: order[r.path])),
        identical=tuple(r for r in groups["identical"] if r.path not in again),
        different=tuple(groups["different"]),
        remove=tuple(remove),
        blocked=tuple(blocked),
    )


def dry_run_result(plan: RestorePlan) -> RestoreResult:
    """What ``apply_restore`` would report, without touching anything."""
    return RestoreResult(
        plan=plan,
        dry_run=True,
        added=tuple(r.path for r in plan.add),
        identical=len(plan.identical),
        kept=() if plan.replace else tuple(r.path for r in plan.different),
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
    kept = tuple(r.path for r in plan.different if not plan.replace) + tuple(writer.kept)
    return RestoreResult(
        plan=plan,
        dry_run=False,
        added=tuple(writer.added),
        identical=len(plan.identical) + writer.identical,
        kept=kept,
        removed=removed,
        warnings=tuple(warnings),
        problems=tuple(problems + writer.problems),
    )


class _Writer:
    """The second pass over the archive: writes the planned files as their members go by."""

    def __init__(self, plan: RestorePlan, on_progress: ProgressCallback | None) -> None:
        self.plan = plan
        self.todo = {r.path for r in plan.add}
        self.total = sum(r.size for r in plan.add)
        self.done = 0
        self.on_progress = on_progress
        self.added: list[str] = []
        self.kept: list[str] = []
        self.identical = 0
        self.problems: list[Problem] = []
        self.directories: set[Path] = set()

    def run(self) -> None:
        if not self.todo:
            return
        with ArchiveReader(self.plan.archive) as reader:
            for member in reader.members():
                if member.record.path in self.todo:
                    self._restore(member.record, member.chunks())
        for directory in self.directories:
            fsync_directory(directory)

    def _restore(self, record: ManifestFile, chunks: Iterable[bytes]) -> None:
        root = self.plan.root
        target = root / record.path
        reason = _obstacle(root, record.path)
        if reason is not None:
            self.problems.append(Problem(record.path, reason))
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".restore.tmp", dir=target.parent
            )
        except OSError as exc:
            self.problems.append(Problem(record.path, exc.strerror or str(exc)))
            return
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    self._advance(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            os.utime(temp, ns=(record.atime_ns, record.mtime_ns))
            # The cache may have changed since the plan (a pip ran, or a removal was refused):
            # a file that is there now is compared again and never overwritten if different.
            state = _compare(target, record)
            if state == "missing":
                os.replace(temp, target)
                self.directories.add(target.parent)
                self.added.append(record.path)
            elif state == "identical":
                self.identical += 1
            else:
                self.kept.append(record.path)
        except ArchiveError:
            raise
        except OSError as exc:
            self.problems.append(Problem(record.path, exc.strerror or str(exc)))
        finally:
            temp.unlink(missing_ok=True)

    def _advance(self, count: int) -> None:
        self.done += count
        if self.on_progress is not None:
            self.on_progress(self.done, max(self.done, self.total))
