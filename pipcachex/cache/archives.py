"""What distribution archives look like: their magic bytes, how to decompress a tar, what
reading a broken one raises.

``verify --deep`` (``integrity``), the scanner's identification of a body (``identify``) and
``export``'s proof that a file is whole all recognise wheels, zip and tar sdists by their first
bytes and read them with the standard library; this module is the one place that knows how.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import tarfile
import zipfile
import zlib
from typing import IO, BinaryIO, cast

#: The first bytes of a zip archive (a wheel, a zip sdist): a local file header, or the end of
#: an empty archive's central directory.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: The first bytes of each compressed tar pip may cache, and the sdist suffix that goes with it.
TAR_MAGIC = {b"\x1f\x8b": ".tar.gz", b"BZh": ".tar.bz2", b"\xfd7zXZ\x00": ".tar.xz"}
#: What the standard library raises on a damaged zip, tar or compressed stream.
ARCHIVE_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
)


def is_compressed_tar(magic: bytes) -> bool:
    """Whether ``magic`` (a file's first bytes) starts a gzip, bzip2 or xz stream."""
    return magic.startswith(tuple(TAR_MAGIC))


def decompressing(magic: bytes, handle: BinaryIO) -> IO[bytes] | None:
    """A reader of ``handle`` decompressed as ``magic`` (its first bytes) says; None: plain."""
    if magic.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=handle, mode="rb"))
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(handle)
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(handle)
    return None
