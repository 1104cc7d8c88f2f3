"""Proving a distribution file whole before it is exported: every byte read, every check passed.

A wheel or zip sdist must have a readable zip central directory and every member must decompress
to its recorded CRC; a wheel must also carry the ``.dist-info/METADATA`` its file name promises.
A tar sdist is read as a stream to its very end: every member, and the compressed stream's own
checksum (gzip's CRC and length), which ``tarfile`` alone never reaches. While reading, the whole
file's sha256 is taken, for comparison with what the cache knows and for the exported index.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from email.parser import HeaderParser
from typing import BinaryIO

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pipcachex.cache import (
    ARCHIVE_ERRORS,
    ZIP_MAGIC,
    decompressing,
    parse_distribution_filename,
)

CHUNK = 1024 * 1024
SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")
_METADATA_LIMIT = 1024 * 1024
# A bug in a decompressor shows as RuntimeError too: the file is still not proven whole.
_ERRORS: tuple[type[Exception], ...] = (*ARCHIVE_ERRORS, RuntimeError)


@dataclass(frozen=True)
class Soundness:
    """What reading a whole distribution file found.

    ``problem`` is None when the file is whole; ``requires_python`` is the ``Requires-Python``
    of its core metadata, when it has one.
    """

    sha256: str
    size: int
    problem: str | None = None
    requires_python: str | None = None
    misnamed: bool = False
    """The problem is that its metadata names another project or version than its file name."""


class _Hashing(io.RawIOBase):
    """A sequential reader that hashes and counts every byte read through it."""

    def __init__(self, base: BinaryIO) -> None:
        super().__init__()
        self._base = base
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill ``buffer`` from the base file, hashing what came."""
        data = self._base.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def drain(self) -> None:
        """Read (and hash) whatever the archive reader left unread."""
        while self.read(CHUNK):
            pass


def sdist_suffix(filename: str) -> str | None:
    """The archive suffix of an sdist file name (``.tar.gz``, ``.zip``...), or None."""
    lowered = filename.lower()
    return next((s for s in SDIST_SUFFIXES if lowered.endswith(s)), None)


def check_distribution(handle: BinaryIO, filename: str) -> Soundness:
    """Read the distribution in ``handle`` (positioned at its start) to the end and judge it.

    ``filename`` says what it should be: a wheel (``.whl``), a zip sdist or a tar sdist.
    """
    if filename.endswith(".whl"):
        return _check_zip(handle, filename, wheel=True)
    suffix = sdist_suffix(filename)
    if suffix == ".zip":
        return _check_zip(handle, filename, wheel=False)
    if suffix is not None:
        return _check_tar(handle)
    digest, size = _hash_all(handle)
    return Soundness(digest, size, f"{filename!r} is not a wheel or sdist file name")


def _hash_all(handle: BinaryIO) -> tuple[str, int]:
    handle.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    handle.seek(0)
    return digest.hexdigest(), size


def _check_zip(handle: BinaryIO, filename: str, *, wheel: bool) -> Soundness:
    digest, size = _hash_all(handle)
    what = "wheel" if wheel else "zip sdist"
    if not handle.read(4).startswith(ZIP_MAGIC):
        return Soundness(digest, size, f"{what} is not a zip archive")
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            bad = _corrupt_member(archive)
            if bad is not None:
                return Soundness(digest, size, f"{what} member {bad}")
            metadata = _zip_metadata(archive, wheel)
    except _ERRORS as exc:
        return Soundness(digest, size, f"{what} is not a readable zip archive ({exc})")
    if metadata is None:
        if wheel:
            return Soundness(digest, size, "wheel has no .dist-info/METADATA")
        return Soundness(digest, size)
    problem = _names_match(metadata, filename) if wheel else None
    return Soundness(digest, size, problem, _requires_python(metadata), problem is not None)


def _corrupt_member(archive: zipfile.ZipFile) -> str | None:
    """Read every member to its end (zipfile checks the CRC there); say which one fails."""
    for info in archive.infolist():
        try:
            with archive.open(info) as member:
                while member.read(CHUNK):
                    pass
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            return f"{info.filename!r} is corrupt ({exc})"
    return None


def _zip_metadata(archive: zipfile.ZipFile, wheel: bool) -> str | None:
    names = archive.namelist()
    if wheel:
        wanted = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    else:
        wanted = [n for n in names if n.count("/") == 1 and n.endswith("/PKG-INFO")]
    if len(wanted) != 1 or archive.getinfo(wanted[0]).file_size > _METADATA_LIMIT:
        return None
    return archive.read(wanted[0]).decode("utf-8", "replace")


def _check_tar(handle: BinaryIO) -> Soundness:
    handle.seek(0)
    magic = handle.read(6)
    handle.seek(0)
    raw = _Hashing(handle)
    reader = io.BufferedReader(raw, CHUNK)
    metadata: str | None = None
    problem: str | None = None
    try:
        # The decompressor is not closed: it would close the hashing reader under it.
        stream = decompressing(magic, reader) or reader
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            members = 0
            for member in archive:
                members += 1
                if not member.isfile():
                    continue
                extracted = archive.extractfile(member)
                if extracted is None:
                    continue
                parts = member.name.lstrip("./").split("/")
                if len(parts) == 2 and parts[1] == "PKG-INFO" and member.size <= _METADATA_LIMIT:
                    metadata = extracted.read().decode("utf-8", "replace")
                while extracted.read(CHUNK):
                    pass
            if members == 0:
                problem = "sdist is an empty tar archive"
            # Reading past the tar's end-of-archive marker reaches the stream's own checksum.
            while stream.read(CHUNK):
                pass
    except _ERRORS as exc:
        problem = f"sdist is not a readable tar archive ({exc or type(exc).__name__})"
    reader.read()
    raw.drain()
    return Soundness(raw.digest.hexdigest(), raw.size, problem, _requires_python(metadata))


def _metadata_fields(text: str) -> dict[str, str]:
    headers = HeaderParser().parsestr(text, headersonly=True)
    return {key.lower(): str(value) for key, value in headers.items()}


def _requires_python(metadata: str | None) -> str | None:
    if metadata is None:
        return None
    value = _metadata_fields(metadata).get("requires-python", "").strip()
    return value or None


def _names_match(metadata: str, filename: str) -> str | None:
    """Say why a wheel's METADATA names another project or version than its file name."""
    parsed = parse_distribution_filename(filename)
    fields = _metadata_fields(metadata)
    if parsed is None:
        return f"{filename!r} is not a valid wheel file name"
    name, version = fields.get("name"), fields.get("version")
    if name is None or canonicalize_name(name) != parsed[0]:
        return f"wheel METADATA names project {name!r}, its file name {parsed[0]!r}"
    try:
        same = version is not None and Version(version) == Version(parsed[1])
    except InvalidVersion:
        same = False
    if not same:
        return f"wheel METADATA says version {version!r}, its file name {parsed[1]!r}"
    return None
