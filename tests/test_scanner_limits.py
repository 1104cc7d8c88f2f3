"""The scanner under hostile conditions: huge legacy entries, unreadable files, odd file types."""

from __future__ import annotations

import gc
import io
import json
import os
import shutil
import tracemalloc
import zipfile
from collections.abc import Generator
from pathlib import Path

import cachefactory
import pytest
from cli_helpers import entries_by, invoke
from unprivileged import Runner

from pipcachex.cache import CacheWalk, Kind, scan_cache

BIG = 48 * 1024 * 1024


def _big_wheel() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("huge_pkg/data.bin", b"\0" * BIG)
        archive.writestr(
            "huge_pkg-3.1.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: huge-pkg\nVersion: 3.1\n",
        )
        archive.writestr("huge_pkg-3.1.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
    return buffer.getvalue()


def test_a_huge_legacy_entry_is_attributed_without_loading_its_body(tmp_path: Path) -> None:
    body = _big_wheel()
    url = "https://files.example.invalid/huge_pkg-3.1-py3-none-any.whl"
    entry = cachefactory.write_legacy_http_entry(
        tmp_path, url, body, cachefactory.file_headers(body)
    )
    del body
    tracemalloc.start()
    try:
        scan = scan_cache(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (found,) = scan.entries
    assert found.path == str(entry.meta)
    assert (found.kind, found.package, found.version) == (Kind.DISTRIBUTION, "huge-pkg", "3.1")
    assert found.filename == "huge_pkg-3.1-py3-none-any.whl"
    assert found.size > BIG
    assert peak < 4 * 1024 * 1024, f"scanning held {peak} bytes for a {BIG}-byte body"


def test_unreadable_files_are_unreadable_not_damaged_nor_fatal(
    filled_cache_v2: Path, shared_tmp: Path, unprivileged_runner: Runner
) -> None:
    cache = shared_tmp / "cache"
    shutil.copytree(filled_cache_v2, cache, copy_function=shutil.copy2)
    for path in [cache, *cache.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    locked = next(p for p in (cache / "http-v2").rglob("*.body") if p.stat().st_size > 1000)
    locked.chmod(0o000)
    result = unprivileged_runner.run(["list", "--json", "--cache-dir", str(cache)], shared_tmp)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert entries_by(document, kind="damaged") == []
    (unreadable,) = [e for e in document["entries"] if e["problem_code"] == "unreadable"]
    assert unreadable["kind"] == "unknown"
    assert str(locked) in unreadable["paths"]
    assert "cannot be read" in unreadable["problem"]
    assert unreadable["package"] is None
    assert len(document["entries"]) > 10


def test_symlinks_and_fifos_are_unknown_and_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.whl").write_bytes(b"PK\x03\x04 not really")
    cache = tmp_path / "cache"
    (cache / "http-v2" / "a").mkdir(parents=True)
    (cache / "wheels").mkdir()
    (cache / "http-v2" / "a" / "link").symlink_to(outside)
    os.mkfifo(cache / "http-v2" / "a" / ("0" * 56 + ".body"))
    document = invoke(["list", "--json", "--cache-dir", str(cache)]).json
    kinds = {Path(e["path"]).name: e["kind"] for e in document["entries"]}
    assert kinds["link"] == "unknown"
    assert kinds["0" * 56 + ".body"] == "unknown"
    assert not any("secret" in p for e in document["entries"] for p in e["paths"])


def test_the_attribution_memo_never_changes_what_a_scan_finds(
    cache_v2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPCACHEX_MEMO_DIR", str(tmp_path / "memo"))
    first = invoke(["list", "--json", "--cache-dir", str(cache_v2)]).json
    memo_files = list((tmp_path / "memo").iterdir())
    assert len(memo_files) == 1, "the first scan leaves a memo behind"
    written = memo_files[0].stat()
    assert invoke(["list", "--json", "--cache-dir", str(cache_v2)]).json == first
    unchanged = memo_files[0].stat()
    assert (unchanged.st_ino, unchanged.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    assert list((tmp_path / "memo").iterdir()) == memo_files, "no temporary file is left"

    # pip replaces files rather than rewriting them: a changed entry must be attributed afresh.
    wheel = next(
        e for e in entries_by(first, kind="distribution") if e["filename"].endswith(".whl")
    )
    cachefactory.truncate(Path(wheel["paths"][1]))
    after = invoke(["list", "--json", "--cache-dir", str(cache_v2)]).json
    (changed,) = [e for e in after["entries"] if e["path"] == wheel["path"]]
    assert changed["kind"] == "damaged" and "Content-Length" in changed["problem"]

    assert memo_files[0].stat().st_ino != written.st_ino, "what changed is written anew"

    memo_files[0].write_bytes(b"\x00garbage")
    again = invoke(["list", "--json", "--cache-dir", str(cache_v2)]).json
    assert again == after, "a damaged memo is ignored, not trusted"

    monkeypatch.setenv("PIPCACHEX_MEMO_DIR", "")
    assert invoke(["list", "--json", "--cache-dir", str(cache_v2)]).json == after


def test_a_scan_leaves_the_cycle_collector_as_it_found_it(tmp_path: Path) -> None:
    """The collector is paused while a scan runs, and restored after it, even when cut short."""
    for i in range(3):
        body = f"Metadata-Version: 2.1\nName: p{i}\nVersion: 1.0\n\n".encode()
        url = f"https://files.example.invalid/p{i}-1.0-py3-none-any.whl.metadata"
        cachefactory.write_http_v2_entry(tmp_path, url, body, cachefactory.file_headers(body))
    assert gc.isenabled()
    entries = CacheWalk(tmp_path).entries()
    next(entries)
    assert not gc.isenabled()
    assert isinstance(entries, Generator)
    entries.close()
    assert gc.isenabled()
    assert len(list(CacheWalk(tmp_path).entries())) == 3
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(scan_cache(tmp_path).entries) == 3
        assert not gc.isenabled()
    finally:
        gc.enable()
