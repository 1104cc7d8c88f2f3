"""Byte-level unit tests of pip's HTTP cache record reader (``pipcachex.cache.httpmeta``).

The reader decodes msgpack by hand so that a legacy record's body (possibly hundreds of MB) is
never loaded. Every input here is built with the msgpack package, as cachecontrol builds the
records pip writes, or is that encoding cut short, garbled, or given lengths it does not have.
"""

from __future__ import annotations

import io
import random
import struct
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest

from pipcachex.cache import httpmeta
from pipcachex.cache.httpmeta import Blob, HttpRecord, RecordError, parse_small_record, read_record

PREFIX = b"cc=4,"


def packed(value: object, **options: Any) -> bytes:
    """``value`` as msgpack, binary values as ``bin`` (cachecontrol's ``use_bin_type=True``)."""
    data: bytes = msgpack.packb(value, use_bin_type=True, **options)
    return data


def record(
    *,
    body: bytes = b"",
    headers: dict[str, Any] | None = None,
    status: object = 200,
    vary: object = None,
    **extra: object,
) -> bytes:
    """A metadata file as cachecontrol writes it, with the parts a test wants to change."""
    response: dict[str, object] = {
        "body": body,
        "headers": {"Content-Type": "text/html", "Content-Length": str(len(body)), "ETag": '"x"'}
        if headers is None
        else headers,
        "status": status,
        "version": 11,
        "reason": "OK",
        "decode_content": False,
    }
    top: dict[str, object] = {"response": response, "vary": {} if vary is None else vary}
    top.update(extra)
    return PREFIX + packed(top)


def read(data: bytes) -> HttpRecord:
    """The streaming reader on ``data``, as the scanner calls it on a legacy file."""
    return read_record(io.BytesIO(data), len(data))


def decode_value(data: bytes) -> tuple[object, int]:
    """One msgpack value decoded by the hand-written reader, and where it stopped."""
    stream = io.BytesIO(data)
    value = httpmeta._Reader(stream, len(data)).value()
    return value, stream.tell()


def resolved(value: object, data: bytes) -> object:
    """``value`` with each ``Blob`` replaced by the bytes it points at in ``data``."""
    if isinstance(value, Blob):
        return data[value.offset : value.offset + value.length]
    if isinstance(value, list):
        return [resolved(v, data) for v in value]
    if isinstance(value, dict):
        return {k: resolved(v, data) for k, v in value.items()}
    return value


# -- every msgpack type, each width -------------------------------------------------------------

BIG_ARRAY = list(range(70_000))  # array32 (more than 65,535 items)
#: (name, value): decoded by the reader exactly as msgpack itself decodes them.
VALUES: list[tuple[str, object]] = [
    ("positive fixint", 0x7F),
    ("zero", 0),
    ("negative fixint", -32),
    ("uint8", 0xFF),
    ("uint16", 0xFFFF),
    ("uint32", 0xFFFF_FFFF),
    ("uint64", 2**64 - 1),
    ("int8", -128),
    ("int16", -(2**15)),
    ("int32", -(2**31)),
    ("int64", -(2**63)),
    ("float64", 1.5),
    ("nil", None),
    ("true", True),
    ("false", False),
    ("fixstr empty", ""),
    ("fixstr 31", "a" * 31),
    ("str8", "b" * 32),
    ("str16", "c" * 256),
    ("str32", "d" * 65_536),
    ("utf-8", "Größe ✓"),
    ("fixarray", [1, "two", None]),
    ("array16", list(range(16))),
    ("array32", BIG_ARRAY),
    ("fixmap", {"a": 1, "b": [2]}),
    ("map16", {f"k{i}": i for i in range(16)}),
    ("map32", {f"k{i}": i for i in range(65_536)}),
    ("int keys", {1: "one", -1: "minus one"}),
    ("nested", {"a": [{"b": [{"c": []}]}]}),
]


@pytest.mark.parametrize(("name", "value"), VALUES, ids=[v[0] for v in VALUES])
def test_each_msgpack_type_decodes_as_msgpack_decodes_it(name: str, value: object) -> None:
    data = packed(value)
    decoded, end = decode_value(data)
    assert decoded == msgpack.unpackb(data, raw=False, strict_map_key=False)
    assert end == len(data)


