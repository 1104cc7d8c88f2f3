"""`export` end to end: caches real pips filled, exported, then installed from with the index down.

Each test exports a cache real pips wrote (``http/``, ``http-v2/`` and wheels built from sdists),
stops the loopback index, and installs what was exported with a real pip in a fresh venv, from
``--find-links DIR`` and from ``--index-url file://DIR/simple``, then imports it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cachefactory
import packages
import pytest
from cli_helpers import invoke
from conftest import PipName, pip_env, venv_python
from index_server import IndexServer

#: Every catalogue project with the module it installs; broken-import's module fails on import
#: by design, and needs-missing's dependency is not on the index (installed with --no-deps).
IMPORTABLE = {
    "alpha-pkg": "alpha_pkg",
    "Beta_Pkg": "beta_pkg",
    "gamma": "gamma",
    "delta-zip": "delta_zip",
    "needs-missing": "needs_missing",
}
ALPHA_1 = "alpha_pkg-1.0-py3-none-any.whl"
ALPHA_2 = "alpha_pkg-2.0-py3-none-any.whl"
BETA_WHEEL = "Beta_Pkg-0.5-py3-none-any.whl"
GAMMA_WHEEL = "gamma-1.2.3-py3-none-any.whl"
#: What an export of a cache filled by ``conftest.fill_cache`` holds.
EXPORTED = {
    ALPHA_1,
    ALPHA_2,
    BETA_WHEEL,
    "broken_import-1.0-py3-none-any.whl",
    "needs_missing-1.0-py3-none-any.whl",
    GAMMA_WHEEL,
    "gamma-1.2.3.tar.gz",
    "delta_zip-0.1-py3-none-any.whl",
    "delta_zip-0.1.zip",
}


def _export(cache: Path, out: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = invoke(["export", str(out), "--json", "--cache-dir", str(cache), *args])
    document = result.json
    assert document["schema"] == 1, result.stderr
    return result.exit_code, document


def _pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(venv_python(venv)), "-m", "pip", *args, "--no-cache-dir"]
    return subprocess.run(
        command, env=pip_env(), capture_output=True, text=True, timeout=300, check=False
    )


def _install_and_import(venv: Path, source: list[str], projects: dict[str, str]) -> None:
    installed = _pip(venv, "install", "--no-deps", *source, *projects)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    code = "; ".join(f"import {module}" for module in projects.values())
    imported = subprocess.run(
        [str(venv_python(venv)), "-c", code], capture_output=True, text=True, check=False
    )
    assert imported.returncode == 0, imported.stderr


def _tree(directory: Path) -> dict[str, tuple[int, int, str]]:
    """Every file below ``directory``: size, mtime and sha256."""
    found: dict[str, tuple[int, int, str]] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            info = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(directory))] = (info.st_size, info.st_mtime_ns, digest)
    return found


def test_export_both_layouts_then_install_offline_from_find_links_and_the_index(
    mixed_cache: Path,
    index: IndexServer,
    tmp_path: Path,
    venv_with_pip: Callable[[PipName], Path],
) -> None:
    out = tmp_path / "wheelhouse"
    code, document = _export(mixed_cache, out, "--index")
    assert code == 0, document
    written = {item["filename"]: item for item in document["written"]}
    assert set(written) == EXPORTED
    assert document["skipped"] == document["clashes"] == document["conflicts"] == []
    # The same wheel in both layouts is written once, from the http-v2 body it links to.
    assert written[ALPHA_1]["layout"] == "http-v2"
    for item in written.values():
        assert item["sha256"] == hashlib.sha256((out / item["filename"]).read_bytes()).hexdigest()
        assert item["method"] in ("reflink", "hardlink", "copy")
    # Every download the index listed is vouched for by its page's sha256.
    for name in EXPORTED - {GAMMA_WHEEL, "delta_zip-0.1-py3-none-any.whl"}:
        assert written[name]["verified_by"] == "index page", name
    assert (out / "simple" / "beta-pkg" / "index.html").is_file()
    with index.stopped():
        _install_and_import(
            venv_with_pip("current"), ["--no-index", "--find-links", str(out)], IMPORTABLE
        )
        _install_and_import(
            venv_with_pip("current"),
            ["--index-url", (out / "simple").as_uri()],
            IMPORTABLE,
        )
        downloads = tmp_path / "downloads"
        fetched = _pip(
            venv_with_pip("legacy"),
            "download",
            "--no-deps",
            "-d",
            str(downloads),
            "--index-url",
            (out / "simple").as_uri(),
            "gamma",
            "alpha-pkg==1.0",
        )
        assert fetched.returncode == 0, fetched.stderr
        assert (downloads / ALPHA_1).read_bytes() == (out / ALPHA_1).read_bytes()


def test_legacy_bodies_are_copied_out_of_their_metadata_files(
    cache_legacy: Path, tmp_path: Path, venv_with_pip: Callable[[PipName], Path], index: IndexServer
) -> None:
    out = tmp_path / "wheelhouse"
    code, document = _export(cache_legacy, out, "alpha-pkg", "beta-pkg")
    assert code == 0, document
    written = {item["filename"]: item for item in document["written"]}
    assert set(written) == {ALPHA_1, ALPHA_2, BETA_WHEEL}
    assert {item["layout"] for item in written.values()} == {"http"}
    assert {item["method"] for item in written.values()} == {"copy"}
    # What `list` shows for the same selector is what export wrote.
    listed = invoke(["list", "--json", "--cache-dir", str(cache_legacy), "alpha-pkg", "beta-pkg"])
    shown = {e["filename"] for e in listed.json["entries"] if e["kind"] == "distribution"}
    assert shown == set(written)
    with index.stopped():
        _install_and_import(
            venv_with_pip("legacy"),
            ["--no-index", "--find-links", str(out)],
            {"alpha-pkg==1.0": "alpha_pkg", "Beta_Pkg": "beta_pkg"},
        )


def _page_url(index: IndexServer, project: str) -> str:
    return index.page_url(project)


def test_damaged_entries_are_named_and_skipped_and_the_rest_installs(
    cache_v2: Path,
    index: IndexServer,
    tmp_path: Path,
    venv_with_pip: Callable[[PipName], Path],
) -> None:
    v2 = cachefactory.V2_DIR
    # A truncated body (a full disk): the scanner sees Content-Length disagree.
    alpha2 = cachefactory.http_entry_path(cache_v2, index.file_url(ALPHA_2), v2)
    cachefactory.truncate(alpha2.with_name(alpha2.name + ".body"))
    # Garbage where a wheel should be (PyPI's headers still name it).
    beta = cachefactory.http_entry_path(cache_v2, index.file_url(BETA_WHEEL), v2)
    beta_body = beta.with_name(beta.name + ".body")
    beta_body.write_bytes(os.urandom(beta_body.stat().st_size))
    # A whole wheel whose sha256 is not the one the cached index page gives for it.
    page = cachefactory.http_entry_path(cache_v2, _page_url(index, "alpha-pkg"), v2)
    files = [{"filename": ALPHA_1, "url": f"../../files/{ALPHA_1}", "hashes": {"sha256": "0" * 64}}]
    encoded = cachefactory.gzip_bytes(
        cachefactory.json_page("alpha-pkg", []).replace(b'"files": []', _json(files))
    )
    headers = cachefactory.page_headers(encoded, gzipped=True)
    cachefactory.write_http_v2_entry(cache_v2, _page_url(index, "alpha-pkg"), encoded, headers)
    assert page.is_file()
    # A built wheel with a corrupt member: its central directory still reads.
    built = next((cache_v2 / "wheels").rglob(GAMMA_WHEEL))
    built.write_bytes(_corrupt_member(built.read_bytes()))

    out = tmp_path / "wheelhouse"
    code, document = _export(cache_v2, out, "--index")
    assert code == 1
    skipped = {item["path"]: item for item in document["skipped"]}
    assert str(alpha2.with_name(alpha2.name + ".body")) in skipped
    assert "Content-Length" in skipped[str(alpha2.with_name(alpha2.name + ".body"))]["problem"]
    assert "not the wheel" in skipped[str(beta_body)]["problem"]
    assert skipped[str(beta_body)]["entry"]["package"] == "beta-pkg"
    mismatch = next(i for i in skipped.values() if i["filename"] == ALPHA_1)
    assert "does not match" in mismatch["problem"]
    corrupt = skipped[str(built)]
    assert corrupt["filename"] == GAMMA_WHEEL and "corrupt" in corrupt["problem"]
    assert len(skipped) == 4
    codes = {item["filename"] or item["path"]: item["code"] for item in skipped.values()}
    assert sorted(codes.values()) == ["damaged", "hash-mismatch", "not-whole", "not-whole"]
    assert codes[ALPHA_1] == "hash-mismatch" and codes[GAMMA_WHEEL] == "not-whole"
    written = {item["filename"] for item in document["written"]}
    assert written == EXPORTED - {ALPHA_1, ALPHA_2, BETA_WHEEL, GAMMA_WHEEL}
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted(
        [*written, ".pipcachex-export.json"]
    )
    text = invoke(["export", str(tmp_path / "again"), "--cache-dir", str(cache_v2)])
    assert text.exit_code == 1
    assert f"not exported: {GAMMA_WHEEL}" in text.stderr
    with index.stopped():
        _install_and_import(
            venv_with_pip("current"),
            ["--no-index", "--find-links", str(out)],
            {"delta-zip": "delta_zip", "needs-missing": "needs_missing", "gamma": "gamma"},
        )


def _json(files: list[dict[str, Any]]) -> bytes:
    return b'"files": ' + json.dumps(files).encode()


def _corrupt_member(data: bytes) -> bytes:
    """Flip a byte inside the first member's compressed data (the directory stays readable)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.infolist()[0]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    corrupted = bytearray(data)
    corrupted[start + info.compress_size // 2] ^= 0xFF
    return bytes(corrupted)


def test_export_again_adds_nothing_and_never_overwrites_other_bytes(
    cache_v2: Path, tmp_path: Path
) -> None:
    out = tmp_path / "wheelhouse"
    code, first = _export(cache_v2, out, "--index")
    assert code == 0
    before = _tree(out)
    code, again = _export(cache_v2, out, "--index")
    assert code == 0
    assert again["written"] == []
    assert {i["filename"] for i in again["present"]} == {i["filename"] for i in first["written"]}
    assert _tree(out) == before
    # Another file under an exported name: reported, left alone, the rest is still there.
    (out / ALPHA_1).unlink()
    (out / ALPHA_1).write_bytes(b"not the wheel")
    code, conflicted = _export(cache_v2, out, "--index")
    assert code == 1
    assert [c["filename"] for c in conflicted["conflicts"]] == [ALPHA_1]
    assert (out / ALPHA_1).read_bytes() == b"not the wheel"
    assert conflicted["written"] == []
    # Files removed from the directory are exported again; a dry run only says so.
    (out / ALPHA_2).unlink()
    code, dry = _export(cache_v2, out, "--dry-run", "alpha-pkg==2.0")
    assert code == 0 and [i["filename"] for i in dry["written"]] == [ALPHA_2]
    assert dry["written"][0]["method"] is None
    assert not (out / ALPHA_2).exists()
    code, refilled = _export(cache_v2, out, "alpha-pkg==2.0")
    assert code == 0 and [i["filename"] for i in refilled["written"]] == [ALPHA_2]
    assert (out / ALPHA_2).read_bytes() == packages.build_wheel_bytes(packages.CATALOGUE[1])


def test_a_directory_inside_the_cache_is_refused(cache_v2: Path) -> None:
    result = invoke(["export", str(cache_v2 / "wheels" / "out"), "--cache-dir", str(cache_v2)])
    assert result.exit_code == 2
    assert "inside the cache" in result.stderr
    assert not (cache_v2 / "wheels" / "out").exists()


@pytest.mark.parametrize(
    ("selector", "layouts"),
    [
        (["--layout", "http"], {"http"}),
        (["--layout", "http-v2"], {"http-v2"}),
        (["--newer-than", "30d"], {"http-v2", "wheels"}),
        (["--older-than", "30d"], {"http"}),
    ],
    ids=["layout-http", "layout-http-v2", "newer-than", "older-than"],
)
def test_export_takes_the_selectors_list_takes(
    mixed_cache: Path, tmp_path: Path, selector: list[str], layouts: set[str]
) -> None:
    # The legacy layout was last used 40 days ago, the new one just now.
    then = time.time() - 40 * 86400
    for path in (mixed_cache / "http").rglob("*"):
        os.utime(path, (then, then), follow_symlinks=False)
    code, document = _export(mixed_cache, tmp_path / "out", "--dry-run", *selector)
    assert code == 0
    written = {item["filename"]: item["layout"] for item in document["written"]}
    assert written and set(written.values()) == layouts
    # What `list` shows for the same selector is what export would write.
    listed = invoke(["list", "--json", "--cache-dir", str(mixed_cache), *selector])
    exported = {"distribution", "built-wheel"}
    shown = {e["filename"] for e in listed.json["entries"] if e["kind"] in exported}
    assert shown == set(written)
