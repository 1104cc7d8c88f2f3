"""Where backups live: a local directory or any fsspec URL (``s3://``, ``gs://``, ``az://``…).

A ``Store`` is one directory or prefix. It lists what is there, opens an archive for streaming
reads, deletes, and creates new archives through an ``Upload``: written under a hidden
temporary name (``.<name>.<random>.partial``) and published under its final name only once
complete, never over an existing archive. Locally the final step is a hard link (which fails
if the name is taken) and an unlink; remotely, where objects appear only once an upload
completes, it is an existence check and a server-side move. Credentials are the backend's own
(environment, profiles); a URL's user info and query are redacted from everything shown.
"""

from __future__ import annotations

import errno
import inspect
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit, urlunsplit

from pipcachex.atomic import fsync_directory
from pipcachex.errors import PipcachexError, UsageError

PARTIAL_SUFFIX = ".partial"
#: Part size of remote uploads (S3's minimum is 5 MiB) and read-ahead of remote reads: what
#: memory they cost.
REMOTE_BLOCK = 8 << 20
READ_BLOCK = 4 << 20
_EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "adl": "azure",
}
_OBJECT_STORES = frozenset(_EXTRAS)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS |= getattr(os, "O_BINARY", 0)


class StorageError(PipcachexError):
    """A backup location cannot be listed, read or written: exit 1."""


@dataclass(frozen=True)
class StoredFile:
    """A file (or object) in a store: its name, size, and modification time when known."""

    name: str
    size: int
    mtime: float | None


class Upload(Protocol):
    """An archive being written: ``write``, then ``publish`` or ``abort``."""

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def publish(self, name: str) -> bool: ...

    def abort(self) -> None: ...


class Store(Protocol):
    """A directory or prefix holding backups."""

    label: str
    remote: bool

    def display(self, name: str) -> str: ...

    def list(self) -> list[StoredFile]: ...

    def open(self, name: str) -> Any: ...

    def create(self, name: str, *, unique: bool = False) -> Upload:
        """Start writing ``name``; ``unique``: a generated name nobody else will pick."""

    def exists(self, name: str) -> bool: ...

    def delete(self, name: str) -> None:
        """Remove ``name``; FileNotFoundError when it is gone already."""


def is_url(text: str) -> bool:
    """Whether ``text`` names a remote location (a URL other than ``file://``)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isascii() and scheme.replace("-", "").replace("+", "").isalnum()


def redact(url: str) -> str:
    """``url`` with any user info and query replaced by ``***``: safe to show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def temp_name(name: str) -> str:
    """The hidden name an archive called ``name`` is written under until it is complete."""
    return f".{name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"


def is_partial_name(name: str) -> bool:
    """Whether ``name`` is a temporary name of an archive being (or once being) written."""
    return name.startswith(".pipcachex-") and name.endswith(PARTIAL_SUFFIX)


class LocalStore:
    """A local directory of backups."""

    remote = False

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.label = str(directory)

    def display(self, name: str) -> str:
        """How the archive ``name`` in this store is shown."""
        return str(self.directory / name)

    def list(self) -> list[StoredFile]:
        """The files directly in the directory (an absent directory holds none)."""
        found: list[StoredFile] = []
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    with suppress(OSError):
                        if entry.is_file(follow_symlinks=False):
                            info = entry.stat(follow_symlinks=False)
                            found.append(StoredFile(entry.name, info.st_size, info.st_mtime))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(f"cannot list {self.label}: {exc.strerror or exc}") from None
        return sorted(found, key=lambda f: f.name)

    def open(self, name: str) -> BinaryIO:
        """The archive ``name``, open for reading."""
        return open(self.directory / name, "rb", buffering=0)

    def create(self, name: str, *, unique: bool = False) -> LocalUpload:
        """Start writing an archive that will be called ``name`` (or another name, see publish)."""
        return LocalUpload(self.directory, name)

    def exists(self, name: str) -> bool:
        """Whether something is called ``name`` in the directory."""
        return os.path.lexists(self.directory / name)

    def delete(self, name: str) -> None:
        """Remove the file ``name``."""
        os.unlink(self.directory / name)


class LocalUpload:
    """An archive written to a hidden temp file, fsynced, and linked to its name when done."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.temp = directory / temp_name(name)
        self._fd: int | None = os.open(self.temp, _CREATE_FLAGS, 0o600)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes to the temp file."""
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def publish(self, name: str) -> bool:
        """Give the complete archive its name; False (nothing changed) when the name is taken."""
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        final = self.directory / name
        try:
            os.link(self.temp, final)
        except FileExistsError:
            return False
        except OSError:
            # No hard links here (some network and FAT file systems): claim the name with an
            # exclusive create, then move the archive over that empty placeholder.
            try:
                os.close(os.open(final, _CREATE_FLAGS, 0o600))
            except FileExistsError:
                return False
            os.replace(self.temp, final)
        else:
            os.unlink(self.temp)
        fsync_directory(self.directory)
        return True

    def abort(self) -> None:
        """Throw the temp file away."""
        if self._fd is not None:
            with suppress(OSError):
                os.close(self._fd)
            self._fd = None
        with suppress(OSError):
            os.unlink(self.temp)


