"""The backup format (version 2): member names, limits, and the three metadata documents.

A backup is a POSIX tar (ustar headers, pax records where a name does not fit), optionally
gzip-, xz- or zstd-compressed, written front to back in one pass::

    pipcachex/header.json    what the backup is: format, versions, origin, selection, totals
    cache/<path>             one regular file per cache file
    pipcachex/index.jsonl    one JSON line per file member, in archive order: size, times, sha256
    pipcachex/seal.json      the sha256 of the header and of the index, and the totals

docs/backup-format.md is the specification; this module is its vocabulary. Every read is
bounded (``HEADER_LIMIT``, ``INDEX_LINE_LIMIT``, ``SEAL_LIMIT``, ``PAX_LIMIT``) so a hostile
archive cannot make a reader allocate what its headers claim.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipcachex.errors import PipcachexError

FORMAT_NAME = "pipcachex-backup"
SEAL_FORMAT_NAME = "pipcachex-backup-seal"
FORMAT_VERSION = 2
HEADER_NAME = "pipcachex/header.json"
INDEX_NAME = "pipcachex/index.jsonl"
SEAL_NAME = "pipcachex/seal.json"
MEMBER_PREFIX = "cache/"
CHUNK = 1 << 20

#: Bounds of what a reader accepts (see docs/backup-format.md, "Limits").
HEADER_LIMIT = 16 << 20
SEAL_LIMIT = 4096
INDEX_LINE_LIMIT = 8192
PAX_LIMIT = 64 << 10
#: One path component, and a whole relative path, in UTF-8 bytes: beyond these the file
#: cannot be created on common systems (NAME_MAX 255; macOS PATH_MAX 1024 with the root).
NAME_LIMIT = 255
PATH_LIMIT = 768
_INT64 = (1 << 63) - 1

#: What pip writes at the top of its cache; a backup holds nothing else.
LAYOUT_DIRECTORIES = frozenset({"http", "http-v2", "wheels", "selfcheck"})
LAYOUT_FILES = frozenset({"selfcheck.json"})


class ArchiveError(PipcachexError):
    """An archive cannot be read, is not a backup, or does not hold what it says: exit 1."""


class Compression(str, enum.Enum):
    """How the tar stream is compressed (``--compression``)."""

    NONE = "none"
    GZ = "gz"
    XZ = "xz"
    ZST = "zst"

    @property
    def suffix(self) -> str:
        """File name suffix of an archive with this compression."""
        return ".tar" if self is Compression.NONE else f".tar.{self.value}"

    @classmethod
    def from_name(cls, name: str) -> Compression | None:
        """The compression a file name's suffix implies, or None when it names none."""
        lowered = name.lower()
        for suffix, kind in _SUFFIXES:
            if lowered.endswith(suffix):
                return kind
        return None


_SUFFIXES = (
    (".tar.gz", Compression.GZ),
    (".tgz", Compression.GZ),
    (".tar.xz", Compression.XZ),
    (".txz", Compression.XZ),
    (".tar.zst", Compression.ZST),
    (".tzst", Compression.ZST),
    (".tar", Compression.NONE),
)
ARCHIVE_SUFFIXES = tuple(suffix for suffix, _ in _SUFFIXES)
# Most of a cache is wheels and sdists, compressed already: a plain tar is written at disk
# speed and is only a few per cent bigger (see docs/backup.md).
DEFAULT_COMPRESSION = Compression.NONE

#: The names pipcachex gives backups; retention only ever deletes archives named so.
_GENERATED_NAME = re.compile(
    r"pipcachex-\d{8}T\d{6}(?:\.\d{3})?Z(?:-[0-9a-f]{4,16})?\.tar(?:\.gz|\.xz|\.zst)?"
)


def is_generated_name(name: str) -> bool:
    """Whether ``name`` is one pipcachex gives a backup it names itself."""
    return _GENERATED_NAME.fullmatch(name) is not None


def is_archive_name(name: str) -> bool:
    """Whether ``name`` looks like a finished archive (hidden temp files start with a dot)."""
    return not name.startswith(".") and name.lower().endswith(ARCHIVE_SUFFIXES)


