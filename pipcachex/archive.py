"""The backup archive format: a tar file whose first member is ``manifest.json``.

Layout (see docs/backup.md)::

    manifest.json            format version, origin, totals, projects, every file's sha256
    cache/<path in cache>    one regular file per cache file, in manifest order

The manifest's own sha256 travels in the pax ``comment`` record of its member, so a flipped
byte anywhere in the archive is caught: in the manifest by that digest, in a file by its
recorded sha256, in a tar header by the header checksum (the member then goes missing).
Reading never trusts a member name: absolute paths, ``..``, links, devices and anything the
manifest does not list are refused.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import lzma
import tarfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from pipcachex.errors import PipcachexError

FORMAT_NAME = "pipcachex-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MEMBER_PREFIX = "cache/"
# The manifest's digest rides in the standard pax ``comment`` record: tar tools ignore it quietly.
DIGEST_HEADER = "comment"
DIGEST_PREFIX = "sha256="
CHUNK = 1 << 20

BytesCallback = Callable[[int], None]


class ArchiveError(PipcachexError):
    """An archive cannot be read, or does not hold what its manifest says: exit 1."""


class Compression(str, enum.Enum):
    """How the tar stream is compressed (``--compression``)."""

    NONE = "none"
    GZ = "gz"
    XZ = "xz"

    @property
    def suffix(self) -> str:
        """File name suffix of an archive with this compression."""
        return {"none": ".tar", "gz": ".tar.gz", "xz": ".tar.xz"}[self.value]

    @classmethod
    def from_name(cls, name: str) -> Compression | None:
        """The compression a file name's suffix implies, or None when it names none."""
        lowered = name.lower()
        for suffix, kind in ((".tar.gz", cls.GZ), (".tgz", cls.GZ), (".tar.xz", cls.XZ)):
            if lowered.endswith(suffix):
                return kind
        return cls.NONE if lowered.endswith(".tar") else None


# Most of a cache is wheels and sdists, which are compressed already: plain tar is ~30x faster
# to write than gzip level 1 and only ~6% bigger (measured; see docs/backup.md).
DEFAULT_COMPRESSION = Compression.NONE
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz")


