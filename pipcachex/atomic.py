"""Writing a file so that nobody ever sees it half-written: temp file beside it, fsync, rename.

pip may read the same directories at any moment, and a crash or a full disk must never leave a
file that looks finished but is not.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from pipcachex import capabilities

#: Where a file open elsewhere cannot be replaced (Windows: pip, an antivirus or an indexer may
#: hold it for a moment), ``replace`` tries again this often, for at most this long.
REPLACE_RETRY_SECONDS = 0.05
REPLACE_PATIENCE_SECONDS = 1.0


def replace(source: str | Path, destination: str | Path) -> None:
    """``os.replace``, retried briefly where a file another process holds open is in the way."""
    if capabilities.current().replace_open:
        os.replace(source, destination)
        return
    deadline = time.monotonic() + REPLACE_PATIENCE_SECONDS
    while True:
        try:
            os.replace(source, destination)
            return
        except PermissionError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(REPLACE_RETRY_SECONDS)


def fsync_directory(directory: Path) -> None:
    """Make renames in ``directory`` durable; file systems that cannot do it are left be."""
    if not capabilities.current().fsync_directory:
        return  # Windows: a directory cannot be opened; its renames are durable with the files
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: Path, *, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Yield a file to write ``path``'s new content into; it replaces ``path`` only on success.

    The temporary file is hidden (``.<name>.<random><suffix>``) in the same directory, so the
    final ``os.replace`` is one step on one file system. On any exception, Ctrl-C included, the
    temporary file is removed and ``path`` is left as it was.
    """
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        replace(temp, path)
        fsync_directory(path.parent)
    finally:
        with suppress(FileNotFoundError):
            temp.unlink()
