"""Reading cache files without disturbing them.

pip's "last used" signal is a file's atime, so every read pipcachex makes must leave atime
alone: files are opened with ``O_NOATIME`` where the kernel allows it, and otherwise their
times are put back after reading. ``Window`` exposes part of a file (the body embedded in a
legacy ``http/`` entry) as a seekable file of its own for ``zipfile`` and ``tarfile``.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from pipcachex import capabilities

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | _CLOEXEC | getattr(os, "O_BINARY", 0)
# Without O_DIRECTORY, O_NONBLOCK keeps a FIFO put where a directory was from blocking the open.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


@contextmanager
def untouched_descriptor(path: str | Path) -> Iterator[int]:
    """A read-only descriptor on ``path`` whose reads do not change its atime; closed on exit."""
    restore: tuple[int, int] | None = None
    fd = -1
    if capabilities.current().noatime:
        # O_NOATIME is only allowed on files one owns (or as root).
        with suppress(PermissionError):
            fd = os.open(path, _READ_FLAGS | os.O_NOATIME)
    if fd < 0:
        # Without O_NOATIME, read normally and put the times back afterwards.
        before = os.stat(path)
        restore = (before.st_atime_ns, before.st_mtime_ns)
        fd = os.open(path, _READ_FLAGS)
    try:
        yield fd
    finally:
        os.close(fd)
        if restore is not None:
            with suppress(OSError):
                os.utime(path, ns=restore)


@contextmanager
def open_untouched(path: str | Path) -> Iterator[BinaryIO]:
    """Open ``path`` for binary reading so that reading it does not change its atime."""
    # An explicit buffer size spares the isatty() probe open() makes on every file.
    with (
        untouched_descriptor(path) as fd,
        os.fdopen(fd, "rb", buffering=io.DEFAULT_BUFFER_SIZE, closefd=False) as handle,
    ):
        yield handle


def read_untouched(path: str | Path, limit: int) -> bytes:
    """Up to ``limit`` bytes from the start of ``path``, read without changing its atime.

    For the small files the scanner reads whole (``http-v2/`` metadata): a bare descriptor and
    ``os.read`` cost half of what a buffered file object does.
    """
    with untouched_descriptor(path) as fd:
        data = os.read(fd, limit)
        while len(data) < limit:
            more = os.read(fd, limit - len(data))
            if not more:
                break
            data += more
        return data


@contextmanager
def scandir_untouched(directory: str | Path) -> Iterator[Iterator[os.DirEntry[str]]]:
    """``os.scandir`` that does not move the directory's atime where the system allows it.

    The entries' ``path`` may be only their name (the listing may be made from a descriptor):
    join ``directory / entry.name``. Use them only inside the ``with`` block. Without directory
    descriptors (Windows) the directory is listed by path, as any program lists it.
    """
    have = capabilities.current()
    # Without O_NOATIME, listing moves the directory's atime: it is put back afterwards.
    atime = None if have.noatime else os.stat(directory).st_atime_ns
    try:
        if not have.directory_fd:
            with os.scandir(directory) as listing:
                yield listing
            return
        fd = open_directory_untouched(directory)
        try:
            with os.scandir(fd) as listing:
                yield listing
        finally:
            os.close(fd)
    finally:
        if atime is not None:
            put_atime_back(directory, atime)


def put_atime_back(path: str | Path, atime_ns: int) -> None:
    """Give ``path`` back the atime it had before it was read or listed, if that moved it.

    The mtime set with it is the one ``path`` has now, so a change made meanwhile keeps its
    time; nothing is done where the atime did not move (most reads on a relatime mount).
    """
    try:
        now = os.stat(path)
        if now.st_atime_ns != atime_ns:
            os.utime(path, ns=(atime_ns, now.st_mtime_ns))
    except OSError:
        pass  # gone, or not ours to change: reading it was all that was asked


def open_directory_untouched(directory: str | Path) -> int:
    """A descriptor on ``directory`` for ``os.scandir(fd)`` that does not move its atime.

    Only where ``capabilities.current().directory_fd``; ``scandir_untouched`` checks. The
    caller closes it.
    """
    return directory_opener(capabilities.current())(directory)


def directory_opener(have: capabilities.Capabilities) -> Callable[[str | Path], int]:
    """``open_directory_untouched`` for the capabilities ``have``, its flags worked out once.

    A walk opens every directory of the cache (some 180,000 at 100,000 entries): deciding the
    flags afresh each time was a tenth of a warm walk.
    """
    flags = os.O_RDONLY | _CLOEXEC | (os.O_DIRECTORY if have.o_directory else _NONBLOCK)
    untouched = flags | os.O_NOATIME if have.noatime else None
    check_type = not have.o_directory

    def open_directory(directory: str | Path) -> int:
        if untouched is None:
            fd = os.open(directory, flags)
        else:
            try:
                fd = os.open(directory, untouched)
            except PermissionError:
                # O_NOATIME is refused on directories one does not own: the ordinary way.
                fd = os.open(directory, flags)
        if check_type and not stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotADirectoryError(20, "Not a directory", str(directory))
        return fd

    return open_directory


def window(base: BinaryIO, offset: int, length: int) -> BinaryIO:
    """Return a buffered, seekable file over ``length`` bytes of ``base`` from ``offset``."""
    return io.BufferedReader(Window(base, offset, length))


class Window(io.RawIOBase):
    """A read-only, seekable view of ``length`` bytes of ``base`` starting at ``offset``."""

    def __init__(self, base: BinaryIO, offset: int, length: int) -> None:
        super().__init__()
        self._base = base
        self._offset = offset
        self._length = length
        self._pos = 0

    def readable(self) -> bool:
        """Windows can always be read."""
        return True

    def seekable(self) -> bool:
        """Windows can always seek, as zipfile needs to reach the central directory."""
        return True

    def tell(self) -> int:
        """Position relative to the start of the window."""
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move within the window; positions are clamped to its bounds."""
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        else:
            target = self._length + offset
        self._pos = max(0, min(target, self._length))
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill ``buffer`` from the window, never reading past its end."""
        remaining = self._length - self._pos
        if remaining <= 0:
            return 0
        self._base.seek(self._offset + self._pos)
        data = self._base.read(min(len(buffer), remaining))
        memoryview(buffer)[: len(data)] = data
        self._pos += len(data)
        return len(data)


def reads_are_recorded(path: Path) -> bool:
    """Whether reading a file under ``path`` moves its atime, unless known not to.

    Where it does not, "last used" can only mean "written" (see ``pipcachex.lastuse``, which
    says more: how often, and how it was found out).
    """
    from pipcachex.lastuse import last_used  # lastuse is a service above the cache package

    return last_used(path).records_reads is not False
