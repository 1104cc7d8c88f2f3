"""Writing a backup in one pass: header, every file (hashed as it is copied), index, seal.

``backup_entries`` is the one way to write a backup (``backup`` and ``purge --backup`` both use
it). Each cache file is read once, without moving its access time, and streamed into the
(optionally compressed) tar as it is read; its size, times and sha256 go into a ``FileTable``
that becomes the index at the end. Nothing is ever rewritten, so the same code writes to a
local file, an object store or any stream. The archive is written under a hidden temporary
name and published under its final name only when complete (see ``location``): a full disk,
Ctrl-C, a lost connection or a cache file changing under a running pip never leaves anything
that looks like a backup.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipcachex import __version__
from pipcachex.backup.catalog import default_backup_dir
from pipcachex.backup.compress import Compressor, compressor, require
from pipcachex.backup.format import (
    CHUNK,
    DEFAULT_COMPRESSION,
    HEADER_NAME,
    INDEX_NAME,
    MEMBER_PREFIX,
    SEAL_NAME,
    BackupHeader,
    Compression,
    Seal,
    in_layout,
    index_line,
)
from pipcachex.backup.location import LocalStore, Store, describe_error, is_url, store_for
from pipcachex.backup.table import FileTable
from pipcachex.backup.tar import end_of_archive, member_header, padding
from pipcachex.cache import CacheEntry, CacheFile, untouched_descriptor
from pipcachex.errors import PipcachexError, UsageError
from pipcachex.operations.listing import summarise_packages

ProgressCallback = Callable[[int, int], None]
#: Written in pieces this large: one system call (or one part of an upload) per MiB.
_FLUSH_AT = 1 << 20


class BackupError(PipcachexError):
    """A backup could not be written; nothing finished-looking was left behind: exit 1."""


@dataclass(frozen=True)
class BackupResult:
    """A backup that was written: where (a path or a redacted URL), how big, what it holds."""

    archive: str
    archive_size: int
    compression: Compression
    header: BackupHeader
    skipped_busy: tuple[CacheEntry, ...]
    skipped_outside_layout: tuple[CacheEntry, ...] = ()


def generated_name(now: datetime, compression: Compression) -> str:
    """A fresh name for a backup made at ``now``: the time to the millisecond plus a random tag.

    Two backups in the same millisecond still get different names; publishing never replaces
    an existing archive whatever the name (see ``location``).
    """
    stamp = now.strftime("%Y%m%dT%H%M%S") + f".{now.microsecond // 1000:03d}Z"
    return f"pipcachex-{stamp}-{secrets.token_hex(3)}{compression.suffix}"


@dataclass(frozen=True)
class Destination:
    """Where a backup goes: a store and a fixed name (``--to FILE``) or None (a generated one)."""

    store: Store
    name: str | None
    compression: Compression


def resolve_destination(
    destination: str | os.PathLike[str] | None,
    root: Path,
    compression: Compression | None,
    default_dir: Path,
) -> Destination:
    """Turn ``--to`` (a directory, a file, a URL or nothing) into a destination.

    A file name's suffix picks the compression when none was asked for, and must agree with
    one that was. A local destination must not be inside the cache. The default backups
    directory is created when missing.
    """
    text = None if destination is None else os.fspath(destination)
    if text is not None and is_url(text) and not text.startswith("file://"):
        prefix, _, last = text.rstrip("/").rpartition("/")
        named = not text.endswith("/") and Compression.from_name(last) is not None
        store = store_for(prefix + "/" if named else text)
        return _named(store, last if named else None, compression)
    if text is not None and text.startswith("file://"):
        text = text[len("file://") :]
    path = Path(text) if text is not None else default_dir
    source = "--to" if text is not None else "the backups directory"
    if text is None or path.is_dir():
        directory, name = path, None
    else:
        directory, name = path.parent, path.name
        if path.exists() or path.is_symlink():
            raise UsageError(f"invalid value for --to: {str(path)!r} already exists")
        if not directory.exists():
            raise UsageError(f"invalid value for --to: {str(directory)!r} does not exist")
        if not directory.is_dir():
            raise UsageError(f"invalid value for --to: {str(directory)!r} is not a directory")
    real_dir = Path(os.path.realpath(directory))
    real_root = Path(os.path.realpath(root))
    if real_dir == real_root or real_root in real_dir.parents:
        shown = str(path)
        raise UsageError(f"invalid value for {source}: {shown!r} is inside the cache directory")
    if text is None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = "it is not a directory" if directory.exists() else exc.strerror or str(exc)
            raise BackupError(
                f"cannot use the backups directory {directory}: {reason}; no backup written"
            ) from None
    return _named(LocalStore(directory), name, compression)


def _named(store: Store, name: str | None, compression: Compression | None) -> Destination:
    implied = Compression.from_name(name) if name is not None else None
    if name is not None and implied is None:
        raise UsageError(
            f"invalid value for --to: {name!r} does not end in .tar, .tar.gz, .tar.xz or .tar.zst"
        )
    if compression is not None and implied is not None and compression is not implied:
        raise UsageError(
            f"invalid value for --to: {name!r} names {implied.value} compression but "
            f"--compression is {compression.value} (use a {compression.suffix} name)"
        )
    chosen = compression or implied or DEFAULT_COMPRESSION
    require(chosen)
    return Destination(store, name, chosen)


class _WriteFailed(Exception):
    """Writing the archive failed (not reading the cache): keeps the cause."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Changed(Exception):
    """A cache file is not what it was a moment ago (a pip is using the cache)."""


