"""Fast unit tests of `export`'s parts: whole-ness checks, page reading, index pages, placing.

No pip and no index: distributions come from ``packages``, cache entries from ``cachefactory``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import cachefactory
import packages
import pytest

from pipcachex.cache import Kind, scan_cache
from pipcachex.errors import UsageError
from pipcachex.export import Method, check_directory, export_cache, placing
from pipcachex.export.knowledge import cache_key, gather_knowledge
from pipcachex.export.simple import IndexedFile, project_html, project_json
from pipcachex.export.whole import check_distribution
from pipcachex.selection import Selection

ALPHA = packages.CATALOGUE[0]
GAMMA = next(d for d in packages.CATALOGUE if d.kind == "sdist")
DELTA = next(d for d in packages.CATALOGUE if d.kind == "zip-sdist")


def _wheel_with(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def _corrupt_member(data: bytes) -> bytes:
    """Flip a byte inside the first member's compressed data (the directory stays readable)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.infolist()[0]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    corrupted = bytearray(data)
    corrupted[start + info.compress_size // 2] ^= 0xFF
    return bytes(corrupted)


def _bad_gzip_crc(data: bytes) -> bytes:
    """The gzip trailer's CRC changed: every tar member still reads, the stream's checksum not."""
    return data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:]


def _metadata_says(requires: str) -> bytes:
    members = packages.wheel_members(ALPHA)
    text = ALPHA.metadata() + f"Requires-Python: {requires}\n"
    changed = [(n, text.encode() if n.endswith("METADATA") else d) for n, d in members]
    return _wheel_with(changed)


WHEEL = packages.build_wheel_bytes(ALPHA)
SDIST = packages.build_sdist_bytes(GAMMA)
ZIP_SDIST = packages.build_sdist_bytes(DELTA)

