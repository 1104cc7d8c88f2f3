"""Where the bytes of each selected distribution are: the files an export reads or links.

An ``http-v2/`` distribution's ``.body`` is the file itself, byte for byte, and may be linked;
a legacy ``http/`` entry embeds the body after its msgpack record, so it can only be copied out
of the metadata file (from ``offset``, ``length`` bytes); a built-wheel directory holds one or
more ``.whl`` files. Damaged entries that were distributions are reported, never exported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from pipcachex.cache import (
    SMALL_RECORD_BYTES,
    TAR_MAGIC,
    ZIP_MAGIC,
    CacheEntry,
    HttpRecord,
    Kind,
    Layout,
    ProblemCode,
    RecordError,
    classify_content_type,
    open_untouched,
    parse_distribution_filename,
    parse_small_record,
    read_record,
    read_untouched,
    untouched_descriptor,
    window,
)
from pipcachex.export.model import SkipCode
from pipcachex.export.placing import read_at
from pipcachex.export.whole import sdist_suffix

_DISTRIBUTION_TYPES = {"bdist_wheel", "sdist"}


@dataclass(frozen=True)
class Source:
    """One distribution file held by the cache.

    ``path`` holds the bytes from ``offset`` for ``length`` bytes; ``whole_file`` says they are
    the whole file (so it may be linked). ``name`` is the file name the cache suggests, before
    the index pages are asked; ``headers`` the response's ``x-pypi-file-*`` project and version.
    """

    entry: CacheEntry
    path: str
    offset: int
    length: int
    mtime: float
    name: str | None
    whole_file: bool
    header_project: str | None = None
    header_version: str | None = None

    @property
    def key(self) -> str | None:
        """The HTTP cache key (the entry's 56-hex name) of a downloaded file."""
        return None if self.entry.layout is Layout.WHEELS else self.entry.name


@dataclass(frozen=True)
class Unusable:
    """A selected entry that was a distribution but cannot be exported, and why."""

    entry: CacheEntry
    path: str
    filename: str | None
    problem: str
    code: SkipCode = SkipCode.DAMAGED


def sources_of(entry: CacheEntry) -> tuple[list[Source], Unusable | None]:
    """The distribution files of ``entry`` (none for index pages, metadata...), or why not."""
    if entry.busy and entry.layout is not Layout.WHEELS:
        return [], None
    if entry.kind is Kind.BUILT_WHEEL:
        return _wheel_sources(entry), None
    if entry.kind is Kind.DISTRIBUTION and entry.layout in (Layout.HTTP, Layout.HTTP_V2):
        return _http_source(entry)
    if entry.kind is Kind.DAMAGED:
        return [], _damaged_distribution(entry)
    return [], None


def _wheel_sources(entry: CacheEntry) -> list[Source]:
    return [
        Source(entry, f.path, 0, f.size, f.mtime, f.name, True)
        for f in entry.files
        if f.directory == entry.path and f.name.endswith(".whl")
    ]


def _read_record(entry: CacheEntry) -> HttpRecord:
    meta = next(f for f in entry.files if f.path == entry.path)
    if entry.layout is Layout.HTTP_V2 and meta.size <= SMALL_RECORD_BYTES:
        return parse_small_record(read_untouched(meta.path, meta.size))
    with open_untouched(meta.path) as handle:
        return read_record(handle, meta.size)


def _http_source(entry: CacheEntry) -> tuple[list[Source], Unusable | None]:
    try:
        record = _read_record(entry)
    except (OSError, RecordError) as exc:
        return [], Unusable(
            entry,
            entry.path,
            entry.filename,
            f"metadata cannot be read: {exc}",
            SkipCode.UNREADABLE,
        )
    body = next((f for f in entry.files if f.path.endswith(".body")), None)
    if entry.filename is None:
        problem = "body is not the wheel, zip or tar archive its headers describe"
        where = body.path if body else entry.path
        return [], Unusable(entry, where, None, problem, SkipCode.NOT_WHOLE)
    name = _named_by_magic(entry, record, body.path if body else None)
    project, version = record.header("x-pypi-file-project"), record.header("x-pypi-file-version")
    if body is not None:
        source = Source(entry, body.path, 0, body.size, body.mtime, name, True, project, version)
    else:
        meta = next(f for f in entry.files if f.path == entry.path)
        source = Source(
            entry,
            meta.path,
            record.body.offset,
            record.body.length,
            meta.mtime,
            name,
            False,
            project,
            version,
        )
    return [source], None


def _named_by_magic(entry: CacheEntry, record: HttpRecord, body_path: str | None) -> str | None:
    """The scanner's file name, with a tar sdist's suffix made to say its real compression.

    The scanner calls every tar body ``<top>.tar.gz``; pip picks the decompressor by suffix.
    """
    name = entry.filename
    if name is None or sdist_suffix(name) != ".tar.gz":
        return name
    head = _head(entry, record, body_path)
    suffix = next((s for magic, s in TAR_MAGIC.items() if head.startswith(magic)), ".tar")
    return name[: -len(".tar.gz")] + suffix


def _head(entry: CacheEntry, record: HttpRecord, body_path: str | None) -> bytes:
    if body_path is not None:
        return read_untouched(body_path, 8)
    with untouched_descriptor(entry.path) as fd:
        return read_at(fd, 8, record.body.offset)


def _damaged_distribution(entry: CacheEntry) -> Unusable | None:
    """Report a damaged entry that was (as far as can be told) a distribution file."""
    problem = entry.problem.message if entry.problem is not None else "damaged"
    if entry.layout is Layout.WHEELS:
        stale = entry.problem is not None and entry.problem.code is ProblemCode.STALE_BUILD
        if stale or entry.filename is None:
            return None
        return Unusable(entry, entry.path, entry.filename, problem)
    if entry.layout not in (Layout.HTTP, Layout.HTTP_V2):
        return None
    meta = next((f for f in entry.files if f.path == entry.path), None)
    if meta is None or meta.path.endswith((".body", ".tmp")):
        return None  # an orphaned body or a temp file: nothing says what it was
    try:
        record = _read_record(entry)
    except (OSError, RecordError):
        if entry.layout is Layout.HTTP and _legacy_body_is_archive(entry.path):
            return Unusable(entry, entry.path, entry.filename, problem)
        return None  # unreadable metadata that says nothing of what it held: left to verify
    if record.status != 200 or classify_content_type(record) is not None:
        return None
    body = next((f for f in entry.files if f.path.endswith(".body")), None)
    if body is None and entry.layout is Layout.HTTP_V2:
        return None
    package_type = (record.header("x-pypi-file-package-type") or "").lower()
    try:
        head = _head(entry, record, body.path if body else None)
    except OSError:
        head = b""
    named = entry.filename is not None and parse_distribution_filename(entry.filename) is not None
    # A file download that is not a PEP 658 metadata file was a distribution, or garbage where
    # one should be: either way the user asked for it and does not get it.
    if (
        head.startswith(b"Metadata-Version:")
        and not named
        and package_type not in _DISTRIBUTION_TYPES
    ):
        return None
    return Unusable(entry, body.path if body else entry.path, entry.filename, problem)


def _legacy_body_is_archive(path: str) -> bool:
    """Whether a legacy entry cut short (headers unreadable) began a zip or tar body.

    pip writes the response map with ``body`` first, so the start of a truncated entry is
    ``cc=4,``, the two map headers, ``"body"`` and a msgpack bin header; the body's first bytes
    follow. Only said of entries the record reader already rejected.
    """
    try:
        head = read_untouched(path, 64)
    except OSError:
        return False
    marker = head.find(b"\xa4body")
    if not head.startswith(b"cc=4,") or marker < 0:
        return False
    at = marker + 5
    widths = {0xC4: 1, 0xC5: 2, 0xC6: 4}
    if at >= len(head) or head[at] not in widths:
        return False
    start = at + 1 + widths[head[at]]
    body = head[start : start + 8]
    return body.startswith(ZIP_MAGIC) or body.startswith(tuple(TAR_MAGIC))


@contextmanager
def opened(source: Source) -> Iterator[BinaryIO]:
    """A seekable, read-only view of exactly the source's bytes (atime left alone)."""
    with open_untouched(source.path) as handle:
        if source.whole_file:
            yield handle
        else:
            yield window(handle, source.offset, source.length)
