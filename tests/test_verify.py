"""`verify`: every kind of damage is found, named, removed by `--fix`, and a real pip works after.

Each case damages one entry of a cache a real pip wrote, the way the damage happens in the wild
(a full disk, an interrupted write, a half-copied cache), and checks verify's finding, the fix,
and that the same pip then installs (or downloads) without error.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cachefactory
import packages
import platform_needs
import pytest
from cli_helpers import invoke
from conftest import PipName, PipRunner
from index_server import IndexServer
from unprivileged import SOMEONE_ELSE, Runner

ALPHA_WHEEL = "alpha_pkg-2.0-py3-none-any.whl"
BETA_WHEEL = "Beta_Pkg-0.5-py3-none-any.whl"
GAMMA_SDIST = "gamma-1.2.3.tar.gz"
#: A console wide enough that table cells are not folded across lines.
WIDE = {"COLUMNS": "400"}


def _verify(cache: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = invoke(["verify", "--json", "--cache-dir", str(cache), *args])
    document = result.json
    assert document["schema"] == 1, result.stderr
    return result.exit_code, document


def _problems(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document["problems"])


def _layout(which: PipName) -> str:
    return cachefactory.V2_DIR if which == "current" else cachefactory.LEGACY_DIR


def _entry(cache: Path, url: str, which: PipName) -> cachefactory.HttpEntry:
    meta = cachefactory.http_entry_path(cache, url, _layout(which))
    assert meta.is_file(), f"no cache entry for {url}"
    body = meta.with_name(meta.name + ".body") if which == "current" else None
    return cachefactory.HttpEntry(url, meta.name, meta, body)


def _body_bytes(entry: cachefactory.HttpEntry) -> bytes:
    if entry.body is not None:
        return entry.body.read_bytes()
    return bytes(cachefactory.read_entry(entry.meta)["response"]["body"])


def _body_path(entry: cachefactory.HttpEntry) -> Path:
    assert entry.body is not None, "an http-v2 entry has a body file"
    return entry.body


def _replace_body(entry: cachefactory.HttpEntry, data: bytes) -> None:
    """Rewrite a body in place (same headers, so Content-Length still describes the old one)."""
    if entry.body is not None:
        entry.body.write_bytes(data)
        return
    record = cachefactory.read_entry(entry.meta)
    record["response"]["body"] = data
    entry.meta.write_bytes(cachefactory.serialize(record))


def _built_wheel_dir(cache: Path, project: str) -> Path:
    found = [p.parent for p in (cache / "wheels").rglob("*.whl") if p.name.startswith(project)]
    assert len(found) == 1, found
    return found[0]


def _flip_inside_member(data: bytes) -> bytes:
    """Corrupt the compressed bytes of a zip's first member, keeping length and directory."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        first = archive.infolist()[0]
    start = first.header_offset + 30 + len(first.filename.encode()) + len(first.extra)
    middle = start + first.compress_size // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def _assert_found_fixed_and_pip_works(
    cache: Path,
    run_pip: PipRunner,
    which: PipName,
    tmp_path: Path,
    expected: str,
    *,
    deep: bool = False,
    pip_args: tuple[str, ...] = (packages.ALPHA,),
) -> dict[str, Any]:
    """verify finds exactly one problem containing ``expected``; --fix removes it; pip works."""
    flags = ("--deep",) if deep else ()
    code, document = _verify(cache, *flags)
    problems = _problems(document)
    assert code == 1
    assert len(problems) == 1, problems
    problem = problems[0]
    assert expected in problem["problem"]
    assert problem["fixed"] is False
    assert problem["entry"]["kind"] == "damaged"
    assert Path(problem["path"]).exists()

    code, fixed = _verify(cache, *flags, "--fix", "--yes")
    assert code == 0, fixed
    assert [p["fixed"] for p in _problems(fixed)] == [True]
    assert not Path(problem["path"]).exists()
    code, again = _verify(cache, *flags)
    assert (code, _problems(again)) == (0, [])

    dest = tmp_path / f"after-fix-{which}"
    result = run_pip(which, ["download", "--no-deps", "-d", str(dest), *pip_args], cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "deserialization failed" not in result.stderr
    return problem


# -- no false alarms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fixture", ["filled_cache_v2", "filled_cache_legacy", "filled_cache_mixed"]
)
def test_clean_caches_written_by_real_pips_have_no_problems(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    cache: Path = request.getfixturevalue(fixture)
    code, document = _verify(cache, "--deep")
    assert (code, _problems(document)) == (0, [])
    assert document["checked_entries"] > 10
    assert document["deep"] is True


def test_fresh_temp_file_is_not_damage(cache_v2: Path, index: IndexServer) -> None:
    meta = _entry(cache_v2, index.file_url(ALPHA_WHEEL), "current").meta
    cachefactory.write_stale_tmp(meta, age=60)  # a pip is writing it right now
    code, document = _verify(cache_v2)
    assert (code, _problems(document)) == (0, [])


# -- the two failures users meet ------------------------------------------------------------


def test_truncated_index_page_crashes_pip_until_fixed(
    cache_v2: Path, index: IndexServer, run_pip: PipRunner, tmp_path: Path
) -> None:
    entry = _entry(cache_v2, index.page_url(packages.ALPHA), "current")
    cachefactory.truncate_body(entry)
    before = run_pip("current", ["download", "--no-deps", "-d", str(tmp_path / "before"),
                                 packages.ALPHA], cache_v2)  # fmt: skip
    assert before.returncode != 0, "pip was expected to fail on a truncated index page"
    problem = _assert_found_fixed_and_pip_works(
        cache_v2, run_pip, "current", tmp_path, "Content-Length"
    )
    assert problem["entry"]["layout"] == "http-v2"
    assert problem["path"] == str(entry.body)


def test_truncated_wheel_gives_legacy_pip_a_hash_error_until_fixed(
    cache_legacy: Path, index: IndexServer, run_pip: PipRunner, tmp_path: Path
) -> None:
    entry = _entry(cache_legacy, index.file_url(ALPHA_WHEEL), "legacy")
    data = _body_bytes(entry)
    _replace_body(entry, data[: len(data) // 2])
    before = run_pip("legacy", ["install", "--target", str(tmp_path / "t"), "--no-deps",
                                f"{packages.ALPHA}==2.0"], cache_legacy)  # fmt: skip
    assert before.returncode != 0, before.stdout
    problem = _assert_found_fixed_and_pip_works(
        cache_legacy, run_pip, "legacy", tmp_path, "Content-Length"
    )
    assert problem["entry"]["layout"] == "http"
    after = run_pip("legacy", ["install", "--target", str(tmp_path / "t2"), "--no-deps",
                               f"{packages.ALPHA}==2.0"], cache_legacy)  # fmt: skip
    assert after.returncode == 0, after.stdout + after.stderr


# -- every other kind of damage -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Damage:
    """One way to damage a cache: how, on which pip's cache, and what verify must say."""

    name: str
    which: PipName
    expected: str
    apply: Callable[[Path, IndexServer], Path]
    deep: bool = False
    project: str = packages.ALPHA


def _garble(cache: Path, index: IndexServer) -> Path:
    entry = _entry(cache, index.file_url(ALPHA_WHEEL), "current")
    return cachefactory.garble_metadata(entry.meta)


def _garble_legacy(cache: Path, index: IndexServer) -> Path:
    entry = _entry(cache, index.page_url(packages.GAMMA), "legacy")
    return cachefactory.garble_metadata(entry.meta, keep_prefix=False)


def _orphan_body(cache: Path, index: IndexServer) -> Path:
    return cachefactory.orphan_body(_entry(cache, index.file_url(ALPHA_WHEEL), "current"))


def _orphan_meta(cache: Path, index: IndexServer) -> Path:
    return cachefactory.orphan_metadata(_entry(cache, index.page_url(packages.ALPHA), "current"))


def _stale_tmp(cache: Path, index: IndexServer) -> Path:
    meta = _entry(cache, index.file_url(ALPHA_WHEEL), "current").meta
    return cachefactory.write_stale_tmp(meta.with_name(meta.name + ".body"))


def _bad_zip(cache: Path, index: IndexServer) -> Path:
    entry = _entry(cache, index.file_url(ALPHA_WHEEL), "current")
    data = _body_bytes(entry)
    _replace_body(entry, data[:4] + b"\0" * (len(data) - 4))  # same size: only the bytes lie
    return _body_path(entry)


def _bad_zip_legacy(cache: Path, index: IndexServer) -> Path:
    entry = _entry(cache, index.file_url("delta_zip-0.1.zip"), "legacy")
    data = _body_bytes(entry)
    _replace_body(entry, data[: len(data) - 30] + b"\0" * 30)  # the central directory is gone
    return entry.meta


def _bad_tar(cache: Path, index: IndexServer) -> Path:
    entry = _entry(cache, index.file_url(GAMMA_SDIST), "current")
    data = _body_bytes(entry)
    _replace_body(entry, data[:10] + b"\xff" * (len(data) - 10))
    return _body_path(entry)


def _crc_zip(cache: Path, index: IndexServer) -> Path:
    entry = _entry(cache, index.file_url(ALPHA_WHEEL), "current")
    _replace_body(entry, _flip_inside_member(_body_bytes(entry)))
    return _body_path(entry)


def _crc_tar(cache: Path, index: IndexServer) -> Path:
    entry = _entry(cache, index.file_url(GAMMA_SDIST), "legacy")
    data = _body_bytes(entry)
    middle = len(data) // 2
    _replace_body(entry, data[:middle] + bytes([data[middle] ^ 0x55]) + data[middle + 1 :])
    return entry.meta


def _undecodable_page(cache: Path, index: IndexServer) -> Path:
    entry = _entry(cache, index.page_url(packages.ALPHA), "current")
    data = _body_bytes(entry)
    _replace_body(entry, data[:10] + b"\x00garbage!" + data[19:])
    return _body_path(entry)


def _bad_json_page(cache: Path, index: IndexServer) -> Path:
    # The session index never gzips this project's page, so the body is plain JSON.
    entry = _entry(cache, index.page_url(packages.PLAIN_PAGE_PROJECT), "current")
    data = _body_bytes(entry)
    _replace_body(entry, b"{" + b" " * (len(data) - 1))
    return _body_path(entry)


def _empty_page(cache: Path, index: IndexServer) -> Path:
    entry = _entry(cache, index.page_url(packages.ALPHA), "current")
    meta = cachefactory.read_entry(entry.meta)
    meta["response"]["headers"].pop("Content-Length")
    entry.meta.write_bytes(cachefactory.serialize(meta))
    assert entry.body is not None
    return cachefactory.zero_byte(entry.body)


def _bad_built_wheel(cache: Path, index: IndexServer) -> Path:
    wheel = next(_built_wheel_dir(cache, "gamma").glob("*.whl"))
    wheel.write_bytes(b"PK\x03\x04 not really a wheel")
    return wheel


def _zero_built_wheel(cache: Path, index: IndexServer) -> Path:
    return cachefactory.zero_byte(next(_built_wheel_dir(cache, "gamma").glob("*.whl")))


def _bad_origin(cache: Path, index: IndexServer) -> Path:
    origin = _built_wheel_dir(cache, "gamma") / "origin.json"
    origin.write_text('{"url": "http://', encoding="utf-8")
    return origin


def _empty_wheel_dir(cache: Path, index: IndexServer) -> Path:
    directory = _built_wheel_dir(cache, "gamma")
    next(directory.glob("*.whl")).unlink()
    return directory


def _interrupted_build(cache: Path, index: IndexServer) -> Path:
    """A build killed part-way (pip >= 25.3 builds inside the directory): no wheel, a deep tree."""
    directory = _built_wheel_dir(cache, "gamma")
    next(directory.glob("*.whl")).unlink()
    build = directory / "tmpk1ll3d0b"
    module = build / "gamma-1.2.3" / "build" / "lib" / "gamma.py"
    module.parent.mkdir(parents=True)
    module.write_text("VALUE = 1\n", encoding="utf-8")
    (build / "gamma-1.2.3" / "build" / "bdist.linux" / "wheel").mkdir(parents=True)
    for path in [*sorted(build.rglob("*"), key=lambda p: -len(p.parts)), build]:
        cachefactory.set_age(path, cachefactory.STALE_TMP_AGE)
    return directory


def _stale_build_beside_wheel(cache: Path, index: IndexServer) -> Path:
    """A build killed part-way, then a good one: its half-written wheel stays in ``tmp*``."""
    wheel = next(_built_wheel_dir(cache, "gamma").glob("*.whl"))
    build = wheel.parent / "tmp0ld8u1ld"
    build.mkdir()
    partial = build / wheel.name
    partial.write_bytes(wheel.read_bytes()[:100])
    cachefactory.set_age(partial, cachefactory.STALE_TMP_AGE)
    cachefactory.set_age(build, cachefactory.STALE_TMP_AGE)
    return build


def _zero_metadata(cache: Path, index: IndexServer) -> Path:
    return cachefactory.zero_byte(_entry(cache, index.file_url(ALPHA_WHEEL), "legacy").meta)


DAMAGES = [
    Damage("garbled metadata", "current", "invalid msgpack", _garble),
    Damage("metadata without cc=4", "legacy", "cc=4", _garble_legacy, project=packages.GAMMA),
    Damage("orphan body", "current", "body without its metadata", _orphan_body),
    Damage("orphan metadata", "current", "metadata without its body", _orphan_meta),
    Damage("stale temp file", "current", "stale temporary file", _stale_tmp),
    Damage("wheel body not a zip", "current", "not a readable zip", _bad_zip),
    Damage(
        "zip sdist body not a zip",
        "legacy",
        "not a readable zip",
        _bad_zip_legacy,
        project=packages.DELTA,
    ),
    Damage(
        "sdist body not a tar", "current", "not a readable tar", _bad_tar, project=packages.GAMMA
    ),
    Damage("zip member CRC", "current", "CRC", _crc_zip, deep=True),
    Damage(
        "tar member", "legacy", "not a readable tar", _crc_tar, deep=True, project=packages.GAMMA
    ),
    Damage("index page not gzip", "current", "does not decode", _undecodable_page),
    Damage(
        "index page bad JSON",
        "current",
        "not valid JSON",
        _bad_json_page,
        project=packages.PLAIN_PAGE_PROJECT,
    ),
    Damage("empty index page", "current", "index page body is empty", _empty_page),
    Damage(
        "built wheel not a zip",
        "current",
        "built wheel is not a readable zip",
        _bad_built_wheel,
        project=packages.GAMMA,
    ),
    Damage(
        "zero-byte built wheel", "legacy", "zero-byte", _zero_built_wheel, project=packages.GAMMA
    ),
    Damage(
        "unreadable origin.json",
        "current",
        "origin.json is unreadable",
        _bad_origin,
        project=packages.GAMMA,
    ),
    Damage(
        "wheel dir without .whl",
        "legacy",
        "holds no .whl",
        _empty_wheel_dir,
        project=packages.GAMMA,
    ),
    Damage(
        "interrupted build tree",
        "current",
        "holds no .whl",
        _interrupted_build,
        project=packages.GAMMA,
    ),
    Damage(
        "stale build beside a good wheel",
        "current",
        "stale build directory",
        _stale_build_beside_wheel,
        project=packages.GAMMA,
    ),
    Damage("zero-byte metadata", "legacy", "metadata file is empty", _zero_metadata),
]


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.name for d in DAMAGES])
def test_damage_is_found_fixed_and_pip_works_after(
    damage: Damage,
    request: pytest.FixtureRequest,
    index: IndexServer,
    run_pip: PipRunner,
    tmp_path: Path,
) -> None:
    cache: Path = request.getfixturevalue(
        "cache_v2" if damage.which == "current" else "cache_legacy"
    )
    culprit = damage.apply(cache, index)
    if damage.deep:
        code, document = _verify(cache)
        assert (code, _problems(document)) == (0, []), "only --deep reads every member"
    problem = _assert_found_fixed_and_pip_works(
        cache, run_pip, damage.which, tmp_path, damage.expected, deep=damage.deep,
        pip_args=(damage.project,),
    )  # fmt: skip
    assert problem["path"] == str(culprit)


def test_removing_a_stale_build_keeps_the_good_wheel_beside_it(
    cache_v2: Path, index: IndexServer
) -> None:
    build = _stale_build_beside_wheel(cache_v2, index)
    wheel = next(build.parent.glob("*.whl"))
    listed = invoke(["list", "--json", "--cache-dir", str(cache_v2), "gamma"]).json["entries"]
    kinds = {(e["kind"], e["path"], e["version"]) for e in listed if e["layout"] == "wheels"}
    assert kinds == {
        ("built-wheel", str(wheel.parent), "1.2.3"),
        ("damaged", str(build), "1.2.3"),
    }
    code, fixed = _verify(cache_v2, "--fix", "--yes")
    assert code == 0, fixed
    assert not build.exists()
    assert wheel.is_file(), "the good wheel stays"
    # A purge of the project removes both, and the directory with them.
    _stale_build_beside_wheel(cache_v2, index)
    purged = invoke(["purge", "--cache-dir", str(cache_v2), "gamma", "--kind", "built-wheel",
                     "--kind", "damaged", "--yes", "--json"])  # fmt: skip
    assert purged.exit_code == 0, purged.stderr
    assert purged.json["failed"] == []
    assert sorted(e["kind"] for e in purged.json["removed"]) == ["built-wheel", "damaged"]
    assert not wheel.parent.exists()


# -- the command's contract ---------------------------------------------------------------------


def test_fix_without_terminal_needs_yes_and_dry_run_changes_nothing(
    cache_v2: Path, index: IndexServer
) -> None:
    body = _orphan_body(cache_v2, index)
    refused = invoke(["verify", "--fix", "--cache-dir", str(cache_v2)], env=WIDE)
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert body.exists()
    dry = invoke(["verify", "--fix", "--dry-run", "--cache-dir", str(cache_v2)], env=WIDE)
    assert dry.exit_code == 1
    assert body.exists()
    assert "body without its metadata file" in dry.stdout


def test_human_output_names_the_problem_and_exit_code(cache_v2: Path, index: IndexServer) -> None:
    cachefactory.orphan_metadata(_entry(cache_v2, index.page_url(packages.GAMMA), "current"))
    result = invoke(["verify", "--cache-dir", str(cache_v2)], env=WIDE)
    assert result.exit_code == 1
    assert "metadata without its body file" in result.stdout
    assert "1 damaged" in result.stderr
    fixed = invoke(["verify", "--fix", "-y", "--cache-dir", str(cache_v2)])
    assert fixed.exit_code == 0, fixed.stderr
    assert "1 removed" in fixed.stderr


def test_json_document_shape(cache_v2: Path, index: IndexServer) -> None:
    stale = _stale_tmp(cache_v2, index)
    code, document = _verify(cache_v2)
    assert code == 1
    assert set(document) >= {"schema", "problems", "checked_entries"}
    assert document["checked_entries"] > 1
    (problem,) = document["problems"]
    assert set(problem) >= {"path", "entry", "problem", "fixed"}
    assert problem["path"] == str(stale) and problem["fixed"] is False
    assert isinstance(problem["problem"], str) and problem["problem"]
    listed = invoke(["list", "--json", "--cache-dir", str(cache_v2), "--kind", "damaged"]).json
    assert problem["entry"] == listed["entries"][0]


# -- litter, empty directories, unreadable entries ----------------------------------------------


def _wheel_files(cache: Path) -> list[Path]:
    return sorted((cache / "wheels").rglob("*.whl"))


def _ds_store_in_wheels(cache: Path, outside: Path) -> Path:
    path = cache / "wheels" / ".DS_Store"
    path.write_bytes(b"\0\0\0\1Bud1")
    return path


def _notes_in_first_level(cache: Path, outside: Path) -> Path:
    first = _wheel_files(cache)[0].relative_to(cache / "wheels").parts[0]
    path = cache / "wheels" / first / "notes.txt"
    path.write_text("built these by hand\n", encoding="utf-8")
    return path


def _symlinked_dir_in_wheels(cache: Path, outside: Path) -> Path:
    platform_needs.require("symlinks")
    path = cache / "wheels" / "linkdir"
    path.symlink_to(outside, target_is_directory=True)
    return path


@pytest.mark.parametrize(
    "place", [_ds_store_in_wheels, _notes_in_first_level, _symlinked_dir_in_wheels]
)
def test_litter_in_wheels_keeps_every_built_wheel(
    mixed_cache: Path, tmp_path: Path, place: Callable[[Path, Path], Path]
) -> None:
    """The issue's cases: one foreign file or link in wheels/ turned every wheel into damage."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep\n", encoding="utf-8")
    wheels = _wheel_files(mixed_cache)
    assert len(wheels) >= 2
    listing = ["list", "--json", "--cache-dir", str(mixed_cache), "--kind", "built-wheel"]
    built = invoke(listing).json["entries"]
    assert len(built) == len(wheels)

    litter = place(mixed_cache, outside)
    assert invoke(listing).json["entries"] == built
    unknown = invoke(["list", "--json", "--cache-dir", str(mixed_cache), "--kind", "unknown"])
    assert [e["path"] for e in unknown.json["entries"]] == [str(litter)]
    code, document = _verify(mixed_cache, "--fix", "--yes")
    assert (code, _problems(document)) == (0, [])
    assert _wheel_files(mixed_cache) == wheels
    assert os.path.lexists(litter)
    assert (outside / "keep.txt").is_file()


def test_a_damaged_wheel_beside_litter_removes_only_its_own_files(
    cache_v2: Path, index: IndexServer
) -> None:
    directory = _built_wheel_dir(cache_v2, "gamma")
    cachefactory.zero_byte(next(directory.glob("*.whl")))
    note = directory / "README"
    note.write_text("mine\n", encoding="utf-8")
    others = [w for w in _wheel_files(cache_v2) if w.parent != directory]
    code, document = _verify(cache_v2, "--fix", "--yes")
    assert code == 0, document
    (problem,) = _problems(document)
    assert problem["code"] == "zero-byte-wheel"
    assert str(note) not in problem["entry"]["paths"]
    assert problem["fixed"] is True
    assert [p.name for p in directory.iterdir()] == ["README"], "the note is not the wheel's"
    assert _wheel_files(cache_v2) == others


def test_an_empty_built_wheel_directory_has_its_directory_age(
    cache_v2: Path, index: IndexServer
) -> None:
    directory = _built_wheel_dir(cache_v2, "gamma")
    for path in directory.iterdir():
        path.unlink()
    cachefactory.set_age(directory, 3 * 86400)
    document = invoke(["list", "--json", "--cache-dir", str(cache_v2), "--kind", "damaged"]).json
    (entry,) = document["entries"]
    assert (entry["path"], entry["paths"]) == (str(directory), [])
    assert entry["problem_code"] == "no-wheel"
    assert not entry["last_used"].startswith("1970"), entry
    assert entry["created"] == entry["last_used"]
    code, fixed = _verify(cache_v2, "--fix", "--yes")
    assert code == 0, fixed
    assert not directory.exists()


def test_fix_quiet_prints_no_table(cache_v2: Path, index: IndexServer) -> None:
    body = _orphan_body(cache_v2, index)
    result = invoke(["verify", "--fix", "--yes", "-q", "--cache-dir", str(cache_v2)], env=WIDE)
    assert result.exit_code == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    assert not body.exists()


@pytest.mark.parametrize("how", ["mode-0000", "another-owner"])
def test_unreadable_entries_are_reported_and_never_removed(
    filled_cache_mixed: Path, shared_tmp: Path, unprivileged_runner: Runner, how: str
) -> None:
    """A shared cache: what this user cannot read is reported, and no fix or purge removes it."""
    if how == "another-owner" and os.geteuid() != 0:
        pytest.skip("files of another owner can only be made by root (os.chown)")
    cache = shared_tmp / "cache"
    shutil.copytree(filled_cache_mixed, cache, copy_function=shutil.copy2)
    for path in [cache, *cache.rglob("*")]:
        # Group- and world-writable, as a shared cache is: removing would succeed if tried.
        path.chmod(0o777 if path.is_dir() else 0o666)
    body = next(p for p in (cache / "http-v2").rglob("*.body") if p.stat().st_size > 1000)
    legacy = next(p for p in (cache / "http").rglob("*") if p.is_file())
    wheel = next(_built_wheel_dir(cache, "gamma").glob("*.whl"))
    directory = _built_wheel_dir(cache, "delta")
    locked = [body, legacy, wheel, directory]
    for path in locked:
        if how == "another-owner":
            os.chown(path, SOMEONE_ELSE, SOMEONE_ELSE)
            path.chmod(0o700 if path.is_dir() else 0o600)
        else:
            path.chmod(0o000)

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        result = unprivileged_runner.run([*args, "--json", "--cache-dir", str(cache)], shared_tmp)
        return result.returncode, json.loads(result.stdout)

    try:
        code, document = run("verify", "--fix", "--yes")
        assert code == 1, document
        reported = {p["path"]: p for p in document["problems"]}
        # The scanner reads a built wheel's name, not its bytes: it stays a built wheel.
        kinds = {body: "unknown", legacy: "unknown", wheel: "built-wheel", directory: "unknown"}
        for path, kind in kinds.items():
            problem = reported[str(path)]
            assert (problem["code"], problem["fixed"]) == ("unreadable", False), problem
            assert problem["entry"]["kind"] == kind
            assert "cannot be read" in problem["problem"]
        assert [p for p in document["problems"] if p["code"] != "unreadable"] == []
        assert all(os.path.lexists(path) for path in locked)

        code, purged = run("purge", "--kind", "damaged", "--yes")
        assert code == 0, purged
        assert all(os.path.lexists(path) for path in locked)
        code, listed = run("list", "--kind", "damaged")
        assert (code, listed["entries"]) == (0, [])
    finally:
        for path in locked:
            path.chmod(0o777 if path.is_dir() else 0o666)
