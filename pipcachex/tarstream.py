"""Reading backup archives: a strict streaming tar reader and the checks of every member.

A backup holds what ``pipcachex.archive.ArchiveWriter`` (or, in earlier versions, ``tarfile``)
writes: POSIX ustar headers, pax records where a name or size does not fit a header, plain
gzip or xz around it. ``TarStream`` parses exactly that, from large reads, and refuses the rest
(other tar dialects, base-256 numbers, global pax headers, a header whose checksum is wrong).
``tarfile`` spent ~70 µs of Python per member on generality a backup never needs; a restore
reads every member twice (verify, then write), so that was most of its time on small files.

``ArchiveReader`` then checks what the members claim: the manifest first and matching its
digest, every other member a regular file under ``cache/`` with a safe name that the manifest
lists exactly once, with the recorded size and sha256.
"""

from __future__ import annotations

import hashlib
import lzma
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from pipcachex.archive import (
    CHUNK,
    DIGEST_HEADER,
    DIGEST_PREFIX,
    MANIFEST_NAME,
    MEMBER_PREFIX,
    ArchiveError,
    BytesCallback,
    Manifest,
    safe_relative_path,
)
from pipcachex.manifest_stream import ManifestText, parse_manifest
from pipcachex.records import FileTable

_BLOCK = 512
_END = bytes(_BLOCK)
_MAGIC = b"ustar\x0000"
#: ``0``, NUL (pre-POSIX) and ``7`` (contiguous): what ``tarfile`` counts as a regular file.
_REGULAR_TYPES = frozenset(b"0\x007")
_PAX_TYPE = ord("x")
_GLOBAL_PAX_TYPE = ord("g")


class TarFormatError(ValueError):
    """The bytes are not a tar stream this reader accepts (damaged, truncated or foreign)."""


# Errors a damaged, truncated or foreign archive raises while it is decompressed and parsed.
READ_ERRORS = (TarFormatError, EOFError, zlib.error, lzma.LZMAError, UnicodeDecodeError)


def _decompressed(file: BinaryIO) -> Iterator[bytes]:
    """The tar bytes of ``file`` in pieces of about CHUNK: gzip and xz recognised by magic."""
    first = file.read(CHUNK)
    if first.startswith(b"\x1f\x8b"):
        yield from _inflated(file, first, zlib.decompressobj(16 + zlib.MAX_WBITS))
    elif first.startswith(b"\xfd7zXZ\x00"):
        yield from _unxz(file, first)
    else:
        while first:
            yield first
            first = file.read(CHUNK)


def _inflated(file: BinaryIO, data: bytes, inflater: zlib._Decompress) -> Iterator[bytes]:
    # max_length bounds what one read can expand to (a stream of zeros compresses 1000:1).
    while not inflater.eof:
        if not data:
            data = file.read(CHUNK)
            if not data:
                rest = inflater.flush()
                if rest:
                    yield rest
                if not inflater.eof:
                    raise EOFError("the gzip stream ends early")
                return
        out = inflater.decompress(data, CHUNK)
        data = inflater.unconsumed_tail
        if out:
            yield out


def _unxz(file: BinaryIO, data: bytes) -> Iterator[bytes]:
    decompressor = lzma.LZMADecompressor()
    while not decompressor.eof:
        if decompressor.needs_input and not data:
            data = file.read(CHUNK)
            if not data:
                raise EOFError("the xz stream ends early")
        out = decompressor.decompress(data, CHUNK)
        data = b""
        if out:
            yield out


class Header:
    """One member's header: its name, data size, whether it is a plain file, its pax records."""

    __slots__ = ("name", "pax", "regular", "size")

    def __init__(self, name: str, size: int, regular: bool, pax: dict[str, str]) -> None:
        self.name = name
        self.size = size
        self.regular = regular
        self.pax = pax


