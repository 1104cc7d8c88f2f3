"""A remote archive brought to a local temp file once, so that restore reads the network once.

A restore reads its archive twice: once to verify all of it before anything changes, once to
write the files. From an object store, reading twice means downloading twice, and reading in
bounded ranges (what a streamed ``open`` does) costs a request per range. ``LocalCopy``
downloads the object in one streamed request into the temp directory (``TMPDIR``, ``TEMP``),
and both passes read that file. Where the temp directory has no room for the archive, or its
free space cannot be read, nothing is downloaded and the restore streams the object twice, as
before; ``note`` says why. The copy is removed when the restore ends, however it ends.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType
from typing import BinaryIO

from pipcachex import capabilities
from pipcachex.backup.catalog import ArchiveRef
from pipcachex.backup.location import RemoteReader, RemoteStore, StoredFile, Upload

ProgressCallback = Callable[[int, int], None]
#: Room left free in the temp directory beyond the archive itself.
SPARE_BYTES = 64 << 20


class LocalCopy:
    """A context that may download a remote archive; ``ref`` is what restore should read.

    Use it as ``with LocalCopy(ref) as copy:``, then ``copy.fetch(on_progress)`` when
    ``copy.wanted``; ``copy.ref`` is then the local copy, under the remote archive's name and
    label (messages and JSON still name the object), and ``copy.note`` tells when it is not.
    """

    def __init__(self, ref: ArchiveRef, directory: str | None = None) -> None:
        self.ref = ref
        self.note: str | None = None
        self.size = 0
        self._directory = directory
        self._path: str | None = None
        self.wanted = False
        if isinstance(ref.store, RemoteStore):
            self._decide(ref.store)

    def _decide(self, store: RemoteStore) -> None:
        self.size = store.size(self.ref.name)
        directory = self._directory or tempfile.gettempdir()
        self._directory = directory
        usage = capabilities.disk_usage(directory)
        if usage is None:
            self.note = (
                f"cannot tell the free space in {directory}: reading {self.ref.label} twice "
                "from its store instead of downloading it once"
            )
        elif usage[0] < self.size + SPARE_BYTES:
            self.note = (
                f"{directory} has {usage[0]} bytes free, too few for a copy of the "
                f"{self.size}-byte archive: reading it twice from its store instead "
                "(set TMPDIR to a directory with room to download it once)"
            )
        else:
            self.wanted = True

    def fetch(self, on_progress: ProgressCallback | None = None) -> ArchiveRef:
        """Download the archive (StorageError when that fails) and return the local copy."""
        if not self.wanted:
            return self.ref
        assert self._directory is not None
        fd, path = tempfile.mkstemp(prefix="pipcachex-restore-", suffix=".tar", dir=self._directory)
        os.close(fd)
        self._path = path
        store = self.ref.store
        assert isinstance(store, RemoteStore)
        store.download(self.ref.name, path, on_progress)
        self.ref = ArchiveRef(
            _Downloaded(store, self.ref.name, path), self.ref.name, self.ref.label, self.ref.chosen
        )
        return self.ref

    def __enter__(self) -> LocalCopy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._path is not None:
            with suppress(OSError):  # Windows: still open somewhere; the temp dir is cleaned
                os.unlink(self._path)
            self._path = None


class _Downloaded:
    """The store of a downloaded archive: it opens the local copy and shows the remote name."""

    remote = True

    def __init__(self, store: RemoteStore, name: str, path: str) -> None:
        self._store = store
        self._name = name
        self._path = path
        self.label: str = store.label

    def display(self, name: str) -> str:
        """How ``name`` is shown: as in the remote store."""
        return self._store.display(name)

    def list(self) -> list[StoredFile]:
        """What the remote store holds."""
        return self._store.list()

    def open(self, name: str) -> BinaryIO | RemoteReader:
        """The local copy, for the archive it is a copy of; anything else from the store."""
        if name == self._name:
            return open(self._path, "rb", buffering=0)
        return self._store.open(name)

    def create(self, name: str, *, unique: bool = False) -> Upload:
        """Start writing to the remote store."""
        return self._store.create(name, unique=unique)

    def exists(self, name: str) -> bool:
        """Whether the remote store has ``name``."""
        return self._store.exists(name)

    def delete(self, name: str) -> None:
        """Remove ``name`` from the remote store."""
        self._store.delete(name)
