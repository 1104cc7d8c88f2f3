"""Judging a cache directory before pipcachex scans it (the rules for deleting from one are in
``pipcachex.deletion.rules``)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pipcachex.cache.layout_names import PIP_STATE_NAMES as PIP_STATE_NAMES  # scan's import
from pipcachex.errors import CacheError, UsageError

STALE_SECONDS = 3600
"""How old a temporary file or build directory must be to be called stale rather than busy."""


def check_cache_dir(root: Path, *, explicit: bool) -> bool:
    """Check ``root`` can be scanned; return whether it exists.

    A missing directory pip chose by default is simply an empty cache; a missing or wrong one the
    user named with ``--cache-dir`` is bad input.
    """
    try:
        info = os.stat(root)
    except FileNotFoundError:
        if explicit:
            raise UsageError(
                f"invalid value for --cache-dir: {str(root)!r} does not exist"
            ) from None
        return False
    except OSError as exc:
        raise CacheError(f"cannot read the cache directory {root}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"invalid value for --cache-dir: {str(root)!r} is not a directory")
    if not os.access(root, os.R_OK | os.X_OK):
        raise CacheError(f"cannot read the cache directory {root}: permission denied")
    return True