class RemoteStore:
    """A prefix in an object store (or any fsspec file system)."""

    remote = True

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.label = redact(self.url) + "/"
        self.protocol = url.partition("://")[0].lower()
        self.fs, self.root = _filesystem(url, self.protocol)
        self.root = self.root.rstrip("/")

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def display(self, name: str) -> str:
        """How the archive ``name`` in this store is shown."""
        return self.label + name

    def list(self) -> list[StoredFile]:
        """The objects directly under the prefix."""
        with remote_errors(f"cannot list {self.label}"):
            try:
                entries = self.fs.ls(self.root, detail=True, refresh=True)
            except FileNotFoundError:
                self._check_container()
                return []
        found = []
        for entry in entries:
            if entry.get("type") != "file":
                continue
            name = str(entry["name"]).rstrip("/").rpartition("/")[2]
            modified = entry.get("LastModified") or entry.get("mtime") or entry.get("created")
            mtime = modified.timestamp() if hasattr(modified, "timestamp") else None
            found.append(StoredFile(name, int(entry.get("size") or 0), mtime))
        return sorted(found, key=lambda f: f.name)

    def _check_container(self) -> None:
        if self.protocol in _OBJECT_STORES:
            bucket = self.root.strip("/").split("/")[0]
            if bucket and not self.fs.exists(bucket):
                raise StorageError(f"{redact(self.protocol + '://' + bucket)} does not exist")

    def open(self, name: str) -> RemoteReader:
        """The object ``name``, open for streaming reads (read-ahead bounded)."""
        with remote_errors(f"cannot read {self.display(name)}"):
            return RemoteReader(self.fs.open(self._path(name), "rb", block_size=READ_BLOCK))

    def size(self, name: str) -> int:
        """The size of the object ``name``, in bytes."""
        with remote_errors(f"cannot read {self.display(name)}"):
            return int(self.fs.size(self._path(name)))

    def download(
        self, name: str, path: str, on_progress: Callable[[int, int], None] | None = None
    ) -> None:
        """Copy the object ``name`` to the local file ``path``, streamed in one request.

        s3fs would fetch a large object in parallel parts held in memory (ten of 50 MiB by
        default); one request keeps memory bounded and reads the object once, in order.
        """
        options: dict[str, Any] = {}
        if "max_concurrency" in _parameters(getattr(self.fs, "_get_file", None)):
            options["max_concurrency"] = 1  # an s3fs that downloads in parallel parts
        callback = None
        if on_progress is not None:
            from fsspec.callbacks import Callback

            report = on_progress

            def hook(size: int | None, value: int, **_: Any) -> None:
                report(value, max(size or 0, value))

            callback = Callback(hooks={"progress": hook})
        if callback is not None:
            options["callback"] = callback
        with remote_errors(f"cannot read {self.display(name)}"):
            self.fs.get_file(self._path(name), path, **options)

    def create(self, name: str, *, unique: bool = False) -> RemoteUpload:
        """Start uploading an archive that will be called ``name``.

        An object store shows an upload only once it is complete (a multipart upload until it
        is completed, a single one until it is whole), so a ``unique`` name there is uploaded
        to directly: no temporary object, and no copy of the whole archive to move it.
        """
        return RemoteUpload(self, name, direct=unique and self.protocol in _OBJECT_STORES)

    def exists(self, name: str) -> bool:
        """Whether an object called ``name`` is there."""
        with remote_errors(f"cannot read {self.display(name)}"):
            return bool(self.fs.exists(self._path(name)))

    def delete(self, name: str) -> None:
        """Remove the object ``name``; FileNotFoundError when it is gone already.

        Another prune may have removed it since this one listed the location: the caller
        must be able to tell that (what was asked for is true) from a delete that failed.
        """
        with remote_errors(f"cannot delete {self.display(name)}"):
            try:
                self.fs.rm(self._path(name))
                return
            except FileNotFoundError:
                pass  # raised below, outside remote_errors, which would make it a failure
        raise FileNotFoundError(errno.ENOENT, "no such object", self.display(name))


