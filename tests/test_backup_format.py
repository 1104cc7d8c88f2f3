"""Byte-level unit tests of the backup format: what the writer produces, what the reader refuses.

Archives are written by ``backup_entries`` from small synthetic caches (real files in tmp_path,
entries built directly: no pip, no index), then taken apart member by member and damaged in
one precise way each. Every damage must be reported by the one-pass reader with its reason.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pipcachex.backup.format import (
    HEADER_NAME,
    INDEX_NAME,
    SEAL_NAME,
    ArchiveError,
    Compression,
    is_generated_name,
    safe_relative_path,
)
from pipcachex.backup.location import LocalStore, is_url, redact
from pipcachex.backup.reader import ArchiveReader, verify
from pipcachex.backup.table import FileTable
from pipcachex.backup.tar import BLOCK, end_of_archive
from pipcachex.backup.writer import backup_entries, generated_name, resolve_destination
from pipcachex.cache import CacheEntry, CacheFile, Kind, Layout
from pipcachex.errors import UsageError

FILES = {
    "http-v2/a/b/c/d/e/0123abcd": b"metadata" * 10,
    "http-v2/a/b/c/d/e/0123abcd.body": bytes(range(256)) * 5,
    "http-v2/a/b/c/d/f/empty.body": b"",
    "wheels/aa/bb/cc/" + "d" * 90 + "/naive_pkg-1.0-py3-none-any.whl": b"PK\x03\x04wheel",
}


def make_cache(root: Path, files: dict[str, bytes] = FILES) -> list[CacheEntry]:
    """Write ``files`` under ``root``; one entry per file, as the scanner would see them."""
    entries = []
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        info = path.stat()
        kind = Kind.BUILT_WHEEL if relative.startswith("wheels/") else Kind.DISTRIBUTION
        layout = Layout.WHEELS if relative.startswith("wheels/") else Layout.HTTP_V2
        member = CacheFile(str(path), info.st_size, info.st_mtime, info.st_atime)
        entries.append(CacheEntry(str(path), kind, layout, (member,), package="pkg"))
    return entries


@pytest.fixture
def plain(tmp_path: Path) -> bytes:
    """A plain-tar backup of FILES."""
    return write(tmp_path, "x.tar")


def write(tmp_path: Path, name: str, files: dict[str, bytes] = FILES) -> bytes:
    root = tmp_path / "cache"
    entries = make_cache(root, files)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    result = backup_entries(root, entries, out / name, default_dir=tmp_path / "unused")
    return Path(result.archive).read_bytes()


def read(data: bytes) -> tuple[dict[str, object], dict[str, bytes]]:
    header, table = verify(io.BytesIO(data), "test.tar")
    return {"files": header.files, "size": header.size}, {
        r.path: bytes.fromhex(r.sha256) for r in table
    }


# -- taking a tar apart and putting it together ------------------------------------------------

Member = tuple[str, bytes]  # (name, raw bytes: headers, data and padding)


def members(data: bytes) -> list[Member]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [
            (m.name, data[m.offset : m.offset_data + m.size + (-m.size % BLOCK)])
            for m in tar.getmembers()
        ]


def assemble(parts: list[Member]) -> bytes:
    body = b"".join(raw for _, raw in parts)
    return body + end_of_archive(len(body))


def raw_member(name: str, data: bytes, kind: bytes = tarfile.REGTYPE, **pax: str) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    info.type = kind
    info.linkname = "target" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    info.pax_headers = dict(pax)
    payload = data if info.size else b""
    return info.tobuf(tarfile.PAX_FORMAT) + payload + bytes(-len(payload) % BLOCK)


def find(parts: list[Member], name: str) -> int:
    return next(i for i, (n, _) in enumerate(parts) if n == name)


def first_file(parts: list[Member]) -> int:
    return next(i for i, (n, _) in enumerate(parts) if n.endswith(".body") and "empty" not in n)


def resealed(parts: list[Member], index_data: bytes) -> list[Member]:
    """``parts`` with a new index and a seal that matches it (so only deeper checks fail)."""
    header_data = member_data(parts[0][1])
    seal = {
        "format": "pipcachex-backup-seal",
        "header_sha256": hashlib.sha256(header_data).hexdigest(),
        "index_sha256": hashlib.sha256(index_data).hexdigest(),
        "files": len(parts) - 3,
        "size": sum(len(member_data(raw)) for n, raw in parts if n.startswith("cache/")),
    }
    i, s = find(parts, INDEX_NAME), find(parts, SEAL_NAME)
    new = list(parts)
    new[i] = (INDEX_NAME, raw_member(INDEX_NAME, index_data))
    new[s] = (SEAL_NAME, raw_member(SEAL_NAME, json.dumps(seal).encode()))
    return new


def member_data(raw: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(raw + bytes(2 * BLOCK))) as tar:
        info = tar.next()
        assert info is not None
        stream = tar.extractfile(info)
        return stream.read() if stream else b""


# -- the writer --------------------------------------------------------------------------------


def test_writer_lays_out_header_files_index_seal(plain: bytes) -> None:
    parts = members(plain)
    names = [n for n, _ in parts]
    assert names == [HEADER_NAME, *(f"cache/{p}" for p in FILES), INDEX_NAME, SEAL_NAME]
    header = json.loads(member_data(parts[0][1]))
    assert header["format"] == "pipcachex-backup" and header["format_version"] == 2
    assert header["totals"] == {
        "entries": 4,
        "files": 4,
        "size": sum(len(d) for d in FILES.values()),
    }
    assert header["cache"]["layouts"] == ["http-v2", "wheels"]
    assert header["created"].endswith("Z") and header["selection"] is None
    lines = member_data(parts[-2][1]).splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["path"] for r in records] == list(FILES)
    for record in records:
        assert record["sha256"] == hashlib.sha256(FILES[record["path"]]).hexdigest()
        assert list(record) == ["path", "size", "mtime_ns", "atime_ns", "sha256"]
    seal = json.loads(member_data(parts[-1][1]))
    assert seal["index_sha256"] == hashlib.sha256(member_data(parts[-2][1])).hexdigest()
    assert seal["header_sha256"] == hashlib.sha256(member_data(parts[0][1])).hexdigest()
    # The archive ends with two zero blocks, padded to a whole 10 KiB record.
    assert len(plain) % (20 * BLOCK) == 0 and plain.endswith(bytes(2 * BLOCK))


def test_writer_headers_are_plain_ustar_and_pax_only_for_long_names(plain: bytes) -> None:
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        for info in tar.getmembers():
            assert info.type == tarfile.REGTYPE and info.mode == 0o644
            assert info.uid == 0 and info.gid == 0 and info.uname == ""
            assert (info.pax_headers != {}) == (len(info.name) > 100), info.name
        assert tar.extractfile("cache/" + next(iter(FILES))) is not None


@pytest.mark.parametrize(
    ("name", "compression", "magic"),
    [
        ("x.tar", Compression.NONE, b""),
        ("x.tar.gz", Compression.GZ, b"\x1f\x8b"),
        ("x.tar.xz", Compression.XZ, b"\xfd7zXZ\x00"),
        ("x.tar.zst", Compression.ZST, b"\x28\xb5\x2f\xfd"),
    ],
)
def test_every_compression_round_trips(
    tmp_path: Path, name: str, compression: Compression, magic: bytes
) -> None:
    pytest.importorskip("zstandard") if compression is Compression.ZST else None
    data = write(tmp_path, name)
    assert data.startswith(magic)
    totals, digests = read(data)
    assert totals["files"] == len(FILES)
    assert digests == {p: hashlib.sha256(d).digest() for p, d in FILES.items()}


def test_names_are_slash_separated_and_unique(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=timezone.utc)
    names = {generated_name(now, Compression.GZ) for _ in range(200)}
    assert len(names) == 200
    assert all(n.startswith("pipcachex-20260131T120000.123Z-") for n in names)
    assert all(is_generated_name(n) for n in names)
    with tarfile.open(fileobj=io.BytesIO(write(tmp_path, "x.tar"))) as tar:
        assert all("\\" not in n and not n.startswith("/") for n in tar.getnames())


@pytest.mark.parametrize(
    ("name", "generated"),
    [
        ("pipcachex-20260131T120000.123Z-a1b2c3.tar", True),
        ("pipcachex-20260131T120000.123Z-a1b2c3.tar.zst", True),
        ("pipcachex-20260131T120000Z.tar.gz", True),
        ("pipcachex-20260131T120000Z.tar.bz2", False),
        ("mine.tar", False),
        (".pipcachex-20260131T120000Z.tar", False),
        ("pipcachex-20260131T120000.123Z-a1b2c3.tar.partial", False),
    ],
)
def test_generated_names(name: str, generated: bool) -> None:
    assert is_generated_name(name) is generated


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("http-v2/a/b", None),
        ("wheels/aa/bb/x.whl", None),
        ("selfcheck/abc.json", None),
        ("selfcheck.json", None),
        ("wheels/.DS_Store", None),
        (".bashrc", "not part of pip's cache layout"),
        (".git/config", "not part of pip's cache layout"),
        ("notes.txt", "not part of pip's cache layout"),
        ("http-v2", "not part of pip's cache layout"),
        ("../escaped", "not a safe relative path"),
        ("/etc/passwd", "not a safe relative path"),
        ("http-v2/../../x", "not a safe relative path"),
        ("http-v2/./x", "not a safe relative path"),
        ("http-v2//x", "not a safe relative path"),
        ("http-v2\\x", "not a safe relative path"),
        ("C:/x", "not a safe relative path"),
        ("http-v2/a\0b", "not a safe relative path"),
        ("http-v2/" + "x" * 300, "too long"),
        ("http-v2/" + "/".join(["y" * 200] * 5), "too long"),
    ],
)
def test_member_paths(path: str, problem: str | None) -> None:
    if problem is None:
        assert safe_relative_path(path) == path
    else:
        with pytest.raises(ArchiveError, match=problem):
            safe_relative_path(path)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("s3://bucket/prefix/", "s3://bucket/prefix/"),
        ("s3://AKIA:secret@bucket/p", "s3://***@bucket/p"),
        ("az://c/p?sig=SECRET&se=1", "az://c/p?***"),
        ("https://user:pw@example.com/x", "https://***@example.com/x"),
    ],
)
def test_urls_are_redacted(url: str, shown: str) -> None:
    assert redact(url) == shown and is_url(url)


@pytest.mark.parametrize(
    ("to", "compression", "message"),
    [
        ("{tmp}/x.tar.gz", Compression.XZ, "names gz compression but --compression is xz"),
        ("{tmp}/missing/x.tar", None, "does not exist"),
        ("{tmp}/x.zip", None, "does not end in .tar"),
        ("{tmp}/cache/x.tar", None, "inside the cache directory"),
    ],
)
def test_destination_refusals(
    tmp_path: Path, to: str, compression: Compression | None, message: str
) -> None:
    (tmp_path / "cache").mkdir()
    with pytest.raises(UsageError, match=message):
        resolve_destination(
            to.format(tmp=tmp_path), tmp_path / "cache", compression, tmp_path / "d"
        )


def test_publishing_never_replaces_an_existing_archive(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (tmp_path / "taken.tar").write_bytes(b"someone else's")
    upload = store.create("taken.tar")
    upload.write(b"mine")
    assert upload.publish("taken.tar") is False
    assert (tmp_path / "taken.tar").read_bytes() == b"someone else's"
    assert upload.publish("free.tar") is True
    assert (tmp_path / "free.tar").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["free.tar", "taken.tar"]


# -- the reader: every kind of damage ----------------------------------------------------------

Damage = Callable[[bytes], bytes]


def _edit(change: Callable[[list[Member]], list[Member]]) -> Damage:
    return lambda data: assemble(change(members(data)))


def _flip_member(which: Callable[[list[Member]], int], offset: int = BLOCK + 3) -> Damage:
    def damage(data: bytes) -> bytes:
        parts = members(data)
        start = sum(len(raw) for _, raw in parts[: which(parts)])
        changed = bytearray(data)
        changed[start + offset] ^= 0x01
        return bytes(changed)

    return damage


def _truncate_at(where: Callable[[bytes], int]) -> Damage:
    return lambda data: data[: where(data)]


def _swap_files(parts: list[Member]) -> list[Member]:
    new = list(parts)
    new[1], new[2] = new[2], new[1]
    return new


def _planted(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE, **pax: str) -> Damage:
    def change(parts: list[Member]) -> list[Member]:
        return [parts[0], (name, raw_member(name, data, kind, **pax)), *parts[1:]]

    return _edit(change)


def _replace_header(document: bytes) -> Damage:
    return _edit(lambda p: [(HEADER_NAME, raw_member(HEADER_NAME, document)), *p[1:]])


def _header_with(**changes: object) -> Damage:
    def change(parts: list[Member]) -> list[Member]:
        header = json.loads(member_data(parts[0][1]))
        header.update(changes)
        return [(HEADER_NAME, raw_member(HEADER_NAME, json.dumps(header).encode())), *parts[1:]]

    return _edit(change)


def _index_edit(edit: Callable[[bytes], bytes]) -> Damage:
    def change(parts: list[Member]) -> list[Member]:
        return resealed(parts, edit(member_data(parts[find(parts, INDEX_NAME)][1])))

    return _edit(change)


def _huge_pax(data: bytes) -> bytes:
    # A pax header claiming 1.5 GB: refused from its size field, nothing allocated.
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = 1_500_000_000
    block = info.tobuf(tarfile.USTAR_FORMAT)
    return block + data[BLOCK:]


def _huge_header_member(data: bytes) -> bytes:
    info = tarfile.TarInfo(HEADER_NAME)
    info.size = 1_500_000_000
    return info.tobuf(tarfile.USTAR_FORMAT) + bytes(10 * BLOCK)


def _bad_checksum(data: bytes) -> bytes:
    changed = bytearray(data)
    start = len(members(data)[0][1])
    changed[start + 10] ^= 0x01  # the name of the second member's header
    return bytes(changed)


def _gnu(data: bytes) -> bytes:
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(data)) as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as dst,
    ):
        for info in src.getmembers():
            dst.addfile(info, src.extractfile(info))
    return out.getvalue()


def _gz(data: bytes) -> bytes:
    return gzip.compress(data)


def _foreign_tar(data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("README.md")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    return out.getvalue()


DAMAGES: list[tuple[str, Damage, str]] = [
    ("empty file", lambda d: b"", "end-of-archive|ends"),
    ("not a tar", lambda d: b"hello world\n" * 100, "not a backup"),
    ("another tar", _foreign_tar, "not a pipcachex backup"),
    ("truncated in the header member", _truncate_at(lambda d: BLOCK + 10), "ends inside"),
    ("truncated in a file", _truncate_at(lambda d: len(members(d)[0][1]) + BLOCK + 100), "ends"),
    ("truncated before the index", _truncate_at(lambda d: d.index(b"pipcachex/index")), "ends"),
    ("truncated before the seal", _truncate_at(lambda d: d.index(b"pipcachex/seal")), "ends"),
    ("truncated after the seal", _truncate_at(lambda d: d.rindex(b"}") + 2), "ends"),
    ("end marker cut to one block", _truncate_at(lambda d: d.rindex(b"}") + 2 + 500), "end"),
    (
        "flipped byte in the header",
        _flip_member(lambda p: 0, BLOCK + 20),
        "malformed|seal|not a pipcachex",
    ),
    ("flipped byte in a file", _flip_member(first_file), "does not match its recorded"),
    ("flipped byte in the index", _flip_member(lambda p: find(p, INDEX_NAME)), "index|malformed"),
    ("flipped byte in the seal", _flip_member(lambda p: find(p, SEAL_NAME), BLOCK + 30), "seal"),
    ("flipped byte in a tar header", _bad_checksum, "checksum"),
    ("garbage after the end", lambda d: d + b"garbage", "follows the end"),
    ("a member after the seal", _edit(lambda p: [*p, p[1]]), "follows its seal"),
    ("a file missing", _edit(lambda p: [p[0], *p[2:]]), "missing|lists"),
    ("files reordered", _edit(_swap_files), "reordered"),
    ("a file twice", _edit(lambda p: [p[0], p[1], p[1], *p[2:]]), "appears twice"),
    ("an extra file", _planted("cache/http-v2/planted"), "missing, extra or reordered"),
    ("no seal", _edit(lambda p: p[:-1]), "no seal"),
    ("no index", _edit(lambda p: [*p[:-2], p[-1]]), "unexpected member|index"),
    ("header not first", _edit(lambda p: [p[1], p[0], *p[2:]]), "not a pipcachex backup"),
    ("a stray metadata member", _planted("pipcachex/extra.json"), "unexpected member"),
    ("a member outside cache/", _planted("etc/passwd"), "unexpected member"),
    ("dot-dot member", _planted("cache/../escaped"), "not a safe relative path"),
    ("dotfile at the top", _planted("cache/.bashrc"), "not part of pip's cache layout"),
    ("git config at the top", _planted("cache/.git/config"), "not part of pip's cache layout"),
    ("300-character name", _planted("cache/http-v2/" + "n" * 300), "too long"),
    ("symlink member", _planted("cache/http-v2/l", kind=tarfile.SYMTYPE), "symbolic link"),
    ("hard link member", _planted("cache/http-v2/l", kind=tarfile.LNKTYPE), "hard link"),
    ("directory member", _planted("cache/http-v2/d", kind=tarfile.DIRTYPE), "directory"),
    ("char device member", _planted("cache/http-v2/c", kind=tarfile.CHRTYPE), "character device"),
    ("block device member", _planted("cache/http-v2/b", kind=tarfile.BLKTYPE), "block device"),
    ("fifo member", _planted("cache/http-v2/f", kind=tarfile.FIFOTYPE), "fifo"),
    ("contiguous member", _planted("cache/http-v2/c", kind=tarfile.CONTTYPE), "contiguous"),
    ("old-style member", _planted("cache/http-v2/o", kind=tarfile.AREGTYPE), "old-style"),
    ("GNU dialect", _gnu, "not POSIX ustar|GNU"),
    ("unknown pax record", _planted("cache/http-v2/p", comment="x"), "pax record 'comment'"),
    ("pax header of 1.5 GB", _huge_pax, "more than the 65536 allowed"),
    ("header member of 1.5 GB", _huge_header_member, "more than the 16777216 allowed"),
    ("header behind a BOM", _replace_header(b"\xef\xbb\xbf{}"), "malformed"),
    ("header not JSON", _replace_header(b"not json"), "malformed"),
    ("header of another format", _header_with(format="other"), "not a pipcachex backup"),
    ("format version 1", _header_with(format_version=1), "version 1 is not supported"),
    ("header changed, seal not", _header_with(created="2000-01-01T00:00:00.000Z"), "seal"),
    (
        "index line padded behind a BOM",
        _index_edit(lambda i: b"\xef\xbb\xbf" + b" " * 10_000 + i),
        "too long",
    ),
    ("index lists a path twice", _index_edit(lambda i: i + i.splitlines(True)[0]), "lists"),
    ("index lies about a size", _index_edit(lambda i: i.replace(b'"size":0', b'"size":1')), "size"),
    ("index without final newline", _index_edit(lambda i: i[:-1]), "newline"),
    ("index line not JSON", _index_edit(lambda i: b"{oops\n" + i), "malformed"),
    ("gzip truncated", lambda d: _gz(d)[: len(_gz(d)) // 2], "ends early|ends"),
    ("gzip flipped", lambda d: _gz(d)[:30] + bytes([_gz(d)[30] ^ 0xFF]) + _gz(d)[31:], "damaged"),
    ("gzip with garbage after it", lambda d: _gz(d) + b"junk", "follows the end"),
    ("xz truncated", lambda d: lzma.compress(d)[:-20], "ends early|damaged"),
]


@pytest.mark.parametrize(
    ("damage", "expected"), [(d, e) for _, d, e in DAMAGES], ids=[n for n, _, _ in DAMAGES]
)
def test_every_damage_is_detected(plain: bytes, damage: Damage, expected: str) -> None:
    damaged = damage(plain)
    assert damaged != plain
    with pytest.raises(ArchiveError, match=expected):
        read(damaged)


def test_the_undamaged_archive_reads(plain: bytes) -> None:
    """The baseline of the table above: the same archive, untouched, and re-assembled, reads."""
    assert read(plain)[0]["files"] == len(FILES)
    assert read(assemble(members(plain)))[0]["files"] == len(FILES)
    # A re-sealed but unchanged index is fine too, so the index edits above test the edit.
    assert read(_index_edit(lambda i: i)(plain))[0]["files"] == len(FILES)


def _second_pass(data: bytes, expected: FileTable) -> None:
    reader = ArchiveReader(io.BytesIO(data), "test.tar", expected=expected)
    for member in reader.members():
        for _ in member.chunks():
            pass


def _later_times(index: bytes) -> bytes:
    return re.sub(rb'"mtime_ns":(\d+)', lambda m: b'"mtime_ns":%d' % (int(m[1]) + 1), index)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [(d, f"{e}|changed since it was verified") for _, d, e in DAMAGES]
    + [
        # Whole and sealed, but not the archive the first pass verified:
        (_index_edit(_later_times), "changed since it was verified"),
        (_edit(lambda p: [p[0], *p[2:]]), "changed since it was verified|lists"),
    ],
    ids=[n for n, _, _ in DAMAGES] + ["index times changed, resealed", "a file fewer"],
)
def test_a_second_pass_refuses_any_change(plain: bytes, damage: Damage, expected: str) -> None:
    """Restore's second pass keeps no table of its own: it checks against the first's."""
    _, table = verify(io.BytesIO(plain), "test.tar")
    _second_pass(plain, table)  # the same archive passes
    with pytest.raises(ArchiveError, match=expected):
        _second_pass(damage(plain), table)
    assert len(table) == len(FILES)  # never grown by the second pass


def test_zstd_damage_is_detected(tmp_path: Path) -> None:
    pytest.importorskip("zstandard")
    data = write(tmp_path, "x.tar.zst")
    for damaged in (data[:-10], data + b"junk", data[:20] + bytes([data[20] ^ 0xFF]) + data[21:]):
        with pytest.raises(ArchiveError):
            read(damaged)


def test_a_bomb_costs_no_memory(plain: bytes) -> None:
    """A gzip stream of a gigabyte of zeros behind a valid header is refused while bounded."""
    import tracemalloc

    first = members(plain)[0][1]
    zeros = gzip.compress(first + bytes(200 << 20), compresslevel=1)
    tracemalloc.start()
    with pytest.raises(ArchiveError):
        read(zeros)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 << 20, peak


def test_reader_does_not_depend_on_the_platform_separator(
    plain: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sep", "\\")
    assert set(read(plain)[1]) == set(FILES)


def test_zstd_without_its_package_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "zstandard", None)  # an import of it now fails
    monkeypatch.setitem(sys.modules, "compression.zstd", None)
    (tmp_path / "cache").mkdir()
    with pytest.raises(UsageError, match=r"pipcachex\[zstd\]"):
        resolve_destination(str(tmp_path / "x.tar.zst"), tmp_path / "cache", None, tmp_path)
    with pytest.raises(UsageError, match=r"pipcachex\[zstd\]"):
        resolve_destination(str(tmp_path), tmp_path / "cache", Compression.ZST, tmp_path)
