"""Which non-portable facilities the running system offers, decided once per process.

pipcachex's fast and careful paths use calls that only some systems have: a descriptor on a
directory listed with ``os.scandir(fd)``, ``O_NOATIME``, ``O_DIRECTORY``, ``os.statvfs``,
``syncfs(2)``, fsync of a directory, meaningful file modes, and ``os.replace`` over a file that
another process holds open. Each is looked for here, by asking the ``os`` module or by trying it
once, never by guessing from the platform's name; every caller has a fallback for the system
without it.

``PIPCACHEX_CAPABILITIES_OFF`` switches capabilities off: ``all``, or a comma list of the
names in ``NAMES``. It is how the test suite proves every fallback on a system that has
everything, and subprocesses (worker processes, a CLI run by a test) inherit it with the
environment.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from contextlib import suppress
from dataclasses import dataclass, fields
from typing import Any

from pipcachex.errors import UsageError

ENVIRONMENT = "PIPCACHEX_CAPABILITIES_OFF"


@dataclass(frozen=True)
class Capabilities:
    """What this system offers; False where it lacks a facility or it was switched off."""

    #: ``os.open`` accepts a directory and ``os.scandir`` lists through its descriptor.
    directory_fd: bool
    #: ``O_NOATIME``: reading a file one owns leaves its atime alone.
    noatime: bool
    #: ``O_DIRECTORY``: opening something that is not a directory fails instead of blocking.
    o_directory: bool
    #: ``os.statvfs`` (mount flags such as ``ST_NOATIME``).
    statvfs: bool
    #: ``syncfs(2)`` through the C library (Linux): one call puts everything written to one
    #: file system on disk, leaving other file systems alone (``os.sync`` flushes them all).
    syncfs: bool
    #: A directory can be opened and fsynced, making renames in it durable.
    fsync_directory: bool
    #: File modes mean what they say (``chmod 0o600`` reads back as ``0o600``).
    file_modes: bool
    #: ``os.replace`` succeeds over a file that is open elsewhere (else: retry briefly).
    replace_open: bool


NAMES = tuple(field.name for field in fields(Capabilities))
_current: Capabilities | None = None


def current() -> Capabilities:
    """This process's capabilities (probed on first use, then remembered)."""
    global _current
    if _current is None:
        _current = _probe(switched_off(os.environ.get(ENVIRONMENT, "")))
    return _current


def forget() -> None:
    """Probe again on the next ``current()`` (after ``PIPCACHEX_CAPABILITIES_OFF`` changed)."""
    global _current
    _current = None


def switched_off(setting: str) -> frozenset[str]:
    """The capability names a ``PIPCACHEX_CAPABILITIES_OFF`` value switches off."""
    names = {name.strip().replace("-", "_") for name in setting.split(",") if name.strip()}
    unknown = sorted(names.difference(NAMES, {"all"}))
    if unknown:
        raise UsageError(
            f"{ENVIRONMENT}: unknown capability {unknown[0]!r} (known: all, {', '.join(NAMES)})"
        )
    return frozenset(NAMES) if "all" in names else frozenset(names)


def _probe(off: frozenset[str]) -> Capabilities:
    probes = {
        "directory_fd": _has_directory_fd,
        "noatime": lambda: hasattr(os, "O_NOATIME"),
        "o_directory": lambda: hasattr(os, "O_DIRECTORY"),
        "statvfs": lambda: hasattr(os, "statvfs"),
        "syncfs": lambda: _syncfs_function() is not None,
        "fsync_directory": _can_fsync_directory,
        "file_modes": _modes_stick,
        "replace_open": _replaces_open_files,
    }
    # A capability switched off is not even probed: its probe may be what is broken.
    return Capabilities(**{name: name not in off and probes[name]() for name in NAMES})


_SYNCFS: list[Any] = []


def _syncfs_function() -> Any:
    """libc's ``syncfs`` as a ctypes function, or None where the system has none."""
    if not _SYNCFS:
        _SYNCFS.append(_load_syncfs())
    return _SYNCFS[0]


def _load_syncfs() -> Any:
    # syncfs(2) is Linux's (glibc 2.14, musl): other systems have no such call, and no
    # ``os`` function offers it.
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def sync_file_system(path: str | os.PathLike[str]) -> bool:
    """Put everything written to the file system holding ``path`` on disk (``syncfs``).

    False, having done nothing durable, where the capability is missing or switched off, or
    the call fails: the caller then fsyncs what it wrote, file by file.
    """
    if not current().syncfs:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        return bool(_syncfs_function()(fd) == 0)
    finally:
        os.close(fd)


def _has_directory_fd() -> bool:
    if os.scandir not in os.supports_fd:
        return False
    try:
        fd = os.open(tempfile.gettempdir(), os.O_RDONLY)
    except OSError:
        return False  # Windows: a directory cannot be opened as a file
    os.close(fd)
    return True


def _can_fsync_directory() -> bool:
    try:
        fd = os.open(tempfile.gettempdir(), os.O_RDONLY)
    except OSError:
        return False
    try:
        os.fsync(fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _modes_stick() -> bool:
    fd, name = tempfile.mkstemp(prefix="pipcachex-probe-")
    try:
        os.close(fd)
        os.chmod(name, 0o640)
        return stat.S_IMODE(os.stat(name).st_mode) == 0o640
    except OSError:
        return False
    finally:
        os.unlink(name)


def _replaces_open_files() -> bool:
    directory = tempfile.mkdtemp(prefix="pipcachex-probe-")
    held, new = os.path.join(directory, "held"), os.path.join(directory, "new")
    try:
        for path in (held, new):
            with open(path, "wb"):
                pass
        with open(held, "rb"):
            os.replace(new, held)
    except OSError:
        return False  # Windows: a file open without delete sharing cannot be replaced
    finally:
        for path in (held, new):
            with suppress(OSError):
                os.unlink(path)
        with suppress(OSError):
            os.rmdir(directory)
    return True


def disk_usage(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(free, total)`` bytes of the file system ``path`` is on; None where it cannot be told.

    ``shutil.disk_usage`` is portable, but on POSIX systems it is built on ``os.statvfs``:
    where that is missing (or switched off) the answer is "unknown", never an exception.
    """
    if os.name != "nt" and not current().statvfs:
        return None
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    return usage.free, usage.total
