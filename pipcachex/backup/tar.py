"""The tar layer of a backup: member headers as pipcachex writes them, and a strict reader.

A backup holds POSIX ustar headers for regular files, with a pax extended header where a name
is longer than 100 bytes or not ASCII. ``member_header`` writes exactly that (one block built
directly for the common short name: ``tarfile`` spends most of a small member's time on it).
``TarStream`` reads exactly that, from large reads, and refuses the rest: other member kinds
(links, directories, devices, fifos), other dialects (GNU long names, global pax headers,
sparse files, base-256 numbers), a header whose checksum is wrong, a pax header over
``PAX_LIMIT`` bytes, and anything but zeros after the end-of-archive blocks.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator

from pipcachex.backup.format import CHUNK, PAX_LIMIT

BLOCK = 512
RECORD = 20 * BLOCK
_END = bytes(BLOCK)
_MAGIC = b"ustar\x0000"
_OCTAL_LIMIT = 8**11
_PAX_TYPE = ord("x")
_REGULAR_TYPE = ord("0")
#: Member kinds a backup never holds, by type flag, named for the error message.
_KIND_NAMES = {
    ord("1"): "a hard link",
    ord("2"): "a symbolic link",
    ord("3"): "a character device",
    ord("4"): "a block device",
    ord("5"): "a directory",
    ord("6"): "a fifo",
    ord("7"): "a contiguous file",
    ord("g"): "a global pax header",
    ord("L"): "a GNU long name",
    ord("K"): "a GNU long link name",
    ord("S"): "a GNU sparse file",
    0: "an old-style (pre-POSIX) file",
}
#: pax keys a reader may meet in what pipcachex writes; any other record is refused.
_PAX_KEYS = frozenset({"path", "size", "mtime", "hdrcharset"})

#: What ``tarfile`` writes for a plain member: mode 0644, uid/gid 0, no owner names, ustar magic.
_USTAR_TEMPLATE = bytes(
    bytearray(100)
    + b"0000644\0"
    + b"0000000\0" * 2
    + bytearray(24)
    + b"        0"
    + bytearray(100)
    + b"ustar\x0000"
    + bytearray(BLOCK - 265)
)
_TEMPLATE_SUM = sum(_USTAR_TEMPLATE)
_OCTAL_FIELDS_SUM = sum(_USTAR_TEMPLATE[124:148])


class TarFormatError(ValueError):
    """The bytes are not a tar stream this reader accepts (damaged, truncated or foreign)."""


def member_header(name: str, size: int, mtime: int) -> bytes:
    """The header of a regular file member, mode 0644, ``mtime`` in whole seconds."""
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
    info.mtime = max(0, mtime)
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def padding(size: int) -> bytes:
    """The NUL bytes that fill a member of ``size`` bytes up to a whole block."""
    return bytes(-size % BLOCK)


def end_of_archive(offset: int) -> bytes:
    """Two zero blocks, then zeros up to a whole record, for a stream ``offset`` bytes long."""
    end = 2 * BLOCK
    return bytes(end + (-(offset + end) % RECORD))


class Header:
    """One member's header: its name and data size (only regular files get this far)."""

    __slots__ = ("name", "size")

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size


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


def pax_records(data: bytes) -> dict[str, str]:
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
        name = key.decode("utf-8")
        if name not in _PAX_KEYS:
            raise TarFormatError(f"a pax record {name!r} (pipcachex never writes one)")
        if name in records:
            raise TarFormatError(f"the pax record {name!r} twice")
        records[name] = value.decode("utf-8", "surrogateescape")
        position = end
    return records


class TarStream:
    """Sequential reader of a tar stream: ``next()`` for each header, ``data()`` for its bytes.

    ``pieces`` yields the (decompressed) bytes in pieces of at most CHUNK; a small member's
    data is a slice of what was read, not a copy. Data a caller does not read is skipped by
    the next ``next()``.
    """

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
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
        """The next member's header, or None at the end-of-archive marker."""
        self._skip(self._data_left + self._padding)
        self._data_left = self._padding = 0
        pax: dict[str, str] | None = None
        while True:
            if len(self._buffer) - self._position < BLOCK and not self._refill(BLOCK):
                if len(self._buffer) > self._position:
                    raise TarFormatError("the archive ends inside a header")
                raise TarFormatError("the archive ends without its end-of-archive marker")
            block = self._take(BLOCK)
            if block == _END:
                if pax is not None:
                    raise TarFormatError("a pax header is followed by the end of the archive")
                return None
            stored = _number(block[148:156])
            unsigned = sum(block) - sum(block[148:156]) + 8 * 32
            if stored != unsigned:
                raise TarFormatError("a tar header does not match its checksum")
            if block[257:265] != _MAGIC:
                raise TarFormatError("a tar header is not POSIX ustar")
            size = _number(block[124:136])
            kind = block[156]
            if kind == _PAX_TYPE:
                if pax is not None:
                    raise TarFormatError("two pax headers in a row")
                if size > PAX_LIMIT:
                    raise TarFormatError(
                        f"a pax header claims {size} bytes (more than the {PAX_LIMIT} allowed)"
                    )
                pax = pax_records(self._take(size))
                self._skip(-size % BLOCK)
                continue
            name = (pax or {}).get("path")
            if name is None:
                name = block[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                if block[345]:
                    prefix = block[345:500].split(b"\0", 1)[0]
                    name = prefix.decode("utf-8", "surrogateescape") + "/" + name
            if kind != _REGULAR_TYPE:
                what = _KIND_NAMES.get(kind, f"a member of type {chr(kind)!r}")
                raise TarFormatError(f"archive member {name!r} is {what}; refused")
            if pax and "size" in pax:
                if not (pax["size"].isascii() and pax["size"].isdigit()):
                    raise TarFormatError("bad size in a pax header")
                size = int(pax["size"])
            self._data_left = size
            self._padding = -size % BLOCK
            return Header(name, size)

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

    def read_all(self, limit: int, what: str) -> bytes:
        """The current member's data as one bytes object, refused beyond ``limit`` bytes."""
        if self._data_left > limit:
            raise TarFormatError(
                f"{what} claims {self._data_left} bytes (more than the {limit} allowed)"
            )
        size, self._data_left = self._data_left, 0
        return self._take(size)

    def finish(self) -> None:
        """After the first end block: the second one, then only zeros to the end of the stream."""
        if len(self._buffer) - self._position < BLOCK and not self._refill(BLOCK):
            raise TarFormatError("the archive ends inside its end-of-archive marker")
        while True:
            if self._buffer[self._position :].strip(b"\0"):
                raise TarFormatError("something follows the end of the archive")
            self._position = len(self._buffer)
            if not self._refill(1):
                return
