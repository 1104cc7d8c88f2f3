"""A backup's file records, and the table that holds hundreds of thousands of them compactly.

A ``ManifestFile`` per record costs about 430 bytes (the object, three int objects, a 64-char
hex string and the path); at 183,000 files that was 80 MB of a restore's 300 MB peak. A
``FileTable`` keeps the paths as strings (they are looked up by name) and everything else in
flat arrays: the sizes and times as 64-bit integers, the sha256 as 32 raw bytes. Records are
made on demand, so code that reads ``manifest.files`` as a sequence of records still works.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass
from typing import Any, overload


@dataclass(frozen=True, slots=True)
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


class FileTable(Sequence[ManifestFile]):
    """The file records of a manifest, in manifest order, packed into columns.

    ``paths[i]``, ``sizes[i]``, ``mtimes[i]``, ``atimes[i]`` and ``digest(i)`` are record
    ``i``; ``table[i]`` makes it a ``ManifestFile``.
    """

    __slots__ = ("_duplicates", "atimes", "digests", "mtimes", "paths", "sizes")

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.sizes: MutableSequence[int] = array("q")
        self.mtimes: MutableSequence[int] = array("q")
        self.atimes: MutableSequence[int] = array("q")
        self.digests = bytearray()
        self._duplicates: bool | None = None

    @classmethod
    def of(cls, records: Iterable[ManifestFile]) -> FileTable:
        """A table holding ``records`` (``records`` itself when it is a table already)."""
        if isinstance(records, FileTable):
            return records
        table = cls()
        for record in records:
            table.append(record)
        return table

    def append(self, record: ManifestFile) -> None:
        """Add a record (its sha256 must be 64 lowercase hex digits, as manifests hold)."""
        self.digests += bytes.fromhex(record.sha256)
        try:
            self.sizes.append(record.size)
            self.mtimes.append(record.mtime_ns)
            self.atimes.append(record.atime_ns)
        except OverflowError:
            self._append_wide(record)
        self.paths.append(record.path)
        self._duplicates = None

    def _append_wide(self, record: ManifestFile) -> None:
        # JSON integers are unbounded: a figure beyond 64 bits turns its column into a list.
        count = len(self.paths)
        values = (record.size, record.mtime_ns, record.atime_ns)
        columns = [self.sizes, self.mtimes, self.atimes]
        for position, value in enumerate(values):
            if len(columns[position]) == count:
                try:
                    columns[position].append(value)
                except OverflowError:
                    columns[position] = list(columns[position])
                    columns[position].append(value)
        self.sizes, self.mtimes, self.atimes = columns

    def digest(self, index: int) -> bytes:
        """Record ``index``'s sha256, as 32 bytes."""
        return bytes(self.digests[32 * index : 32 * index + 32])

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> ManifestFile: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ManifestFile]: ...

    def __getitem__(self, index: int | slice) -> ManifestFile | Sequence[ManifestFile]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(len(self))[index])
        path = self.paths[index]  # raises IndexError, and makes a negative index positive below
        index %= len(self.paths)
        return ManifestFile(
            path,
            self.sizes[index],
            self.mtimes[index],
            self.atimes[index],
            self.digests[32 * index : 32 * index + 32].hex(),
        )

    def __iter__(self) -> Iterator[ManifestFile]:
        for index in range(len(self.paths)):
            yield self[index]

    def positions(self) -> dict[str, int]:
        """Each path's index; a path listed twice maps to its last record, as a dict would."""
        where = {path: index for index, path in enumerate(self.paths)}
        self._duplicates = len(where) != len(self.paths)
        return where

    @property
    def has_duplicates(self) -> bool:
        """Whether some path is listed more than once (no backup pipcachex writes does that)."""
        if self._duplicates is None:
            self._duplicates = len(set(self.paths)) != len(self.paths)
        return self._duplicates

    def total_size(self) -> int:
        """The sum of the records' sizes."""
        return sum(self.sizes)


class Selection(Sequence[ManifestFile]):
    """Some records of a table, by index, in the order given (what a restore plan holds)."""

    __slots__ = ("indices", "table")

    def __init__(self, table: FileTable, indices: Iterable[int] = ()) -> None:
        self.table = table
        self.indices = array("q", indices)

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, index: int) -> ManifestFile: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ManifestFile]: ...

    def __getitem__(self, index: int | slice) -> ManifestFile | Sequence[ManifestFile]:
        if isinstance(index, slice):
            return Selection(self.table, self.indices[index])
        return self.table[self.indices[index]]

    def __iter__(self) -> Iterator[ManifestFile]:
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
