"""Where pip puts things in its cache, name by name and level by level.

The names themselves are in ``layout_names`` (one table, shared with the not-a-cache guard).

The scanner asks these rules about every name it meets, so that what lies where pip would never
look (a desktop file, an editor backup, a README, a copy at the wrong depth, a symlink) is an
``unknown`` entry of its own, at its own path, and never changes what the real entries around it
are. Only names that pip writes, at the place pip writes them, are read as pip's.
"""

from __future__ import annotations

import os
import stat

from pipcachex.cache.layout_names import ENTRY_NAME, ENTRY_NAME_LENGTH, HTTP_NAME, WHEEL_LEVELS
from pipcachex.cache.model import CacheEntry, CacheFile, Kind, Layout, Problem, ProblemCode

# pipcachex's own lock file in the cache root: never an entry (the scanner imports it here).
from pipcachex.lock import LOCK_NAME as LOCK_NAME

SYMLINK = Problem(ProblemCode.SYMLINK, "a symbolic link (never followed)")


def is_entry_name(name: str) -> bool:
    """Whether ``name`` is an HTTP entry's (or a selfcheck file's) name: 56 lower-case hex."""
    return len(name) == ENTRY_NAME_LENGTH and ENTRY_NAME.fullmatch(name) is not None


def folder_prefix(folder: str, layout_dir: str) -> str | None:
    """The five characters every entry name in ``folder`` must start with, or None.

    pip's cache path is ``<layout>/a/b/c/d/e/<name>``, ``abcde`` being the name's first five
    characters: a folder that is not five one-character levels below the layout directory holds
    no entry pip would ever read.
    """
    if not folder.startswith(layout_dir) or len(folder) != len(layout_dir) + 10:
        return None
    levels = folder[len(layout_dir) :]
    if levels[0::2] != "/////":
        return None
    return levels[1::2]


def http_name_kind(prefix: str | None, name: str) -> str | None:
    """What the file ``name`` is to pip, in a folder whose ``folder_prefix`` is ``prefix``.

    ``"entry"`` (a metadata file, or a legacy entry), ``"body"`` (an ``http-v2`` body),
    ``"temp"`` (a temporary file of an interrupted write, ``<name>…tmp``) or None: not pip's.
    """
    if prefix is None or not name.startswith(prefix):
        return None
    # One regular expression, not a call per check: this runs for every file of every scan.
    match = HTTP_NAME.fullmatch(name)
    if match is None:
        return None
    if match.lastindex is None:
        return "entry"
    return "body" if match.lastindex == 1 else "temp"


def is_wheel_level(name: str, depth: int) -> bool:
    """Whether ``name`` is a directory name pip writes ``depth`` levels below ``wheels/``.

    pip's built-wheel directory is ``wheels/ab/cd/ef/<50 hex>``: the sha224 of the source link,
    cut 2, 2, 2 and 50.
    """
    rule = WHEEL_LEVELS.get(depth)
    return rule is not None and rule.fullmatch(name) is not None


def unknown_entry(path: str, info: os.stat_result, layout: Layout) -> CacheEntry:
    """The ``unknown`` entry of one thing that is not pip's: a symlink says it is one."""
    member = CacheFile(path, info.st_size, info.st_mtime, info.st_atime)
    problem = SYMLINK if stat.S_ISLNK(info.st_mode) else None
    return CacheEntry(path, Kind.UNKNOWN, layout, (member,), problem=problem)
