"""A persistent memo of HTTP-entry attribution, so a second scan need not reopen every entry.

Attributing an HTTP entry means opening its metadata and peeking into its body; on a cache of
100,000 entries that is most of a scan's cost, and the answer never changes while the files do
not. The memo keeps each entry's answer keyed by its layout and file name (see ``memo_key``),
stamped with the size, mtime (ns) and inode of its metadata and body files. pip never rewrites
a file in place (it writes a temporary file and renames it), so a changed entry always has a
different stamp and is attributed afresh. Entries whose reading failed for a passing reason
are never memoised.

The memo lives in pipcachex's own cache directory (``PIPCACHEX_MEMO_DIR`` overrides it; an empty
value turns the memo off), never in pip's cache, and is written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import msgpack
from platformdirs import user_cache_dir

from pipcachex.atomic import atomic_output
from pipcachex.cache.identify import Identity
from pipcachex.cache.model import Kind

FORMAT = 3
_TRANSIENT = ("cannot be read", "file vanished")
_KINDS = {kind.value: kind for kind in Kind}
Stamp = tuple[int, ...]


def memo_directory() -> Path | None:
    """Where memos are kept, or None when ``PIPCACHEX_MEMO_DIR`` is set empty (memo off)."""
    configured = os.environ.get("PIPCACHEX_MEMO_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    return Path(user_cache_dir("pipcachex")) / "attribution"


def memo_key(http_v2: bool, relative: str) -> bytes:
    """The memo's key for the HTTP entry at ``relative`` (its path below the cache root).

    An entry's file name is a 56-digit hex digest, so its 28 bytes (and the layout) stand for
    the whole path at half the memory; an entry anywhere else keeps its path.
    """
    name = relative.rpartition("/")[2]
    try:
        digest = bytes.fromhex(name)
    except ValueError:
        return b"p" + relative.encode("utf-8", "surrogateescape")
    return (b"2" if http_v2 else b"1") + digest


def stamp_of(*infos: os.stat_result | None) -> Stamp:
    """The stamp of an entry's files: a change to any of them changes the stamp."""
    values: list[int] = []
    for info in infos:
        if info is None:
            values += [-1, -1, -1]
        else:
            values += [info.st_size, info.st_mtime_ns, info.st_ino]
    return tuple(values)


class AttributionMemo:
    """The memo for one cache root: look up, record, and save what a scan learned.

    Each entry's record stays packed (msgpack bytes) until it is looked up: unpacked, 100,000
    records of small lists, ints and strings took some 80 MB, packed about a third of that.
    """

    def __init__(self, root: Path, directory: Path | None) -> None:
        digest = hashlib.sha256(str(root.absolute()).encode()).hexdigest()[:32]
        self._path = directory / f"{digest}.msgpack" if directory is not None else None
        self._root = str(root.absolute())
        self._known: dict[bytes, bytes] = {}
        # What this scan saw, carried over or new: saving it forgets entries that are gone.
        self._current: dict[bytes, bytes] = {}
        self._dirty = False
        if self._path is not None:
            self._load()

    def _load(self) -> None:
        assert self._path is not None
        try:
            data = msgpack.unpackb(self._path.read_bytes(), raw=False)
        except (OSError, ValueError, msgpack.UnpackException):
            return  # a missing or unreadable memo only costs time
        if (
            isinstance(data, dict)
            and data.get("format") == FORMAT
            and data.get("root") == self._root
        ):
            entries = data.get("entries")
            if isinstance(entries, dict):
                self._known = entries

    def lookup(self, key: bytes, stamp: Stamp) -> Identity | None:
        """The memoised identity of the entry at ``key`` if its files still have ``stamp``."""
        packed = self._known.get(key)
        if type(packed) is not bytes:
            return None
        try:
            record = msgpack.unpackb(packed, use_list=False)
            if record[0] != stamp:
                return None
            identity = Identity(_KINDS[record[1]], *record[2:6])
        except (ValueError, TypeError, KeyError, IndexError, msgpack.UnpackException):
            return None  # a damaged record is attributed afresh
        self._current[key] = packed
        return identity

    def record(self, key: bytes, stamp: Stamp, identity: Identity) -> None:
        """Remember what attributing the entry at ``key`` found, unless it may change by itself."""
        self._dirty = True
        if identity.problem is not None and identity.problem.startswith(_TRANSIENT):
            self._current.pop(key, None)
            return
        self._current[key] = msgpack.packb(
            [
                stamp,
                identity.kind.value,
                identity.package,
                identity.version,
                identity.filename,
                identity.problem,
            ]
        )

    def save(self) -> None:
        """Write the memo (forgetting entries this scan did not see), atomically, if it changed."""
        if self._path is None or not (self._dirty or len(self._current) != len(self._known)):
            return
        payload = msgpack.packb(
            {"format": FORMAT, "root": self._root, "entries": self._current}, use_bin_type=True
        )
        with contextlib.suppress(OSError):  # the memo is an optimisation: never fail a command
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(self._path) as handle:
                handle.write(payload)