def test_float32_decodes_to_its_value() -> None:
    data = packed(0.25, use_single_float=True)
    assert data[0] == 0xCA
    assert decode_value(data) == (0.25, len(data))


#: (name, value, first byte): binary values and extension types stay in the file as a ``Blob``.
BLOBS: list[tuple[str, object, int]] = [
    ("bin8 empty", b"", 0xC4),
    ("bin8", b"\x00\xff" * 10, 0xC4),
    ("bin16", b"x" * 256, 0xC5),
    ("bin32", b"y" * 65_536, 0xC6),
    ("fixext1", msgpack.ExtType(1, b"a"), 0xD4),
    ("fixext2", msgpack.ExtType(2, b"ab"), 0xD5),
    ("fixext4", msgpack.ExtType(3, b"abcd"), 0xD6),
    ("fixext8", msgpack.ExtType(4, b"abcdefgh"), 0xD7),
    ("fixext16", msgpack.ExtType(5, b"p" * 16), 0xD8),
    ("ext8", msgpack.ExtType(6, b"q" * 3), 0xC7),
    ("ext16", msgpack.ExtType(7, b"r" * 256), 0xC8),
    ("ext32", msgpack.ExtType(8, b"s" * 65_536), 0xC9),
]


@pytest.mark.parametrize(("name", "value", "code"), BLOBS, ids=[b[0] for b in BLOBS])
def test_binary_and_extension_values_are_left_in_the_file(
    name: str, value: object, code: int
) -> None:
    data = packed([value, "after"])  # the reader must skip the value exactly to read "after"
    assert data[1] == code
    decoded, end = decode_value(data)
    assert isinstance(decoded, list) and isinstance(decoded[0], Blob)
    payload = value.data if isinstance(value, msgpack.ExtType) else value
    assert resolved(decoded, data) == [payload, "after"]
    assert end == len(data)


def test_unhashable_and_odd_keys_become_their_repr() -> None:
    data = b"\x82" + packed(None) + packed(1) + packed(b"k") + packed(2)  # {nil: 1, bin: 2}
    decoded, _ = decode_value(data)
    assert decoded == {"None": 1, "Blob(offset=5, length=1)": 2}


# -- whole records ------------------------------------------------------------------------------


def test_a_legacy_record_keeps_its_body_in_the_file() -> None:
    body = b"PK\x03\x04" + b"\x00" * 5000
    data = record(body=body, headers={"Content-Type": "application/zip", "X-Odd": "v"})
    parsed = read(data)
    assert parsed.status == 200
    assert parsed.headers == {"content-type": "application/zip", "x-odd": "v"}
    assert parsed.header("X-ODD") == "v" and parsed.header("missing") is None
    assert data[parsed.body.offset : parsed.body.offset + parsed.body.length] == body
    assert parsed.vary == {}


def test_the_body_is_skipped_not_read() -> None:
    """A 2 GB body claimed by the record is never read: the reader seeks past it."""

    class Seekable(io.RawIOBase):
        """A stream of ``size`` bytes that fails any read inside the body."""

        def __init__(self, head: bytes, tail: bytes, body_length: int) -> None:
            self.head, self.tail, self.body_length, self.position = head, tail, body_length, 0

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return True

        def tell(self) -> int:
            return self.position

        def seek(self, offset: int, whence: int = 0) -> int:
            self.position = offset + (self.position if whence == 1 else 0)
            return self.position

        def read(self, count: int = -1) -> bytes:
            body_end = len(self.head) + self.body_length
            if self.position < len(self.head):
                chunk = self.head[self.position : self.position + count]
            else:
                assert self.position >= body_end, "the body was read"
                start = self.position - body_end
                chunk = self.tail[start : start + count]
            self.position += len(chunk)
            return chunk

    length = 2 * 10**9
    head = PREFIX + b"\x81" + packed("response") + b"\x83" + packed("body")
    head += b"\xc6" + struct.pack(">I", length)
    tail = packed("status") + packed(200) + packed("headers") + packed({"A": "b"})
    stream = Seekable(head, tail, length)
    parsed = read_record(stream, len(head) + length + len(tail))  # type: ignore[arg-type]
    assert parsed.body == Blob(len(head), length)
    assert parsed.status == 200 and parsed.headers == {"a": "b"}