class _TarOut:
    """The tar stream of a backup, compressed as asked, going into an upload."""

    def __init__(self, upload: Any, compression: Compression) -> None:
        self._upload = upload
        self._compressor: Compressor | None = compressor(compression)
        self.offset = 0
        self.written = 0
        self._buffer = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._buffer += data
        self.offset += len(data)
        if len(self._buffer) >= _FLUSH_AT:
            self._flush()

    def _flush(self, final: bool = False) -> None:
        data: bytes | bytearray = self._buffer
        if self._compressor is not None:
            data = self._compressor.compress(self._buffer)
            if final:
                data += self._compressor.flush()
        try:
            if data:
                self._upload.write(data)
        except Exception as exc:
            raise _WriteFailed(exc) from None
        self.written += len(data)
        self._buffer = bytearray()

    def finish(self) -> None:
        self.write(end_of_archive(self.offset))
        self._flush(final=True)


def backup_entries(
    root: Path,
    entries: Sequence[CacheEntry],
    destination: str | os.PathLike[str] | None = None,
    *,
    compression: Compression | None = None,
    pip_version: str | None = None,
    selection: Mapping[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
    default_dir: Path | None = None,
) -> BackupResult:
    """Write the files of ``entries`` (of the cache at ``root``) into one sealed archive.

    ``destination``: a directory or URL prefix (a generated name is used there), a file path or
    URL that must not exist yet, or None for the backups directory. Entries a pip is writing
    (``busy``) and entries with files outside pip's layout are skipped and reported.
    ``on_progress(done, total)`` counts bytes read. Raises BackupError, leaving nothing behind.
    """
    root = root.absolute()
    now = datetime.now(timezone.utc)
    target = resolve_destination(
        destination, root, compression, default_dir or default_backup_dir()
    )
    relative = _namer(root)
    busy = tuple(e for e in entries if e.busy)
    outside = tuple(
        e for e in entries if not e.busy and not all(in_layout(relative(f.path)) for f in e.files)
    )
    skipped = {id(e) for e in busy + outside}
    kept = [e for e in entries if id(e) not in skipped]
    files = list(_archive_order(kept))
    stats = _Stats.of(files)
    total = sum(stats.sizes)
    header = BackupHeader(
        created=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        pipcachex_version=__version__,
        pip_version=pip_version,
        source_cache_dir=str(root),
        layouts=tuple(sorted({relative(f.path).split("/")[0] for f in files})),
        compression=target.compression.value,
        selection=selection,
        entries=len(kept),
        files=len(files),
        size=total,
        projects=tuple(_projects(kept)),
    )
    store = target.store
    name = target.name or generated_name(now, target.compression)
    shown = store.display(name)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, max(total, done))

    upload: Any = None
    published = False
    try:
        upload = store.create(name, unique=target.name is None)
        out = _TarOut(upload, target.compression)
        _write_archive(out, header, files, stats, relative, advance)
        out.finish()
        while not upload.publish(name):
            if target.name is not None:
                raise UsageError(f"invalid value for --to: {shown!r} already exists")
            name = generated_name(datetime.now(timezone.utc), target.compression)
            shown = store.display(name)
        published = True
    except _WriteFailed as exc:
        reason = _reason(exc.cause)
        raise BackupError(f"cannot write {shown}: {reason}; no backup written") from None
    except OSError as exc:
        raise BackupError(f"cannot write {shown}: {_reason(exc)}; no backup written") from None
    except PipcachexError as exc:
        if isinstance(exc, (BackupError, UsageError)):
            raise
        raise BackupError(f"{exc.message}; no backup written") from None
    except Exception as exc:
        if not store.remote:
            raise
        raise BackupError(f"cannot write {shown}: {_reason(exc)}; no backup written") from None
    finally:
        if upload is not None and not published:
            upload.abort()
    return BackupResult(shown, out.written, target.compression, header, busy, outside)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return describe_error(exc)


def _namer(root: Path) -> Callable[[str], str]:
    """How the archive names the cache files under ``root``: relative, ``/``-separated."""
    top = os.fspath(root)
    prefix = os.path.join(top, "")

    def name(path: str) -> str:
        text = path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, top)
        return text if os.sep == "/" else text.replace(os.sep, "/")

    return name