@dataclass(frozen=True)
class ManifestFile:
    """One cache file as recorded in the manifest (``path`` is relative to the cache root)."""

    path: str
    size: int
    mtime_ns: int
    atime_ns: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """The manifest form of this record."""
        return {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "atime_ns": self.atime_ns,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Manifest:
    """What a backup holds and where it came from."""

    created: str
    source_cache_dir: str
    pipcachex_version: str
    pip_version: str | None
    compression: str
    projects: tuple[dict[str, Any], ...]
    files: tuple[ManifestFile, ...]
    entries: int

    @property
    def size(self) -> int:
        """Bytes of cache content the backup holds."""
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        """The document stored as ``manifest.json``."""
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "created": self.created,
            "pipcachex_version": self.pipcachex_version,
            "pip_version": self.pip_version,
            "source_cache_dir": self.source_cache_dir,
            "compression": self.compression,
            "totals": {"entries": self.entries, "files": len(self.files), "size": self.size},
            "projects": list(self.projects),
            "files": [f.to_json() for f in self.files],
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """Validate a parsed ``manifest.json``; anything malformed is an ArchiveError."""
        try:
            if data.get("format") != FORMAT_NAME:
                raise ArchiveError("manifest.json is not a pipcachex backup manifest")
            if data["format_version"] != FORMAT_VERSION:
                raise ArchiveError(
                    f"backup format version {data['format_version']} is not supported "
                    f"(this pipcachex reads version {FORMAT_VERSION})"
                )
            files = tuple(
                ManifestFile(
                    safe_relative_path(str(f["path"])),
                    _int(f["size"]),
                    _int(f["mtime_ns"]),
                    _int(f["atime_ns"]),
                    _digest(f["sha256"]),
                )
                for f in data["files"]
            )
            return cls(
                created=str(data["created"]),
                source_cache_dir=str(data["source_cache_dir"]),
                pipcachex_version=str(data["pipcachex_version"]),
                pip_version=None if data["pip_version"] is None else str(data["pip_version"]),
                compression=str(data["compression"]),
                projects=tuple(dict(p) for p in data["projects"]),
                files=files,
                entries=_int(data["totals"]["entries"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArchiveError(
                f"manifest.json is malformed ({type(exc).__name__}: {exc})"
            ) from None


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{value!r} is not a non-negative integer")
    return value


def _digest(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64 or value.strip("0123456789abcdef"):
        raise ValueError(f"{value!r} is not a sha256 digest")
    return value


def safe_relative_path(name: str) -> str:
    """Return ``name`` if it is a plain relative path inside the cache, else raise ArchiveError.

    Whatever an archive claims, nothing may land outside the cache root: absolute paths, drive
    letters, ``..``, ``.``, empty components and NUL bytes are refused.
    """
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or ":" in parts[0]
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise ArchiveError(f"archive member {name!r} is not a safe relative path; refused")
    return name


def sha256_of(stream: BinaryIO, on_bytes: BytesCallback | None = None) -> tuple[str, int]:
    """Hash a stream to its end; return its sha256 and length."""
    digest = hashlib.sha256()
    length = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        length += len(chunk)
        if on_bytes is not None:
            on_bytes(len(chunk))
    return digest.hexdigest(), length


class _HashingReader(io.RawIOBase):
    """Passes a file through to tarfile while hashing it, so what was written is what was hashed."""

    def __init__(self, base: BinaryIO, on_bytes: BytesCallback | None) -> None:
        super().__init__()
        self._base = base
        self._on_bytes = on_bytes
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Read from the base file and hash what was read."""
        data = self._base.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        self.digest.update(data)
        if self._on_bytes is not None:
            self._on_bytes(len(data))
        return len(data)


def open_writer(fileobj: IO[bytes], compression: Compression, name: str) -> tarfile.TarFile:
    """Open a tar writer over ``fileobj`` (pax where needed: long names and the manifest digest).

    ``name`` is the archive's final name, which gzip records in its header (not the temp name).
    """
    options: dict[str, Any] = {}
    if compression is Compression.GZ:
        options["compresslevel"] = 1
    elif compression is Compression.XZ:
        options["preset"] = 6
    mode: Any = "w" if compression is Compression.NONE else f"w:{compression.value}"
    return tarfile.open(name, mode, fileobj=fileobj, format=tarfile.PAX_FORMAT, **options)


def write_manifest(tar: tarfile.TarFile, manifest: Manifest) -> None:
    """Write ``manifest.json`` as the first member, with its digest in a pax header."""
    data = json.dumps(manifest.to_json(), indent=1).encode()
    info = tarfile.TarInfo(MANIFEST_NAME)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    info.pax_headers = {DIGEST_HEADER: DIGEST_PREFIX + hashlib.sha256(data).hexdigest()}
    tar.addfile(info, io.BytesIO(data))


def write_member(
    tar: tarfile.TarFile, record: ManifestFile, source: BinaryIO, on_bytes: BytesCallback | None
) -> str:
    """Append one cache file; return the sha256 of the bytes actually written."""
    info = tarfile.TarInfo(MEMBER_PREFIX + record.path)
    info.size = record.size
    info.mode = 0o644
    # Whole seconds keep the header plain ustar (a fractional mtime costs a 1 KiB pax header per
    # member, which more than doubles small files); the exact time is in the manifest.
    info.mtime = record.mtime_ns // 1_000_000_000
    reader = _HashingReader(source, on_bytes)
    tar.addfile(info, reader)
    return reader.digest.hexdigest()


# Errors a damaged or truncated archive raises while being decompressed and parsed.
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, UnicodeDecodeError)


@dataclass
class Member:
    """A file member being read: its manifest record and a chunk reader that checks it."""

    record: ManifestFile
    _stream: IO[bytes]
    _archive: Path

    def chunks(self) -> Iterator[bytes]:
        """Yield the member's bytes; raise ArchiveError at the end if size or sha256 differ."""
        digest = hashlib.sha256()
        length = 0
        while True:
            try:
                chunk = self._stream.read(CHUNK)
            except READ_ERRORS as exc:
                raise ArchiveError(f"{self._archive} is damaged or truncated: {exc}") from None
            except OSError as exc:
                raise ArchiveError(f"{self._archive} cannot be read: {exc}") from None
            if not chunk:
                break
            digest.update(chunk)
            length += len(chunk)
            yield chunk
        if length != self.record.size or digest.hexdigest() != self.record.sha256:
            raise ArchiveError(
                f"archive member {self.record.path!r} does not match its recorded sha256 and size"
            )


class ArchiveReader:
    """Sequential reader of an archive: ``manifest`` on entry, then ``members()`` in order.

    Streams the tar (``r|*``), so xz and gzip archives are decompressed once, front to back.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._tar: tarfile.TarFile | None = None
        self.manifest: Manifest

    def __enter__(self) -> ArchiveReader:
        try:
            self._file = open(self.path, "rb")
            self._tar = tarfile.open(fileobj=self._file, mode="r|*")
            first = self._tar.next()
            if first is None or first.name != MANIFEST_NAME or not first.isreg():
                raise ArchiveError(f"{self.path} has no manifest.json as its first member")
            stream = self._tar.extractfile(first)
            assert stream is not None  # a regular member always has a stream
            data = stream.read()
            if DIGEST_PREFIX + hashlib.sha256(data).hexdigest() != first.pax_headers.get(
                DIGEST_HEADER
            ):
                raise ArchiveError(f"{self.path}: manifest.json does not match its checksum")
            self.manifest = Manifest.from_json(json.loads(data))
        except BaseException as exc:
            self.close()
            if isinstance(exc, ArchiveError):
                raise
            if isinstance(exc, (*READ_ERRORS, ValueError)):
                raise ArchiveError(f"{self.path} is not a readable backup: {exc}") from None
            if isinstance(exc, OSError):
                raise ArchiveError(f"cannot read {self.path}: {exc.strerror or exc}") from None
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the tar stream and the file."""
        if self._tar is not None:
            self._tar.close()
            self._tar = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def members(self) -> Iterator[Member]:
        """Yield every file member in archive order, refusing anything the manifest lacks.

        A member is checked only as its chunks are read; one the caller skips is not hashed.
        After the last member, files the manifest lists but the archive lacks are an error.
        """
        assert self._tar is not None, "use ArchiveReader as a context manager"
        expected = {f.path: f for f in self.manifest.files}
        seen: set[str] = set()
        try:
            while (info := self._tar.next()) is not None:
                record = self._check(info, expected, seen)
                stream = self._tar.extractfile(info)
                assert stream is not None
                yield Member(record, stream, self.path)
        except READ_ERRORS as exc:
            raise ArchiveError(f"{self.path} is damaged or truncated: {exc}") from None
        except OSError as exc:
            raise ArchiveError(f"{self.path} cannot be read: {exc}") from None
        missing = len(expected) - len(seen)
        if missing:
            first = next(p for p in expected if p not in seen)
            raise ArchiveError(
                f"{self.path} lacks {missing} file(s) its manifest lists, such as {first!r} "
                "(truncated or damaged)"
            )

    def _check(
        self, info: tarfile.TarInfo, expected: dict[str, ManifestFile], seen: set[str]
    ) -> ManifestFile:
        name = info.name
        if not name.startswith(MEMBER_PREFIX):
            raise ArchiveError(f"archive member {name!r} is outside cache/; refused")
        relative = safe_relative_path(name[len(MEMBER_PREFIX) :])
        if not info.isreg():
            raise ArchiveError(f"archive member {name!r} is not a regular file; refused")
        record = expected.get(relative)
        if record is None or relative in seen:
            what = "is listed twice" if record else "is not in the manifest"
            raise ArchiveError(f"archive member {name!r} {what}; refused")
        if info.size != record.size:
            raise ArchiveError(f"archive member {name!r} has a different size than recorded")
        seen.add(relative)
        return record


def verify_archive(path: Path, on_bytes: BytesCallback | None = None) -> Manifest:
    """Read the whole archive and check every member; return its manifest or raise ArchiveError."""
    with ArchiveReader(path) as reader:
        for member in reader.members():
            for chunk in member.chunks():
                if on_bytes is not None:
                    on_bytes(len(chunk))
        return reader.manifest


def read_manifest(path: Path) -> Manifest:
    """Read only the manifest (the first member): cheap, for listing backups."""
    with ArchiveReader(path) as reader:
        return reader.manifest


def archive_files(paths: Sequence[Path]) -> list[Path]:
    """Keep the paths whose names look like finished archives (temp files start with a dot)."""
    return [p for p in paths if not p.name.startswith(".") and p.name.endswith(ARCHIVE_SUFFIXES)]
