"""The results of an export: what was written, found already there, skipped, or in conflict."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from pipcachex.cache import CacheEntry
from pipcachex.export.placing import Method


@dataclass(frozen=True)
class Exported:
    """One distribution file of the export (written now, or already there with these bytes).

    ``method`` is how it was written; None when it was already there or on a dry run.
    ``source`` is the cache file its bytes came from (for a legacy entry, the metadata file).
    """

    filename: str
    project: str
    version: str
    size: int
    sha256: str
    entry: CacheEntry
    source: str
    method: Method | None
    requires_python: str | None = None
    yanked: str | None = None
    verified_by: str | None = None
    """What vouched for the sha256: ``index page`` or ``origin.json``; None when nothing knew it."""


class SkipCode(str, enum.Enum):
    """Why a distribution was not exported, for programs (``problem`` says it for people)."""

    DAMAGED = "damaged"
    """The scanner found the entry damaged (its ``problem_code`` says how)."""
    NOT_WHOLE = "not-whole"
    """Reading it to the end failed: a bad zip member, a tar or compressed stream cut short."""
    HASH_MISMATCH = "hash-mismatch"
    """Whole, but its sha256 is not the one the cached index page or origin.json gives."""
    NAME_MISMATCH = "name-mismatch"
    """Its metadata or PyPI's headers name another project or version than its file name."""
    UNREADABLE = "unreadable"
    """It could not be read, or changed or vanished while being read."""


@dataclass(frozen=True)
class Skipped:
    """A selected distribution that was not exported because it is damaged, and why."""

    entry: CacheEntry
    path: str
    filename: str | None
    problem: str
    code: SkipCode = SkipCode.DAMAGED


@dataclass(frozen=True)
class Clash:
    """Two different files claiming one name: ``written`` won (newer), ``other`` was left out."""

    filename: str
    written: Exported
    other: Exported


@dataclass(frozen=True)
class Conflict:
    """A name the export directory already holds with other bytes: it was left alone."""

    filename: str
    existing_sha256: str
    wanted: Exported


@dataclass(frozen=True)
class IndexPages:
    """The simple index written (or that a dry run would write) under ``directory/simple``."""

    root: Path
    projects: tuple[str, ...]
    files: int


@dataclass(frozen=True)
class ExportResult:
    """Everything an export did (or, with ``dry_run``, would do)."""

    cache_dir: Path
    directory: Path
    dry_run: bool
    written: tuple[Exported, ...]
    present: tuple[Exported, ...]
    skipped: tuple[Skipped, ...]
    clashes: tuple[Clash, ...]
    conflicts: tuple[Conflict, ...]
    index: IndexPages | None

    @property
    def ok(self) -> bool:
        """Whether every selected distribution is in the directory (nothing skipped or refused)."""
        return not (self.skipped or self.clashes or self.conflicts)

    @property
    def written_bytes(self) -> int:
        """Bytes of the files written now."""
        return sum(item.size for item in self.written)
