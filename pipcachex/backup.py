"""Backing up cache entries into one verified archive, and listing the backups made.

``backup_entries`` is the one way to write a backup (``backup`` and ``purge --backup`` both use
it). An uncompressed archive reads every file once, hashing it while copying it, and then writes
the digests into the manifest at the archive's front (see ``_write_archive``); a compressed one
hashes every file first and copies it in a second read. The archive is written to a hidden temp
file beside its destination, fsynced and renamed only when complete, so a full disk, Ctrl-C or a
file vanishing never leaves a finished-looking archive behind.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import platformdirs

from pipcachex import __version__
from pipcachex.archive import (
    CHUNK,
    DEFAULT_COMPRESSION,
    MANIFEST_HEADER_SIZE,
    MANIFEST_TAIL,
    MEMBER_PREFIX,
    PLACEHOLDER_DIGEST,
    ArchiveError,
    ArchiveWriter,
    Compression,
    Manifest,
    archive_files,
    manifest_head,
    manifest_header,
    manifest_line,
    member_header,
    member_namer,
    padding,
)
from pipcachex.atomic import atomic_output
from pipcachex.cache import CacheEntry
from pipcachex.cache.fileio import untouched_descriptor
from pipcachex.cache.model import CacheFile
from pipcachex.errors import PipcachexError, UsageError
from pipcachex.listing import summarise_packages
from pipcachex.records import FileTable
from pipcachex.tarstream import read_manifest

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


class _Changed(Exception):
    """A cache file is not what it was a moment ago (a pip is using the cache)."""


def _archive_order(entries: Sequence[CacheEntry]) -> Iterator[CacheFile]:
    for entry in entries:
        # An HTTP entry's body before its metadata: restore writes in archive order, and pip
        # sees the entry only once the metadata is there, by which time the body is complete.
        yield from sorted(entry.files, key=lambda m: m.path == entry.path)


class _Records:
    """Per-file figures for the manifest, packed: a large cache has hundreds of thousands."""

    def __init__(self) -> None:
        self.sizes = array("q")
        self.mtimes = array("q")
        self.atimes = array("q")
        self.digests = bytearray()

    def add(self, info: os.stat_result) -> None:
        self.sizes.append(info.st_size)
        self.mtimes.append(info.st_mtime_ns)
        self.atimes.append(info.st_atime_ns)

    def digest(self, index: int) -> bytes:
        return bytes(self.digests[32 * index : 32 * index + 32])

    def set_digest(self, index: int, digest: bytes) -> None:
        if len(self.digests) == 32 * index:
            self.digests += digest
        else:
            self.digests[32 * index : 32 * index + 32] = digest


def _read_file(
    path: str,
    expected: tuple[int, int] | None,
    emit: Callable[[bytes], None] | None,
    advance: Callable[[int], None],
) -> tuple[os.stat_result, bytes]:
    """Read a cache file once, without moving its atime; return its fstat and sha256.

    With ``expected`` (size, mtime_ns), a file that no longer has them, or does not read back
    exactly that many bytes, raises _Changed. ``emit`` receives the bytes as they are read.
    """
    with untouched_descriptor(path) as fd:
        info = os.fstat(fd)
        size = info.st_size
        if expected is not None and (size, info.st_mtime_ns) != expected:
            raise _Changed
        digest = hashlib.sha256()
        remaining = size
        while True:
            # One byte more than expected: a short read is the end, a full one means it grew.
            wanted = min(CHUNK, remaining + 1)
            chunk = os.read(fd, wanted)
            remaining -= len(chunk)
            if remaining < 0:
                raise _Changed
            digest.update(chunk)
            if emit is not None:
                emit(chunk)
            advance(len(chunk))
            if len(chunk) < wanted:
                break
        if remaining:
            raise _Changed
        return info, digest.digest()


def _read_or_fail(
    path: str,
    expected: tuple[int, int] | None,
    emit: Callable[[bytes], None] | None,
    advance: Callable[[int], None],
) -> tuple[os.stat_result, bytes]:
    try:
        return _read_file(path, expected, emit, advance)
    except FileNotFoundError:
        raise BackupError(
            f"{path} vanished while being backed up (is a pip using the cache?); no backup written"
        ) from None
    except _Changed:
        raise BackupError(
            f"{path} changed while being backed up (is a pip using the cache?); no backup written"
        ) from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None


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
    (``busy``) are skipped and reported. ``on_progress(done, total)`` counts bytes read: each
    file is read once for an uncompressed archive, twice for a compressed one (see
    :func:`_write_archive`). Raises BackupError (nothing left behind) when anything goes wrong.
    """
    root = root.absolute()
    now = datetime.now(timezone.utc)
    path, chosen = resolve_destination(destination, root, compression, now)
    kept = [e for e in entries if not e.busy]
    reads = 1 if chosen is Compression.NONE else 2
    total = reads * sum(e.size for e in kept)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, max(total, done))

    manifest = Manifest(
        created=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        source_cache_dir=str(root),
        pipcachex_version=__version__,
        pip_version=pip_version,
        compression=chosen.value,
        projects=tuple(_project_json(kept)),
        files=FileTable(),
        entries=len(kept),
        file_count=0,
        size=0,
    )
    # A hidden ".partial" temp name: never mistaken for a backup while it is being written.
    try:
        with atomic_output(path, suffix=".partial") as raw:
            writer = ArchiveWriter(raw, chosen, path.name)
            try:
                manifest = _write_archive(writer, manifest, kept, member_namer(root), advance)
            except BaseException:  # Ctrl-C included: the temp file goes, its compressor first
                writer.discard()
                raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BackupError(f"cannot write {path}: {reason}; no backup written") from None
    return BackupResult(
        path, path.stat().st_size, chosen, manifest, tuple(e for e in entries if e.busy)
    )


