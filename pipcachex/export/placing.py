"""Putting a proven file into the export directory: reflink, hard link or copy, never half.

A whole-file source (an ``http-v2/`` body, a built wheel) is cloned copy-on-write where the file
system can (``FICLONE`` on Linux: btrfs, XFS, bcachefs...), else hard-linked, else copied; a
legacy body embedded in its metadata file is always copied. What the file system can do is
learnt from the first attempt and not asked again. Every write lands under its real name in one
step (``link`` of a finished temp file, which fails rather than replace an existing name), so a
crash or Ctrl-C leaves at most a hidden ``.<name>.*.tmp`` that is removed on the way out.
"""

from __future__ import annotations

import enum
import errno
import functools
import os
import sys
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from pipcachex.cache import untouched_descriptor

if TYPE_CHECKING:
    from pipcachex.export.sources import Source

_CHUNK = 1024 * 1024
# Linux's FICLONE ioctl number; fcntl only names it from Python 3.12 on.
_FICLONE = 0x40049409
_CANNOT = {
    errno.EXDEV,
    errno.EPERM,
    errno.EACCES,
    errno.EINVAL,
    errno.ENOTTY,
    errno.ENOSYS,
    errno.EOPNOTSUPP,
    errno.EMLINK,
    errno.EBADF,
    getattr(errno, "ENOTSUP", errno.EOPNOTSUPP),
}


class Method(str, enum.Enum):
    """How an exported file was made."""

    REFLINK = "reflink"
    HARDLINK = "hardlink"
    COPY = "copy"


class Placer:
    """Writes sources into one directory, learning what its file system allows."""

    def __init__(self, directory: Path, *, copy_only: bool) -> None:
        self.directory = directory
        self._reflink = not copy_only and sys.platform.startswith("linux")
        self._hardlink = not copy_only and hasattr(os, "link")
        self._link_names = hasattr(os, "link")

    def place(self, source: Source, filename: str) -> Method:
        """Make ``directory/filename`` hold the source's bytes; ``FileExistsError`` if taken."""
        target = self.directory / filename
        if source.whole_file and self._reflink:
            made = self._write(source, target, clone=True)
            if made:
                return Method.REFLINK
        if source.whole_file and self._hardlink and self._hard_link(source, target):
            return Method.HARDLINK
        self._write(source, target, clone=False)
        return Method.COPY

    def _hard_link(self, source: Source, target: Path) -> bool:
        try:
            before = os.stat(source.path)
            os.link(source.path, target, follow_symlinks=False)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno in _CANNOT:
                self._hardlink = False
                return False
            raise
        # pip may have replaced the body between the check and the link: then the link holds
        # bytes nobody checked, and is taken back for a copy of what was.
        after = os.stat(target)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) or (
            after.st_size != source.length
        ):
            target.unlink()
            return False
        return True

    def _write(self, source: Source, target: Path, *, clone: bool) -> bool:
        fd, temp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=self.directory
        )
        temp = Path(temp_name)
        try:
            try:
                with untouched_descriptor(source.path) as src:
                    if clone:
                        if not self._clone(src, fd):
                            return False
                    else:
                        _copy(src, fd, source.offset, source.length)
                publishable(fd)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._publish(temp, target)
            return True
        finally:
            with suppress(FileNotFoundError):
                temp.unlink()

    def _clone(self, src: int, dst: int) -> bool:
        import fcntl

        try:
            fcntl.ioctl(dst, getattr(fcntl, "FICLONE", _FICLONE), src)
        except OSError as exc:
            if exc.errno in _CANNOT:
                self._reflink = False
                return False
            raise
        return True

    def _publish(self, temp: Path, target: Path) -> None:
        """Give the finished temp file its real name, refusing to replace one that exists."""
        if self._link_names:
            try:
                os.link(temp, target)
                return
            except FileExistsError:
                raise
            except OSError as exc:
                if exc.errno not in _CANNOT:
                    raise
                self._link_names = False
        # Without hard links (some FAT or network mounts): a rename, after looking first.
        if target.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(target))
        os.replace(temp, target)


def read_at(fd: int, count: int, offset: int) -> bytes:
    """Up to ``count`` bytes of ``fd`` from ``offset`` (``os.pread`` where there is one)."""
    if hasattr(os, "pread"):
        return os.pread(fd, count, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, count)


def _copy(src: int, dst: int, offset: int, length: int) -> None:
    """Copy ``length`` bytes of ``src`` from ``offset`` into ``dst`` (in the kernel if it can)."""
    done = 0
    if hasattr(os, "copy_file_range"):
        try:
            while done < length:
                moved = os.copy_file_range(src, dst, length - done, offset + done)
                if moved == 0:
                    break
                done += moved
        except OSError as exc:
            if exc.errno not in _CANNOT:
                raise  # a full disk, an I/O error: the copy fails, it does not fall back
    # Positioned reads and writes where the system has them (not Windows): seek, then read.
    os.lseek(dst, done, os.SEEK_SET)
    while done < length:
        chunk = read_at(src, min(_CHUNK, length - done), offset + done)
        if not chunk:
            raise OSError(errno.EIO, "the source ended early")
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view) :]
        done += len(chunk)
    if done != length:
        raise OSError(errno.EIO, "the source ended early")


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    # The only way to read the umask is to set it; it is put back at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publishable(fd: int) -> None:
    """Give a temp file (``mkstemp`` makes it 0600) the mode an ordinary new file would get."""
    if hasattr(os, "fchmod"):
        with suppress(OSError):
            os.fchmod(fd, 0o666 & ~_umask())
