"""The rules that keep deletion safe: which directories are pip caches, what may never go.

``deletion`` (the only code that unlinks) asks these before it touches anything: whether a
root is a pip cache at all (an allow-list of what pip writes, see ``cache.layout_names``),
whether a full purge would take files pip never wrote, whether an entry may be removed, and
which directories below a built-wheel directory a killed build left.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from pipcachex.cache import (
    LAYOUT_DIRS,
    PIP_STATE_NAMES,
    STALE_SECONDS,
    CacheEntry,
    Kind,
    foreign_at_root,
    is_litter,
    is_pip_path,
    scandir_untouched,
)
from pipcachex.errors import UnsafeCacheError
from pipcachex.lock import LOCK_NAME


def foreign_reason(root: Path, *, force: bool = False) -> str | None:
    """Say why ``root`` is not a pip cache that may be deleted from, or None when it is one.

    A pip cache holds at its top only what ``layout_names`` allows: pip's layouts and state,
    pipcachex's lock file and desktop litter. A system or home directory, or one without any
    of pip's layouts, is never one; ``force`` (the user named this very directory) accepts a
    root that also holds other things.
    """
    resolved = root.resolve()
    home = Path.home().resolve()
    if resolved == Path(resolved.anchor) or resolved == home or resolved in home.parents:
        return f"{root} is a system or home directory, not a pip cache"
    try:
        with scandir_untouched(root) as listing:
            names = {item.name for item in listing}
    except OSError as exc:
        return f"{root} cannot be listed ({exc.strerror})"
    if not names & LAYOUT_DIRS:
        return f"{root} does not look like a pip cache (no http, http-v2 or wheels directory)"
    foreign = foreign_at_root(names)
    if foreign and not force:
        return f"{root} holds things pip never writes in a cache: {name_some(foreign)}"
    return None


def foreign_files(root: Path, paths: Iterable[str]) -> list[str]:
    """The files among ``paths`` (absolute, below ``root``) that pip never writes, relative.

    For a full purge, which removes everything: a file of a name or at a place pip never uses
    was put there by someone else, and is not the cache's to lose.
    """
    prefix = os.path.abspath(root).rstrip(os.sep) + os.sep
    found = []
    for path in paths:
        relative = path[len(prefix) :] if path.startswith(prefix) else path
        if not is_pip_path(relative.split(os.sep)):
            found.append(relative)
    return sorted(found)


def name_some(names: Sequence[str], shown: int = 5) -> str:
    """``names`` joined for a message: the first ``shown`` of them and how many more."""
    head = ", ".join(names[:shown])
    return head if len(names) <= shown else f"{head} and {len(names) - shown} more"


def holds_more_than_pip_state(root: Path) -> bool:
    """Whether ``root`` exists and holds anything besides pip's own state and desktop litter."""
    try:
        with scandir_untouched(root) as listing:
            names = {item.name for item in listing}
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        raise UnsafeCacheError(f"refusing to delete anything: {root} is not a directory") from None
    except OSError:
        return True  # let ensure_deletable explain why it cannot be used
    return any(
        name not in PIP_STATE_NAMES and name != LOCK_NAME and not is_litter(name) for name in names
    )


def has_fresh_build(directory: str | Path) -> bool:
    """Whether a built-wheel directory holds a ``tmp*`` build a pip started within the hour."""
    now = time.time()
    try:
        with scandir_untouched(directory) as listing:
            return any(
                item.name.startswith("tmp")
                and item.is_dir(follow_symlinks=False)
                and now - item.stat(follow_symlinks=False).st_mtime <= STALE_SECONDS
                for item in listing
            )
    except OSError:
        return False


def directories_below(directory: str) -> list[str]:
    """Every directory below ``directory``, deepest first, without following a symlink.

    For removing a built-wheel directory's emptied subdirectories: an interrupted build leaves
    trees whose directories may hold no file at all, which a list of files does not name.
    What cannot be listed is left out (removing it would fail anyway).
    """
    found: list[str] = []
    pending = [directory]
    while pending:
        current = pending.pop()
        try:
            with scandir_untouched(current) as listing:
                below = [
                    f"{current}/{item.name}"
                    for item in listing
                    if item.is_dir(follow_symlinks=False)
                ]
        except OSError:
            continue
        found += below
        pending += below
    found.sort(key=lambda path: -path.count("/"))
    return found


def ensure_deletable(root: Path, *, force: bool = False, hint: str = "") -> None:
    """Raise ``UnsafeCacheError`` unless ``root`` is a pip cache one may delete from.

    ``force`` accepts a cache that also holds what pip never writes (see ``foreign_reason``);
    ``hint`` ends the message, saying how to go ahead anyway where there is a way.
    """
    reason = foreign_reason(root, force=force)
    if reason is not None:
        raise UnsafeCacheError(f"refusing to delete anything: {reason}{hint}")


def refusal_reason(entry: CacheEntry, *, allow_unknown: bool) -> str | None:
    """Say why ``entry`` must not be deleted, or None when it may be."""
    if entry.kind is Kind.PIP_STATE:
        return "pip's own state is never removed"
    if entry.busy:
        return "a pip is writing it right now"
    # A link is never followed and never removed: its target may be anything, anywhere.
    if any(os.path.islink(path) for path in {entry.path, *entry.paths}):
        return "a symbolic link: neither it nor what it points to is removed"
    if entry.kind is Kind.UNKNOWN and not allow_unknown:
        return "not recognised as a pip cache entry"
    return None