def safe_relative_path(name: str) -> str:
    """Return ``name`` if it may be a file of a pip cache, else raise ArchiveError.

    Whatever an archive claims, nothing may land outside pip's layout: absolute paths, drive
    letters, ``..``, ``.``, empty components, backslashes, colons, NUL bytes, names too long
    to create, and anything whose first component is not one of pip's are refused.
    """
    parts = name.split("/")
    if (
        not name
        or "\\" in name
        or "\0" in name
        or ":" in name
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise ArchiveError(f"archive member {name!r} is not a safe relative path; refused")
    encoded = [part.encode("utf-8", "surrogateescape") for part in parts]
    if (
        any(len(part) > NAME_LIMIT for part in encoded)
        or len(name.encode("utf-8", "surrogateescape")) > PATH_LIMIT
    ):
        raise ArchiveError(f"archive member {name[:60]!r}… has a name too long to create; refused")
    top = parts[0]
    if not (
        (len(parts) > 1 and top in LAYOUT_DIRECTORIES) or (len(parts) == 1 and top in LAYOUT_FILES)
    ):
        raise ArchiveError(f"archive member {name!r} is not part of pip's cache layout; refused")
    return name


def in_layout(relative: str) -> bool:
    """Whether a cache file (relative, ``/``-separated) is part of pip's layout."""
    try:
        safe_relative_path(relative)
    except ArchiveError:
        return False
    return True


@dataclass(frozen=True)
class BackupHeader:
    """What ``pipcachex/header.json`` says; ``digest`` is that member's sha256 (raw)."""

    created: str
    pipcachex_version: str
    pip_version: str | None
    source_cache_dir: str
    layouts: tuple[str, ...]
    compression: str
    selection: Mapping[str, Any] | None
    entries: int
    files: int
    size: int
    projects: tuple[Mapping[str, Any], ...] = ()
    digest: bytes = field(default=b"", compare=False)

    def to_bytes(self) -> bytes:
        """The header member's data: one JSON object, UTF-8, ending in a newline."""
        document = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "created": self.created,
            "pipcachex_version": self.pipcachex_version,
            "pip_version": self.pip_version,
            "cache": {"source_dir": self.source_cache_dir, "layouts": list(self.layouts)},
            "compression": self.compression,
            "selection": None if self.selection is None else dict(self.selection),
            "totals": {"entries": self.entries, "files": self.files, "size": self.size},
            "projects": [dict(p) for p in self.projects],
        }
        return (json.dumps(document, separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, digest: bytes) -> BackupHeader:
        """Parse and validate a header member; anything malformed is an ArchiveError."""
        document = _json_object(data, "pipcachex/header.json")
        if document.get("format") != FORMAT_NAME:
            raise ArchiveError("pipcachex/header.json is not a pipcachex backup header")
        version = document.get("format_version")
        if version != FORMAT_VERSION:
            raise ArchiveError(
                f"backup format version {version!r} is not supported "
                f"(this pipcachex reads version {FORMAT_VERSION})"
            )
        try:
            cache = document["cache"]
            totals = document["totals"]
            pip_version = document["pip_version"]
            selection = document["selection"]
            if selection is not None and not isinstance(selection, dict):
                raise TypeError("selection is not an object")
            return cls(
                created=_text(document["created"]),
                pipcachex_version=_text(document["pipcachex_version"]),
                pip_version=None if pip_version is None else _text(pip_version),
                source_cache_dir=_text(cache["source_dir"]),
                layouts=tuple(_text(x) for x in cache["layouts"]),
                compression=_text(document["compression"]),
                selection=selection,
                entries=_int(totals["entries"]),
                files=_int(totals["files"]),
                size=_int(totals["size"]),
                projects=tuple(dict(p) for p in document["projects"]),
                digest=digest,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArchiveError(
                f"pipcachex/header.json is malformed ({type(exc).__name__}: {exc})"
            ) from None


@dataclass(frozen=True)
class Seal:
    """What ``pipcachex/seal.json`` says: the digests that bind header and index, the totals."""

    header_sha256: str
    index_sha256: str
    files: int
    size: int

    def to_bytes(self) -> bytes:
        """The seal member's data."""
        document = {
            "format": SEAL_FORMAT_NAME,
            "header_sha256": self.header_sha256,
            "index_sha256": self.index_sha256,
            "files": self.files,
            "size": self.size,
        }
        return (json.dumps(document, separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Seal:
        """Parse and validate a seal member."""
        document = _json_object(data, "pipcachex/seal.json")
        try:
            if document["format"] != SEAL_FORMAT_NAME:
                raise ValueError("not a pipcachex seal")
            return cls(
                header_sha256=_hex_digest(document["header_sha256"]),
                index_sha256=_hex_digest(document["index_sha256"]),
                files=_int(document["files"]),
                size=_int(document["size"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArchiveError(
                f"pipcachex/seal.json is malformed ({type(exc).__name__}: {exc})"
            ) from None


def index_line(path: str, size: int, mtime_ns: int, atime_ns: int, digest: bytes) -> bytes:
    """One line of ``pipcachex/index.jsonl`` (its keys always in this order, no spaces)."""
    return (
        f'{{"path":{json.dumps(path)},"size":{size},"mtime_ns":{mtime_ns},'
        f'"atime_ns":{atime_ns},"sha256":"{digest.hex()}"}}\n'
    ).encode()


def parse_index_line(line: bytes, number: int) -> tuple[str, int, int, int, bytes]:
    """A line of the index as (path, size, mtime_ns, atime_ns, raw sha256)."""
    try:
        document = json.loads(line.decode("utf-8"))
        if not isinstance(document, dict) or len(document) != 5:
            raise ValueError("not an object with the five record keys")
        return (
            _text(document["path"]),
            _int(document["size"]),
            _int(document["mtime_ns"]),
            _int(document["atime_ns"]),
            bytes.fromhex(_hex_digest(document["sha256"])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(
            f"line {number} of pipcachex/index.jsonl is malformed ({type(exc).__name__}: {exc})"
        ) from None


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        # Decoded strictly first: a byte-order mark or invalid UTF-8 is malformed, not skipped.
        document = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise ArchiveError(f"{what} is malformed ({type(exc).__name__}: {exc})") from None
    if not isinstance(document, dict):
        raise ArchiveError(f"{what} is malformed (not a JSON object)")
    return document


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _INT64:
        raise ValueError(f"{value!r} is not a non-negative 64-bit integer")
    return value


def _hex_digest(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64 or value.strip("0123456789abcdef"):
        raise ValueError(f"{value!r} is not a sha256 digest")
    return value