@dataclass(frozen=True)
class Good:
    """A well-formed record and what both readers must make of it."""

    name: str
    data: bytes
    status: int
    headers: dict[str, str]
    vary: dict[str, str]


GOOD = [
    Good(
        "http-v2 page",
        record(),
        200,
        {"content-type": "text/html", "content-length": "0", "etag": '"x"'},
        {},
    ),
    Good("redirect", record(status=301, headers={"Location": "/x/"}), 301, {"location": "/x/"}, {}),
    Good(
        "vary",
        record(vary={"Accept-Encoding": "gzip", "Accept": None}),
        200,
        {"content-type": "text/html", "content-length": "0", "etag": '"x"'},
        {"Accept-Encoding": "gzip", "Accept": "None"},
    ),
    Good(
        "no vary at all", PREFIX + packed({"response": {"status": 200, "headers": {}}}), 200, {}, {}
    ),
    Good(
        "urllib3 1.x strict field",
        PREFIX + packed({"response": {"body": b"", "headers": {}, "status": 200, "strict": 0}}),
        200,
        {},
        {},
    ),
    Good(
        "header values that are not text",
        record(headers={"N": 5, "B": True}),
        200,
        {"n": "5", "b": "True"},
        {},
    ),
    Good(
        "large status",
        record(status=2**40),
        2**40,
        {"content-type": "text/html", "content-length": "0", "etag": '"x"'},
        {},
    ),
    Good(
        "many headers (map16)",
        record(headers={f"H{i}": str(i) for i in range(20)}),
        200,
        {f"h{i}": str(i) for i in range(20)},
        {},
    ),
]


@pytest.mark.parametrize("good", GOOD, ids=[g.name for g in GOOD])
def test_well_formed_records_read_the_same_streamed_and_in_memory(good: Good) -> None:
    for parse in (read, parse_small_record):
        parsed = parse(good.data)
        assert (parsed.status, parsed.headers, parsed.vary) == (
            good.status,
            good.headers,
            good.vary,
        )
        assert parsed.body.length == 0


def test_an_in_memory_record_with_a_body_points_at_it() -> None:
    body = b"\x1f\x8b" + b"z" * 300
    data = record(body=body)
    parsed = parse_small_record(data)
    assert data[parsed.body.offset : parsed.body.offset + parsed.body.length] == body
    assert parsed == read(data)


@pytest.mark.parametrize(
    ("value", "length"),
    [
        ("123", 123),
        (" 42 ", 42),
        ("0", 0),
        ("-1", None),
        ("12.5", None),
        ("", None),
        ("many", None),
        (None, None),
    ],
)
def test_content_length_is_a_number_or_none(value: str | None, length: int | None) -> None:
    headers = {} if value is None else {"Content-Length": value}
    assert read(record(headers=headers)).content_length == length


# -- damage -------------------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b"\x91" * depth + b"\x00"


