"""Deeper integrity checks of scanned entries: what ``verify`` adds to the scanner's cheap checks.

The scanner already marks the damage it meets while attributing an entry (bad metadata, orphaned
halves, stale temp files, Content-Length mismatches, unreadable archive headers, undecodable
index pages, zero-byte files, empty wheel directories). This module reads further, and only when
asked: a built wheel's zip directory and its ``origin.json``, a distribution body whose headers
name a project but whose bytes are no archive at all, and with ``deep`` every zip member's CRC,
every tar member and the whole of an encoded index page. Files are read without moving atime.
"""

from __future__ import annotations

import json
import os
import tarfile
import zipfile
import zlib
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, BinaryIO

from pipcachex.cache.archives import ARCHIVE_ERRORS, ZIP_MAGIC, decompressing, is_compressed_tar
from pipcachex.cache.attribute import SMALL_RECORD_BYTES, unreadable_problem
from pipcachex.cache.fileio import open_untouched, read_untouched, window
from pipcachex.cache.httpmeta import HttpRecord, RecordError, parse_small_record, read_record
from pipcachex.cache.identify import body_problem, page_decoder, page_encoding, page_problem
from pipcachex.cache.model import CacheEntry, Kind, Layout, Problem, ProblemCode

_CHUNK = 1024 * 1024
#: The problems that are about an HTTP entry's body rather than its metadata file.
_BODY_CODES = frozenset({ProblemCode.BODY_LENGTH, ProblemCode.BAD_BODY, ProblemCode.BAD_PAGE})
_DAMAGED = Problem(ProblemCode.BAD_BODY, "damaged")


@dataclass(frozen=True)
class Finding:
    """What is wrong with one entry: the file that is wrong (``path``) and the problem.

    ``problem.code.is_damage`` tells damage (removing the entry is the repair) from an entry
    that could not be read, which cannot be judged and is never removed as damaged.
    """

    entry: CacheEntry
    path: str
    problem: Problem


def find_damage(entry: CacheEntry, *, deep: bool = False) -> Finding | None:
    """Return what is wrong with ``entry``, or None when it reads as intact.

    Entries the scanner already marked damaged are reported with the scanner's problem, entries
    it could not read as unreadable; others are read further (see the module docstring). An
    entry a pip is writing right now is left alone.
    """
    if entry.kind is Kind.DAMAGED:
        return Finding(entry, _culprit(entry), entry.problem or _DAMAGED)
    if entry.problem is not None and entry.problem.code is ProblemCode.UNREADABLE:
        # The scanner does not say which of the files it could not read: the first one that
        # this user may not read is the one to show.
        unreadable = (f.path for f in entry.files if not os.access(f.path, os.R_OK))
        return Finding(entry, next(unreadable, entry.path), entry.problem)
    if entry.busy or entry.kind in (Kind.UNKNOWN, Kind.PIP_STATE):
        return None
    try:
        if entry.layout is Layout.WHEELS:
            return _check_wheel_dir(entry, deep)
        if entry.layout in (Layout.HTTP, Layout.HTTP_V2) and entry.kind in (
            Kind.DISTRIBUTION,
            Kind.INDEX_PAGE,
        ):
            return _check_http(entry, deep)
    except FileNotFoundError:
        return None  # pip replaced or removed it since the scan: nothing left to judge
    except OSError as exc:
        return Finding(entry, getattr(exc, "filename", None) or entry.path, unreadable_problem(exc))
    return None


def _culprit(entry: CacheEntry) -> str:
    """The file a scanner-reported problem is about: the body for body problems, else the anchor."""
    code = entry.problem.code if entry.problem is not None else None
    if code in _BODY_CODES:
        body = next((f.path for f in entry.files if f.suffix == ".body"), None)
        if body is not None:
            return body
    if code is ProblemCode.ZERO_BYTE_WHEEL:
        zero = next((f.path for f in entry.files if f.size == 0 and f.name.endswith(".whl")), None)
        if zero is not None:
            return zero
    return entry.path


def _check_wheel_dir(entry: CacheEntry, deep: bool) -> Finding | None:
    for member in entry.files:
        if member.directory != entry.path:
            continue  # build directories are pip's business while it builds
        if member.path.endswith(".whl"):
            with open_untouched(member.path) as handle:
                problem = _zip_problem(handle, deep)
            if problem is not None:
                return Finding(
                    entry, member.path, Problem(ProblemCode.BAD_WHEEL, f"built wheel {problem}")
                )
        elif member.name == "origin.json":
            with open_untouched(member.path) as handle:
                raw = handle.read(_CHUNK * 4)
            try:
                document = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                reason = "empty" if not raw else "not valid JSON"
                return Finding(entry, member.path, _origin(reason))
            if not isinstance(document, dict) or not isinstance(document.get("url"), str):
                return Finding(entry, member.path, _origin("no source url"))
    return None


