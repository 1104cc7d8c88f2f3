"""Backing up cache entries into one verified archive, and listing the backups made.

``backup_entries`` is the one way to write a backup (``backup`` and ``purge --backup`` both use
it). It reads every file twice: once to hash it, so the manifest with every sha256 can be the
archive's first member, and once to copy it, hashing again to prove the copy is what the
manifest promises. The archive is written to a hidden temp file beside its destination, fsynced
and renamed only when complete, so a full disk, Ctrl-C or a file vanishing never leaves a
finished-looking archive behind.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import platformdirs

from pipcachex import __version__
from pipcachex.archive import (
    DEFAULT_COMPRESSION,
    ArchiveError,
    Compression,
    Manifest,
    ManifestFile,
    archive_files,
    open_writer,
    read_manifest,
    sha256_of,
    write_manifest,
    write_member,
)
from pipcachex.atomic import atomic_output
from pipcachex.cache import CacheEntry
from pipcachex.cache.fileio import open_untouched
from pipcachex.errors import PipcachexError, UsageError
from pipcachex.listing import summarise_packages

BACKUP_DIR_ENV = "PIPCACHEX_BACKUP_DIR"
ProgressCallback = Callable[[int, int], None]


class BackupError(PipcachexError):
    """A backup could not be written; nothing finished-looking was left behind: exit 1."""


@dataclass(frozen=True)
class BackupResult:
    """A backup that was written."""

    archive: Path
    archive_size: int
    compression: Compression
    manifest: Manifest
    skipped_busy: tuple[CacheEntry, ...]


@dataclass(frozen=True)
class BackupInfo:
    """One backup found in the backups directory (``problem`` set when it cannot be read)."""

    path: Path
    size: int
    manifest: Manifest | None
    problem: str | None = None


@dataclass(frozen=True)
class BackupList:
    """The backups in a directory, oldest first."""

    directory: Path
    backups: tuple[BackupInfo, ...]


def default_backup_dir() -> Path:
    """Where backups go by default: ``$PIPCACHEX_BACKUP_DIR`` or ``<user data dir>/backups``."""
    override = os.environ.get(BACKUP_DIR_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir("pipcachex")) / "backups"


def resolve_destination(
    destination: Path | None, root: Path, compression: Compression | None, now: datetime
) -> tuple[Path, Compression]:
    """Turn ``--to`` (a directory, a file or nothing) into the archive path and compression.

    A file name's suffix picks the compression when none was asked for; a directory gets a
    timestamped name. The destination must not exist yet nor lie inside the cache itself.
    Without ``--to`` the backups directory is created when missing; when it cannot be (it is a
    file, or not writable) that is a BackupError, not bad usage.
    """
    source = "--to" if destination is not None else f"${BACKUP_DIR_ENV} / the backups directory"
    chosen = compression
    if destination is None or destination.is_dir():
        directory = destination if destination is not None else default_backup_dir()
        chosen = chosen or DEFAULT_COMPRESSION
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        path = directory / f"pipcachex-{stamp}{chosen.suffix}"
        counter = 1
        while path.exists():
            counter += 1
            path = directory / f"pipcachex-{stamp}-{counter}{chosen.suffix}"
    else:
        path = destination
        chosen = chosen or Compression.from_name(path.name) or DEFAULT_COMPRESSION
        if path.exists() or path.is_symlink():
            raise UsageError(f"invalid value for --to: {str(path)!r} already exists")
        if not path.parent.is_dir():
            raise UsageError(f"invalid value for --to: {str(path.parent)!r} is not a directory")
    absolute = Path(os.path.realpath(path.parent)) / path.name
    real_root = Path(os.path.realpath(root))
    if absolute == real_root or real_root in absolute.parents:
        raise UsageError(f"invalid value for {source}: {str(path)!r} is inside the cache directory")
    if destination is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = "it is not a directory" if path.parent.exists() else exc.strerror or str(exc)
            raise BackupError(
                f"cannot use the backups directory {path.parent}: {reason}; no backup written"
            ) from None
    return path, chosen


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _hash_files(
    root: Path, entries: Sequence[CacheEntry], progress: Callable[[int], None]
) -> list[tuple[ManifestFile, Path]]:
    records: list[tuple[ManifestFile, Path]] = []
    for entry in entries:
        # An HTTP entry's body before its metadata: restore writes in archive order, and pip
        # sees the entry only once the metadata is there, by which time the body is complete.
        for member in sorted(entry.files, key=lambda m: m.path == entry.path):
            try:
                with open_untouched(member.path) as stream:
                    info = os.fstat(stream.fileno())
                    digest, length = sha256_of(stream, progress)
            except FileNotFoundError:
                raise BackupError(
                    f"{member.path} vanished while being backed up (is a pip using the cache?); "
                    "no backup written"
                ) from None
            except OSError as exc:
                raise BackupError(f"cannot read {member.path}: {exc.strerror}") from None
            record = ManifestFile(
                _relative(root, Path(member.path)),
                length,
                info.st_mtime_ns,
                info.st_atime_ns,
                digest,
            )
            records.append((record, Path(member.path)))
    return records


def backup_entries(
    root: Path,
    entries: Sequence[CacheEntry],
    destination: Path | None = None,
    *,
    compression: Compression | None = None,
    pip_version: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> BackupResult:
    """Write the files of ``entries`` (of the cache at ``root``) into one verified archive.

    ``destination`` is a directory (a timestamped name is made in it), a file path that must not
    exist yet, or None for :func:`default_backup_dir`. Entries a pip is writing right now
    (``busy``) are skipped and reported. ``on_progress(done, total)`` counts bytes read; every
    file is read twice. Raises BackupError (nothing left behind) when anything goes wrong.
    """
    root = root.absolute()
    now = datetime.now(timezone.utc)
    path, chosen = resolve_destination(destination, root, compression, now)
    kept = [e for e in entries if not e.busy]
    total = 2 * sum(e.size for e in kept)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, max(total, done))

    records = _hash_files(root, kept, advance)
    manifest = Manifest(
        created=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        source_cache_dir=str(root),
        pipcachex_version=__version__,
        pip_version=pip_version,
        compression=chosen.value,
        projects=tuple(_project_json(kept)),
        files=tuple(r for r, _ in records),
        entries=len(kept),
    )
    _write_atomically(path, manifest, records, chosen, advance)
    return BackupResult(
        path, path.stat().st_size, chosen, manifest, tuple(e for e in entries if e.busy)
    )


def _project_json(entries: Sequence[CacheEntry]) -> list[dict[str, object]]:
    return [
        {"package": row.package, "entries": row.entries, "size": row.size, "versions": row.versions}
        for row in summarise_packages(entries)
    ]


def _write_atomically(
    path: Path,
    manifest: Manifest,
    records: Sequence[tuple[ManifestFile, Path]],
    compression: Compression,
    advance: Callable[[int], None],
) -> None:
    # A hidden ".partial" temp name: never mistaken for a backup while it is being written.
    try:
        with (
            atomic_output(path, suffix=".partial") as raw,
            open_writer(raw, compression, path.name) as tar,
        ):
            write_manifest(tar, manifest)
            for record, source in records:
                _copy_member(tar, record, source, advance)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BackupError(f"cannot write {path}: {reason}; no backup written") from None


def _copy_member(
    tar: tarfile.TarFile, record: ManifestFile, source: Path, advance: Callable[[int], None]
) -> None:
    try:
        with open_untouched(source) as stream:
            digest = write_member(tar, record, stream, advance)
    except FileNotFoundError:
        raise BackupError(
            f"{source} vanished while being backed up (is a pip using the cache?); "
            "no backup written"
        ) from None
    except OSError as exc:
        if exc.filename is not None or "unexpected end of data" not in str(exc):
            raise
        digest = ""
    if digest != record.sha256:
        raise BackupError(
            f"{source} changed while being backed up (is a pip using the cache?); no backup written"
        )


def list_backups(directory: Path | None = None) -> BackupList:
    """Read the manifest of every archive in ``directory`` (default: the backups dir)."""
    directory = directory or default_backup_dir()
    try:
        candidates = archive_files(sorted(p for p in directory.iterdir() if p.is_file()))
    except FileNotFoundError:
        candidates = []
    except OSError as exc:
        raise BackupError(f"cannot list {directory}: {exc.strerror}") from None
    found: list[BackupInfo] = []
    for path in candidates:
        try:
            found.append(BackupInfo(path, path.stat().st_size, read_manifest(path)))
        except ArchiveError as exc:
            found.append(BackupInfo(path, path.stat().st_size, None, exc.message))
    # Creation times in the manifest first; the file's mtime breaks ties within a millisecond.
    found.sort(key=lambda b: (b.manifest.created if b.manifest else "", b.path.stat().st_mtime_ns))
    return BackupList(directory, tuple(found))


def newest_backup(directory: Path | None = None) -> Path:
    """The most recently created readable backup, for ``restore`` without an argument."""
    listing = list_backups(directory)
    readable = [b for b in listing.backups if b.manifest is not None]
    if not readable:
        raise BackupError(
            f"no backup found in {listing.directory} (make one with `pipcachex backup`)"
        )
    return readable[-1].path


def resolve_archive(archive: Path | None) -> Path:
    """The archive ``restore`` works on: the one named (a path, or a name in the backups dir)
    or, with none named, the newest backup."""
    if archive is None:
        return newest_backup()
    if archive.is_file():
        return archive
    in_default = default_backup_dir() / archive
    if not archive.exists() and archive.name == str(archive) and in_default.is_file():
        return in_default
    problem = "is not a file" if archive.exists() else "does not exist"
    raise UsageError(f"invalid value for ARCHIVE: {str(archive)!r} {problem}")
