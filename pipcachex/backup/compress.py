"""Compressing a backup as it is written, and decompressing it, bounded, as it is read.

gzip and xz come with Python; zstd comes from the standard library's ``compression.zstd``
(Python 3.14+) or else the ``zstandard`` package (``pipcachex[zstd]``). Readers recognise the
compression by its magic bytes, never by the file name. Every decompression step yields at
most ``CHUNK`` bytes, so a stream that expands a thousandfold costs no more memory than any
other.
"""

from __future__ import annotations

import importlib
import lzma
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from pipcachex.backup.format import CHUNK, Compression
from pipcachex.errors import UsageError

GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_MISSING = (
    "zstd compression needs the zstandard package: pip install 'pipcachex[zstd]' "
    "(or Python 3.14, whose standard library has it)"
)


class StreamError(ValueError):
    """The compressed stream is damaged, truncated or followed by something else."""


class Compressor(Protocol):
    """What every compressor offers: ``compress`` pieces, then ``flush`` the rest once."""

    def compress(self, data: bytes | bytearray | memoryview, /) -> bytes: ...

    def flush(self) -> bytes: ...


def _zstd_module() -> tuple[str, Any]:
    """The zstd implementation available: ("stdlib", compression.zstd) or ("zstandard", …)."""
    try:
        return "stdlib", importlib.import_module("compression.zstd")
    except ImportError:
        pass
    try:
        return "zstandard", importlib.import_module("zstandard")
    except ImportError:
        raise UsageError(ZSTD_MISSING) from None


def require(compression: Compression) -> None:
    """Raise UsageError (one line naming the extra) when ``compression`` is not available."""
    if compression is Compression.ZST:
        _zstd_module()


def compressor(compression: Compression) -> Compressor | None:
    """A fresh compressor for ``compression`` (None for a plain tar)."""
    if compression is Compression.GZ:
        # Level 1: wheels and sdists are compressed already; higher levels cost time for ~0.2%.
        return zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    if compression is Compression.XZ:
        return lzma.LZMACompressor(preset=6)
    if compression is Compression.ZST:
        kind, module = _zstd_module()
        if kind == "stdlib":
            return module.ZstdCompressor(level=3)  # type: ignore[no-any-return]
        return module.ZstdCompressor(level=3).compressobj()  # type: ignore[no-any-return]
    return None


def detect(first: bytes) -> Compression:
    """The compression whose magic ``first`` starts with (a plain tar otherwise)."""
    if first.startswith(GZIP_MAGIC):
        return Compression.GZ
    if first.startswith(XZ_MAGIC):
        return Compression.XZ
    if first.startswith(ZSTD_MAGIC):
        return Compression.ZST
    return Compression.NONE


Read = Callable[[int], bytes]


def decompressed(read: Read) -> Iterator[bytes]:
    """The tar bytes behind ``read`` (a file's ``read``), in pieces of at most CHUNK bytes.

    Raises StreamError when the compressed stream is damaged, ends early, or is followed by
    bytes that are not part of it.
    """
    first = read(CHUNK)
    kind = detect(first)
    try:
        if kind is Compression.GZ:
            yield from _bounded(read, first, zlib.decompressobj(16 + zlib.MAX_WBITS), "gzip")
        elif kind is Compression.XZ:
            yield from _bounded(read, first, lzma.LZMADecompressor(), "xz")
        elif kind is Compression.ZST:
            yield from _zstd(read, first)
        else:
            while first:
                yield first
                first = read(CHUNK)
    except (zlib.error, lzma.LZMAError, EOFError) as exc:
        raise StreamError(f"the {kind.value} stream is damaged: {exc}") from None


def _bounded(read: Read, data: bytes, engine: Any, name: str) -> Iterator[bytes]:
    """Drive a zlib or lzma decompressor, never letting one step yield more than CHUNK."""
    is_zlib = name == "gzip"
    while not engine.eof:
        if is_zlib:
            if not data:
                data = read(CHUNK)
                if not data:
                    raise StreamError(f"the {name} stream ends early")
            out = engine.decompress(data, CHUNK)
            data = engine.unconsumed_tail
        else:
            if engine.needs_input and not data:
                data = read(CHUNK)
                if not data:
                    raise StreamError(f"the {name} stream ends early")
            out = engine.decompress(data, CHUNK)
            data = b""
        if out:
            yield out
    # One stream, then nothing: appended bytes are not part of any backup.
    if engine.unused_data or data or read(1):
        raise StreamError(f"something follows the end of the {name} stream")


def _zstd(read: Read, first: bytes) -> Iterator[bytes]:
    kind, module = _zstd_module()
    if kind == "stdlib":
        yield from _bounded_zstd_stdlib(read, first, module)
        return
    reader = module.ZstdDecompressor().stream_reader(
        _Prefixed(read, first), read_size=CHUNK, read_across_frames=True
    )
    try:
        while chunk := reader.read(CHUNK):
            yield chunk
    except module.ZstdError as exc:
        raise StreamError(f"the zst stream is damaged: {exc}") from None


def _bounded_zstd_stdlib(read: Read, data: bytes, module: Any) -> Iterator[bytes]:
    engine = module.ZstdDecompressor()
    try:
        while not engine.eof:
            if engine.needs_input and not data:
                data = read(CHUNK)
                if not data:
                    raise StreamError("the zst stream ends early")
            out = engine.decompress(data, CHUNK)
            data = b""
            if out:
                yield out
    except module.ZstdError as exc:
        raise StreamError(f"the zst stream is damaged: {exc}") from None
    if engine.unused_data or read(1):
        raise StreamError("something follows the end of the zst stream")


class _Prefixed:
    """A readable object that returns ``first`` and then what ``read`` returns."""

    def __init__(self, read: Read, first: bytes) -> None:
        self._read = read
        self._first = first

    def read(self, size: int = -1) -> bytes:
        if self._first:
            data, self._first = self._first, b""
            return data
        return self._read(size if size > 0 else CHUNK)