def _origin(reason: str) -> Problem:
    return Problem(ProblemCode.BAD_ORIGIN, f"origin.json is unreadable ({reason})")


def _zip_problem(handle: BinaryIO, deep: bool) -> str | None:
    """Say why ``handle`` is not a sound zip (central directory; with ``deep`` every CRC)."""
    try:
        with zipfile.ZipFile(handle) as archive:
            if deep:
                bad = archive.testzip()
                if bad is not None:
                    return f"is a zip with a corrupt member {bad!r} (CRC mismatch)"
    except ARCHIVE_ERRORS as exc:
        return f"is not a readable zip archive ({exc})"
    return None


def _tar_problem(handle: BinaryIO) -> str | None:
    """Say why ``handle`` is not a sound tar archive, reading every member to its end."""
    try:
        # tarfile stops at the end-of-archive marker and never reaches the compressed stream's
        # own checksum, so the whole stream is decompressed once first to test that checksum.
        stream = _decompressed(handle)
        if stream is not None:
            with stream:
                while stream.read(_CHUNK):
                    pass
            handle.seek(0)
        with tarfile.open(fileobj=handle, mode="r|*") as archive:
            for member in archive:
                if member.isfile():
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        while extracted.read(_CHUNK):
                            pass
    except ARCHIVE_ERRORS as exc:
        return f"is not a readable tar archive ({exc})"
    return None


def _decompressed(handle: BinaryIO) -> IO[bytes] | None:
    """The decompressing reader a compressed tar needs, or None for a plain tar."""
    magic = handle.read(6)
    handle.seek(0)
    return decompressing(magic, handle)


def _check_http(entry: CacheEntry, deep: bool) -> Finding | None:
    body_file = next((f for f in entry.files if f.path.endswith(".body")), None)
    meta_size = next(f.size for f in entry.files if f.path == entry.path)
    with ExitStack() as stack:
        try:
            if body_file is not None and meta_size <= SMALL_RECORD_BYTES:
                # An http-v2 record, small and apart from its body: read whole and decoded by
                # the msgpack extension, not byte by byte from the file (a third of verify).
                record = parse_small_record(read_untouched(entry.path, meta_size))
            else:
                meta = stack.enter_context(open_untouched(entry.path))
                record = read_record(meta, meta_size)
        except RecordError as exc:
            return Finding(entry, entry.path, Problem(ProblemCode.BAD_METADATA, str(exc)))
        if body_file is not None:
            body = stack.enter_context(open_untouched(body_file.path))
            body_path = body_file.path
        else:
            body = window(meta, record.body.offset, record.body.length)
            body_path = entry.path
        if entry.kind is Kind.INDEX_PAGE:
            message = _page_problem(record, body) if deep else None
            problem = None if message is None else page_problem(message)
        else:
            message = _distribution_problem(entry, record, body, deep)
            problem = None if message is None else body_problem(message)
    return Finding(entry, body_path, problem) if problem else None


def _distribution_problem(
    entry: CacheEntry, record: HttpRecord, body: BinaryIO, deep: bool
) -> str | None:
    magic = body.read(8)
    body.seek(0)
    if magic.startswith(ZIP_MAGIC):
        return _prefixed(_zip_problem(body, deep)) if deep else None
    if is_compressed_tar(magic) and not record.header("content-encoding"):
        return _prefixed(_tar_problem(body)) if deep else None
    if magic.startswith(b"Metadata-Version:"):
        return None
    if entry.filename is None and entry.package is not None:
        # The headers name a distribution, but the bytes are neither a zip, a tar nor metadata.
        return "body is not the wheel, zip or tar archive its headers describe"
    return None


def _prefixed(problem: str | None) -> str | None:
    return None if problem is None else f"body {problem}"


def _page_problem(record: HttpRecord, body: BinaryIO) -> str | None:
    """Decode an encoded index page to its very end (the scanner stops after 8 MB)."""
    encoding = page_encoding(record)
    try:
        decoder = page_decoder(encoding, body)
    except ValueError as exc:
        return f"index page {exc}"
    if decoder is None:
        return None
    try:
        while chunk := body.read(_CHUNK):
            while chunk:
                decoder.decompress(chunk, _CHUNK)
                chunk = decoder.unconsumed_tail
        decoder.flush()
    except zlib.error as exc:
        return f"index page does not decode as {encoding} ({exc})"
    if not decoder.eof:
        return f"index page {encoding} stream ends early"
    return None
