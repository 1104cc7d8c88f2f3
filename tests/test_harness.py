"""Prove the test harness itself: the loopback index, the test dists, real pips, the factory."""

from __future__ import annotations

import ast
import gzip
import hashlib
import http.client
import io
import json
import re
import subprocess
import tarfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import cachefactory
import packages
import pytest
from conftest import (
    PIP_VERSIONS,
    ROOT,
    PipName,
    PipRunner,
    end_to_end_reason,
    pip_env,
    venv_python,
)
from index_server import IndexServer, ServeOptions

import pipcachex

JSON_ACCEPT = cachefactory.PIP_PAGE_ACCEPT


def _get(
    server: IndexServer, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` from ``server`` without following redirects."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _entries(cache: Path, layout: str) -> dict[str, Path]:
    """Metadata files of an HTTP layout by entry name (no ``.body`` halves)."""
    return {
        p.name: p
        for p in (cache / layout).rglob("*")
        if p.is_file() and not p.name.endswith((".body", ".tmp"))
    }


def _expected_urls(index: IndexServer) -> dict[str, str]:
    """Every URL a fill with the catalogue makes pip cache, by what it is."""
    urls = {f"page {p}": index.page_url(p) for p in packages.PROJECTS}
    urls["redirect"] = f"{index.base_url}/simple/{packages.BETA}/"
    for dist in packages.CATALOGUE:
        urls[f"file {dist.filename}"] = index.file_url(dist.filename)
        if dist.kind == "wheel":
            urls[f"metadata {dist.filename}"] = index.metadata_url(dist.filename)
    return urls


# -- packages ----------------------------------------------------------------------------------


def test_dists_are_deterministic_and_well_formed(tmp_path: Path) -> None:
    """Two builds are byte-identical; wheels have a valid RECORD, sdists a backend."""
    first = {p.name: p.read_bytes() for p in packages.build_all(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in packages.build_all(tmp_path / "b")}
    assert first == second
    assert set(first) == {d.filename for d in packages.CATALOGUE}
    assert "Beta_Pkg-0.5-py3-none-any.whl" in first

    for dist in packages.WHEELS:
        with zipfile.ZipFile(io.BytesIO(first[dist.filename])) as zf:
            record = zf.read(f"{dist.stem}.dist-info/RECORD").decode().splitlines()
            for line in record:
                name = line.rsplit(",", 2)[0]
                if name.endswith("RECORD"):
                    continue
                assert packages.record_line(name, zf.read(name)) == line, line
            metadata = zf.read(f"{dist.stem}.dist-info/METADATA").decode()
            assert f"Name: {dist.project}\n" in metadata
    gamma = next(d for d in packages.CATALOGUE if d.project == packages.GAMMA)
    with tarfile.open(fileobj=io.BytesIO(first[gamma.filename])) as tf:
        names = tf.getnames()
    assert names[0].startswith("gamma-1.2.3/")
    assert "gamma-1.2.3/backend.py" in names
    delta = next(d for d in packages.CATALOGUE if d.project == packages.DELTA)
    with zipfile.ZipFile(io.BytesIO(first[delta.filename])) as zf:
        assert "delta_zip-0.1/PKG-INFO" in zf.namelist()


# -- index server ------------------------------------------------------------------------------


def test_index_serves_pypi_like_pages_and_files(make_index: Callable[..., IndexServer]) -> None:
    """JSON vs HTML negotiation, gzip, redirects, cache headers, ETag/304, PEP 658, log."""
    server = make_index()
    status, headers, body = _get(server, "/simple/alpha-pkg/", {"Accept": JSON_ACCEPT})
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
    assert headers["Cache-Control"] == "max-age=600, public"
    assert "Content-Encoding" not in headers
    doc = json.loads(body)
    assert doc["name"] == "alpha-pkg"
    wheel = doc["files"][0]
    assert wheel["core-metadata"] == wheel["dist-info-metadata"]

    status, headers, body = _get(
        server, "/simple/alpha-pkg/", {"Accept": "text/html", "Accept-Encoding": "gzip"}
    )
    assert headers["Content-Encoding"] == "gzip"
    assert int(headers["Content-Length"]) == len(body)
    page = gzip.decompress(body).decode()
    assert "<title>Links for alpha-pkg</title>" in page
    assert "#sha256=" in page and 'data-core-metadata="sha256=' in page

    status, headers, _ = _get(server, "/simple/Beta_Pkg/")
    assert (status, headers["Location"]) == (301, "/simple/beta-pkg/")
    assert _get(server, "/simple/beta-pkg")[0] == 301
    assert _get(server, "/simple/no-such-project/")[0] == 404

    filename = "alpha_pkg-1.0-py3-none-any.whl"
    status, headers, body = _get(server, f"/files/{filename}")
    assert status == 200
    assert headers["Cache-Control"] == "max-age=365000000, immutable, public"
    assert "x-pypi-file-project" not in headers
    assert body == (server.files_dir / filename).read_bytes()
    assert _get(server, f"/files/{filename}", {"If-None-Match": headers["ETag"]})[0] == 304
    status, _, meta = _get(server, f"/files/{filename}.metadata")
    assert status == 200 and meta.startswith(b"Metadata-Version: 2.1\nName: alpha-pkg\n")
    assert doc["files"][0]["core-metadata"]["sha256"] == hashlib.sha256(meta).hexdigest()
    assert _get(server, "/files/gamma-1.2.3.tar.gz.metadata")[0] == 404

    assert ("GET", "/simple/Beta_Pkg/") in server.requests()
    server.clear_log()
    assert server.requests() == []
    with server.files_unavailable():
        assert _get(server, f"/files/{filename}")[0] == 503
    with server.stopped(), pytest.raises(ConnectionRefusedError):
        _get(server, "/simple/")
    assert _get(server, "/simple/")[0] == 200


def test_index_pypi_headers_option(make_index: Callable[..., IndexServer]) -> None:
    """Per-project options: PyPI's file headers on one project only, HTML-only pages."""
    server = make_index(
        project_options={"Beta_Pkg": ServeOptions(pypi_file_headers=True, json_pages=False)}
    )
    _, headers, _ = _get(server, "/files/Beta_Pkg-0.5-py3-none-any.whl")
    assert headers["x-pypi-file-project"] == "beta-pkg"
    assert headers["x-pypi-file-version"] == "0.5"
    _, headers, _ = _get(server, "/simple/beta-pkg/", {"Accept": JSON_ACCEPT})
    assert headers["Content-Type"] == "text/html"


# -- real pips ---------------------------------------------------------------------------------


def test_current_pip_fills_http_v2(filled_cache_v2: Path, index: IndexServer) -> None:
    """pip 26.3 writes metadata + .body pairs for pages, files, PEP 658 metadata, a redirect."""
    assert not (filled_cache_v2 / "http").exists()
    entries = _entries(filled_cache_v2, "http-v2")
    urls = _expected_urls(index)
    by_key = {cachefactory.http_key(url): what for what, url in urls.items()}
    assert set(entries) == set(by_key), "cache holds exactly the expected URLs"
    for name, meta in entries.items():
        assert meta.parent.relative_to(filled_cache_v2 / "http-v2").parts == tuple(name[:5])
        body_path = meta.with_name(name + ".body")
        assert body_path.is_file(), f"{by_key[name]} has no .body"
        data = cachefactory.read_entry(meta)
        response = data["response"]
        assert list(response) == [
            "body",
            "headers",
            "status",
            "version",
            "reason",
            "decode_content",
        ]
        assert response["body"] == b""
        what = by_key[name]
        body = body_path.read_bytes()
        if what == "redirect":
            assert response["status"] == 301 and body == b""
        elif what.startswith("page"):
            headers = response["headers"]
            assert data["vary"] == cachefactory.PIP_PAGE_REQUEST_HEADERS
            if what == f"page {packages.PLAIN_PAGE_PROJECT}":
                assert "Content-Encoding" not in headers
                assert json.loads(body)["name"] == packages.PLAIN_PAGE_PROJECT
            else:
                assert headers["Content-Encoding"] == "gzip"
                text = gzip.decompress(body).decode()
                if what == f"page {packages.HTML_ONLY_PROJECT}":
                    assert headers["Content-Type"] == "text/html"
                    assert f"<title>Links for {packages.HTML_ONLY_PROJECT}</title>" in text
                else:
                    assert headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
        elif what.startswith("metadata"):
            assert body.startswith(b"Metadata-Version: ")
        else:
            filename = what.split(" ", 1)[1]
            assert body == (index.files_dir / filename).read_bytes()
            has_pypi = "x-pypi-file-project" in response["headers"]
            assert has_pypi == filename.startswith(packages.BETA)


def test_legacy_pip_fills_http(filled_cache_legacy: Path, index: IndexServer) -> None:
    """pip 23.2.1 writes single files under http/ with the body inside and a ``strict`` key."""
    assert not (filled_cache_legacy / "http-v2").exists()
    entries = _entries(filled_cache_legacy, "http")
    urls = _expected_urls(index)
    assert set(entries) == {cachefactory.http_key(url) for url in urls.values()}
    assert not any(p.name.endswith(".body") for p in (filled_cache_legacy / "http").rglob("*"))
    meta = entries[cachefactory.http_key(index.file_url("alpha_pkg-2.0-py3-none-any.whl"))]
    response = cachefactory.read_entry(meta)["response"]
    assert list(response) == [
        "body",
        "headers",
        "status",
        "version",
        "reason",
        "strict",
        "decode_content",
    ]
    assert response["body"] == (index.files_dir / "alpha_pkg-2.0-py3-none-any.whl").read_bytes()


@pytest.mark.parametrize("which", ["current", "legacy"])
def test_sdists_build_into_wheels_dir(
    which: str, filled_cache_v2: Path, filled_cache_legacy: Path, index: IndexServer
) -> None:
    """Both pips build the sdists into ``wheels/<2>/<2>/<2>/<50>/`` with an ``origin.json``."""
    cache = filled_cache_v2 if which == "current" else filled_cache_legacy
    wheels = sorted((cache / "wheels").rglob("*.whl"), key=lambda p: p.name)
    assert [w.name for w in wheels] == [
        "delta_zip-0.1-py3-none-any.whl",
        "gamma-1.2.3-py3-none-any.whl",
    ]
    for wheel in wheels:
        dist = next(d for d in packages.CATALOGUE if wheel.name.startswith(d.stem + "-"))
        sha = hashlib.sha256((index.files_dir / dist.filename).read_bytes()).hexdigest()
        link = f"{index.file_url(dist.filename)}#sha256={sha}"
        assert wheel.parent == cachefactory.wheel_cache_dir(cache, link)
        origin = json.loads((wheel.parent / "origin.json").read_text())
        assert origin == cachefactory.origin_json(index.file_url(dist.filename), sha)
        with zipfile.ZipFile(wheel) as zf:
            assert f"{dist.module}.py" in zf.namelist()


@pytest.mark.parametrize("which", ["current", "legacy"])
def test_second_download_is_served_from_cache(
    which: PipName,
    run_pip: PipRunner,
    index: IndexServer,
    cache_v2: Path,
    cache_legacy: Path,
    tmp_path: Path,
) -> None:
    """A repeated ``pip download`` of a cached wheel requests no file from the index."""
    cache = cache_v2 if which == "current" else cache_legacy
    if which == "current":
        # The session filled the cache long ago on a slow run: let this test's first download
        # cache the page anew, so that it is still fresh when the index is down below.
        page = cachefactory.http_entry_path(cache, index.page_url("alpha-pkg"))
        assert page.is_file(), page
        page.unlink()
        page.with_name(page.name + ".body").unlink()
    index.clear_log()
    args = ["download", "-v", "--no-deps", "-d", str(tmp_path / "dl"), "alpha-pkg==1.0"]
    with index.files_unavailable():
        result = run_pip(which, args, cache, check=True)
    # pip 26.3 prints the file name, pip 23.2 the whole URL.
    assert re.search(r"Using cached \S*alpha_pkg-1\.0-py3-none-any\.whl ", result.stdout), (
        result.stdout
    )
    assert index.file_requests() == []
    if which == "current":
        # pip 26.3 trusts a fresh index page (max-age=600): it works with the index down.
        with index.stopped():
            again = run_pip(which, [*args[:4], str(tmp_path / "dl2"), args[-1]], cache)
        assert again.returncode == 0, again.stderr
    else:
        # pip 23.2 always revalidates index pages (Cache-Control: max-age=0): a 304 here.
        assert ("GET", "/simple/alpha-pkg/", 304) in index.responses()


def test_venvs_with_and_without_pip(
    venv_with_pip: Callable[[str], Path], venv_without_pip: Path
) -> None:
    """``<venv>/bin/python -m pip`` is the chosen test pip, or missing."""
    for which, version in (("legacy", "23.2.1"), ("current", "26.3")):
        venv = venv_with_pip(which)
        result = _run([str(venv_python(venv)), "-m", "pip", "--version"], pip_env())
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"pip {version} from ")
        assert str(Path(".test-pips", which, "pip")) in result.stdout
    result = _run([str(venv_python(venv_without_pip)), "-m", "pip", "--version"], pip_env())
    assert result.returncode != 0 and "No module named pip" in result.stderr


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)


def test_catalogue_misbehaves_as_designed(
    venv_with_pip: Callable[[str], Path], run_pip: PipRunner, index: IndexServer, tmp_path: Path
) -> None:
    """``broken-import`` installs but cannot be imported; ``needs-missing`` makes pip check fail."""
    venv = venv_with_pip("current")
    python = str(venv_python(venv))
    install = [python, "-m", "pip", "install", "--no-deps", "--index-url", index.url]
    install += ["--trusted-host", "127.0.0.1", "--cache-dir", str(tmp_path / "cache")]
    result = _run([*install, packages.BROKEN, packages.NEEDS_MISSING], pip_env())
    assert result.returncode == 0, result.stderr
    imported = _run([python, "-c", "import broken_import"], pip_env())
    assert "ImportError: broken on purpose" in imported.stderr
    check = _run([python, "-m", "pip", "check"], pip_env())
    assert check.returncode == 1
    assert packages.MISSING_DEPENDENCY in check.stdout


# -- cache factory -----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["http-v2", "http"])
def test_factory_entries_are_byte_identical_to_real_ones(
    layout: str, filled_cache_mixed: Path, index: IndexServer, tmp_path: Path
) -> None:
    """Rewriting every real entry from its URL, body and headers gives the very same bytes."""
    write = (
        cachefactory.write_http_v2_entry
        if layout == "http-v2"
        else cachefactory.write_legacy_http_entry
    )
    real = _entries(filled_cache_mixed, layout)
    for url in _expected_urls(index).values():
        meta = real[cachefactory.http_key(url)]
        response = cachefactory.read_entry(meta)["response"]
        body_path = meta.with_name(meta.name + ".body")
        body = body_path.read_bytes() if layout == "http-v2" else response["body"]
        made = write(tmp_path, url, body, response["headers"], response["status"])
        assert made.meta.relative_to(tmp_path) == meta.relative_to(filled_cache_mixed)
        assert made.meta.read_bytes() == meta.read_bytes(), url
        if made.body is not None:
            assert made.body.read_bytes() == body_path.read_bytes()


def test_factory_wheel_selfcheck_and_damage(tmp_path: Path, index: IndexServer) -> None:
    """Wheel entries, selfcheck state and the damage helpers produce what they claim."""
    cache = tmp_path / "cache"
    link = "http://127.0.0.1:1/files/gamma-1.2.3.tar.gz#sha256=" + "ab" * 32
    origin = cachefactory.origin_json(link.split("#")[0], "ab" * 32)
    filename = "gamma-1.2.3-py3-none-any.whl"
    wheel = cachefactory.write_wheel_entry(cache, link, b"PK", filename, origin)
    parts = wheel.parent.relative_to(cache / "wheels").parts
    assert [len(p) for p in parts] == [2, 2, 2, 50]
    assert json.loads((wheel.parent / "origin.json").read_text())["url"].endswith(".tar.gz")

    state = cachefactory.write_selfcheck(cache, key="/some/prefix")
    assert state.name == hashlib.sha224(b"/some/prefix").hexdigest()
    assert json.loads(state.read_text())["key"] == "/some/prefix"
    assert cachefactory.write_selfcheck(cache, legacy_json=True).name == "selfcheck.json"

    body = b"x" * 100
    entry = cachefactory.write_http_v2_entry(
        cache, index.file_url("a.whl"), body, cachefactory.file_headers(body)
    )
    assert entry.body is not None
    cachefactory.set_age(entry.body, 3600)
    old_mtime = entry.body.stat().st_mtime
    assert cachefactory.truncate_body(entry).stat().st_size == 50
    assert entry.body.stat().st_mtime == old_mtime
    tmp = cachefactory.write_stale_tmp(entry.meta)
    assert tmp.name == entry.meta.name + "abcd1234.tmp"
    assert time.time() - tmp.stat().st_mtime > 3600
    cachefactory.garble_metadata(entry.meta)
    with pytest.raises(ValueError):
        cachefactory.read_entry(entry.meta)
    assert cachefactory.orphan_body(entry) == entry.body and not entry.meta.exists()
    assert cachefactory.zero_byte(entry.body).stat().st_size == 0
    legacy = cachefactory.write_legacy_http_entry(
        cache, index.file_url("b.whl"), body, cachefactory.file_headers(body)
    )
    assert cachefactory.read_entry(legacy.meta)["response"]["body"] == body


# -- test levels -------------------------------------------------------------------------------


def _pure(tmp_path: Path) -> None:
    assert tmp_path.name


def _spawns() -> None:
    subprocess.run(["true"], check=False)


def _asks_by_name(request: pytest.FixtureRequest) -> None:
    request.getfixturevalue("cache_legacy")


def _asks_for_a_plain_fixture(request: pytest.FixtureRequest) -> None:
    request.getfixturevalue("tmp_path")


@pytest.mark.parametrize(
    ("fixturenames", "functions", "reason"),
    [
        (["tmp_path", "monkeypatch"], [_pure], None),
        (["tmp_path", "filled_cache_v2"], [_pure], "uses the filled_cache_v2 fixture"),
        (["index", "built_packages"], [_pure], "uses the built_packages fixture"),
        (["venv_without_pip"], [_pure], "uses the venv_without_pip fixture"),
        ([], [_spawns], "runs a child process"),
        (["cache"], [_pure, _spawns], "runs a child process"),
        (["request"], [_asks_by_name], "asks for the cache_legacy fixture"),
        (["cache", "request"], [_pure, _asks_by_name], "asks for the cache_legacy fixture"),
        (["request"], [_asks_for_a_plain_fixture], None),
        ([], [len], None),  # no Python source: judged by its fixtures alone
    ],
)
def test_end_to_end_tests_are_told_from_unit_tests(
    fixturenames: list[str], functions: list[Callable[..., object]], reason: str | None
) -> None:
    """A real pip, the index, a venv or a child process makes a test end-to-end."""
    assert end_to_end_reason(fixturenames, functions) == reason


def test_collection_marks_end_to_end_tests_slow(request: pytest.FixtureRequest) -> None:
    """In this run, each test that drives a real pip is marked ``slow``, and this one is not.

    (Run with ``-m "not slow"``, those tests are not in the run: only the first check bites.)
    """
    assert request.node.get_closest_marker("slow") is None
    driving = [i for i in request.session.items if "run_pip" in getattr(i, "fixturenames", ())]
    assert all(item.get_closest_marker("slow") for item in driving), driving


# -- one source for what is tested and released -----------------------------------------------


def _assigned(path: Path, name: str) -> object:
    """The literal value assigned to ``name`` at the top level of a Python file (not run)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} assigns no {name}")


def test_the_test_command_installs_the_pips_the_fixtures_use() -> None:
    assert _assigned(ROOT / "scripts" / "test.py", "PIP_VERSIONS") == PIP_VERSIONS


def test_the_pythons_tested_are_the_pythons_declared() -> None:
    """nox's interpreters, ``requires-python`` and the classifiers of pyproject.toml agree."""
    pythons = _assigned(ROOT / "noxfile.py", "PYTHONS")
    assert isinstance(pythons, list) and pythons
    # Read as text: tomllib is 3.11+, and the installed metadata may predate the file.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    declared = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    assert declared == pythons
    assert re.findall(r'^requires-python = "(.*)"$', pyproject, re.MULTILINE) == [f">={pythons[0]}"]


def test_the_changelog_has_the_version_and_an_unreleased_section() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "\n## [Unreleased]\n" in changelog
    heading = rf"^## \[{re.escape(pipcachex.__version__)}\] - \d{{4}}-\d\d-\d\d$"
    assert re.search(heading, changelog, re.MULTILINE), "no entry for this version"