def _project_json(entries: Sequence[CacheEntry]) -> list[dict[str, object]]:
    return [
        {"package": row.package, "entries": row.entries, "size": row.size, "versions": row.versions}
        for row in summarise_packages(entries)
    ]


def _write_archive(
    writer: ArchiveWriter,
    manifest: Manifest,
    entries: Sequence[CacheEntry],
    relative: Callable[[str], str],
    advance: Callable[[int], None],
) -> Manifest:
    """Write ``manifest.json`` and then every file of ``entries``; return the manifest written.

    The manifest comes first but lists every file's sha256. An uncompressed archive is written
    in one read of each file: the manifest goes in with placeholder digests (sizes and times
    from a ``stat`` of each file), the files are hashed while they are copied, and the finished
    manifest is then written over the placeholder, which has exactly its length. A compressed
    stream cannot be rewritten, so there each file is read twice: to hash it, then to copy it.
    Either way a file whose size or mtime moves, or whose bytes differ between the reads, stops
    the backup.
    """
    # The files themselves, not their paths: an HTTP body's path is made from its metadata
    # file's each time it is used (kept, they were ~15 MB at 100,000 entries).
    files = list(_archive_order(entries))
    records = _Records()
    for index, member in enumerate(files):
        name = member.path
        if writer.patchable:
            try:
                records.add(os.stat(name))
            except FileNotFoundError:
                raise BackupError(
                    f"{name} vanished while being backed up (is a pip using the cache?); "
                    "no backup written"
                ) from None
            except OSError as exc:
                raise BackupError(f"cannot read {name}: {exc.strerror or exc}") from None
        else:
            info, digest = _read_or_fail(name, None, None, advance)
            records.add(info)
            records.set_digest(index, digest)
    count = len(records.sizes)
    manifest = replace(manifest, file_count=count, size=sum(records.sizes))
    head = manifest_head(manifest, count, manifest.size)

    def manifest_chunks(placeholder: bool) -> Iterator[bytes]:
        yield head
        for index, member in enumerate(files):
            digest = PLACEHOLDER_DIGEST if placeholder else records.digest(index).hex()
            line = manifest_line(
                relative(member.path),
                records.sizes[index],
                records.mtimes[index],
                records.atimes[index],
                digest,
            )
            yield line if index == count - 1 else line + b",\n"
        yield MANIFEST_TAIL

    if writer.patchable:
        writer.write(manifest_header(0, PLACEHOLDER_DIGEST))
        length = 0
        for chunk in manifest_chunks(placeholder=True):
            writer.write(chunk)
            length += len(chunk)
    else:
        hasher = hashlib.sha256()
        length = 0
        for chunk in manifest_chunks(placeholder=False):
            hasher.update(chunk)
            length += len(chunk)
        writer.write(manifest_header(length, hasher.hexdigest()))
        for chunk in manifest_chunks(placeholder=False):
            writer.write(chunk)
    writer.write(padding(length))

    for index, member in enumerate(files):
        name = member.path
        size = records.sizes[index]
        mtime_ns = records.mtimes[index]
        # Whole seconds keep the header plain ustar (a fractional mtime costs a 1 KiB pax
        # header per member, which more than doubles small files); the exact time is in the
        # manifest.
        writer.write(member_header(MEMBER_PREFIX + relative(name), size, mtime_ns // 1_000_000_000))
        _, digest = _read_or_fail(name, (size, mtime_ns), writer.write, advance)
        if writer.patchable:
            records.set_digest(index, digest)
        elif digest != records.digest(index):
            raise BackupError(
                f"{name} changed while being backed up (is a pip using the cache?); "
                "no backup written"
            )
        writer.write(padding(size))
    writer.finish()

    if writer.patchable:
        hasher = hashlib.sha256()
        pending = bytearray()
        offset = MANIFEST_HEADER_SIZE
        for chunk in manifest_chunks(placeholder=False):
            hasher.update(chunk)
            pending += chunk
            if len(pending) >= CHUNK:
                writer.patch(offset, pending)
                offset += len(pending)
                pending.clear()
        writer.patch(offset, pending)
        offset += len(pending)
        if offset - MANIFEST_HEADER_SIZE != length:
            raise AssertionError("the finished manifest does not fit its placeholder")
        writer.patch(0, manifest_header(length, hasher.hexdigest()))
    return manifest


def list_backups(directory: Path | None = None) -> BackupList:
    """Read the manifest of every archive in ``directory`` (default: the backups dir).

    A directory the user named must be one (bad input otherwise); the backups directory may not
    exist yet, before the first backup.
    """
    if directory is not None and not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "does not exist"
        raise UsageError(f"invalid value for DIRECTORY: {str(directory)!r} {problem}")
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