CASES: list[tuple[str, str, bytes, str | None]] = [
    ("good wheel", ALPHA.filename, WHEEL, None),
    ("truncated wheel", ALPHA.filename, WHEEL[: len(WHEEL) // 2], "wheel is not a readable zip"),
    ("garbage wheel", ALPHA.filename, os.urandom(900), "wheel is not a zip archive"),
    ("corrupt member", ALPHA.filename, _corrupt_member(WHEEL), "is corrupt"),
    ("no METADATA", ALPHA.filename, _wheel_with([("a.py", b"x")]), "no .dist-info/METADATA"),
    ("other project", "other-1.0-py3-none-any.whl", WHEEL, "METADATA names project"),
    ("other version", "alpha_pkg-9.0-py3-none-any.whl", WHEEL, "METADATA says version"),
    ("good sdist", GAMMA.filename, SDIST, None),
    ("truncated sdist", GAMMA.filename, SDIST[:-100], "sdist is not a readable tar"),
    ("gzip CRC", GAMMA.filename, _bad_gzip_crc(SDIST), "sdist is not a readable tar"),
    ("garbage sdist", GAMMA.filename, b"\x1f\x8b" + os.urandom(500), "sdist is not a readable"),
    ("empty tar", GAMMA.filename, gzip.compress(b"\0" * 1024, mtime=0), "empty tar archive"),
    ("good zip sdist", DELTA.filename, ZIP_SDIST, None),
    ("truncated zip sdist", DELTA.filename, ZIP_SDIST[:-30], "zip sdist is not a readable"),
    ("not a distribution", "notes.txt", b"hello", "not a wheel or sdist file name"),
]


@pytest.mark.parametrize(
    ("filename", "data", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_check_distribution(filename: str, data: bytes, problem: str | None) -> None:
    sound = check_distribution(io.BytesIO(data), filename)
    assert sound.sha256 == hashlib.sha256(data).hexdigest()
    assert sound.size == len(data)
    if problem is None:
        assert sound.problem is None
    else:
        assert sound.problem is not None and problem in sound.problem


def test_requires_python_comes_from_the_core_metadata() -> None:
    sound = check_distribution(io.BytesIO(_metadata_says(">=3.8")), ALPHA.filename)
    assert (sound.problem, sound.requires_python) == (None, ">=3.8")
    assert check_distribution(io.BytesIO(WHEEL), ALPHA.filename).requires_python is None


def test_cache_key_is_the_entry_name_pip_uses() -> None:
    for url in ("https://Files.Example/a/b.whl#sha256=00", "http://127.0.0.1:8080/f/x.tar.gz?q=1"):
        assert cache_key(url) == cachefactory.http_key(url)
    assert cache_key("../../files/x.whl") is None


def _page(cache: Path, url: str, body: bytes, content_type: str, *, legacy: bool = False) -> None:
    encoded = cachefactory.gzip_bytes(body)
    headers = cachefactory.page_headers(encoded, content_type=content_type, gzipped=True)
    write = cachefactory.write_legacy_http_entry if legacy else cachefactory.write_http_v2_entry
    write(cache, url, encoded, headers)


HTML_PAGE = b"""<!DOCTYPE html><html><head><title>Links for alpha-pkg</title></head><body>
<a href="../../files/alpha_pkg-1.0-py3-none-any.whl#sha256=AA11"
   data-requires-python="&gt;=3.8">alpha_pkg-1.0-py3-none-any.whl</a><br/>
<a href="https://files.example/p/alpha_pkg-2.0.tar.gz#sha256=bb22"
   data-yanked="broken">alpha_pkg-2.0.tar.gz</a>
<a href="../../files/README.txt">README.txt</a>
</body></html>"""


def test_pages_of_both_layouts_and_formats_give_names_hashes_and_requires_python(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    _page(cache, "https://i.example/simple/alpha-pkg/", HTML_PAGE, "text/html", legacy=True)
    document = {
        "meta": {"api-version": "1.1"},
        "name": "gamma",
        "files": [
            {
                "filename": "gamma-1.2.3.tar.gz",
                "url": "https://files.example/g/gamma-1.2.3.tar.gz",
                "hashes": {"sha256": "CC33"},
                "requires-python": "<4",
                "yanked": True,
            }
        ],
    }
    _page(
        cache,
        "https://i.example/simple/gamma/",
        json.dumps(document).encode(),
        cachefactory.JSON_PAGE_TYPE,
    )
    scan = scan_cache(cache)
    assert {e.kind for e in scan.entries} == {Kind.INDEX_PAGE}
    knowledge = gather_knowledge(scan.entries)
    one = knowledge.by_sha256["aa11"]
    assert (one.filename, one.requires_python, one.yanked) == (
        "alpha_pkg-1.0-py3-none-any.whl",
        ">=3.8",
        None,
    )
    two = knowledge.by_key[cachefactory.http_key("https://files.example/p/alpha_pkg-2.0.tar.gz")]
    assert (two.sha256, two.yanked) == ("bb22", "broken")
    three = knowledge.by_sha256["cc33"]
    assert (three.requires_python, three.yanked, three.filename) == ("<4", "", "gamma-1.2.3.tar.gz")
    assert "README.txt" not in knowledge.by_filename


def test_index_pages_escape_and_carry_what_pip_reads() -> None:
    files = [
        IndexedFile("a_b-1.0-py3-none-any.whl", "a-b", "ab" * 32, ">=3.8,<4", None),
        IndexedFile("a_b-0.9.tar.gz", "a-b", "cd" * 32, None, "bad <build>"),
    ]
    page = project_html("a-b", files)
    assert "<title>Links for a-b</title>" in page
    assert (
        f'<a href="../../a_b-1.0-py3-none-any.whl#sha256={"ab" * 32}" '
        'data-requires-python="&gt;=3.8,&lt;4">a_b-1.0-py3-none-any.whl</a>'
    ) in page
    assert 'data-yanked="bad &lt;build&gt;"' in page
    document = json.loads(project_json("a-b", files))
    assert document["name"] == "a-b"
    assert document["files"][1] == {
        "filename": "a_b-1.0-py3-none-any.whl",
        "url": "../../a_b-1.0-py3-none-any.whl",
        "hashes": {"sha256": "ab" * 32},
        "requires-python": ">=3.8,<4",
    }
    assert document["files"][0]["yanked"] == "bad <build>"


def test_a_directory_inside_the_cache_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "wheels").mkdir(parents=True)
    for inside in (cache, cache / "export", cache / "wheels" / ".." / "x"):
        with pytest.raises(UsageError, match="inside the cache"):
            check_directory(inside, cache)
    (cache.parent / "link").symlink_to(cache)
    with pytest.raises(UsageError, match="inside the cache"):
        check_directory(cache.parent / "link" / "out", cache)
    assert check_directory(tmp_path / "out", cache) == (tmp_path / "out").resolve()


def _built_wheel(cache: Path, link: str, data: bytes, age: float) -> Path:
    wheel = cachefactory.write_wheel_entry(cache, link, data, ALPHA.filename, {"url": link})
    for path in (wheel, wheel.parent / "origin.json"):
        cachefactory.set_age(path, age)
    return wheel


def test_two_files_with_one_name_are_both_reported_and_the_newer_is_written(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    newer = _metadata_says(">=3.9")
    _built_wheel(cache, "https://a.example/alpha-1.0.tar.gz", WHEEL, 3600)
    wheel = _built_wheel(cache, "https://b.example/alpha-1.0.tar.gz", newer, 60)
    result = export_cache(scan_cache(cache), tmp_path / "out", Selection())
    assert [c.filename for c in result.clashes] == [ALPHA.filename]
    assert result.clashes[0].written.source == str(wheel)
    assert (tmp_path / "out" / ALPHA.filename).read_bytes() == newer
    assert not result.ok


def _export_dir_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_ctrl_c_while_copying_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    _built_wheel(cache, "https://a.example/alpha-1.0.tar.gz", WHEEL, 60)
    real_copy: Callable[[int, int, int, int], None] = placing._copy

    def interrupted(src: int, dst: int, offset: int, length: int) -> None:
        real_copy(src, dst, offset, length // 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(placing, "_copy", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        export_cache(scan_cache(cache), out, Selection(), copy=True)
    assert _export_dir_names(out) == []
    monkeypatch.undo()
    result = export_cache(scan_cache(cache), out, Selection(), copy=True)
    assert [i.method for i in result.written] == [Method.COPY]
    assert (out / ALPHA.filename).read_bytes() == WHEEL


def test_without_reflink_or_hard_links_it_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    wheel = _built_wheel(cache, "https://a.example/alpha-1.0.tar.gz", WHEEL, 60)
    attempts: list[str] = []

    def no_clone(self: placing.Placer, src: int, dst: int) -> bool:
        attempts.append("reflink")
        self._reflink = False
        return False

    def no_link(*args: object, **kwargs: object) -> None:
        attempts.append("link")
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(placing.Placer, "_clone", no_clone)
    monkeypatch.setattr(os, "link", no_link)
    out = tmp_path / "out"
    result = export_cache(scan_cache(cache), out, Selection())
    assert [i.method for i in result.written] == [Method.COPY]
    copied = out / ALPHA.filename
    assert copied.read_bytes() == WHEEL
    assert not os.path.samefile(copied, wheel)
    assert attempts[0] == "reflink" and "link" in attempts
    assert _export_dir_names(out) == [".pipcachex-export.json", ALPHA.filename]


def test_hard_link_where_the_file_system_allows(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    wheel = _built_wheel(cache, "https://a.example/alpha-1.0.tar.gz", WHEEL, 60)
    result = export_cache(scan_cache(cache), tmp_path / "out", Selection())
    method = result.written[0].method
    assert method in (Method.REFLINK, Method.HARDLINK)
    exported = tmp_path / "out" / ALPHA.filename
    assert os.path.samefile(exported, wheel) == (method is Method.HARDLINK)
    copied = export_cache(scan_cache(cache), tmp_path / "copies", Selection(), copy=True)
    assert copied.written[0].method is Method.COPY
    assert not os.path.samefile(tmp_path / "copies" / ALPHA.filename, wheel)


def test_a_page_with_absolute_urls_names_the_entry_and_its_requires_python_reaches_the_index(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    url = "https://files.example/packages/ab/alpha_pkg-1.0-py3-none-any.whl"
    cachefactory.write_http_v2_entry(cache, url, WHEEL, cachefactory.file_headers(WHEEL))
    legacy_url = "https://files.example/packages/cd/gamma-1.2.3.tar.gz"
    cachefactory.write_legacy_http_entry(cache, legacy_url, SDIST, cachefactory.file_headers(SDIST))
    document = {
        "meta": {"api-version": "1.1"},
        "name": "alpha-pkg",
        "files": [
            {
                "filename": ALPHA.filename,
                "url": url,
                "hashes": {"sha256": hashlib.sha256(WHEEL).hexdigest()},
                "requires-python": ">=3.9",
            }
        ],
    }
    _page(
        cache,
        "https://i.example/simple/alpha-pkg/",
        json.dumps(document).encode(),
        cachefactory.JSON_PAGE_TYPE,
    )
    gamma_page = (
        f'<a href="{legacy_url}#sha256={hashlib.sha256(SDIST).hexdigest()}" '
        f'data-requires-python="&lt;4">{GAMMA.filename}</a>'
    ).encode()
    _page(cache, "https://i.example/simple/gamma/", gamma_page, "text/html", legacy=True)
    out = tmp_path / "out"
    result = export_cache(scan_cache(cache), out, Selection(), index=True)
    assert result.ok, result.skipped
    by_name = {item.filename: item for item in result.written}
    assert set(by_name) == {ALPHA.filename, GAMMA.filename}
    assert by_name[GAMMA.filename].method is Method.COPY  # a legacy body is copied out
    assert {item.verified_by for item in result.written} == {"index page"}
    alpha_page = (out / "simple" / "alpha-pkg" / "index.html").read_text()
    assert 'data-requires-python="&gt;=3.9"' in alpha_page
    gamma_json = json.loads((out / "simple" / "gamma" / "index.json").read_text())
    assert gamma_json["files"][0]["requires-python"] == "<4"
    root = json.loads((out / "simple" / "index.json").read_text())
    assert root["projects"] == [{"name": "alpha-pkg"}, {"name": "gamma"}]
    # The record keeps what the pages said after they have left the cache.
    cachefactory.http_entry_path(cache, "https://i.example/simple/alpha-pkg/").unlink()
    again = export_cache(scan_cache(cache), out, Selection(), index=True)
    assert again.written == () and len(again.present) == 2
    assert (
        'data-requires-python="&gt;=3.9"'
        in (out / "simple" / "alpha-pkg" / "index.html").read_text()
    )


def test_a_body_whose_bytes_the_page_does_not_give_is_skipped_by_its_url(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    url = "https://files.example/packages/ab/alpha_pkg-1.0-py3-none-any.whl"
    cachefactory.write_http_v2_entry(cache, url, WHEEL, cachefactory.file_headers(WHEEL))
    document = {
        "name": "alpha-pkg",
        "files": [{"filename": ALPHA.filename, "url": url, "hashes": {"sha256": "ee" * 32}}],
    }
    _page(
        cache,
        "https://i.example/simple/alpha-pkg/",
        json.dumps(document).encode(),
        cachefactory.JSON_PAGE_TYPE,
    )
    result = export_cache(scan_cache(cache), tmp_path / "out", Selection())
    assert [item.filename for item in result.skipped] == [ALPHA.filename]
    assert "does not match" in result.skipped[0].problem
    assert not (tmp_path / "out" / ALPHA.filename).exists()


def test_a_dry_run_checks_everything_and_writes_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _built_wheel(cache, "https://a.example/alpha-1.0.tar.gz", WHEEL, 60)
    broken = _built_wheel(cache, "https://b.example/alpha-1.0.tar.gz", WHEEL[:-40], 30)
    out = tmp_path / "out"
    result = export_cache(scan_cache(cache), out, Selection(), dry_run=True, index=True)
    assert [item.filename for item in result.written] == [ALPHA.filename]
    assert result.written[0].method is None
    assert [item.path for item in result.skipped] == [str(broken)]
    assert result.index is not None and result.index.projects == ("alpha-pkg",)
    assert not out.exists()


def test_a_cut_short_legacy_download_is_named_as_not_exported(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    url = "https://files.example/packages/ab/alpha_pkg-1.0-py3-none-any.whl"
    entry = cachefactory.write_legacy_http_entry(
        cache, url, WHEEL, cachefactory.file_headers(WHEEL)
    )
    cachefactory.truncate_body(entry, keep=300)
    page = cachefactory.write_legacy_http_entry(
        cache, url + ".metadata", b"Metadata-Version: 2.1\nName: x\n" * 20, {}
    )
    cachefactory.truncate_body(page, keep=100)
    scan = scan_cache(cache)
    assert {e.kind for e in scan.entries} == {Kind.DAMAGED}
    result = export_cache(scan, tmp_path / "out", Selection())
    assert [item.path for item in result.skipped] == [str(entry.meta)]
    assert result.written == ()


@pytest.mark.parametrize("missing", [(), ("copy_file_range",), ("copy_file_range", "pread")])
def test_a_legacy_body_is_copied_out_with_whatever_calls_the_system_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...]
) -> None:
    cache = tmp_path / "cache"
    url = "https://files.example/packages/ab/alpha_pkg-1.0-py3-none-any.whl"
    cachefactory.write_legacy_http_entry(cache, url, WHEEL, cachefactory.file_headers(WHEEL))
    scan = scan_cache(cache)
    for name in missing:
        monkeypatch.delattr(os, name)
    result = export_cache(scan, tmp_path / "out", Selection())
    assert [item.method for item in result.written] == [Method.COPY]
    assert (tmp_path / "out" / ALPHA.filename).read_bytes() == WHEEL