def _archive_order(entries: Sequence[CacheEntry]) -> Iterator[CacheFile]:
    for entry in entries:
        # An HTTP entry's body before its metadata: restore writes in archive order, and pip
        # sees the entry only once the metadata is there, by which time the body is complete.
        yield from sorted(entry.files, key=lambda m: m.path == entry.path)


def _projects(entries: Sequence[CacheEntry]) -> list[dict[str, object]]:
    return [
        {"package": row.package, "entries": row.entries, "size": row.size, "versions": row.versions}
        for row in summarise_packages(entries)
    ]


@dataclass(frozen=True)
class _Stats:
    """The size, mtime and atime (ns) of every file to back up, as the backup began.

    In three arrays of 8-byte integers: a ``stat_result`` kept per file was about 100 MiB of a
    100,000-entry backup (183,000 files).
    """

    sizes: array[int]
    mtimes: array[int]
    atimes: array[int]

    @classmethod
    def of(cls, files: Sequence[CacheFile]) -> _Stats:
        """Stat each of ``files`` (raising BackupError for one that vanished or is unreadable)."""
        stats = cls(array("q"), array("q"), array("q"))
        for member in files:
            info = _stat_or_fail(member.path)
            stats.sizes.append(info.st_size)
            stats.mtimes.append(info.st_mtime_ns)
            stats.atimes.append(info.st_atime_ns)
        return stats


def _stat_or_fail(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise BackupError(
            f"{path} vanished while being backed up (is a pip using the cache?); no backup written"
        ) from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}; no backup written") from None


def _write_archive(
    out: _TarOut,
    header: BackupHeader,
    files: Sequence[CacheFile],
    stats: _Stats,
    relative: Callable[[str], str],
    advance: Callable[[int], None],
) -> None:
    """Header, each file as it is read, index, seal: the whole archive in one pass."""
    created = int(datetime.fromisoformat(header.created.replace("Z", "+00:00")).timestamp())
    header_data = header.to_bytes()
    _member(out, HEADER_NAME, header_data, created)
    table = FileTable()
    for index, member in enumerate(files):
        path = member.path
        name = relative(path)
        size, mtime = stats.sizes[index], stats.mtimes[index]
        out.write(member_header(MEMBER_PREFIX + name, size, mtime // 10**9))
        try:
            digest = _copy(path, size, mtime, out.write, advance)
        except FileNotFoundError:
            raise BackupError(
                f"{path} vanished while being backed up (is a pip using the cache?); "
                "no backup written"
            ) from None
        except _Changed:
            raise BackupError(
                f"{path} changed while being backed up (is a pip using the cache?); "
                "no backup written"
            ) from None
        except OSError as exc:
            raise BackupError(
                f"cannot read {path}: {exc.strerror or exc}; no backup written"
            ) from None
        out.write(padding(size))
        table.add(name, size, mtime, stats.atimes[index], digest)
    lines = _index_lines(table)
    hasher = hashlib.sha256()
    length = 0
    for line in lines():
        hasher.update(line)
        length += len(line)
    out.write(member_header(INDEX_NAME, length, created))
    for line in lines():
        out.write(line)
    out.write(padding(length))
    seal = Seal(
        header_sha256=hashlib.sha256(header_data).hexdigest(),
        index_sha256=hasher.hexdigest(),
        files=len(table),
        size=table.total_size(),
    )
    _member(out, SEAL_NAME, seal.to_bytes(), created)


def _index_lines(table: FileTable) -> Callable[[], Iterator[bytes]]:
    def lines() -> Iterator[bytes]:
        for index, path in enumerate(table.paths):
            yield index_line(
                path,
                table.sizes[index],
                table.mtimes[index],
                table.atimes[index],
                table.digest(index),
            )

    return lines


def _member(out: _TarOut, name: str, data: bytes, mtime: int) -> None:
    out.write(member_header(name, len(data), mtime))
    out.write(data)
    out.write(padding(len(data)))


def _copy(
    path: str,
    size: int,
    mtime: int,
    emit: Callable[[bytes], None],
    advance: Callable[[int], None],
) -> bytes:
    """Stream a cache file into ``emit`` without moving its atime; return its sha256.

    A file whose size or mtime (ns) is not ``size`` and ``mtime``, before or after the read,
    or that does not read back exactly that many bytes, raises _Changed.
    """
    with untouched_descriptor(path) as fd:
        info = os.fstat(fd)
        if (info.st_size, info.st_mtime_ns) != (size, mtime):
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
            emit(chunk)
            advance(len(chunk))
            if len(chunk) < wanted:
                break
        if remaining:
            raise _Changed
        after = os.fstat(fd)
        if (after.st_size, after.st_mtime_ns) != (size, mtime):
            raise _Changed
        return digest.digest()
