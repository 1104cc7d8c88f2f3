"""A backup's file records, and the one table that holds hundreds of thousands of them compactly.

A record object per file costs about 430 bytes (the object, three int objects, a 64-character
hex string and the path); at 183,000 files that was 80 MB of a restore's peak. ``FileTable``
keeps the paths as strings (they are looked up by name) and everything else in flat arrays:
sizes and times as 64-bit integers, each sha256 as 32 raw bytes. ``FileRecord`` objects are
made on demand. The writer fills a table while it copies files; the reader fills one while it
checks members; restore plans hold ``RecordSubset``\\ s of it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One cache file as a backup records it (``path`` is relative to the cache root)."""

    path: str
    size: int
    mtime_ns: int
    atime_ns: int
    sha256: str


class FileTable(Sequence[FileRecord]):
    """File records in archive order, packed into columns.

    ``paths[i]``, ``sizes[i]``, ``mtimes[i]``, ``atimes[i]`` and ``digest(i)`` are record ``i``;
    ``table[i]`` makes it a ``FileRecord``.
    """

    __slots__ = ("atimes", "digests", "mtimes", "paths", "sizes")

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.sizes = array("q")
        self.mtimes = array("q")
        self.atimes = array("q")
        self.digests = bytearray()

    def add(self, path: str, size: int, mtime_ns: int, atime_ns: int, digest: bytes) -> None:
        """Append a record (``digest``: the raw 32-byte sha256). Figures must fit 64 bits."""
        if len(digest) != 32:
            raise ValueError("a sha256 digest is 32 bytes")
        self.sizes.append(size)
        self.mtimes.append(mtime_ns)
        self.atimes.append(atime_ns)
        self.digests += digest
        self.paths.append(path)

    def digest(self, index: int) -> bytes:
        """Record ``index``'s sha256, as 32 bytes."""
        return bytes(self.digests[32 * index : 32 * index + 32])

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> FileRecord: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[FileRecord]: ...

    def __getitem__(self, index: int | slice) -> FileRecord | Sequence[FileRecord]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(len(self))[index])
        path = self.paths[index]  # raises IndexError, and makes a negative index positive below
        index %= len(self.paths)
        return FileRecord(
            path,
            self.sizes[index],
            self.mtimes[index],
            self.atimes[index],
            self.digest(index).hex(),
        )

    def __iter__(self) -> Iterator[FileRecord]:
        for index in range(len(self.paths)):
            yield self[index]

    def positions(self) -> dict[str, int]:
        """Each path's index (a backup lists every path exactly once)."""
        return {path: index for index, path in enumerate(self.paths)}

    def total_size(self) -> int:
        """The sum of the records' sizes."""
        return sum(self.sizes)


class RecordSubset(Sequence[FileRecord]):
    """Some records of a table, by index, in the order given (what a restore plan holds)."""

    __slots__ = ("indices", "table")

    def __init__(self, table: FileTable, indices: Iterable[int] = ()) -> None:
        self.table = table
        self.indices = array("q", indices)

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, index: int) -> FileRecord: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[FileRecord]: ...

    def __getitem__(self, index: int | slice) -> FileRecord | Sequence[FileRecord]:
        if isinstance(index, slice):
            return RecordSubset(self.table, self.indices[index])
        return self.table[self.indices[index]]

    def __iter__(self) -> Iterator[FileRecord]:
        table = self.table
        for index in self.indices:
            yield table[index]

    def paths(self) -> Iterator[str]:
        """The records' paths, without making the records."""
        paths = self.table.paths
        return (paths[index] for index in self.indices)

    def total_size(self) -> int:
        """The sum of the records' sizes."""
        sizes = self.table.sizes
        return sum(sizes[index] for index in self.indices)
