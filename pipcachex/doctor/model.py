"""What ``doctor`` reports: findings with a level, a meaning, the evidence and the fix."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Level(str, enum.Enum):
    """How bad a finding is: ``fail`` makes ``doctor`` exit 1."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


class Code(str, enum.Enum):
    """What a finding is about; stable names for scripts (the JSON ``code`` field)."""

    # 1. which cache each pip uses
    PIP_CACHE = "pip-cache"
    NO_PIP = "no-pip"
    SHARED_CACHE = "shared-cache"
    SEPARATE_CACHES = "separate-caches"
    # 2. caching switched off
    CACHING_ENABLED = "caching-enabled"
    CACHING_DISABLED = "caching-disabled"
    # 3. ownership and permissions
    OWNERSHIP_OK = "ownership-ok"
    CACHE_REFUSED = "cache-refused"
    NOT_OWNED = "not-owned"
    # 4. the two HTTP layouts
    LAYOUTS = "layouts"
    MIXED_LAYOUTS = "mixed-layouts"
    LEGACY_LAYOUT_UNUSED = "legacy-layout-unused"
    # 5. a second cache left behind
    NO_STRANDED_CACHE = "no-stranded-cache"
    STRANDED_CACHE = "stranded-cache"
    # 6. the file system under the cache
    READS_RECORDED = "reads-recorded"
    READS_NOT_RECORDED = "reads-not-recorded"
    DISK_SPACE = "disk-space"
    LOW_DISK_SPACE = "low-disk-space"
    LOCAL_FILESYSTEM = "local-filesystem"
    NETWORK_FILESYSTEM = "network-filesystem"
    TEMPORARY_FILESYSTEM = "temporary-filesystem"
    # 7. the entries themselves, and pipcachex's own files
    CACHE_MISSING = "cache-missing"
    ENTRIES_INTACT = "entries-intact"
    DAMAGED_ENTRIES = "damaged-entries"
    STALE_TEMP_FILES = "stale-temp-files"
    UNREADABLE = "unreadable"
    PIPCACHEX_FILES = "pipcachex-files"


@dataclass(frozen=True)
class Evidence:
    """One fact behind a finding: ``what`` it is, its ``value``, and ``where`` it came from."""

    what: str
    value: str | int
    where: str | None = None


@dataclass(frozen=True)
class Finding:
    """One thing ``doctor`` found: what it means for the user, why it says so, what to run."""

    code: Code
    level: Level
    message: str
    evidence: tuple[Evidence, ...] = ()
    fix: str | None = None
    cache_dir: str | None = None


@dataclass(frozen=True)
class PipSummary:
    """One pip consulted: its interpreter, version, cache and the layout it writes."""

    python: str
    version: str | None
    cache_dir: str | None
    http_layout: str | None


@dataclass(frozen=True)
class DoctorReport:
    """Everything ``doctor`` found, in the order of its checks."""

    pips: tuple[PipSummary, ...]
    caches: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def failed(self) -> bool:
        """Whether any finding is a failure (``doctor`` then exits 1)."""
        return any(f.level is Level.FAIL for f in self.findings)

    def count(self, level: Level) -> int:
        """How many findings have ``level``."""
        return sum(1 for f in self.findings if f.level is level)