def _number(field: bytes) -> int:
    # Octal digits ended by NUL or space; tarfile's base-256 form is never written for backups.
    digits = field.split(b"\0", 1)[0].strip()
    if not digits:
        return 0
    if not digits.isdigit():
        raise TarFormatError(f"bad number {bytes(field)!r} in a tar header")
    try:
        return int(digits, 8)
    except ValueError:
        raise TarFormatError(f"bad number {bytes(field)!r} in a tar header") from None


def _pax_records(data: bytes) -> dict[str, str]:
    """Parse pax extended header records (``"<length> <key>=<value>\\n"``, UTF-8)."""
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        space = data.find(b" ", position, position + 20)
        digits = data[position:space] if space > position else b""
        length = int(digits) if digits.isdigit() else 0
        end = position + length
        if space < 0 or length <= 0 or end > len(data) or data[end - 1 : end] != b"\n":
            raise TarFormatError("malformed pax extended header")
        key, equals, value = data[space + 1 : end - 1].partition(b"=")
        if not equals:
            raise TarFormatError("malformed pax extended header")
        records[key.decode("utf-8")] = value.decode("utf-8", "surrogateescape")
        position = end
    return records


class TarStream:
    """Sequential reader of a tar stream: ``next()`` for each header, ``data()`` for its bytes.

    Bytes are read and decompressed a CHUNK at a time; a small member's data is a slice of
    what was read, not a copy. Data a caller does not read is skipped by the next ``next()``.
    """

    def __init__(self, file: BinaryIO) -> None:
        self._pieces = _decompressed(file)
        self._buffer = b""
        self._view = memoryview(self._buffer)
        self._position = 0
        self._data_left = 0
        self._padding = 0

    def _refill(self, wanted: int) -> bool:
        """Make ``wanted`` bytes available from the position on; False when the stream ends."""
        pieces = [self._buffer[self._position :]]
        have = len(pieces[0])
        while have < wanted:
            piece = next(self._pieces, None)
            if piece is None:
                break
            pieces.append(piece)
            have += len(piece)
        self._buffer = b"".join(pieces)
        self._view = memoryview(self._buffer)
        self._position = 0
        return have >= wanted

    def _take(self, size: int) -> bytes:
        end = self._position + size
        if end > len(self._buffer):
            if not self._refill(size):
                raise TarFormatError("the archive ends inside a member")
            end = size
        data = self._buffer[self._position : end]
        self._position = end
        return data

    def _skip(self, size: int) -> None:
        while size:
            available = len(self._buffer) - self._position
            if available >= size:
                self._position += size
                return
            size -= available
            self._position = len(self._buffer)
            if not self._refill(1):
                raise TarFormatError("the archive ends inside a member")

    def next(self) -> Header | None:
        """The next member's header, or None at the end of the archive."""
        self._skip(self._data_left + self._padding)
        self._data_left = self._padding = 0
        pax: dict[str, str] = {}
        while True:
            if len(self._buffer) - self._position < _BLOCK and not self._refill(_BLOCK):
                if len(self._buffer) > self._position:
                    raise TarFormatError("the archive ends inside a header")
                # Ends where a header would start: what the manifest lacks is reported then.
                return None
            block = self._take(_BLOCK)
            if block == _END:
                return None
            stored = _number(block[148:156])
            unsigned = sum(block) - sum(block[148:156]) + 8 * 32
            if stored != unsigned and stored != unsigned - 256 * sum(b > 127 for b in block):
                raise TarFormatError("a tar header does not match its checksum")
            if block[257:265] != _MAGIC:
                raise TarFormatError("a tar header is not POSIX ustar")
            size = _number(block[124:136])
            kind = block[156]
            if kind == _PAX_TYPE:
                if pax:
                    raise TarFormatError("two pax headers in a row")
                pax = _pax_records(self._take(size))
                self._skip(-size % _BLOCK)
                continue
            if kind == _GLOBAL_PAX_TYPE:
                raise TarFormatError("a global pax header (pipcachex never writes one)")
            name = pax.get("path")
            if name is None:
                name = block[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                if block[345]:
                    prefix = block[345:500].split(b"\0", 1)[0]
                    name = prefix.decode("utf-8", "surrogateescape") + "/" + name
            if "size" in pax:
                if not (pax["size"].isascii() and pax["size"].isdigit()):
                    raise TarFormatError("bad size in a pax header")
                size = int(pax["size"])
            # A GNU sparse file's data is a map plus fragments, not the file's bytes.
            regular = kind in _REGULAR_TYPES
            if pax and any(key.startswith("GNU.sparse") for key in pax):
                regular = False
            self._data_left = size
            self._padding = -size % _BLOCK
            return Header(name, size, regular, pax)

    def data(self) -> Iterator[memoryview]:
        """The current member's data, in pieces (one for a member inside the read buffer)."""
        while self._data_left:
            available = len(self._buffer) - self._position
            if not available:
                if not self._refill(1):
                    raise TarFormatError("the archive ends inside a member")
                available = len(self._buffer)
            count = min(available, self._data_left, CHUNK)
            start = self._position
            self._position += count
            self._data_left -= count
            yield self._view[start : self._position]

    def read_all(self) -> bytes:
        """The current member's data as one bytes object (for the manifest)."""
        size, self._data_left = self._data_left, 0
        return self._take(size)


class Member:
    """A file member being read: its record's index in the table, and its data, checked as read."""

    __slots__ = ("_archive", "_stream", "index", "table")

    def __init__(self, table: FileTable, index: int, stream: TarStream, archive: Path) -> None:
        self.table = table
        self.index = index
        self._stream = stream
        self._archive = archive

    def chunks(self) -> Iterator[memoryview]:
        """Yield the member's bytes; raise ArchiveError at the end if size or sha256 differ."""
        digest = hashlib.sha256()
        length = 0
        try:
            for chunk in self._stream.data():
                digest.update(chunk)
                length += len(chunk)
                yield chunk
        except READ_ERRORS as exc:
            raise ArchiveError(f"{self._archive} is damaged or truncated: {exc}") from None
        except OSError as exc:
            raise ArchiveError(f"{self._archive} cannot be read: {exc}") from None
        table, index = self.table, self.index
        recorded = table.digests[32 * index : 32 * index + 32]
        if length != table.sizes[index] or digest.digest() != recorded:
            raise ArchiveError(
                f"archive member {table.paths[index]!r} does not match its recorded sha256 and size"
            )


class ArchiveReader:
    """Sequential reader of an archive: ``manifest`` on entry, then ``members()`` in order.

    Compressed archives are decompressed once, front to back, as they are read.
    """

    def __init__(self, path: Path, known: Manifest | None = None) -> None:
        self.path = path
        self._known = known
        self._file: BinaryIO | None = None
        self._tar: TarStream | None = None
        self.manifest: Manifest

    def __enter__(self) -> ArchiveReader:
        try:
            self._file = open(self.path, "rb", buffering=0)
            self._tar = TarStream(self._file)
            first = self._tar.next()
            if first is None or first.name != MANIFEST_NAME or not first.regular:
                raise ArchiveError(f"{self.path} has no manifest.json as its first member")
            self.manifest = self._read_manifest(first)
        except BaseException as exc:
            self.close()
            if isinstance(exc, ArchiveError):
                raise
            if isinstance(exc, READ_ERRORS):
                raise ArchiveError(f"{self.path} is not a readable backup: {exc}") from None
            if isinstance(exc, OSError):
                raise ArchiveError(f"cannot read {self.path}: {exc.strerror or exc}") from None
            raise
        return self

    def _read_manifest(self, header: Header) -> Manifest:
        """Read, check and parse manifest.json as it streams by, or whole where it must be."""
        assert self._tar is not None
        hasher = hashlib.sha256()
        expected = header.pax.get(DIGEST_HEADER)
        known = self._known
        if known is not None and DIGEST_PREFIX + known.digest == expected:
            # Most likely the very manifest read before (a restore's second pass): hashing it
            # is enough, no need to parse it again.
            for chunk in self._tar.data():
                hasher.update(chunk)
            manifest: Manifest | None = known
        else:
            manifest = parse_manifest(ManifestText(self._tar.data(), hasher))
        digest = hasher.hexdigest()
        if DIGEST_PREFIX + digest != expected:
            raise ArchiveError(f"{self.path}: manifest.json does not match its checksum")
        if known is not None and manifest is known:
            return known
        if manifest is None:
            # The streaming parser leaves anything unusual (errors included) to json.loads.
            return self._reread_manifest(digest)
        return replace(manifest, digest=digest)

    def _reread_manifest(self, digest: str) -> Manifest:
        with open(self.path, "rb", buffering=0) as file:
            tar = TarStream(file)
            header = tar.next()
            assert header is not None
            data = tar.read_all()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ArchiveError(f"{self.path}: manifest.json does not match its checksum")
        return Manifest.from_bytes(data, digest)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the archive file."""
        self._tar = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def members(self) -> Iterator[Member]:
        """Yield every file member in archive order, refusing anything the manifest lacks.

        A member is checked only as its chunks are read; one the caller skips is not hashed.
        After the last member, files the manifest lists but the archive lacks are an error.
        """
        tar = self._tar
        assert tar is not None, "use ArchiveReader as a context manager"
        table = self.manifest.files
        # Path to index (a path listed twice: its last record); each index is seen once.
        expected = table.positions()
        seen = bytearray(len(table))
        count = 0
        try:
            while (header := tar.next()) is not None:
                index = self._check(header, expected, seen, table.sizes)
                count += 1
                yield Member(table, index, tar, self.path)
        except READ_ERRORS as exc:
            raise ArchiveError(f"{self.path} is damaged or truncated: {exc}") from None
        except OSError as exc:
            raise ArchiveError(f"{self.path} cannot be read: {exc}") from None
        missing = len(expected) - count
        if missing:
            first = next(p for p, i in expected.items() if not seen[i])
            raise ArchiveError(
                f"{self.path} lacks {missing} file(s) its manifest lists, such as {first!r} "
                "(truncated or damaged)"
            )

    def _check(
        self, header: Header, expected: dict[str, int], seen: bytearray, sizes: Sequence[int]
    ) -> int:
        name = header.name
        if not name.startswith(MEMBER_PREFIX):
            raise ArchiveError(f"archive member {name!r} is outside cache/; refused")
        relative = name[len(MEMBER_PREFIX) :]
        index = expected.get(relative)
        if index is None:
            # Names the manifest lists were checked when it was read.
            safe_relative_path(relative)
        if not header.regular:
            raise ArchiveError(f"archive member {name!r} is not a regular file; refused")
        if index is None or seen[index]:
            what = "is listed twice" if index is not None else "is not in the manifest"
            raise ArchiveError(f"archive member {name!r} {what}; refused")
        if header.size != sizes[index]:
            raise ArchiveError(f"archive member {name!r} has a different size than recorded")
        seen[index] = 1
        return index


def verify_archive(
    path: Path,
    on_bytes: BytesCallback | None = None,
    on_manifest: Callable[[Manifest], None] | None = None,
) -> Manifest:
    """Read the whole archive and check every member; return its manifest or raise ArchiveError.

    ``on_manifest`` hears the manifest as soon as it is read, before the members are checked.
    """
    with ArchiveReader(path) as reader:
        if on_manifest is not None:
            on_manifest(reader.manifest)
        for member in reader.members():
            for chunk in member.chunks():
                if on_bytes is not None:
                    on_bytes(len(chunk))
        return reader.manifest


def read_manifest(path: Path) -> Manifest:
    """Read only the manifest (the first member): cheap, for listing backups."""
    with ArchiveReader(path) as reader:
        return reader.manifest
