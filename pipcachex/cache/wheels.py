"""What a built-wheel directory under ``wheels/`` is: its entry, and what killed builds left.

The scanner lists a directory and its subdirectories; the rules for what they hold live here.
pip (>= 25.3) has the build backend write the wheel into a ``tmp*`` directory inside the
wheel's directory and moves it out when done. A fresh one is a build under way: the whole
directory is busy, and nothing may delete it. An old one is what a killed build left; once a
later build has put a good wheel beside it, it is damage of its own, so that removing it keeps
the wheel.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from pipcachex.cache.directory import STALE_SECONDS
from pipcachex.cache.identify import parse_distribution_filename
from pipcachex.cache.model import CacheEntry, CacheFile, Kind, Layout

STALE_BUILD = "stale build directory left by an interrupted build"


@dataclass(frozen=True, slots=True)
class Subdirectory:
    """A directory inside a built-wheel directory: its path, mtime and every file below it."""

    path: str
    mtime: float
    files: list[CacheFile]


def built_wheel_entries(
    directory: str, top: list[CacheFile], subdirectories: list[Subdirectory], now: float
) -> list[CacheEntry]:
    """The entries of the built-wheel ``directory``, whose own files are ``top``.

    One entry for the directory, then one per stale build directory beside a recognised wheel.
    Without such a wheel, everything is the one entry.
    """
    members = list(top)
    leftovers: list[Subdirectory] = []
    busy = False
    for sub in subdirectories:
        if sub.path.rsplit("/", 1)[-1].startswith("tmp"):
            if now - sub.mtime <= STALE_SECONDS or any(
                now - member.mtime <= STALE_SECONDS for member in sub.files
            ):
                busy = True
            else:
                leftovers.append(sub)
                continue
        members += sub.files
    entry = _entry(directory, members, len(top), busy)
    if not leftovers:
        return [entry]
    if entry.kind is Kind.UNKNOWN or entry.filename is None:
        for sub in leftovers:
            members += sub.files
        return [_entry(directory, members, len(top), busy)]
    return [
        entry,
        *(
            CacheEntry(
                sub.path,
                Kind.DAMAGED,
                Layout.WHEELS,
                tuple(sub.files),
                entry.package,
                entry.version,
                problem=STALE_BUILD,
            )
            for sub in leftovers
        ),
    ]


def _entry(directory: str, members: list[CacheFile], top: int, busy: bool) -> CacheEntry:
    """The directory's own entry; its wheels are among the first ``top`` members."""
    wheels = sorted(
        (m for m in members[:top] if m.path.endswith(".whl")),
        key=lambda m: m.mtime,
    )
    files = tuple(members)
    if not wheels:
        if busy:
            return CacheEntry(directory, Kind.UNKNOWN, Layout.WHEELS, files, busy=True)
        empty = "built-wheel directory holds no .whl file"
        return CacheEntry(directory, Kind.DAMAGED, Layout.WHEELS, files, problem=empty)
    newest = wheels[-1].name
    parsed = parse_distribution_filename(newest)
    if parsed is None:
        return CacheEntry(directory, Kind.UNKNOWN, Layout.WHEELS, files, filename=newest, busy=busy)
    problem = "zero-byte wheel file" if any(w.size == 0 for w in wheels) else None
    return CacheEntry(
        directory,
        Kind.DAMAGED if problem else Kind.BUILT_WHEEL,
        Layout.WHEELS,
        files,
        # Many entries name the same project and version: one string each, not one per entry.
        sys.intern(parsed[0]),
        sys.intern(parsed[1]),
        newest,
        problem,
        busy,
    )