#: (name, file bytes, what the error says).
BAD: list[tuple[str, bytes, str]] = [
    ("empty file", b"", "metadata file is empty"),
    ("no prefix", packed({"response": {}}), "no 'cc=4,' prefix"),
    ("older serialisation", b"cc=2," + packed({}), "no 'cc=4,' prefix"),
    ("prefix alone", PREFIX, "record is truncated"),
    ("trailing bytes", record() + b"\x00", "trailing bytes after the record"),
    ("never-used byte 0xc1", PREFIX + b"\xc1", "invalid msgpack byte 0xc1"),
    ("not a map", PREFIX + packed([1, 2]), "no response map"),
    ("response not a map", PREFIX + packed({"response": "ok"}), "no response map"),
    ("no status", PREFIX + packed({"response": {"headers": {}}}), "lacks a status or headers"),
    ("status as text", record(status="200"), "lacks a status or headers"),
    (
        "headers not a map",
        PREFIX + packed({"response": {"status": 200, "headers": []}}),
        "lacks a status or headers",
    ),
    (
        "body as text",
        PREFIX + packed({"response": {"status": 200, "headers": {}, "body": "x"}}),
        "body is not binary",
    ),
    ("nested too deep", PREFIX + _nested(40), "nests too deeply"),
    # Lengths far beyond the file: refused before anything that large is read or allocated.
    ("huge bin32", PREFIX + b"\xc6\xff\xff\xff\xff", "record is truncated"),
    ("huge str32", PREFIX + b"\xdb\xff\xff\xff\xff" + b"abc", "record is truncated"),
    ("huge array32", PREFIX + b"\xdd\xff\xff\xff\xff", "record is truncated"),
    ("huge map32", PREFIX + b"\xdf\xff\xff\xff\xff", "record is truncated"),
    ("huge array16", PREFIX + b"\xdc\xff\xff", "record is truncated"),
    ("huge ext32", PREFIX + b"\xc9\xff\xff\xff\xff\x01", "record is truncated"),
    ("fixext past the end", PREFIX + b"\xd8\x01abc", "record is truncated"),
    ("str8 past the end", PREFIX + b"\xd9\x10abc", "record is truncated"),
    ("bin8 past the end", PREFIX + b"\xc4\x10abc", "record is truncated"),
    ("uint64 cut short", PREFIX + b"\xcf\x00\x01", "record is truncated"),
    ("length cut short", PREFIX + b"\xc6\x00", "record is truncated"),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD, ids=[b[0] for b in BAD])
def test_damaged_records_are_refused_in_words(name: str, data: bytes, message: str) -> None:
    for parse in (read, parse_small_record):
        with pytest.raises(RecordError) as raised:
            parse(data)
        assert message in str(raised.value), parse


def test_the_deepest_nesting_allowed_still_reads() -> None:
    limit = httpmeta._MAX_DEPTH
    assert decode_value(_nested(limit)) == (_nested_value(limit), limit + 1)
    with pytest.raises(RecordError, match="nests too deeply"):
        decode_value(_nested(limit + 1))


def _nested_value(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


def test_a_record_cut_anywhere_is_refused() -> None:
    data = record(body=b"body bytes", headers={"Content-Type": "application/octet-stream"})
    for cut in range(len(data)):
        with pytest.raises(RecordError) as raised:
            read(data[:cut])
        expected = "empty" if cut == 0 else "prefix" if cut < len(PREFIX) else "truncated"
        assert expected in str(raised.value), cut
        with pytest.raises(RecordError):
            parse_small_record(data[:cut])


def test_a_record_with_the_size_given_too_small_is_refused() -> None:
    """``size`` is the file's size as the scanner saw it: a body past it is damage."""
    data = record(body=b"x" * 100)
    inside_the_body = data.index(b"x" * 100) + 50
    with pytest.raises(RecordError, match="truncated"):
        read_record(io.BytesIO(data), inside_the_body)
    with pytest.raises(RecordError, match="trailing bytes"):
        read_record(io.BytesIO(data), len(data) - 1)


def test_garbage_after_the_prefix_is_only_ever_a_record_error() -> None:
    generator = random.Random(1234)
    good = record(body=b"abc" * 20)
    for _ in range(500):
        if generator.random() < 0.5:
            data = PREFIX + generator.randbytes(generator.randrange(1, 200))
        else:  # a real record with a few bytes flipped
            mutable = bytearray(good)
            for _ in range(generator.randrange(1, 4)):
                mutable[generator.randrange(len(PREFIX), len(mutable))] = generator.randrange(256)
            data = bytes(mutable)
        for parse in (read, parse_small_record):
            try:
                parsed = parse(data)
            except RecordError:
                continue
            assert isinstance(parsed.status, int) and isinstance(parsed.headers, dict)
            assert parsed.body.offset >= 0 and parsed.body.offset + parsed.body.length <= len(data)
