"""The records the cache scanner produces: one ``CacheEntry`` per logical thing in the cache."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class Kind(str, enum.Enum):
    """What an entry is, as shown in ``--kind`` and in the JSON ``kind`` field."""

    DISTRIBUTION = "distribution"
    INDEX_PAGE = "index-page"
    METADATA = "metadata"
    REDIRECT = "redirect"
    BUILT_WHEEL = "built-wheel"
    PIP_STATE = "pip-state"
    DAMAGED = "damaged"
    UNKNOWN = "unknown"


class Layout(str, enum.Enum):
    """Which part of the cache an entry lives in."""

    HTTP = "http"
    HTTP_V2 = "http-v2"
    WHEELS = "wheels"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CacheFile:
    """One file of an entry, with the stat figures taken while scanning."""

    path: Path
    size: int
    mtime: float
    atime: float


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One logical cache entry and everything known about it.

    ``path`` is the entry's anchor: the metadata file of an HTTP entry, the leaf directory of a
    built wheel, or the file itself. ``files`` are every file that belongs to it; deleting the
    entry means deleting exactly those (and, for a built wheel, its then empty directory).
    ``problem`` says why a damaged entry is damaged; ``busy`` marks something a pip is writing
    right now (a fresh temp file or build directory), which nothing may delete.
    """

    path: Path
    kind: Kind
    layout: Layout
    files: tuple[CacheFile, ...]
    package: str | None = None
    version: str | None = None
    filename: str | None = None
    problem: str | None = None
    busy: bool = False

    size: int = field(init=False, compare=False)
    """Bytes on disk of all the entry's files."""
    created: float = field(init=False, compare=False)
    """When pip wrote the entry: the earliest modification time of its files."""
    last_used: float = field(init=False, compare=False)
    """When pip last wrote or read the entry: ``max(atime, mtime)`` over its files.

    Only as good as the mount's atime updates (``relatime`` moves it at most once a day,
    ``noatime`` never), so on a ``noatime`` mount this is the time the entry was written.
    """

    def __post_init__(self) -> None:
        # Derived once: listings sort, filter and total by these many times over, and slots
        # (a large cache holds 100,000 entries in memory) leave no room for a lazy cache.
        object.__setattr__(self, "size", sum(f.size for f in self.files))
        object.__setattr__(self, "created", min((f.mtime for f in self.files), default=0.0))
        last = max((max(f.atime, f.mtime) for f in self.files), default=0.0)
        object.__setattr__(self, "last_used", last)

    @property
    def paths(self) -> tuple[Path, ...]:
        """Absolute paths of the entry's files."""
        return tuple(f.path for f in self.files)

    @property
    def is_directory_entry(self) -> bool:
        """Whether the entry is a directory (a built-wheel leaf) rather than loose files."""
        return self.layout is Layout.WHEELS
