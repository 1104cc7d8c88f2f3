"""One destructive pipcachex at a time per cache: an advisory lock on a file in the cache root.

pip itself takes no lock, so this cannot keep pip out; it keeps two pipcachex runs from
undoing each other (a purge deleting a restore's temporary files, two purges racing over the
same entries). The lock is an OS lock on an open file (``flock`` where the system has it, a
byte-range lock on Windows), so it is released by the OS when the holder exits or is killed:
there is never a stale lock to clean up. The file itself stays: removing it would let a third
run lock a new file while a second still holds the old one.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipcachex.errors import CacheError, PipcachexError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None  # type: ignore[assignment]

#: The lock file's name in the cache root: pipcachex's own, never listed, never deleted.
LOCK_NAME = ".pipcachex.lock"
#: Where the holder's description starts in the file; Windows locks byte 0, which other
#: processes then cannot read, so the description lies beyond it.
_HOLDER_OFFSET = 64
#: Errors that mean the cache cannot be written at all: the command's own writes will fail
#: with a clearer message, so the lock is not what should report it.
_CANNOT_WRITE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


class CacheBusyError(PipcachexError):
    """Another pipcachex holds the cache lock; nothing was changed."""


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock without waiting; False when someone else holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    if msvcrt is not None:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    # A system with neither cannot lock; the commands still work, one at a time being
    # the user's business there.
    return True  # pragma: no cover


def _unlock(fd: int) -> None:
    """Release the lock (closing the file would too; this says it explicitly)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    elif msvcrt is not None:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _holder(fd: int) -> str:
    """Who holds the lock, as the holder wrote it, for the message; empty when unknown."""
    try:
        os.lseek(fd, _HOLDER_OFFSET, os.SEEK_SET)
        raw = os.read(fd, 4096)
        data = json.loads(raw.decode("utf-8"))
        return f" (pid {int(data['pid'])}, `{data['command']!s}`)"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _describe_self(fd: int, command: str) -> None:
    """Write our pid and command where a waiting run can read them; best effort."""
    record = json.dumps({"pid": os.getpid(), "command": command}).encode("utf-8")
    try:
        os.ftruncate(fd, _HOLDER_OFFSET)
        os.lseek(fd, _HOLDER_OFFSET, os.SEEK_SET)
        os.write(fd, record)
    except OSError:
        pass


@contextmanager
def cache_lock(root: Path, *, command: str) -> Iterator[None]:
    """Hold the cache's exclusive pipcachex lock for the ``with`` block.

    Raises :class:`CacheBusyError` at once when another pipcachex holds it (no waiting: a
    cron job should fail loudly rather than pile up). A cache that cannot be written at all
    is not locked: the command's own first write reports that better.
    """
    path = root / LOCK_NAME
    fd = _open_lock_file(path)
    if fd is None:
        yield
        return
    try:
        if not _try_lock(fd):
            raise CacheBusyError(
                f"another pipcachex{_holder(fd)} is working on this cache ({root}); "
                "nothing was changed: try again when it has finished"
            )
        try:
            _describe_self(fd, command)
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def _open_lock_file(path: Path) -> int | None:
    """Open (creating) the lock file; None when the cache cannot be written at all."""
    # O_NOFOLLOW where the system has it: a symlink planted under the lock's name must not
    # make us create or truncate a file outside the cache.
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno in _CANNOT_WRITE:
            return None
        raise CacheError(f"cannot open the lock file {path}: {exc.strerror}") from exc
