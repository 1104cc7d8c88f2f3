"""Finding backups: listing a location, picking the one to restore, and retention (prune).

A location is the backups directory, a directory given to ``backup --to``, or a URL prefix.
Only the header (the first member, a bounded read) of each archive is read to list it, so a
listing is fast and a hostile file costs no more memory than any other; a file that is not a
readable backup is listed with the reason. Retention only ever deletes what pipcachex itself
named (``pipcachex-<time>-<tag>.tar…``) *and* whose header reads as a pipcachex backup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import platformdirs

from pipcachex.backup.format import (
    ArchiveError,
    BackupHeader,
    Compression,
    is_archive_name,
    is_generated_name,
)
from pipcachex.backup.location import (
    LocalStore,
    StorageError,
    Store,
    StoredFile,
    is_partial_name,
    is_url,
    now_seconds,
    store_for,
)
from pipcachex.backup.reader import ArchiveReader
from pipcachex.errors import PipcachexError, UsageError

BACKUP_DIR_ENV = "PIPCACHEX_BACKUP_DIR"
#: A temporary ``.partial`` file this old is the leftover of a backup that was killed.
STALE_PARTIAL = timedelta(days=1)


def default_backup_dir() -> Path:
    """Where backups go by default: ``$PIPCACHEX_BACKUP_DIR`` or ``<user data dir>/backups``."""
    override = os.environ.get(BACKUP_DIR_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir("pipcachex")) / "backups"


@dataclass(frozen=True)
class BackupInfo:
    """One archive found in a location (``problem`` set when it is not a readable backup)."""

    name: str
    path: str
    size: int
    header: BackupHeader | None
    problem: str | None = None


@dataclass(frozen=True)
class BackupList:
    """The backups in a location, oldest first, and leftovers of interrupted backups."""

    location: str
    backups: tuple[BackupInfo, ...]
    partial: tuple[StoredFile, ...] = ()


@dataclass(frozen=True)
class ArchiveRef:
    """An archive to read: its store and name, and why it was chosen when nobody named it."""

    store: Store
    name: str
    label: str
    chosen: str | None = None


def read_header(store: Store, name: str) -> BackupHeader:
    """The header of the archive ``name`` in ``store`` (a bounded read of its first member)."""
    label = store.display(name)
    try:
        stream = store.open(name)
    except OSError as exc:
        raise ArchiveError(f"cannot read {label}: {exc.strerror or exc}") from None
    try:
        return ArchiveReader(stream, label).header
    finally:
        stream.close()


def _location(location: str | os.PathLike[str] | None) -> Store:
    if location is None:
        return LocalStore(default_backup_dir())
    text = os.fspath(location)
    if not is_url(text):
        path = Path(text)
        if not path.is_dir():
            problem = "is not a directory" if path.exists() else "does not exist"
            raise UsageError(f"invalid value for LOCATION: {text!r} {problem}")
    return store_for(text)


def list_backups(location: str | os.PathLike[str] | None = None) -> BackupList:
    """Read the header of every archive in ``location`` (default: the backups directory)."""
    return list_backups_in(_location(location))


def _newest(store: Store, root: Path | None) -> ArchiveRef:
    listing = list_backups_in(store)
    readable = [b for b in listing.backups if b.header is not None]
    if root is not None:
        # Without a name, restore the newest backup of *this* cache: another cache's is
        # not an undo of anything done here.
        mine = [b for b in readable if b.header and _same_dir(b.header.source_cache_dir, root)]
        if not mine:
            others = f" ({len(readable)} of other caches)" if readable else ""
            raise PipcachexError(
                f"no backup of {root} found in {store.label}{others}; name the archive to "
                "restore (see `pipcachex backups`)"
            )
        readable = mine
    if not readable:
        raise PipcachexError(f"no backup found in {store.label} (make one with `pipcachex backup`)")
    newest = readable[-1]
    assert newest.header is not None
    why = f"the newest backup in {store.label} (created {newest.header.created})"
    return ArchiveRef(store, newest.name, store.display(newest.name), why)


def list_backups_in(store: Store) -> BackupList:
    """``list_backups`` for a store already made."""
    found: list[BackupInfo] = []
    partial: list[StoredFile] = []
    for item in store.list():
        if is_partial_name(item.name):
            partial.append(item)
        if not is_archive_name(item.name):
            continue
        shown = store.display(item.name)
        try:
            header = read_header(store, item.name)
        except PipcachexError as exc:
            found.append(BackupInfo(item.name, shown, item.size, None, exc.message))
        else:
            found.append(BackupInfo(item.name, shown, item.size, header))
    found.sort(key=lambda b: (b.header.created if b.header else "", b.name))
    return BackupList(store.label, tuple(found), tuple(partial))


def _same_dir(recorded: str, root: Path) -> bool:
    return os.path.normcase(os.path.abspath(recorded)) == os.path.normcase(str(root.absolute()))


def resolve_archive(archive: str | os.PathLike[str] | None, root: Path) -> ArchiveRef:
    """The archive ``restore`` reads: one named (a path, a URL, a name in the backups
    directory), the newest in a named directory or URL prefix, or, with nothing named, the
    newest backup of the cache at ``root`` in the backups directory."""
    if archive is None:
        return _newest(LocalStore(default_backup_dir()), root)
    text = os.fspath(archive)
    if is_url(text) and not text.startswith("file://"):
        prefix, _, last = text.rstrip("/").rpartition("/")
        if not text.endswith("/") and Compression.from_name(last) is not None:
            store = store_for(prefix + "/")
            return ArchiveRef(store, last, store.display(last))
        return _newest(store_for(text), None)
    if text.startswith("file://"):
        text = text[len("file://") :]
    path = Path(text)
    if path.is_file():
        return ArchiveRef(LocalStore(path.parent), path.name, str(path))
    if path.is_dir():
        return _newest(LocalStore(path), None)
    in_default = default_backup_dir() / text
    if not path.exists() and path.name == text and in_default.is_file():
        return ArchiveRef(LocalStore(in_default.parent), text, str(in_default))
    problem = "is not a file" if path.exists() else "does not exist"
    raise UsageError(f"invalid value for ARCHIVE: {text!r} {problem}")


@dataclass(frozen=True)
class PrunePlan:
    """What ``backups prune`` would delete, newest first, and what it keeps."""

    location: str
    store: Store
    keep: tuple[BackupInfo, ...]
    remove: tuple[BackupInfo, ...]
    stale_partial: tuple[StoredFile, ...]
    ignored: tuple[BackupInfo, ...]


@dataclass(frozen=True)
class PruneResult:
    """What ``backups prune`` did (or, with ``dry_run``, would do)."""

    plan: PrunePlan
    dry_run: bool
    removed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


def plan_prune(
    location: str | os.PathLike[str] | None,
    *,
    keep: int | None = None,
    older_than: datetime | None = None,
) -> PrunePlan:
    """Decide which backups to delete: beyond the ``keep`` newest and/or created before
    ``older_than`` (both given: only those that are both). Only archives pipcachex named and
    whose header reads as a backup are candidates; anything else is ``ignored``."""
    if keep is None and older_than is None:
        raise UsageError("backups prune needs --keep N and/or --older-than AGE")
    if keep is not None and keep < 0:
        raise UsageError(f"invalid value for --keep: {keep} (use 0 or more)")
    store = _location(location)
    listing = list_backups_in(store)
    candidates: list[BackupInfo] = []
    ignored: list[BackupInfo] = []
    for info in listing.backups:
        if info.header is not None and is_generated_name(info.name):
            candidates.append(info)
        else:
            ignored.append(info)
    newest_first = sorted(
        candidates, key=lambda b: (b.header.created if b.header else "", b.name), reverse=True
    )
    remove: list[BackupInfo] = []
    kept: list[BackupInfo] = []
    for position, info in enumerate(newest_first):
        assert info.header is not None
        beyond = keep is None or position >= keep
        old = older_than is None or _created(info.header) < older_than
        (remove if beyond and old else kept).append(info)
    now = now_seconds()
    stale = tuple(
        item
        for item in store.list()
        if is_partial_name(item.name)
        and item.mtime is not None
        and now - item.mtime > STALE_PARTIAL.total_seconds()
    )
    return PrunePlan(store.label, store, tuple(kept), tuple(remove), stale, tuple(ignored))


def _created(header: BackupHeader) -> datetime:
    try:
        moment = datetime.fromisoformat(header.created.replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=timezone.utc)  # unreadable time: never "old"
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def execute_prune(plan: PrunePlan, *, dry_run: bool = False) -> PruneResult:
    """Delete what ``plan`` selected (nothing with ``dry_run``)."""
    names = [b.name for b in plan.remove] + [p.name for p in plan.stale_partial]
    if dry_run:
        return PruneResult(plan, True, tuple(plan.store.display(n) for n in names), ())
    removed: list[str] = []
    failed: list[tuple[str, str]] = []
    for name in names:
        shown = plan.store.display(name)
        try:
            plan.store.delete(name)
        except FileNotFoundError:
            removed.append(shown)  # gone already: what was asked for is true
        except OSError as exc:
            failed.append((shown, exc.strerror or str(exc)))
        except StorageError as exc:
            failed.append((shown, exc.message))
        else:
            removed.append(shown)
    return PruneResult(plan, False, tuple(removed), tuple(failed))