class RemoteReader:
    """A remote object being read; whatever the backend raises becomes an OSError."""

    def __init__(self, file: Any) -> None:
        self._file = file

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (fewer only at the end of the object)."""
        try:
            return bytes(self._file.read(size))
        except OSError:
            raise
        except Exception as exc:
            raise OSError(describe_error(exc)) from None

    def close(self) -> None:
        """Close the object (errors closing a read are of no consequence)."""
        with suppress(Exception):
            self._file.close()


class RemoteUpload:
    """A streamed upload to a temporary object, moved to its name once complete."""

    def __init__(self, store: RemoteStore, name: str, *, direct: bool = False) -> None:
        self.store = store
        self.name = name
        self.direct = direct
        self.temp = store._path(name if direct else temp_name(name))
        with remote_errors(f"cannot write {store.display(name)}"):
            self._file: Any = store.fs.open(self.temp, "wb", block_size=REMOTE_BLOCK)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send bytes (a part goes up whenever a block is full)."""
        self._file.write(data)

    def publish(self, name: str) -> bool:
        """Complete the upload, then move it to ``name`` unless an object has that name."""
        fs = self.store.fs
        final = self.store._path(name)
        if self.direct:
            # Completing the upload would replace an object that appeared meanwhile (a name
            # made to be unique: it does not happen, but it must never cost someone's backup).
            if name != self.name or fs.exists(final):
                self.abort()
                raise StorageError(
                    f"{self.store.display(name)} appeared while it was uploaded; "
                    "nothing was replaced"
                )
            self._file.close()
            self._file = None
            return True
        if self._file is not None:
            self._file.close()
            self._file = None
        if fs.exists(final):
            with suppress(Exception):
                fs.rm(self.temp)
            return False
        fs.mv(self.temp, final)
        return True

    def abort(self) -> None:
        """Abandon the upload: nothing is completed, the temporary object removed if it was."""
        file, self._file = self._file, None
        if file is not None:
            discard = getattr(file, "discard", None)
            with suppress(Exception):
                if discard is not None:
                    discard()  # s3fs and others abort a multipart upload
            # Marked closed, never closed: closing (even by the garbage collector) would
            # complete the upload of what was written so far.
            with suppress(Exception):
                file.closed = True
            with suppress(Exception):
                file.close = lambda: None
        if not self.direct:  # uploaded directly, the name may be someone else's by now
            with suppress(Exception):
                self.store.fs.rm(self.temp)


def _parameters(function: Any) -> frozenset[str]:
    """The names of ``function``'s parameters (none when it has no readable signature)."""
    try:
        return frozenset(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return frozenset()


def _filesystem(url: str, protocol: str) -> tuple[Any, str]:
    extra = _EXTRAS.get(protocol)
    hint = (
        f"pip install 'pipcachex[{extra}]'"
        if extra
        else f"install the fsspec backend for {protocol}://"
    )
    try:
        import fsspec.core
    except ImportError:
        raise UsageError(f"{protocol}:// locations need fsspec: {hint}") from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError:
        raise UsageError(f"{protocol}:// locations need their backend: {hint}") from None
    except ValueError as exc:
        message = str(exc)
        if "Protocol not known" in message or "not known" in message:
            raise UsageError(f"unknown URL scheme {protocol}:// ({hint})") from None
        raise UsageError(f"invalid location {redact(url)}: {message}") from None
    return fs, str(path)


@contextmanager
def remote_errors(action: str) -> Iterator[None]:
    """Turn whatever a backend raises into a StorageError saying ``action`` and why."""
    try:
        yield
    except (PipcachexError, KeyboardInterrupt):
        raise
    except FileNotFoundError as exc:
        raise StorageError(f"{action}: not found ({describe_error(exc)})") from None
    except PermissionError as exc:
        raise StorageError(f"{action}: access denied ({describe_error(exc)})") from None
    except Exception as exc:
        raise StorageError(f"{action}: {describe_error(exc)}") from None


def describe_error(exc: BaseException) -> str:
    """An exception as one line for a message, any URL in it redacted, at most 300 characters."""
    text = str(exc) or type(exc).__name__
    # Backends sometimes quote the URL they were given: show it redacted, on one line.
    words = [redact(word) if "://" in word else word for word in text.split()]
    line = " ".join(words)
    return line if len(line) <= 300 else line[:297] + "..."


def store_for(text: str | os.PathLike[str]) -> Store:
    """The store a location names (a local directory path or a URL)."""
    value = os.fspath(text)
    if value.startswith("file://"):
        return LocalStore(Path(value[len("file://") :]))
    if is_url(value):
        return RemoteStore(value)
    return LocalStore(Path(value))


def now_seconds() -> float:
    """The current time (a function, so that tests can ask about ages)."""
    return time.time()
