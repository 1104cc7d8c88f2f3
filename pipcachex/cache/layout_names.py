"""The names pip writes in its cache, and the litter desktops add: what a pip cache may hold.

The one table of pip's names: the scanner's rules (``layout.py``) and the not-a-cache guard
(``deletion/rules.py``) both read it.

This is the allow-list behind the not-a-cache guard. A directory pip uses as its cache holds,
at its top, only pip's layouts (``http/``, ``http-v2/``, ``wheels/``), pip's own version-check
state (``selfcheck/``, ``selfcheck.json``), pipcachex's lock file and desktop litter; below
that only the hex-named directories and files of pip's layout (see docs/cache-format.md).
Anything else was put there by someone else, and a purge must not take it for cache.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipcachex.lock import LOCK_NAME

LAYOUT_DIRS = frozenset({"http", "http-v2", "wheels"})
"""The top directories pip's caches live in."""
PIP_STATE_NAMES = frozenset({"selfcheck", "selfcheck.json"})
"""pip's own version-check state at the top of the cache: not a package, never removed."""
ROOT_NAMES = LAYOUT_DIRS | PIP_STATE_NAMES | {LOCK_NAME}
"""Every name pip (or pipcachex) writes at the top of a cache."""

#: Files desktops write into any folder a user opens: Finder's .DS_Store and ._ resource
#: forks, Explorer's Thumbs.db and desktop.ini (Windows file names ignore case).
_LITTER = frozenset({".ds_store", "thumbs.db", "desktop.ini"})

ENTRY_NAME_LENGTH = 56
"""Length of an HTTP entry's (and a selfcheck file's) name: a sha224 in lower-case hex."""
_HASH = rf"[0-9a-f]{{{ENTRY_NAME_LENGTH}}}"
ENTRY_NAME = re.compile(_HASH)
"""An HTTP entry's name (use ``fullmatch``)."""
HTTP_NAME = re.compile(rf"{_HASH}(?:(\.body)|[\s\S]*(\.tmp))?")
"""A file name in an HTTP folder, for the scanner (use ``fullmatch``): an entry, its body
(group 1), or a temporary file of either (group 2: any name ending ``.tmp``)."""
#: pip writes each file into a temporary ``<final name><random>.tmp`` beside it, then renames.
_HTTP_FILE = re.compile(rf"{_HASH}(\.body)?(.*\.tmp)?")
#: Every pattern here is used with ``fullmatch``: ``$`` would also accept a trailing newline,
#: and a file named "ab\n" is not pip's.
_HEX_CHAR = re.compile(r"[0-9a-f]")
_HEX_PAIR = re.compile(r"[0-9a-f]{2}")
_WHEEL_LEAF = re.compile(r"[0-9a-f]{50}")
WHEEL_LEVELS = {1: _HEX_PAIR, 2: _HEX_PAIR, 3: _HEX_PAIR, 4: _WHEEL_LEAF}
"""The name of each directory level below ``wheels/``: the sha224 of the source link, cut 2,
2, 2 and 50 (use ``fullmatch``)."""
_WHEEL_FILE = re.compile(r"(.+\.whl|origin\.json)(.*\.tmp)?")
_STATE_FILE = re.compile(rf"{_HASH}(\.json)?(.*\.tmp)?")
_HTTP_DEPTH = 5
"""Directory levels of an HTTP entry below its layout directory."""
_WHEEL_DEPTH = 4
"""Directory levels of a built-wheel directory below ``wheels/``."""


def is_litter(name: str) -> bool:
    """Whether ``name`` is a file desktops leave in any folder (``.DS_Store``, ``._x``, ...)."""
    return name.startswith("._") or name.lower() in _LITTER


def foreign_at_root(names: Iterable[str]) -> list[str]:
    """The names among a cache root's ``names`` that neither pip nor a desktop writes, sorted."""
    return sorted(name for name in names if name not in ROOT_NAMES and not is_litter(name))


def is_pip_path(parts: tuple[str, ...] | list[str]) -> bool:
    """Whether a file at ``parts`` (its path below the cache root, split) is one pip writes.

    Desktop litter is accepted anywhere. Beyond that: HTTP files named by their hash five hex
    directories down, wheels and ``origin.json`` in a built-wheel directory (anything in a
    ``tmp*`` build directory inside it), pip's state files in ``selfcheck/``, and the top-level
    files pip and pipcachex write.
    """
    if not parts:
        return False
    if is_litter(parts[-1]):
        return True
    top, below, name = parts[0], parts[1:-1], parts[-1]
    if len(parts) == 1:
        return top in ROOT_NAMES and top not in LAYOUT_DIRS and top != "selfcheck"
    if top in ("http", "http-v2"):
        return (
            len(below) == _HTTP_DEPTH
            and all(_HEX_CHAR.fullmatch(part) for part in below)
            and _HTTP_FILE.fullmatch(name) is not None
        )
    if top == "wheels":
        if len(below) < _WHEEL_DEPTH:
            return False
        inside = below[_WHEEL_DEPTH:]
        if not all(WHEEL_LEVELS[depth].fullmatch(p) for depth, p in enumerate(below[:4], start=1)):
            return False
        # A build in progress (or killed) writes whatever its backend writes.
        return inside[0].startswith("tmp") if inside else _WHEEL_FILE.fullmatch(name) is not None
    if top == "selfcheck":
        return not below and _STATE_FILE.fullmatch(name) is not None
    return False
