"""The facts ``doctor`` judges, as plain records, so every check is a pure function of them.

Gathering (``gather``) asks each pip through ``PipRunner`` and looks at the caches on disk;
nothing here writes to a cache.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipcachex.doctor.filesystem import FilesystemFacts, OwnershipFacts
from pipcachex.doctor.pipconfig import PipConfig

_REFUSED = re.compile(r"The directory '(.+?)' or its parent directory is not owned")


@dataclass(frozen=True)
class PipFacts:
    """What one interpreter's pip said about itself and its cache.

    ``problem`` says why there is no usable pip (then the other fields are empty);
    ``disabled`` is pip's own "cache is disabled"; ``refused_dir`` is the directory pip's
    ownership warning named when that was why.
    """

    python: str
    version: str | None = None
    problem: str | None = None
    cache_dir: str | None = None
    disabled: bool = False
    pip_message: str = ""
    refused_dir: str | None = None
    http_v2: bool | None = None
    config: PipConfig = field(default_factory=PipConfig)

    @property
    def cache_location(self) -> str | None:
        """The cache this pip uses, or would use were it not refused (ownership)."""
        return self.cache_dir or self.refused_dir


def refused_directory(stderr: str) -> str | None:
    """The directory named by pip's "is not owned or is not writable" warning, if any."""
    match = _REFUSED.search(stderr)
    return match.group(1) if match else None


@dataclass(frozen=True)
class LayoutUse:
    """How many entries and bytes one HTTP layout (``http`` or ``http-v2``) holds."""

    layout: str
    entries: int
    size: int


@dataclass(frozen=True)
class EntryProblem:
    """A damaged entry or a stale temp file, as ``verify``'s fast checks found it."""

    path: str
    problem: str
    size: int


@dataclass(frozen=True)
class CacheFacts:
    """One cache directory: what it holds, who owns it, what it is on."""

    root: str
    exists: bool
    entries: int = 0
    total_size: int = 0
    layouts: tuple[LayoutUse, ...] = ()
    damaged: tuple[EntryProblem, ...] = ()
    stale: tuple[EntryProblem, ...] = ()
    unreadable: tuple[str, ...] = ()
    ownership: OwnershipFacts | None = None
    filesystem: FilesystemFacts | None = None

    def layout(self, name: str) -> LayoutUse:
        """The use of layout ``name`` (zero when absent)."""
        return next((u for u in self.layouts if u.layout == name), LayoutUse(name, 0, 0))


@dataclass(frozen=True)
class Location:
    """A place where pip keeps (or used to keep) a cache by default, and why it is one."""

    path: str
    reason: str


@dataclass(frozen=True)
class Candidate:
    """A default location measured on disk: whether it looks like a pip cache, and its size."""

    location: Location
    looks_like_cache: bool
    files: int
    size: int


@dataclass(frozen=True)
class OwnFiles:
    """pipcachex's own directories: the attribution memo and the backups."""

    memo_dir: str | None
    memo_files: int
    memo_size: int
    backup_dir: str
    backup_files: int
    backup_size: int


def default_locations(
    environ: Mapping[str, str], platform: str = sys.platform, home: str | None = None
) -> tuple[Location, ...]:
    """Where pip keeps its cache when nothing says otherwise, now and in earlier versions.

    On macOS pip 26.2 started honouring ``XDG_CACHE_HOME``: with it set, the old
    ``~/Library/Caches/pip`` and the new ``$XDG_CACHE_HOME/pip`` are both candidates.
    """
    home = home or environ.get("HOME") or os.path.expanduser("~")
    xdg = environ.get("XDG_CACHE_HOME", "")
    xdg_pip = os.path.join(xdg, "pip") if os.path.isabs(xdg) else None
    if platform == "win32":
        local = environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return (Location(os.path.join(local, "pip", "Cache"), "pip's default cache on Windows"),)
    if platform == "darwin":
        found = [Location(os.path.join(home, "Library", "Caches", "pip"), _MACOS_OLD)]
        if xdg_pip is not None:
            found.append(Location(xdg_pip, "pip's default cache on macOS since pip 26.2"))
        return tuple(found)
    plain = os.path.join(home, ".cache", "pip")
    if xdg_pip is None:
        return (Location(plain, "pip's default cache"),)
    return (
        Location(xdg_pip, "pip's default cache ($XDG_CACHE_HOME/pip)"),
        Location(plain, "pip's default cache in a shell without XDG_CACHE_HOME"),
    )


_MACOS_OLD = (
    "pip's default cache on macOS (pip 26.2 and newer use $XDG_CACHE_HOME/pip where it is set)"
)
