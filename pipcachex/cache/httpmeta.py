"""Parsing pip's HTTP cache records (cachecontrol's ``cc=4,`` + msgpack serialisation).

A legacy ``http/`` record carries the whole response body inside the msgpack map, which can be
hundreds of megabytes, so this reader never loads it: binary values are returned as ``Blob``
references (offset and length in the file) and skipped with a seek. Only the small parts, status
and headers, are decoded. An ``http-v2/`` record is small (its body lives in a file of its own),
so ``parse_small_record`` decodes it whole with the msgpack extension, several times faster.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import BinaryIO

import msgpack

PREFIX = b"cc=4,"
_MAX_DEPTH = 16


class RecordError(ValueError):
    """The record is not a readable cachecontrol v4 entry; the message says what is wrong."""


@dataclass(frozen=True)
class Blob:
    """A binary value left in the file: where it starts and how long it is."""

    offset: int
    length: int


@dataclass(frozen=True)
class HttpRecord:
    """The parts of a cached HTTP response pipcachex needs; header names are lower-cased."""

    status: int
    headers: dict[str, str]
    body: Blob
    vary: dict[str, str]

    def header(self, name: str) -> str | None:
        """Return a response header by case-insensitive name, or None."""
        return self.headers.get(name.lower())

    @property
    def content_length(self) -> int | None:
        """The ``Content-Length`` header as a number, when there is a sane one."""
        value = self.header("content-length")
        if value is None or not value.strip().isdigit():
            return None
        return int(value)


class _Reader:
    """Just enough of a msgpack decoder to walk a record without buffering its blobs."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._size = size

    def _take(self, count: int) -> bytes:
        data = self._stream.read(count)
        if len(data) != count:
            raise RecordError("record is truncated")
        return data

    def _blob(self, length: int) -> Blob:
        offset = self._stream.tell()
        if offset + length > self._size:
            raise RecordError("record is truncated")
        self._stream.seek(length, 1)
        return Blob(offset, length)

    def _text(self, length: int) -> str:
        if length > self._size:
            raise RecordError("record is truncated")
        return self._take(length).decode("utf-8", "replace")

    def value(self, depth: int = 0) -> object:
        if depth > _MAX_DEPTH:
            raise RecordError("record nests too deeply")
        code = self._take(1)[0]
        if code <= 0x7F:
            return code
        if code >= 0xE0:
            return code - 0x100
        if 0x80 <= code <= 0x8F:
            return self._map(code & 0x0F, depth)
        if 0x90 <= code <= 0x9F:
            return [self.value(depth + 1) for _ in range(code & 0x0F)]
        if 0xA0 <= code <= 0xBF:
            return self._text(code & 0x1F)
        simple: dict[int, object] = {0xC0: None, 0xC2: False, 0xC3: True}
        if code in simple:
            return simple[code]
        sized = {0xC4: ">B", 0xC5: ">H", 0xC6: ">I", 0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}
        if code in sized:
            fmt = sized[code]
            (length,) = struct.unpack(fmt, self._take(struct.calcsize(fmt)))
            return self._blob(length) if code <= 0xC6 else self._text(length)
        numbers = {
            0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
            0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
        }  # fmt: skip
        if code in numbers:
            fmt = numbers[code]
            return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]
        if code in (0xDC, 0xDD, 0xDE, 0xDF):
            fmt = ">H" if code in (0xDC, 0xDE) else ">I"
            (count,) = struct.unpack(fmt, self._take(struct.calcsize(fmt)))
            if count > self._size:
                raise RecordError("record is truncated")
            if code >= 0xDE:
                return self._map(count, depth)
            return [self.value(depth + 1) for _ in range(count)]
        fixext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
        if code in fixext:
            self._take(1)
            return self._blob(fixext[code])
        if code in (0xC7, 0xC8, 0xC9):
            fmt = {0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}[code]
            (length,) = struct.unpack(fmt, self._take(struct.calcsize(fmt)))
            self._take(1)
            return self._blob(length)
        raise RecordError(f"record has an invalid msgpack byte 0x{code:02x}")

    def _map(self, count: int, depth: int) -> dict[object, object]:
        result: dict[object, object] = {}
        for _ in range(count):
            key = self.value(depth + 1)
            result[key if isinstance(key, str | int) else repr(key)] = self.value(depth + 1)
        return result


def read_record(stream: BinaryIO, size: int) -> HttpRecord:
    """Parse the record in ``stream`` (``size`` bytes long) or raise ``RecordError``."""
    if size == 0:
        raise RecordError("metadata file is empty")
    if stream.read(len(PREFIX)) != PREFIX:
        raise RecordError("metadata is not a cachecontrol v4 record (no 'cc=4,' prefix)")
    top = _Reader(stream, size).value()
    if stream.tell() != size:
        raise RecordError("metadata has trailing bytes after the record")
    if not isinstance(top, dict) or not isinstance(top.get("response"), dict):
        raise RecordError("metadata has no response map")
    response: dict[object, object] = top["response"]
    status = response.get("status")
    headers = response.get("headers")
    body = response.get("body", Blob(0, 0))
    if not isinstance(status, int) or not isinstance(headers, dict):
        raise RecordError("metadata response lacks a status or headers")
    if not isinstance(body, Blob):
        raise RecordError("metadata response body is not binary")
    vary = top.get("vary")
    return HttpRecord(
        status=status,
        headers={str(k).lower(): str(v) for k, v in headers.items()},
        body=body,
        vary={str(k): str(v) for k, v in vary.items()} if isinstance(vary, dict) else {},
    )


def parse_small_record(data: bytes) -> HttpRecord:
    """Parse a whole record held in memory (an ``http-v2/`` metadata file) or raise ``RecordError``.

    Well-formed records with an empty body and plain string headers, which is every record pip
    writes in ``http-v2/``, are decoded by the msgpack extension; anything else (damage
    included) goes through ``read_record`` and is reported in its words.
    """
    fast = _decoded(data)
    if fast is not None:
        return fast
    return read_record(io.BytesIO(data), len(data))


def _decoded(data: bytes) -> HttpRecord | None:
    if not data.startswith(PREFIX):
        return None
    try:
        top = msgpack.unpackb(memoryview(data)[len(PREFIX) :], raw=False, unicode_errors="replace")
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    response = top.get("response") if isinstance(top, dict) else None
    if not isinstance(response, dict):
        return None
    status, headers, body = response.get("status"), response.get("headers"), response.get("body")
    vary = top.get("vary")
    if (
        type(status) is not int
        or not isinstance(headers, dict)
        or body != b""
        or not all(type(k) is str and type(v) is str for k, v in headers.items())
        or not (vary is None or isinstance(vary, dict))
        or (
            vary
            and not all(type(k) is str and type(v) in (str, type(None)) for k, v in vary.items())
        )
    ):
        return None
    return HttpRecord(
        status=status,
        headers={k.lower(): v for k, v in headers.items()},
        body=Blob(0, 0),
        vary={str(k): str(v) for k, v in vary.items()} if vary else {},
    )
