"""A persistent memo of HTTP-entry attribution, so a second scan need not reopen every entry.

Attributing an HTTP entry means opening its metadata and peeking into its body; on a cache of
100,000 entries that is most of a scan's cost, and the answer never changes while the files do
not. The memo keeps each entry's answer keyed by its layout and file name (see ``memo_key``),
stamped with the size, mtime (ns) and inode of its metadata and body files. pip never rewrites
a file in place (it writes a temporary file and renames it), so a changed entry always has a
different stamp and is attributed afresh. Entries whose reading failed for a passing reason
(a transient ``ProblemCode``: unreadable, vanished) are never memoised.

The memo lives in pipcachex's own cache directory (``PIPCACHEX_MEMO_DIR`` overrides it; an empty
value turns the memo off), never in pip's cache, and is written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import msgpack
from platformdirs import user_cache_dir

from pipcachex.atomic import atomic_output
from pipcachex.cache.identify import Identity
from pipcachex.cache.model import PROBLEM_CODES, Kind, Problem

FORMAT = 5
_KINDS = {kind.value: kind for kind in Kind}
Stamp = tuple[int, ...]
#: Bytes in a key (see ``memo_key``): the layout's digit and the 28 bytes of the name.
KEY_LENGTH = 29


def memo_directory() -> Path | None:
    """Where memos are kept, or None when ``PIPCACHEX_MEMO_DIR`` is set empty (memo off)."""
    configured = os.environ.get("PIPCACHEX_MEMO_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    return Path(user_cache_dir("pipcachex")) / "attribution"


def memo_key(http_v2: bool, name: str) -> bytes:
    """The memo's key for the HTTP entry named ``name`` (its 56-digit hex file name).

    The name is a digest of the URL, so its 28 bytes and the layout stand for the whole path
    at half the memory.
    """
    return (b"2" if http_v2 else b"1") + bytes.fromhex(name)


def stamp_of(meta: os.stat_result, body: os.stat_result | None) -> Stamp:
    """The stamp of an entry's files: a change to either of them changes the stamp."""
    if body is None:
        return (meta.st_size, meta.st_mtime_ns, meta.st_ino, -1, -1, -1)
    return (
        meta.st_size,
        meta.st_mtime_ns,
        meta.st_ino,
        body.st_size,
        body.st_mtime_ns,
        body.st_ino,
    )


class _Unchanged(Exception):
    """The scan learned nothing new: keep the memo file as it is."""


