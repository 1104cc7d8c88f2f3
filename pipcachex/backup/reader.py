"""Reading a backup in one pass and proving it whole: the only code that trusts an archive.

``ArchiveReader`` reads the header first, then yields each file member as it streams by
(hashing every byte, read by the caller or not), then reads the index and the seal and checks
that they describe exactly the members seen, in that order, and nothing after them. Only when
``members()`` has run to its end is the archive verified; until then nothing a caller did with
the data may be made permanent. Given the ``expected`` table of an earlier, complete pass, each
member is also checked against it as it is read, so a second pass over an archive that changed
meanwhile fails at the first byte that differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from pipcachex.backup.compress import StreamError, decompressed
from pipcachex.backup.format import (
    HEADER_LIMIT,
    HEADER_NAME,
    INDEX_LINE_LIMIT,
    INDEX_NAME,
    MEMBER_PREFIX,
    SEAL_LIMIT,
    SEAL_NAME,
    ArchiveError,
    BackupHeader,
    Seal,
    parse_index_line,
    safe_relative_path,
)
from pipcachex.backup.table import FileTable
from pipcachex.backup.tar import Header, TarFormatError, TarStream

_READ_ERRORS = (TarFormatError, StreamError, UnicodeDecodeError)


class Member:
    """A file member being read: its position, path and size, and its data (hashed as read)."""

    __slots__ = ("_data", "index", "path", "size")

    def __init__(self, index: int, path: str, size: int, data: Iterator[memoryview]) -> None:
        self.index = index
        self.path = path
        self.size = size
        self._data = data

    def chunks(self) -> Iterator[memoryview]:
        """The member's bytes; at their end, ArchiveError if they differ from what is expected."""
        return self._data


