"""The backup archive format: a tar file whose first member is ``manifest.json``.

Layout (see docs/backup.md)::

    manifest.json            format version, origin, totals, projects, every file's sha256
    cache/<path in cache>    one regular file per cache file, in manifest order

The manifest's own sha256 travels in the pax ``comment`` record of its member, so a flipped
byte anywhere in the archive is caught: in the manifest by that digest, in a file by its
recorded sha256, in a tar header by the header checksum (the member then goes missing).
Reading (``pipcachex.tarstream``) never trusts a member name: absolute paths, ``..``, links,
devices and anything the manifest does not list are refused.
"""

from __future__ import annotations

import enum
import gzip
import hashlib
import json
import lzma
import os
import tarfile
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pipcachex.errors import PipcachexError
from pipcachex.records import FileTable, ManifestFile

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
class Manifest:
    """What a backup holds and where it came from.

    ``files`` is empty in the manifest of a backup just written (its records went straight
    into the archive); ``file_count`` and ``size`` are always the backup's totals.
    """

    created: str
    source_cache_dir: str
    pipcachex_version: str
    pip_version: str | None
    compression: str
    projects: tuple[dict[str, Any], ...]
    files: FileTable
    entries: int
    file_count: int = -1
    size: int = -1
    digest: str = ""
    """sha256 of the ``manifest.json`` this was read from (empty when not read from one)."""

    def __post_init__(self) -> None:
        if self.file_count < 0:
            object.__setattr__(self, "file_count", len(self.files))
        if self.size < 0:
            object.__setattr__(self, "size", self.files.total_size())

    def to_json(self, files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The document stored as ``manifest.json`` (``files`` instead of the records' own)."""
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "created": self.created,
            "pipcachex_version": self.pipcachex_version,
            "pip_version": self.pip_version,
            "source_cache_dir": self.source_cache_dir,
            "compression": self.compression,
            "totals": {"entries": self.entries, "files": self.file_count, "size": self.size},
            "projects": list(self.projects),
            "files": [f.to_json() for f in self.files] if files is None else files,
        }

    @classmethod
    def from_bytes(cls, data: bytes, digest: str) -> Manifest:
        """Parse and validate ``manifest.json``; anything malformed is an ArchiveError."""
        try:
            # File records become ManifestFiles as they are parsed: a large backup's manifest
            # would otherwise pass through hundreds of thousands of short-lived dicts at once.
            document = json.loads(data, object_hook=file_record)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArchiveError(
                f"manifest.json is malformed ({type(exc).__name__}: {exc})"
            ) from None
        return cls.from_json(document, digest)

    @classmethod
    def from_json(cls, data: Any, digest: str = "") -> Manifest:
        """Validate a parsed ``manifest.json``; anything malformed is an ArchiveError."""
        try:
            if data.get("format") != FORMAT_NAME:
                raise ArchiveError("manifest.json is not a pipcachex backup manifest")
            if data["format_version"] != FORMAT_VERSION:
                raise ArchiveError(
                    f"backup format version {data['format_version']} is not supported "
                    f"(this pipcachex reads version {FORMAT_VERSION})"
                )
            files = data["files"]
            if not isinstance(files, FileTable):  # the streaming parse hands over a table
                files = FileTable.of(
                    f if isinstance(f, ManifestFile) else file_record(dict(f), strict=True)
                    for f in files
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
                digest=digest,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArchiveError(
                f"manifest.json is malformed ({type(exc).__name__}: {exc})"
            ) from None


def file_record(item: dict[str, Any], *, strict: bool = False) -> Any:
    """A JSON object that is a file record as a ManifestFile; any other object unchanged.

    It is the ``object_hook`` of every manifest decoder (whole or streamed), so both read a
    record alike. ``strict`` turns an object that is not a valid record into ``ValueError``.
    """
    if not strict and ("sha256" not in item or "path" not in item):
        return item
    return ManifestFile(
        safe_relative_path(str(item["path"])),
        _int(item["size"]),
        _int(item["mtime_ns"]),
        _int(item["atime_ns"]),
        _digest(item["sha256"]),
    )


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{value!r} is not a non-negative integer")
    return value


def _digest(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64 or value.strip("0123456789abcdef"):
        raise ValueError(f"{value!r} is not a sha256 digest")
    return value


def member_namer(root: str | os.PathLike[str]) -> Callable[[str], str]:
    """How the archive names the cache files under ``root``: relative, ``/``-separated."""
    top = os.fspath(root)
    prefix = os.path.join(top, "")

    def name(path: str) -> str:
        text = path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, top)
        return text if os.sep == "/" else text.replace(os.sep, "/")

    return name


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


_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_OCTAL_LIMIT = 8**11
#: What ``tarfile`` writes for a plain member: mode 0644, uid/gid 0, no owner names, ustar magic.
_USTAR_TEMPLATE = bytes(
    bytearray(100)
    + b"0000644\0"
    + b"0000000\0" * 2
    + bytearray(24)
    + b"        0"
    + bytearray(100)
    + b"ustar\x0000"
    + bytearray(_BLOCK - 265)
)
_TEMPLATE_SUM = sum(_USTAR_TEMPLATE)
_OCTAL_FIELDS_SUM = sum(_USTAR_TEMPLATE[124:148])
#: Stands for a sha256 not known yet; the real digest has the same length, so it can be patched.
PLACEHOLDER_DIGEST = "0" * 64
#: Written buffered in pieces this large: one syscall per MiB, not three per member.
_FLUSH_AT = 1 << 20
MANIFEST_HEADER_SIZE = 3 * _BLOCK


def member_header(name: str, size: int, mtime: int) -> bytes:
    """The tar header of a regular file member with mode 0644, as ``tarfile`` writes it.

    Cache paths are almost all short ASCII names, whose header is one ustar block built here
    directly (``tarfile`` spends most of a small member's time on it); anything longer or wider
    goes through ``tarfile`` for its pax records.
    """
    encoded = name.encode("utf-8", "surrogateescape")
    if (
        len(encoded) <= 100
        and encoded.isascii()
        and size < _OCTAL_LIMIT
        and 0 <= mtime < _OCTAL_LIMIT
    ):
        block = bytearray(_USTAR_TEMPLATE)
        block[: len(encoded)] = encoded
        block[124:136] = b"%011o\0" % size
        block[136:148] = b"%011o\0" % mtime
        # The header checksum: the template's bytes plus those filled in.
        checksum = _TEMPLATE_SUM + sum(block[:100]) + sum(block[124:148]) - _OCTAL_FIELDS_SUM
        block[148:155] = b"%06o\0" % checksum
        return bytes(block)
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = mtime
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def manifest_header(size: int, digest: str) -> bytes:
    """The pax and ustar headers of ``manifest.json``: always ``MANIFEST_HEADER_SIZE`` bytes."""
    info = tarfile.TarInfo(MANIFEST_NAME)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.pax_headers = {DIGEST_HEADER: DIGEST_PREFIX + digest}
    header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    assert len(header) == MANIFEST_HEADER_SIZE
    return header


def padding(size: int) -> bytes:
    """The NUL bytes that fill a member of ``size`` bytes up to a whole tar block."""
    return bytes(-size % _BLOCK)


def manifest_head(manifest: Manifest, files: int, size: int) -> bytes:
    """``manifest.json`` up to its first file record (the rest: :func:`manifest_line`s, then
    :data:`MANIFEST_TAIL`)."""
    document = manifest.to_json(files=[])
    document["totals"] = {"entries": manifest.entries, "files": files, "size": size}
    # What json.dumps(document, indent=1) returns, joined as it goes: json.dumps lists every
    # piece first (a few per line of "projects", ~20 MB of small strings at 100,000 entries).
    parts: list[str] = []
    pending: list[str] = []
    for piece in json.JSONEncoder(indent=1).iterencode(document):
        pending.append(piece)
        if len(pending) >= 4096:
            parts.append("".join(pending))
            pending.clear()
    parts.append("".join(pending))
    text = "".join(parts)
    # to_json puts "files" last, so its empty list closes the document: open it instead.
    assert text.endswith('"files": []\n}')
    return (text[: -len("]\n}")] + "\n").encode()


def manifest_line(path: str, size: int, mtime_ns: int, atime_ns: int, sha256: str) -> bytes:
    """One file record of ``manifest.json``, on a line of its own (``,`` separates them)."""
    return (
        f'{{"path": {json.dumps(path)}, "size": {size}, "mtime_ns": {mtime_ns}, '
        f'"atime_ns": {atime_ns}, "sha256": "{sha256}"}}'
    ).encode()


MANIFEST_TAIL = b"\n]\n}"


class ArchiveWriter:
    """Writes the tar stream of a backup into ``raw``, compressed as asked.

    The caller writes ``manifest.json`` first and then the members, header, data and padding;
    ``offset`` counts tar bytes so far. An uncompressed archive can be patched afterwards in
    place (:meth:`patch`): that is how the manifest, written before the files were read, gets
    the digests computed while they were copied.
    """

    def __init__(self, raw: BinaryIO, compression: Compression, name: str) -> None:
        self._raw = raw
        # Closed by finish(); a failed backup discards its temp file, compressor state and all.
        self._stream: BinaryIO | gzip.GzipFile | lzma.LZMAFile
        if compression is Compression.GZ:
            # The archive's final name, which gzip records in its header (not the temp name).
            self._stream = gzip.GzipFile(filename=name, mode="wb", compresslevel=1, fileobj=raw)
        elif compression is Compression.XZ:
            self._stream = lzma.LZMAFile(raw, "w", preset=6)  # noqa: SIM115
        else:
            self._stream = raw
        self.patchable = compression is Compression.NONE
        self.offset = 0
        self._buffer = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes of the tar stream."""
        self._buffer += data
        self.offset += len(data)
        if len(self._buffer) >= _FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._stream.write(self._buffer)
            self._buffer.clear()

    def finish(self) -> None:
        """End the tar stream (two zero blocks, padded to a whole record) and the compression."""
        end = 2 * _BLOCK
        self.write(bytes(end + (-(self.offset + end) % _RECORD)))
        self._flush()
        if self._stream is not self._raw:
            self._stream.close()
        self._raw.flush()

    def discard(self) -> None:
        """Drop the compressor of an archive that failed, before its file is closed.

        Its output goes to a temp file that is about to be removed; what matters is that the
        compressor does not try to write its end into the closed file later, when it is
        garbage-collected (Python 3.12+ report that as an error).
        """
        self._buffer.clear()
        if self._stream is not self._raw:
            with suppress(OSError, ValueError):
                self._stream.close()

    def patch(self, offset: int, data: bytes | bytearray) -> None:
        """Overwrite bytes already written (uncompressed archives only, after :meth:`finish`)."""
        assert self.patchable and not self._buffer
        view = memoryview(data)
        while view:
            written = os.pwrite(self._raw.fileno(), view, offset)
            view = view[written:]
            offset += written


def archive_files(paths: Sequence[Path]) -> list[Path]:
    """Keep the paths whose names look like finished archives (temp files start with a dot)."""
    return [p for p in paths if not p.name.startswith(".") and p.name.endswith(ARCHIVE_SUFFIXES)]
