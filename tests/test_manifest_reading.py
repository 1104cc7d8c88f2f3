"""`restore` reading manifest.json as it streams by: every layout, odd splits, malformed records.

The streaming parser decides well-formed manifests by itself and leaves everything else to
``Manifest.from_bytes`` (``json.loads`` of the whole document), whose error messages stay the
reference: these tests check both halves of that promise through the command line.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke

import pipcachex.restore_directories
import pipcachex.tarstream
from pipcachex.archive import ArchiveError, Manifest
from pipcachex.records import FileTable, ManifestFile

Edit = Callable[[bytes], bytes]


@pytest.fixture(autouse=True)
def backup_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own default backups directory (never the user's data dir)."""
    directory = tmp_path / "backups"
    monkeypatch.setenv("PIPCACHEX_BACKUP_DIR", str(directory))
    return directory


@pytest.fixture
def whole_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the manifests read whole (the fallback), by wrapping ``Manifest.from_bytes``."""
    calls: list[int] = []
    original = Manifest.from_bytes.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Manifest], data: bytes, digest: str) -> Manifest:
        calls.append(len(data))
        return original(cls, data, digest)  # type: ignore[no-any-return]

    monkeypatch.setattr(Manifest, "from_bytes", classmethod(counting))
    return calls


def _archive(cache: Path, tmp_path: Path) -> Path:
    result = invoke(
        ["backup", "--json", "--cache-dir", str(cache), "--to", str(tmp_path / "a.tar")]
    )
    assert result.exit_code == 0, result.stderr
    return Path(result.json["archive"])


def _manifest_bytes(archive: Path) -> bytes:
    with tarfile.open(archive) as tar:
        stream = tar.extractfile("manifest.json")
        assert stream is not None
        return stream.read()


def _with_manifest(archive: Path, dest: Path, edit: Edit) -> Path:
    """Copy ``archive`` with its manifest rewritten by ``edit`` (and its digest made to match)."""
    with tarfile.open(archive) as src, tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as out:
        for info in src.getmembers():
            stream = src.extractfile(info)
            data = stream.read() if stream else b""
            if info.name == "manifest.json":
                data = edit(data)
                info.pax_headers = {"comment": "sha256=" + hashlib.sha256(data).hexdigest()}
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return dest


def _restore(cache: Path, archive: Path, *args: str) -> Any:
    result = invoke(
        ["restore", "--json", "--dry-run", "--cache-dir", str(cache), str(archive), *args]
    )
    return result.exit_code, result.json


def _reformat(**dumps: Any) -> Edit:
    return lambda data: json.dumps(json.loads(data), **dumps).encode()


def _files_first(data: bytes) -> bytes:
    document = json.loads(data)
    document = {"files": document.pop("files"), **document}
    # "files" first, and an empty "files" before it (the last one counts, as in json.loads).
    text = json.dumps(document, separators=(" ,\r\n", "\t:  "))
    return ('\r\n {"files" : [ ] ,' + text[1:]).encode()


def _duplicate_key(data: bytes) -> bytes:
    # The same key twice in the top-level object: json.loads keeps the last value.
    return data.replace(b'"format_version": 1', b'"format_version": 7, "format_version": 1', 1)


def _long_number(data: bytes) -> bytes:
    # A number long enough that small pieces cut it: the parser must not take a prefix of it.
    return b'{"extra": 1234567890123456789012345678901234567890.5e3, ' + data.lstrip()[1:]


def _listed_twice(data: bytes) -> bytes:
    document = json.loads(data)
    document["files"].append(dict(document["files"][0]))
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "edit",
    [
        lambda data: data,
        _reformat(indent=1),
        _reformat(),
        _reformat(separators=(",", ":")),
        _reformat(indent="\t"),
        _files_first,
        _duplicate_key,
        _long_number,
        _listed_twice,
    ],
    ids=[
        "as-written",
        "indented",
        "one-line",
        "compact",
        "tabs",
        "files-first",
        "dup-key",
        "long-number",
        "twice",
    ],
)
@pytest.mark.parametrize("chunk", [None, 61, 7])
def test_every_layout_restores_without_reading_the_manifest_whole(
    mixed_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    whole_reads: list[int],
    edit: Edit,
    chunk: int | None,
) -> None:
    """Whatever the whitespace, key order or piece boundaries, the records stream in alike."""
    archive = _with_manifest(_archive(mixed_cache, tmp_path), tmp_path / "edited.tar", edit)
    expected = sorted({r["path"] for r in json.loads(_manifest_bytes(archive))["files"]})
    if chunk is not None:
        # Tiny reads: records, keys and numbers are cut at every possible place.
        monkeypatch.setattr(pipcachex.tarstream, "CHUNK", chunk)
    target = tmp_path / "fresh"
    result = invoke(["restore", "--json", "--cache-dir", str(target), str(archive)])
    assert result.exit_code == 0, result.stderr
    assert sorted(result.json["added"]) == expected
    assert len(result.json["added"]) == len(expected)
    assert whole_reads == []
    for path in expected:
        assert (target / path).read_bytes() == (mixed_cache / path).read_bytes()


def _drop_comma(data: bytes) -> bytes:
    at = data.rindex(b"},\n")
    return data[:at] + b"}\n" + data[at + 3 :]


def _record_without(key: str) -> Edit:
    def edit(data: bytes) -> bytes:
        lines = data.split(b"\n")
        index = max(i for i, line in enumerate(lines) if line.startswith(b'{"path"'))
        record = json.loads(lines[index].rstrip(b","))
        del record[key]
        lines[index] = json.dumps(record).encode() + (b"," if lines[index].endswith(b",") else b"")
        return b"\n".join(lines)

    return edit


def _last_record(field: str, value: Any) -> Edit:
    def edit(data: bytes) -> bytes:
        document = json.loads(data)
        document["files"][-1][field] = value
        return json.dumps(document, indent=1).encode()

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop_comma, r"JSONDecodeError: Expecting ',' delimiter: line \d+ column \d+"),
        (lambda data: data + b" {}", r"JSONDecodeError: Extra data: line \d+ column 3"),
        (lambda data: data[:-1], r"JSONDecodeError: Expecting .*: line \d+ column"),
        (_record_without("sha256"), r"KeyError: 'sha256'"),
        (_record_without("size"), r"KeyError: 'size'"),
        (_last_record("sha256", "AB" * 32), r"ValueError: 'ABAB.*' is not a sha256 digest"),
        (_last_record("size", -1), r"ValueError: -1 is not a non-negative integer"),
        (_last_record("mtime_ns", True), r"ValueError: True is not a non-negative integer"),
        (_last_record("path", "../x"), r"'../x' is not a safe relative path"),
        (_last_record("path", ""), r"'' is not a safe relative path"),
        (lambda data: data.replace(b'"format_version": 1', b'"format_version": 2'), r"version 2"),
        (lambda data: b"\xef\xbb\xbf" + data.replace(b'"files": [', b'"files": [1,'), r"Type"),
        (lambda data: data.replace(b"{", b"[", 1), r"not a pipcachex backup manifest|Error"),
        (lambda data: b'{"sha256": "x", "path": 1}', r"malformed"),
        (lambda data: data.replace(b'"path": "', b'"path": "\xff', 1), r"UnicodeDecodeError"),
    ],
    ids=[
        "comma",
        "extra-data",
        "truncated",
        "no-sha256",
        "no-size",
        "upper-hex",
        "negative",
        "bool",
        "dotdot",
        "empty-path",
        "version",
        "bom",
        "array",
        "document-is-a-record",
        "not-utf8",
    ],
)
def test_malformed_manifest_is_reported_as_json_loads_reports_it(
    cache_v2: Path, tmp_path: Path, whole_reads: list[int], edit: Edit, message: str
) -> None:
    """The error message is exactly that of reading the whole manifest, positions included."""
    archive = _with_manifest(_archive(cache_v2, tmp_path), tmp_path / "bad.tar", edit)
    data = _manifest_bytes(archive)
    with pytest.raises(ArchiveError) as reference:
        Manifest.from_bytes(data, hashlib.sha256(data).hexdigest())
    whole_reads.clear()
    code, document = _restore(cache_v2, archive)
    assert code == 1
    assert document["error"]["message"] == reference.value.message
    assert re.search(message, reference.value.message), reference.value.message
    # Decided by the whole read, once the manifest's checksum was known to be right.
    assert whole_reads == [len(data)]


def test_damaged_manifest_is_a_checksum_error_even_where_it_does_not_parse(
    cache_v2: Path, tmp_path: Path, whole_reads: list[int]
) -> None:
    """A flipped byte that breaks the JSON is reported as damage, not as a malformed manifest."""
    good = _archive(cache_v2, tmp_path)
    data = bytearray(good.read_bytes())
    at = data.index(b'"files": [') + len('"files": [') + 1  # the first record's "{"
    data[at] ^= 0x20
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))
    code, document = _restore(cache_v2, damaged)
    assert code == 1
    assert document["error"]["message"].endswith("manifest.json does not match its checksum")
    assert whole_reads == []


def test_file_table_holds_what_json_allows() -> None:
    """Figures beyond 64 bits (valid JSON, if absurd) survive the packed table exactly."""
    records = [
        ManifestFile("a", 1, 2, 3, "0" * 64),
        ManifestFile("b", 2**70, 5, 2**64, "f" * 64),
        ManifestFile("c", 7, 2**63, 9, "ab" * 32),
    ]
    table = FileTable.of(records)
    assert list(table) == records
    assert table[-1] == records[-1] and table[1:] == tuple(records[1:])
    assert table.total_size() == 8 + 2**70
    assert table.positions() == {"a": 0, "b": 1, "c": 2} and not table.has_duplicates
    table.append(records[0])
    assert table.has_duplicates and table.positions()["a"] == 3


@pytest.mark.parametrize("limit", [1, 2])
def test_directories_forgotten_along_the_way_change_nothing(
    cache_v2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """Restore forgets what it knew of directories as it goes: still every file, no symlink."""
    monkeypatch.setattr(pipcachex.restore_directories, "MEMO_LIMIT", limit)
    archive = _archive(cache_v2, tmp_path)
    paths = sorted(r["path"] for r in json.loads(_manifest_bytes(archive))["files"])
    fresh = tmp_path / "fresh"
    result = invoke(["restore", "--json", "--cache-dir", str(fresh), str(archive)])
    assert result.exit_code == 0, result.stderr
    assert sorted(result.json["added"]) == paths
    assert all((fresh / p).read_bytes() == (cache_v2 / p).read_bytes() for p in paths)

    outside = tmp_path / "outside"
    outside.mkdir()
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "http-v2").symlink_to(outside)
    result = invoke(["restore", "--json", "--cache-dir", str(blocked), str(archive)])
    assert result.exit_code == 1
    refused = sorted(p["path"] for p in result.json["problems"])
    assert refused == [p for p in paths if p.startswith("http-v2/")] != []
    assert sorted(result.json["added"]) == [p for p in paths if p not in refused]
    assert list(outside.iterdir()) == []


def test_a_streamed_table_is_kept_not_copied() -> None:
    """The streaming parse hands ``from_json`` a packed table: it must stay the one object."""
    table = FileTable.of([ManifestFile("a", 1, 2, 3, "0" * 64)])
    document = {
        "format": "pipcachex-backup",
        "format_version": 1,
        "created": "2026-01-01T00:00:00.000Z",
        "source_cache_dir": "/cache",
        "pipcachex_version": "0.1.0",
        "pip_version": None,
        "compression": "none",
        "projects": [],
        "entries": 1,
        "totals": {"entries": 1, "files": 1, "size": 1},
        "files": table,
    }
    assert Manifest.from_json(document).files is table