class ArchiveReader:
    """One pass over an archive: ``header`` on entry, ``members()``, then ``table``.

    ``stream`` is the archive, positioned at its start; ``label`` names it in messages.
    """

    def __init__(self, stream: BinaryIO, label: str, expected: FileTable | None = None) -> None:
        self.label = label
        self._expected = expected
        self._tar = TarStream(decompressed(stream.read))
        # A second pass checks against the table of the first and keeps no table of its own:
        # at 183,000 files a second copy of every path was 30 MB of a restore's peak.
        self.table = FileTable() if expected is None else expected
        self._count = 0  # members read to their end
        try:
            self.header = self._read_header()
        except _READ_ERRORS as exc:
            raise self._damaged(exc) from None
        except OSError as exc:
            raise ArchiveError(f"cannot read {self.label}: {exc.strerror or exc}") from None

    def _damaged(self, exc: Exception) -> ArchiveError:
        return ArchiveError(f"{self.label} is damaged, truncated or not a backup: {exc}")

    def _read_header(self) -> BackupHeader:
        first = self._tar.next()
        if first is None or first.name != HEADER_NAME:
            raise ArchiveError(
                f"{self.label} is not a pipcachex backup (its first member is not {HEADER_NAME})"
            )
        data = self._tar.read_all(HEADER_LIMIT, HEADER_NAME)
        return BackupHeader.from_bytes(data, hashlib.sha256(data).digest())

    def members(self) -> Iterator[Member]:
        """Yield every file member in order; then check index and seal (ArchiveError if not)."""
        try:
            yield from self._members()
        except _READ_ERRORS as exc:
            raise self._damaged(exc) from None
        except OSError as exc:
            raise ArchiveError(f"cannot read {self.label}: {exc.strerror or exc}") from None

    def _members(self) -> Iterator[Member]:
        tar = self._tar
        # A path listed twice is refused; in a second pass, matching the verified table in
        # order (whose paths are unique) proves the same.
        seen: set[str] | None = set() if self._expected is None else None
        expected = self._expected
        while True:
            header = tar.next()
            if header is None:
                raise ArchiveError(f"{self.label} ends before its index (truncated?)")
            if header.name == INDEX_NAME:
                break
            path = self._check_member(header, seen)
            index = self._count
            if expected is not None and (index >= len(expected) or expected.paths[index] != path):
                raise ArchiveError(f"{self.label} changed since it was verified")
            member = Member(index, path, header.size, self._hashed(index, path, header.size))
            yield member
            for _ in member.chunks():
                pass  # what the caller did not read is hashed all the same
        self._read_index()
        self._read_seal()

    def _check_member(self, header: Header, seen: set[str] | None) -> str:
        name = header.name
        if not name.startswith(MEMBER_PREFIX):
            raise ArchiveError(f"{self.label}: unexpected member {name!r}; refused")
        path = safe_relative_path(name[len(MEMBER_PREFIX) :])
        if seen is not None:
            if path in seen:
                raise ArchiveError(f"{self.label}: archive member {name!r} appears twice; refused")
            seen.add(path)
        return path

    def _hashed(self, index: int, path: str, size: int) -> Iterator[memoryview]:
        digest = hashlib.sha256()
        try:
            for chunk in self._tar.data():
                digest.update(chunk)
                yield chunk
        except _READ_ERRORS as exc:
            raise self._damaged(exc) from None
        except OSError as exc:
            raise ArchiveError(f"cannot read {self.label}: {exc.strerror or exc}") from None
        value = digest.digest()
        expected = self._expected
        if expected is None:
            self.table.add(path, size, 0, 0, value)
        elif (expected.sizes[index], expected.digest(index)) != (size, value):
            raise ArchiveError(f"{self.label} changed since it was verified (at {path!r})")
        self._count += 1

    def _read_index(self) -> None:
        hasher = hashlib.sha256()
        pending = b""
        number = 0
        for chunk in self._tar.data():
            hasher.update(chunk)
            lines = (pending + bytes(chunk)).split(b"\n")
            pending = lines.pop()
            if len(pending) > INDEX_LINE_LIMIT:
                raise ArchiveError(f"{self.label}: a line of {INDEX_NAME} is too long")
            for line in lines:
                self._index_record(line, number)
                number += 1
        if pending:
            raise ArchiveError(f"{self.label}: {INDEX_NAME} does not end with a newline")
        if number != self._count:
            raise ArchiveError(
                f"{self.label}: {INDEX_NAME} lists {number} files but the archive holds "
                f"{self._count}"
            )
        self._index_digest = hasher.hexdigest()

    def _index_record(self, line: bytes, number: int) -> None:
        if len(line) > INDEX_LINE_LIMIT:
            raise ArchiveError(f"{self.label}: a line of {INDEX_NAME} is too long")
        path, size, mtime_ns, atime_ns, digest = parse_index_line(line, number + 1)
        table = self.table
        if number >= self._count:
            raise ArchiveError(
                f"{self.label}: {INDEX_NAME} lists {path!r}, which the archive lacks "
                "(missing or reordered members)"
            )
        if table.paths[number] != path:
            raise ArchiveError(
                f"{self.label}: member {number + 1} is {table.paths[number]!r} but {INDEX_NAME} "
                f"lists {path!r} there (missing, extra or reordered members)"
            )
        if table.sizes[number] != size or table.digest(number) != digest:
            raise ArchiveError(
                f"{self.label}: archive member {path!r} does not match its recorded size and sha256"
            )
        if self._expected is None:
            table.mtimes[number] = mtime_ns
            table.atimes[number] = atime_ns
        elif (table.mtimes[number], table.atimes[number]) != (mtime_ns, atime_ns):
            raise ArchiveError(f"{self.label} changed since it was verified (at {path!r})")

    def _read_seal(self) -> None:
        header = self._tar.next()
        if header is None or header.name != SEAL_NAME:
            raise ArchiveError(f"{self.label} has no seal after its index (truncated?)")
        seal = Seal.from_bytes(self._tar.read_all(SEAL_LIMIT, SEAL_NAME))
        if self._tar.next() is not None:
            raise ArchiveError(f"{self.label}: something follows its seal; refused")
        self._tar.finish()
        table = self.table
        if seal.header_sha256 != self.header.digest.hex():
            raise ArchiveError(f"{self.label}: its header does not match the seal")
        if seal.index_sha256 != self._index_digest:
            raise ArchiveError(f"{self.label}: its index does not match the seal")
        if self._count != len(table):
            raise ArchiveError(f"{self.label} changed since it was verified")
        totals = (len(table), table.total_size())
        if (seal.files, seal.size) != totals or (self.header.files, self.header.size) != totals:
            raise ArchiveError(f"{self.label}: its totals do not match its members")


def verify(
    stream: BinaryIO, label: str, on_bytes: Callable[[int], None] | None = None
) -> tuple[BackupHeader, FileTable]:
    """Read a whole archive and prove it; return its header and its verified file table."""
    reader = ArchiveReader(stream, label)
    for member in reader.members():
        for chunk in member.chunks():
            if on_bytes is not None:
                on_bytes(len(chunk))
    return reader.header, reader.table
