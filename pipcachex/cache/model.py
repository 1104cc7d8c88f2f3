"""The records the cache scanner produces: one ``CacheEntry`` per logical thing in the cache."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass


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


class ProblemCode(str, enum.Enum):
    """What is wrong with an entry, for programs; ``Problem.message`` says it for people.

    Most codes are damage: pip trips over the entry and removing it is the repair. The last
    three are not: ``unreadable`` (pipcachex could not read it, so it cannot judge it),
    ``vanished`` (it went while being read) and ``symlink`` (a link, never followed).
    """

    BAD_METADATA = "bad-metadata"
    ORPHAN_BODY = "orphan-body"
    ORPHAN_METADATA = "orphan-metadata"
    STALE_TEMP = "stale-temp"
    BODY_LENGTH = "body-length"
    BAD_BODY = "bad-body"
    BAD_PAGE = "bad-page"
    NO_WHEEL = "no-wheel"
    ZERO_BYTE_WHEEL = "zero-byte-wheel"
    BAD_WHEEL = "bad-wheel"
    BAD_ORIGIN = "bad-origin"
    STALE_BUILD = "stale-build"
    UNREADABLE = "unreadable"
    VANISHED = "vanished"
    SYMLINK = "symlink"

    @property
    def is_damage(self) -> bool:
        """Whether an entry with this problem is damaged (removing it is the repair)."""
        return self not in _NOT_DAMAGE

    @property
    def is_transient(self) -> bool:
        """Whether the problem may go away by itself (so no memo may keep it)."""
        return self in (ProblemCode.UNREADABLE, ProblemCode.VANISHED)


_NOT_DAMAGE = frozenset({ProblemCode.UNREADABLE, ProblemCode.VANISHED, ProblemCode.SYMLINK})
PROBLEM_CODES = {code.value: code for code in ProblemCode}


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with an entry: a ``code`` to act on and a ``message`` to show people.

    No code reads the message: it may be reworded at any time.
    """

    code: ProblemCode
    message: str

    def __str__(self) -> str:
        return self.message


class Layout(str, enum.Enum):
    """Which part of the cache an entry lives in."""

    HTTP = "http"
    HTTP_V2 = "http-v2"
    WHEELS = "wheels"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CacheFile:
    """One file of an entry, with the stat figures taken while scanning.

    ``path`` is absolute, a plain string: a large cache holds hundreds of thousands of these,
    and a ``pathlib.Path`` costs several times the memory and time of the string it wraps.
    It is ``base + suffix``: an HTTP body (``<metadata path>.body``) keeps a reference to its
    metadata file's path string and the shared suffix instead of a copy of the whole path,
    which at 100,000 entries is over 10 MB.
    """

    base: str
    size: int
    mtime: float
    atime: float
    suffix: str = ""

    @property
    def path(self) -> str:
        """The file's absolute path."""
        return self.base + self.suffix if self.suffix else self.base

    @property
    def name(self) -> str:
        """The file's name (the last component of its path)."""
        return os.path.basename(self.path)

    @property
    def directory(self) -> str:
        """The directory the file is in."""
        return os.path.dirname(self.path)


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One logical cache entry and everything known about it.

    ``path`` is the entry's anchor: the metadata file of an HTTP entry, the leaf directory of a
    built wheel, or the file itself. ``files`` are every file that belongs to it; deleting the
    entry means deleting exactly those (and, for a built wheel, its then empty directory).
    ``problem`` says why a damaged entry is damaged, or why an unknown one is (a symlink, a
    file that cannot be read); ``busy`` marks something a pip is writing right now (a fresh
    temp file or build directory), which nothing may delete. ``mtime`` is the directory's own
    modification time for an entry without files (an empty built-wheel directory), so that it
    has an age. Paths are absolute strings, as in ``CacheFile``.
    """

    path: str
    kind: Kind
    layout: Layout
    files: tuple[CacheFile, ...]
    package: str | None = None
    version: str | None = None
    filename: str | None = None
    problem: Problem | None = None
    busy: bool = False
    mtime: float = 0.0

    # size, created and last_used are computed on each use rather than stored: every caller
    # reads them about once per entry, and three more slots and two floats per entry were
    # a tenth of what a 100,000-entry listing holds in memory.

    @property
    def size(self) -> int:
        """Bytes on disk of all the entry's files."""
        total = 0
        for member in self.files:
            total += member.size
        return total

    @property
    def created(self) -> float:
        """When pip wrote the entry: the earliest modification time of its files."""
        return min((member.mtime for member in self.files), default=self.mtime)

    @property
    def last_used(self) -> float:
        """When pip last wrote or read the entry: ``max(atime, mtime)`` over its files.

        Only as good as the mount's atime updates (``relatime`` moves it at most once a day,
        ``noatime`` never), so on a ``noatime`` mount this is the time the entry was written.
        """
        last = 0.0 if self.files else self.mtime
        for member in self.files:
            used = member.atime if member.atime > member.mtime else member.mtime
            last = used if used > last else last
        return last

    @property
    def name(self) -> str:
        """The last component of the entry's path."""
        return os.path.basename(self.path)

    @property
    def paths(self) -> tuple[str, ...]:
        """Absolute paths of the entry's files."""
        return tuple(f.path for f in self.files)

    @property
    def is_directory_entry(self) -> bool:
        """Whether the entry is a directory (a built-wheel leaf) rather than loose files."""
        return self.layout is Layout.WHEELS
