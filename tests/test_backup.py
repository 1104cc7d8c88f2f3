"""`backup`, `backups` and `restore`: round trips with real pips, damaged archives, full disks."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import packages
import pytest
from cli_helpers import CliResult, invoke
from conftest import PipRunner, pip_env
from index_server import IndexServer

from pipcachex.backup import BackupError, backup_entries
from pipcachex.cache import scan_cache
from pipcachex.units import format_size

Snapshot = dict[str, tuple[bytes, int]]
#: The machine's pip configuration must not reach the pip that ``purge`` runs.
PIP_ENV = {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


@pytest.fixture(autouse=True)
def backup_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own default backups directory (never the user's data dir)."""
    directory = tmp_path / "backups"
    monkeypatch.setenv("PIPCACHEX_BACKUP_DIR", str(directory))
    return directory


def snapshot(root: Path) -> Snapshot:
    """Every file under ``root``: bytes and mtime (ns), by path relative to ``root``.

    pipcachex's lock file at the top is left out: it stays once a destructive command ran.
    """
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).as_posix() != ".pipcachex.lock"
    }


def wipe(root: Path) -> None:
    """Empty the cache directory (keeping it), as a full purge would."""
    for child in root.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def backup(cache: Path, *args: str) -> dict[str, Any]:
    result = invoke(["backup", "--json", "--cache-dir", str(cache), *args])
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = result.json
    assert Path(document["archive"]).is_file()
    return document


def restore(cache: Path, *args: str) -> CliResult:
    return invoke(["restore", "--json", "--cache-dir", str(cache), *args])


