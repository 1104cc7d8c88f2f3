"""What a built-wheel directory under ``wheels/`` is: its entry, what killed builds left, litter.

The scanner lists a directory and its subdirectories; the rules for what they hold live here.
pip reads a built-wheel directory's ``*.whl`` files whose names parse as wheel names (and, from
22.2, its ``origin.json``); pip (>= 25.3) has the build backend write the wheel into a ``tmp*``
directory inside it and moves it out when done. A fresh one is a build under way: the whole
directory is busy, and nothing may delete it. An old one is what a killed build left; once a
later build has put a good wheel beside it, it is damage of its own, so that removing it keeps
the wheel. Anything else in the directory (a ``.DS_Store``, a note, a symlink, a subdirectory
pip never makes) is not pip's: an ``unknown`` entry of its own that changes nothing about the
built wheel beside it.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass

from pipcachex.cache.directory import STALE_SECONDS
from pipcachex.cache.identify import parse_distribution_filename
from pipcachex.cache.layout import unknown_entry
from pipcachex.cache.model import CacheEntry, CacheFile, Kind, Layout, Problem, ProblemCode

STALE_BUILD = Problem(ProblemCode.STALE_BUILD, "stale build directory left by an interrupted build")
NO_WHEEL = Problem(ProblemCode.NO_WHEEL, "built-wheel directory holds no .whl file")
ZERO_BYTE_WHEEL = Problem(ProblemCode.ZERO_BYTE_WHEEL, "zero-byte wheel file")
ORIGIN = "origin.json"

Listing = list[tuple[str, os.stat_result]]


@dataclass(frozen=True, slots=True)
class Subdirectory:
    """A directory inside a built-wheel directory: its path, mtime and every file below it.

    ``files`` are (path, lstat) pairs, found without following a symlink.
    """

    path: str
    mtime: float
    files: Listing


def _member(path: str, info: os.stat_result) -> CacheFile:
    return CacheFile(path, info.st_size, info.st_mtime, info.st_atime)


def built_wheel_entries(
    directory: str, files: Listing, subdirectories: list[Subdirectory], now: float, mtime: float
) -> list[CacheEntry]:
    """The entries of the built-wheel ``directory``, whose own files are ``files`` (name, lstat).

    The directory's entry first (none when it holds nothing of pip's but does hold litter),
    then one per stale build directory beside a recognised wheel, then one ``unknown`` entry per
    file that is not pip's. ``mtime`` is the directory's own, the age of an empty one.
    """
    wheels: list[CacheFile] = []
    others: list[CacheFile] = []
    litter: list[CacheEntry] = []
    # Each wheel's name parsed once: whether it is a wheel, then the newest's project.
    parsed: dict[str, tuple[str, str]] = {}
    for name, info in files:
        path = f"{directory}/{name}"
        if not stat.S_ISREG(info.st_mode):
            litter.append(unknown_entry(path, info, Layout.WHEELS))
        elif name.endswith(".whl") and (project := parse_distribution_filename(name)):
            parsed[name] = project
            wheels.append(_member(path, info))
        elif name == ORIGIN:
            others.append(_member(path, info))
        else:
            litter.append(unknown_entry(path, info, Layout.WHEELS))
    fresh: list[CacheFile] = []
    stale: list[tuple[Subdirectory, list[CacheFile]]] = []
    busy = False
    for sub in subdirectories:
        regular: list[CacheFile] = []
        for path, info in sub.files:
            if stat.S_ISREG(info.st_mode) and sub.path.rsplit("/", 1)[-1].startswith("tmp"):
                regular.append(_member(path, info))
            else:
                litter.append(unknown_entry(path, info, Layout.WHEELS))
        if not sub.path.rsplit("/", 1)[-1].startswith("tmp"):
            continue
        if now - sub.mtime <= STALE_SECONDS or any(
            now - member.mtime <= STALE_SECONDS for member in regular
        ):
            busy = True
            fresh += regular
        else:
            stale.append((sub, regular))
    own = _own_entry(directory, wheels, parsed, others, fresh, stale, busy, bool(litter), mtime)
    return own + litter


def _own_entry(
    directory: str,
    wheels: list[CacheFile],
    parsed: dict[str, tuple[str, str]],
    others: list[CacheFile],
    fresh: list[CacheFile],
    stale: list[tuple[Subdirectory, list[CacheFile]]],
    busy: bool,
    has_litter: bool,
    mtime: float,
) -> list[CacheEntry]:
    """The directory's own entry and its stale builds' (see ``built_wheel_entries``)."""
    if not wheels:
        files = tuple(others + fresh + [m for _, members in stale for m in members])
        if busy:
            return [CacheEntry(directory, Kind.UNKNOWN, Layout.WHEELS, files, busy=True)]
        if not files and has_litter:
            return []  # nothing of pip's: only the litter's own entries
        return [
            CacheEntry(directory, Kind.DAMAGED, Layout.WHEELS, files, problem=NO_WHEEL, mtime=mtime)
        ]
    wheels.sort(key=lambda m: m.mtime)
    newest = wheels[-1].name
    # Many entries name the same project and version: one string each, not one per entry.
    package, version = (sys.intern(part) for part in parsed[newest])
    problem = ZERO_BYTE_WHEEL if any(w.size == 0 for w in wheels) else None
    entry = CacheEntry(
        directory,
        Kind.DAMAGED if problem else Kind.BUILT_WHEEL,
        Layout.WHEELS,
        tuple(wheels + others + fresh),
        package,
        version,
        newest,
        problem,
        busy,
    )
    return [
        entry,
        *(
            CacheEntry(
                sub.path,
                Kind.DAMAGED,
                Layout.WHEELS,
                tuple(members),
                package,
                version,
                problem=STALE_BUILD,
                mtime=sub.mtime,
            )
            for sub, members in stale
        ),
    ]