class AttributionMemo:
    """The memo for one cache root: look up and record during a scan, inside ``recording()``.

    Records stay packed (msgpack bytes) until looked up, and the new memo is written while the
    scan goes: each record leaves memory once it is written, so a scan that holds 100,000
    entries does not also hold two copies of the memo (unpacked, the records took some 80 MB;
    packed and held to the end, some 25 MB). The file is a stream of msgpack values: a header
    map, then one ``[key, record]`` pair per entry.
    """

    def __init__(self, root: Path, directory: Path | None) -> None:
        digest = hashlib.sha256(str(root.absolute()).encode()).hexdigest()[:32]
        self._path = directory / f"{digest}.msgpack" if directory is not None else None
        self._root = str(root.absolute())
        self._known: dict[bytes, bytes] = {}
        self._loaded = 0
        self._kept = 0
        self._dirty = False
        self._packer = msgpack.Packer(use_bin_type=True)
        self._pending = bytearray()
        self._sink: BinaryIO | None = None
        # A worker's memo reports to the scanning process instead (see report_to_parent).
        self._report_kept = bytearray()
        self._report_learnt: list[tuple[bytes, Stamp, Identity]] | None = None
        if self._path is not None:
            self._load()

    def _load(self) -> None:
        assert self._path is not None
        try:
            stream = msgpack.Unpacker(raw=False)
            stream.feed(self._path.read_bytes())
            header = next(stream)
            if not (
                isinstance(header, dict)
                and header.get("format") == FORMAT
                and header.get("root") == self._root
            ):
                return
            known = {}
            for key, record in stream:
                if type(key) is bytes and type(record) is bytes:
                    known[key] = record
        except (OSError, ValueError, TypeError, StopIteration, msgpack.UnpackException):
            return  # a missing, unreadable or foreign memo only costs time
        self._known, self._loaded = known, len(known)

    @property
    def known(self) -> int:
        """How many entries the memo knew when it was loaded (how big the last scan found it)."""
        return self._loaded

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Write what the scan inside the block looks up and records to a new memo file.

        It replaces the old one (atomically) when the block completes and the memo changed;
        an interrupted scan, or a memo that cannot be written, leaves the old file alone.
        """
        if self._path is None:
            yield
            return
        scan_failed = False
        try:
            with contextlib.ExitStack() as stack:
                with contextlib.suppress(OSError):
                    self._path.parent.mkdir(parents=True, exist_ok=True)
                    self._sink = stack.enter_context(atomic_output(self._path))
                self._put({"format": FORMAT, "root": self._root})
                try:
                    yield
                except BaseException:
                    scan_failed = True
                    raise
                self._flush()
                if self._sink is None or not (self._dirty or self._kept != self._loaded):
                    raise _Unchanged  # atomic_output then drops its temporary file
        except (_Unchanged, OSError):
            if scan_failed:
                raise
            # Nothing new, or the memo could not be written: it only ever saves time.
        finally:
            self._sink = None

    def report_to_parent(self) -> None:
        """Collect what lookups keep and ``record`` learns for ``take_report``; write nothing.

        This is a worker's memo (see ``cache.walkers``): the scanning process writes the file.
        """
        self._sink = None
        self._report_kept = bytearray()
        self._report_learnt = []

    def take_report(self) -> tuple[bytes, list[tuple[bytes, Stamp, Identity]]]:
        """The keys found valid (concatenated) and the entries learnt since the last report."""
        kept, learnt = bytes(self._report_kept), self._report_learnt or []
        self._report_kept, self._report_learnt = bytearray(), []
        return kept, learnt

    def keep_known(self, kept: bytes) -> None:
        """Keep the records of the keys a worker found valid (``take_report``'s ``kept``)."""
        known = self._known
        for start in range(0, len(kept), KEY_LENGTH):
            key = kept[start : start + KEY_LENGTH]
            packed = known.pop(key, None)
            if packed is not None:
                self._kept += 1
                self._put((key, packed))

    def lookup(self, key: bytes, stamp: Stamp) -> Identity | None:
        """The memoised identity of the entry at ``key`` if its files still have ``stamp``."""
        packed = self._known.pop(key, None)
        if type(packed) is not bytes:
            return None
        try:
            record = msgpack.unpackb(packed, use_list=False)
            if record[0] != stamp:
                return None
            code = record[5]
            problem = None if code is None else Problem(PROBLEM_CODES[code], record[6])
            identity = Identity(_KINDS[record[1]], record[2], record[3], record[4], problem)
        except (ValueError, TypeError, KeyError, IndexError, msgpack.UnpackException):
            return None  # a damaged record is attributed afresh
        # _keep, written out: this runs once per entry of every warm scan.
        self._kept += 1
        if self._sink is not None:
            self._pending += self._packer.pack((key, packed))
            if len(self._pending) >= 1 << 16:
                self._flush()
        elif self._report_learnt is not None:
            self._report_kept += key
        return identity

    def record(self, key: bytes, stamp: Stamp, identity: Identity) -> None:
        """Remember what attributing the entry at ``key`` found, unless it may change by itself."""
        if self._report_learnt is not None:
            self._report_learnt.append((key, stamp, identity))
            return
        self._dirty = True
        problem = identity.problem
        if problem is not None and problem.code.is_transient:
            return
        packed = msgpack.packb(
            [
                stamp,
                identity.kind.value,
                identity.package,
                identity.version,
                identity.filename,
                None if problem is None else problem.code.value,
                None if problem is None else problem.message,
            ]
        )
        self._keep(key, packed)

    def _keep(self, key: bytes, packed: bytes) -> None:
        self._kept += 1
        self._put([key, packed])

    def _put(self, value: object) -> None:
        if self._sink is None:
            return
        self._pending += self._packer.pack(value)
        if len(self._pending) >= 1 << 16:
            self._flush()

    def _flush(self) -> None:
        if self._sink is None:
            return
        try:
            self._sink.write(self._pending)
        except OSError:
            self._sink = None  # a full disk: give up on the memo, not on the scan
        self._pending.clear()