def manifest_of(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        first = tar.next()
        assert first is not None and first.name == "manifest.json"
        stream = tar.extractfile(first)
        assert stream is not None
        data: dict[str, Any] = json.loads(stream.read())
        return data


# -- round trips -------------------------------------------------------------------------------


def test_round_trip_then_real_pip_installs_offline(
    cache_v2: Path, run_pip: PipRunner, index: IndexServer, tmp_path: Path, backup_dir: Path
) -> None:
    """Fill (real pip), back up, purge all, restore: same bytes and mtimes; pip installs offline."""
    before = snapshot(cache_v2)
    document = backup(cache_v2)
    assert Path(document["archive"]).parent == backup_dir
    assert document["files"] == len(before)
    assert document["compression"] == "none"
    assert document["archive"].endswith(".tar")

    purged = invoke(["purge", "--yes", "--cache-dir", str(cache_v2)], env=PIP_ENV)
    assert purged.exit_code == 0, purged.stderr
    # Only pipcachex's own lock file stays (see pipcachex.lock).
    assert [p.name for p in cache_v2.rglob("*") if p.is_file()] in ([], [".pipcachex.lock"])
    result = restore(cache_v2)
    assert result.exit_code == 0, result.stderr
    report = result.json
    assert report["archive"] == document["archive"]
    assert report["mode"] == "merge"
    assert sorted(report["added"]) == sorted(before)
    assert report["kept_different"] == [] and report["problems"] == []
    assert snapshot(cache_v2) == before

    installs = [
        [f"{packages.ALPHA}=={packages.ALPHA_VERSIONS[0]}", packages.BETA, packages.BROKEN],
        [f"{packages.ALPHA}=={packages.ALPHA_VERSIONS[1]}", packages.NEEDS_MISSING],
        list(packages.SDIST_PROJECTS),
    ]
    with index.stopped():
        for number, projects in enumerate(installs):
            target = tmp_path / f"site-{number}"
            args = ["install", "--no-deps", "--no-build-isolation", "--target", str(target)]
            run_pip("current", [*args, *projects], cache_v2, check=True)
    assert (tmp_path / "site-2" / "gamma.py").is_file()


@pytest.mark.parametrize("compression", ["none", "gz", "xz"])
def test_round_trip_of_both_layouts_in_every_compression(
    mixed_cache: Path, compression: str, tmp_path: Path
) -> None:
    before = snapshot(mixed_cache)
    suffix = {"none": ".tar", "gz": ".tar.gz", "xz": ".tar.xz"}[compression]
    (tmp_path / "out").mkdir()
    document = backup(mixed_cache, "--to", str(tmp_path / "out"), "--compression", compression)
    assert document["archive"].endswith(suffix) and document["compression"] == compression
    wipe(mixed_cache)
    result = restore(mixed_cache, document["archive"])
    assert result.exit_code == 0, result.stderr
    assert snapshot(mixed_cache) == before


def test_manifest_records_every_file_first_in_the_archive(cache_v2: Path, tmp_path: Path) -> None:
    archive = tmp_path / "named.tar.gz"
    document = backup(cache_v2, "--to", str(archive))
    assert document["archive"] == str(archive) and document["compression"] == "gz"
    manifest = manifest_of(archive)
    assert manifest["format"] == "pipcachex-backup" and manifest["format_version"] == 1
    assert manifest["source_cache_dir"] == str(cache_v2)
    assert manifest["pipcachex_version"] and manifest["created"].endswith("Z")
    assert {p["package"] for p in manifest["projects"]} >= {"alpha-pkg", "gamma"}
    files = {f["path"]: f for f in manifest["files"]}
    assert set(files) == set(snapshot(cache_v2))
    for path, record in files.items():
        on_disk = cache_v2 / path
        assert record["size"] == on_disk.stat().st_size
        assert record["mtime_ns"] == on_disk.stat().st_mtime_ns
        assert record["sha256"] == hashlib.sha256(on_disk.read_bytes()).hexdigest()
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        member = tar.getmember("cache/" + next(iter(files)))
        assert member.mtime == files[member.name[6:]]["mtime_ns"] // 1_000_000_000
    assert names == ["manifest.json", *("cache/" + p for p in files)]


def test_selectors_back_up_whole_entries(cache_v2: Path) -> None:
    listed = invoke(["list", "--json", "--cache-dir", str(cache_v2), packages.ALPHA])
    wanted = {
        Path(p).relative_to(cache_v2).as_posix() for e in listed.json["entries"] for p in e["paths"]
    }
    assert any(p.endswith(".body") for p in wanted)
    document = backup(cache_v2, packages.ALPHA, "--kind", "distribution", "--kind", "index-page")
    manifest = manifest_of(Path(document["archive"]))
    recorded = {f["path"] for f in manifest["files"]}
    assert recorded and recorded <= wanted
    for path in recorded:
        # Both halves of an http-v2 entry travel together.
        partner = path[:-5] if path.endswith(".body") else path + ".body"
        assert partner in recorded
    assert [p["package"] for p in document["projects"]] == ["alpha-pkg"]


def test_backups_lists_manifests_and_restore_takes_the_newest(
    cache_v2: Path, backup_dir: Path
) -> None:
    first = backup(cache_v2, "gamma")
    second = backup(cache_v2)
    (backup_dir / "notes.tar").write_bytes(b"not a tar file at all")
    listing = invoke(["backups", "--json"])
    assert listing.exit_code == 0
    rows = {Path(b["path"]).name: b for b in listing.json["backups"]}
    assert rows[Path(first["archive"]).name]["entries"] == first["entries"]
    assert rows[Path(second["archive"]).name]["files"] == second["files"]
    assert rows["notes.tar"]["problem"]
    human = invoke(["backups"], env={"COLUMNS": "200"})
    assert Path(second["archive"]).name in human.stdout
    result = restore(cache_v2, "--dry-run")
    assert result.exit_code == 0 and result.json["archive"] == second["archive"]
    assert result.json["identical"] == second["files"]


def test_backups_lists_a_directory_given_to_backup_to(
    cache_v2: Path, backup_dir: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made = backup(cache_v2, "--to", str(elsewhere))
    assert invoke(["backups", "--json"]).json["backups"] == [], "not in the backups directory"
    listing = invoke(["backups", str(elsewhere), "--json"])
    assert listing.exit_code == 0, listing.stderr
    assert [b["path"] for b in listing.json["backups"]] == [made["archive"]]
    for bad, problem in (
        (tmp_path / "missing", "does not exist"),
        (Path(made["archive"]), "is not a directory"),
    ):
        refused = invoke(["backups", str(bad)])
        assert refused.exit_code == 2
        assert f"{str(bad)!r} {problem}" in refused.stderr


def test_backups_with_cache_dir_lists_only_that_caches_backups(
    cache_v2: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-cache"
    shutil.copytree(cache_v2, other)
    mine = backup(cache_v2, "gamma")
    theirs = backup(other, "gamma")
    everything = invoke(["backups", "--json"]).json["backups"]
    assert {b["path"] for b in everything} == {mine["archive"], theirs["archive"]}
    for cache, made in ((cache_v2, mine), (other, theirs)):
        listing = invoke(["backups", "--json", "--cache-dir", str(cache)])
        assert listing.exit_code == 0, listing.stderr
        assert [b["path"] for b in listing.json["backups"]] == [made["archive"]]


# -- merge and replace -------------------------------------------------------------------------


def _http_bodies(cache: Path) -> list[Path]:
    return sorted(cache.glob("http-v2/**/*.body"))


def test_merge_adds_missing_keeps_different_and_reports_it(cache_v2: Path) -> None:
    document = backup(cache_v2)
    changed, gone = _http_bodies(cache_v2)[:2]
    changed.write_bytes(b"a different body")
    gone.unlink()
    result = restore(cache_v2)
    assert result.exit_code == 0, result.stderr
    report = result.json
    assert report["added"] == [gone.relative_to(cache_v2).as_posix()]
    assert report["kept_different"] == [changed.relative_to(cache_v2).as_posix()]
    assert report["identical"] == document["files"] - 2
    assert changed.read_bytes() == b"a different body" and gone.is_file()
    size = format_size(gone.stat().st_size)
    gone.unlink()
    preview = invoke(["restore", "--dry-run", "--cache-dir", str(cache_v2)])
    assert f"Would add 1 files ({size}) to" in preview.stdout
    human = invoke(["restore", "--cache-dir", str(cache_v2)])
    assert f"Added 1 files ({size}) to" in human.stdout
    assert "Kept 1 cache files that differ" in human.stdout


def test_replace_needs_yes_without_terminal_and_then_mirrors_the_backup(cache_v2: Path) -> None:
    before = snapshot(cache_v2)
    backup(cache_v2)
    changed = _http_bodies(cache_v2)[0]
    changed.write_bytes(b"a different body")
    # A first-level name pip did not use: its built wheels land under a hash of the URL, and
    # the index's port changes from run to run.
    wheels = cache_v2 / "wheels"
    first = next(name for name in (f"{i:02x}" for i in range(256)) if not (wheels / name).exists())
    extra = wheels / first / "bb" / "cc" / ("d" * 50)
    extra.mkdir(parents=True)
    (extra / "extra_pkg-1.0-py3-none-any.whl").write_bytes(b"PK not really")
    modified = snapshot(cache_v2)

    refused = invoke(["restore", "--replace", "--cache-dir", str(cache_v2)])
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    dry = restore(cache_v2, "--replace", "--dry-run")
    assert dry.exit_code == 0 and dry.json["dry_run"] is True
    assert {e["package"] for e in dry.json["removed"]} >= {"extra-pkg"}
    assert snapshot(cache_v2) == modified

    result = restore(cache_v2, "--replace", "--yes")
    assert result.exit_code == 0, result.stderr
    assert result.json["mode"] == "replace" and result.json["kept_different"] == []
    assert snapshot(cache_v2) == before
    assert not (wheels / first).exists()


# -- damaged and hostile archives --------------------------------------------------------------


def _rewrite(archive: Path, dest: Path, edit: Any) -> Path:
    """Copy a plain tar member by member, letting ``edit(info, data)`` change or drop members."""
    with tarfile.open(archive) as src, tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as out:
        for info in src.getmembers():
            stream = src.extractfile(info)
            data = stream.read() if stream else b""
            for new_info, new_data in edit(info, data):
                new_info.size = len(new_data)
                out.addfile(new_info, io.BytesIO(new_data))
    return dest


def _first_cache_member_with_data(archive: Path) -> tarfile.TarInfo:
    # Which member comes first depends on hashed names (the index's port is in the URLs), and
    # an empty member (a redirect's body) has no data byte to damage.
    with tarfile.open(archive) as tar:
        return next(m for m in tar.getmembers()[1:] if m.size > 1)


def _flip_in_member(archive: Path, dest: Path) -> Path:
    member = _first_cache_member_with_data(archive)
    data = bytearray(archive.read_bytes())
    data[member.offset_data + member.size // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


def _flip_gz(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar, tarfile.open(dest, "w:gz") as out:
        for info in tar.getmembers():
            out.addfile(info, tar.extractfile(info))
    data = bytearray(dest.read_bytes())
    data[len(data) // 2] ^= 0x01
    dest.write_bytes(bytes(data))
    return dest


def _truncate_in_data(archive: Path, dest: Path) -> Path:
    member = _first_cache_member_with_data(archive)
    dest.write_bytes(archive.read_bytes()[: member.offset_data + member.size // 2])
    return dest


def _truncate_at_header(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        member = tar.getmembers()[3]
    dest.write_bytes(archive.read_bytes()[: member.offset])
    return dest


def _no_manifest(archive: Path, dest: Path) -> Path:
    return _rewrite(archive, dest, lambda i, d: [] if i.name == "manifest.json" else [(i, d)])


def _dotdot_member(archive: Path, dest: Path) -> Path:
    def edit(info: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
        if info.name.endswith(".body") and not hasattr(edit, "done"):
            edit.done = True  # type: ignore[attr-defined]
            info.name = "cache/../../escaped.txt"
        return [(info, data)]

    return _rewrite(archive, dest, edit)


def _symlink_member(archive: Path, dest: Path) -> Path:
    def edit(info: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
        if info.name.endswith(".body") and not hasattr(edit, "done"):
            edit.done = True  # type: ignore[attr-defined]
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            return [(info, b"")]
        return [(info, data)]

    return _rewrite(archive, dest, edit)


def _extra_member(archive: Path, dest: Path) -> Path:
    def edit(info: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
        if info.name == "manifest.json":
            return [(info, data), (tarfile.TarInfo("cache/http-v2/planted"), b"x")]
        return [(info, data)]

    return _rewrite(archive, dest, edit)


def _manifest_lies(archive: Path, dest: Path) -> Path:
    def edit(info: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
        if info.name == "manifest.json":
            data = data.replace(b'"size": 0', b'"size": 1', 1).replace(
                b'"size": 1', b'"size": 2', 1
            )
        return [(info, data)]

    return _rewrite(archive, dest, edit)


def _special_member(kind: bytes) -> Any:
    """A damage function turning the first body member into a member of tar type ``kind``."""

    def damage(archive: Path, dest: Path) -> Path:
        def edit(info: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
            if info.name.endswith(".body") and not hasattr(edit, "done"):
                edit.done = True  # type: ignore[attr-defined]
                info.type, info.linkname = kind, "cache/" + info.name
                return [(info, b"")]
            return [(info, data)]

        return _rewrite(archive, dest, edit)

    damage.__name__ = f"_member_of_type_{kind.decode()}"
    return damage


def _bad_header_checksum(archive: Path, dest: Path) -> Path:
    # A header in the middle whose checksum no longer matches (tarfile used to stop there
    # quietly, so such an archive was reported as lacking files).
    with tarfile.open(archive) as tar:
        member = tar.getmembers()[3]
    data = bytearray(archive.read_bytes())
    data[member.offset + 130] ^= 0x01  # a digit of the size field
    dest.write_bytes(bytes(data))
    return dest


def _global_pax_header(archive: Path, dest: Path) -> Path:
    with (
        tarfile.open(archive) as src,
        tarfile.open(
            dest, "w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "global"}
        ) as out,
    ):
        for info in src.getmembers():
            out.addfile(info, src.extractfile(info))
    return dest


def _gnu_dialect(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as src, tarfile.open(dest, "w", format=tarfile.GNU_FORMAT) as out:
        for info in src.getmembers():
            out.addfile(info, src.extractfile(info))
    return dest


def _truncate_compressed(suffix: str) -> Any:
    def damage(archive: Path, dest: Path) -> Path:
        mode = {".gz": "w:gz", ".xz": "w:xz"}[suffix]
        whole = dest.with_suffix(".whole" + suffix)
        with tarfile.open(archive) as tar, tarfile.open(whole, mode) as out:  # type: ignore[call-overload]
            for info in tar.getmembers():
                out.addfile(info, tar.extractfile(info))
        data = whole.read_bytes()
        dest.write_bytes(data[: len(data) * 2 // 3])
        return dest

    damage.__name__ = f"_truncate{suffix}"
    return damage


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_flip_in_member, "does not match its recorded sha256"),
        (_flip_gz, "damaged|does not match"),
        (_truncate_in_data, "truncated"),
        (_truncate_at_header, "lacks"),
        (_no_manifest, "no manifest.json"),
        (_dotdot_member, "not a safe relative path"),
        (_symlink_member, "not a regular file"),
        (_extra_member, "not in the manifest"),
        (_manifest_lies, "does not match its checksum"),
        (_special_member(tarfile.LNKTYPE), "not a regular file"),
        (_special_member(tarfile.CHRTYPE), "not a regular file"),
        (_special_member(tarfile.FIFOTYPE), "not a regular file"),
        (_bad_header_checksum, "damaged.*does not match its checksum"),
        (_global_pax_header, "global pax header"),
        (_gnu_dialect, "not POSIX ustar"),
        (_truncate_compressed(".gz"), "damaged or truncated"),
        (_truncate_compressed(".xz"), "damaged or truncated"),
    ],
)
def test_damaged_archive_changes_nothing(
    cache_v2: Path, tmp_path: Path, damage: Any, expected: str
) -> None:
    document = backup(cache_v2, "--to", str(tmp_path / "good.tar"))
    damaged = damage(Path(document["archive"]), tmp_path / "damaged.tar")
    wipe(cache_v2)
    for args in ([], ["--replace", "--yes"], ["--dry-run"]):
        result = restore(cache_v2, str(damaged), *args)
        assert result.exit_code == 1, (damage.__name__, result.stdout, result.stderr)
        assert re.search(expected, result.json["error"]["message"])
        assert list(cache_v2.iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists()


# -- writing safely ----------------------------------------------------------------------------


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))


def test_disk_full_leaves_no_archive(cache_v2: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "pipcachex", "backup", "--cache-dir", str(cache_v2)]
    result = subprocess.run(
        [*command, "--to", str(out)],
        env={**pip_env(), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "no backup written" in result.stderr and "File too large" in result.stderr
    assert list(out.iterdir()) == []


def test_vanishing_file_leaves_no_archive(cache_v2: Path, tmp_path: Path) -> None:
    scan = scan_cache(cache_v2)
    _http_bodies(cache_v2)[-1].unlink()
    with pytest.raises(BackupError, match="vanished"):
        backup_entries(cache_v2, scan.entries, tmp_path)
    assert [p for p in tmp_path.iterdir() if p.is_file()] == []


def test_backup_entries_api_for_purge(cache_v2: Path, tmp_path: Path) -> None:
    scan = scan_cache(cache_v2)
    chosen = [e for e in scan.entries if e.package == "gamma"]
    result = backup_entries(cache_v2, chosen, tmp_path / "gamma.tar.xz")
    assert result.archive == tmp_path / "gamma.tar.xz"
    assert result.manifest.entries == len(chosen) and result.compression.value == "xz"
    assert {p["package"] for p in result.manifest.projects} == {"gamma"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "{cache}/inside.tar"], "inside the cache directory"),
        (["--to", "{existing}"], "already exists"),
        (["--to", "{tmp}/no/such/dir/x.tar"], "is not a directory"),
        (["--compression", "zip"], "zip"),
    ],
)
def test_backup_bad_usage(cache_v2: Path, tmp_path: Path, args: list[str], message: str) -> None:
    existing = tmp_path / "existing.tar"
    existing.write_bytes(b"")
    values = {"cache": cache_v2, "existing": existing, "tmp": tmp_path}
    filled = [a.format(**values) for a in args]
    result = invoke(["backup", "--cache-dir", str(cache_v2), *filled])
    assert result.exit_code == 2 and message in result.stderr
    assert not (cache_v2 / "inside.tar").exists()


def test_restore_without_backups_or_with_a_missing_archive(cache_v2: Path) -> None:
    none_yet = invoke(["restore", "--cache-dir", str(cache_v2)])
    assert none_yet.exit_code == 1 and "no backup found" in none_yet.stderr
    missing = invoke(["restore", "--cache-dir", str(cache_v2), "nowhere.tar"])
    assert missing.exit_code == 2 and "'nowhere.tar'" in missing.stderr


def test_restored_files_keep_recorded_atime(cache_v2: Path) -> None:
    body = _http_bodies(cache_v2)[0]
    os.utime(body, ns=(1_000_000_000_000_000_000, body.stat().st_mtime_ns))
    backup(cache_v2)
    body.unlink()
    assert restore(cache_v2).exit_code == 0
    assert body.stat().st_atime_ns == 1_000_000_000_000_000_000


def test_backups_directory_that_is_a_file(cache_v2: Path, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "backups-is-a-file"
    not_a_dir.write_text("")
    result = invoke(
        ["backup", "--cache-dir", str(cache_v2)], env={"PIPCACHEX_BACKUP_DIR": str(not_a_dir)}
    )
    assert result.exit_code == 1 and "not a directory" in result.stderr
    assert not_a_dir.read_text() == ""


@pytest.mark.parametrize(("name", "copying_from"), [("x.tar", 0.5), ("x.tar.gz", 1.5)])
def test_interrupted_backup_leaves_nothing(
    cache_v2: Path, tmp_path: Path, name: str, copying_from: float
) -> None:
    """Ctrl-C in the middle of writing (raised from the progress callback) leaves no file.

    An uncompressed backup reads each file once, while copying it; a compressed one hashes
    every file first and copies in a second read.
    """
    out = tmp_path / "out"
    out.mkdir()
    total_bytes = sum(e.size for e in scan_cache(cache_v2).entries)
    seen: list[int] = []

    def interrupt(done: int, total: int) -> None:
        seen.append(total)
        if done > total_bytes * copying_from:  # the archive is being written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backup_entries(cache_v2, scan_cache(cache_v2).entries, out / name, on_progress=interrupt)
    gc.collect()  # a compressor left open would now write into its closed file, and fail here
    assert list(out.iterdir()) == []
    assert seen[-1] == total_bytes * round(copying_from + 0.5)


def test_restore_onto_a_fresh_machine_creates_the_cache_dir(cache_v2: Path, tmp_path: Path) -> None:
    """A CI runner restoring yesterday's backup has no cache directory yet."""
    document = backup(cache_v2, "--to", str(tmp_path / "cache.tar"))
    fresh = tmp_path / "new-runner" / "pip-cache"
    result = restore(fresh, document["archive"])
    assert result.exit_code == 0, result.stderr
    assert snapshot(fresh) == snapshot(cache_v2)


def test_restore_in_small_batches_leaves_no_temp_files(
    mixed_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch by batch, no temp file is renamed in before a sync that began after it existed."""
    import pipcachex.restore

    monkeypatch.setattr(pipcachex.restore, "BATCH_FILES", 3)
    synced: list[int] = []
    on_disk: set[str] = set()
    renamed: list[str] = []
    real_sync, real_replace = os.sync, os.replace

    def counting_sync() -> None:
        temps = {str(p) for p in mixed_cache.rglob("*.restore.tmp")}
        synced.append(len(temps))
        real_sync()
        on_disk.update(temps)

    def checked_replace(source: str, target: str) -> None:
        if str(source).endswith(".restore.tmp"):
            renamed.append(str(source))
        real_replace(source, target)

    monkeypatch.setattr(os, "sync", counting_sync)
    monkeypatch.setattr(os, "replace", checked_replace)
    before = snapshot(mixed_cache)
    document = backup(mixed_cache, "--to", str(tmp_path / "all.tar"))
    wipe(mixed_cache)
    result = restore(mixed_cache, document["archive"])
    assert result.exit_code == 0, result.stderr
    assert snapshot(mixed_cache) == before
    assert not list(mixed_cache.rglob("*.restore.tmp"))
    assert len(renamed) == len(before)
    if sys.platform.startswith("linux"):
        assert set(renamed) <= on_disk, "a file was renamed in before its data was synced"
        # One sync per batch of (at most) 3 temp files, then one for the renames. A batch is
        # synced while the next is written, so a sync sees at most two batches' temp files.
        assert len(synced) == -(-len(before) // 3) + 1
        assert 3 <= max(synced) <= 6 and synced[-1] == 0


def test_archive_written_by_earlier_versions_still_restores(
    mixed_cache: Path, tmp_path: Path
) -> None:
    """Earlier versions wrote the manifest through ``tarfile`` as indented JSON; still readable."""
    before = snapshot(mixed_cache)
    document = backup(mixed_cache, "--to", str(tmp_path / "new.tar"))

    def reindent(info: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
        if info.name == "manifest.json":
            data = json.dumps(json.loads(data), indent=1).encode()
            info.pax_headers = {"comment": "sha256=" + hashlib.sha256(data).hexdigest()}
        return [(info, data)]

    old = _rewrite(Path(document["archive"]), tmp_path / "old.tar", reindent)
    assert manifest_of(old) == manifest_of(Path(document["archive"]))
    wipe(mixed_cache)
    result = restore(mixed_cache, str(old))
    assert result.exit_code == 0, result.stderr
    assert snapshot(mixed_cache) == before


def test_names_too_long_for_a_tar_header_travel_in_pax_records(
    mixed_cache: Path, tmp_path: Path
) -> None:
    """A member name longer than 100 bytes or not ASCII is a pax ``path`` record; read as such."""
    document = backup(mixed_cache, "--to", str(tmp_path / "all.tar"))
    long_name = "wheels/" + "/".join(["d" * 60] * 3) + "/naïve_pkg-1.0-py3-none-any.whl"
    renamed: dict[str, str] = {}

    def rename(info: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
        if info.name == "manifest.json":
            manifest = json.loads(data)
            record = manifest["files"][0]
            renamed["cache/" + record["path"]] = "cache/" + long_name
            record["path"] = long_name
            data = json.dumps(manifest).encode()
            info.pax_headers = {"comment": "sha256=" + hashlib.sha256(data).hexdigest()}
        info.name = renamed.get(info.name, info.name)
        return [(info, data)]

    archive = _rewrite(Path(document["archive"]), tmp_path / "long.tar", rename)
    (old_name,) = renamed
    expected = (mixed_cache / old_name[len("cache/") :]).read_bytes()
    wipe(mixed_cache)
    result = restore(mixed_cache, str(archive))
    assert result.exit_code == 0, result.stderr
    assert long_name in result.json["added"]
    assert (mixed_cache / long_name).read_bytes() == expected


def test_a_symlink_where_a_directory_belongs_is_refused(cache_v2: Path, tmp_path: Path) -> None:
    """Nothing is written through a symlinked directory, found at plan time or appearing later."""
    from pipcachex.restore import apply_restore, plan_restore

    before = snapshot(cache_v2)
    document = backup(cache_v2, "--to", str(tmp_path / "all.tar"))
    outside = tmp_path / "outside"
    outside.mkdir()
    wipe(cache_v2)
    (cache_v2 / "http-v2").symlink_to(outside)
    result = restore(cache_v2, document["archive"])
    assert result.exit_code == 1
    blocked = {p["path"] for p in result.json["problems"]}
    assert blocked == {p for p in before if p.startswith("http-v2/")}
    assert all("is not a directory" in p["reason"] for p in result.json["problems"])
    assert list(outside.iterdir()) == []
    assert set(snapshot(cache_v2)) == set(before) - blocked

    # The same symlink appearing between the plan and the writing.
    (cache_v2 / "http-v2").unlink()
    wipe(cache_v2)
    plan = plan_restore(cache_v2, Path(document["archive"]))
    assert not plan.blocked
    (cache_v2 / "http-v2").symlink_to(outside)
    applied = apply_restore(plan)
    assert {p.path for p in applied.problems} == blocked
    assert list(outside.iterdir()) == []
    assert not list(cache_v2.rglob("*.restore.tmp"))


def test_manifest_head_is_what_json_dumps_indents(cache_v2: Path, tmp_path: Path) -> None:
    """The manifest's head, joined piece by piece, is byte for byte json.dumps(indent=1)'s."""
    from pipcachex.archive import Manifest, manifest_head
    from pipcachex.records import FileTable

    document = manifest_of(Path(backup(cache_v2, "--to", str(tmp_path / "a.tar"))["archive"]))
    # Enough projects that the pieces are joined in several rounds, with non-ASCII names.
    projects = tuple(
        {
            "package": f"pkg-{i}-é",
            "entries": i,
            "size": 7 * i,
            "versions": [f"{i}.{j}" for j in range(i % 40)],
        }
        for i in range(3000)
    )
    manifest = Manifest(
        created=document["created"],
        source_cache_dir=document["source_cache_dir"] + "/ü",
        pipcachex_version=document["pipcachex_version"],
        pip_version=None,
        compression="gz",
        projects=projects,
        files=FileTable(),
        entries=3,
    )
    expected = {**manifest.to_json(files=[]), "totals": {"entries": 3, "files": 5, "size": 9}}
    text = json.dumps(expected, indent=1)
    assert manifest_head(manifest, 5, 9) == (text[: -len("]\n}")] + "\n").encode()
