"""`backup`, `backups` and `restore`: round trips with real pips, damaged archives, full disks."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zlib
from pathlib import Path
from typing import Any

import packages
import pytest
from cli_helpers import CliResult, invoke
from conftest import PipRunner, pip_env
from index_server import IndexServer

from pipcachex.backup import BackupError, backup_entries
from pipcachex.cache import scan_cache
from pipcachex.errors import UsageError
from pipcachex.lock import LOCK_NAME
from pipcachex.units import format_size

if sys.platform != "win32":  # Windows has no resource limits: those tests skip there
    import resource

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
        if p.is_file() and p.name != LOCK_NAME
    }


def wipe(root: Path) -> None:
    """Empty the cache directory (keeping it), as a full purge would."""
    for child in root.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def contents(root: Path) -> list[Path]:
    """What is in a cache directory besides pipcachex's own lock file."""
    return [p for p in root.iterdir() if p.name != LOCK_NAME]


def backup(cache: Path, *args: str) -> dict[str, Any]:
    result = invoke(["backup", "--json", "--cache-dir", str(cache), *args])
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = result.json
    assert Path(document["archive"]).is_file()
    return document


def restore(cache: Path, *args: str) -> CliResult:
    return invoke(["restore", "--json", "--cache-dir", str(cache), *args])


def contents_of(archive: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An archive's header and index records, read with ``tarfile`` (any tar tool can)."""
    with tarfile.open(archive) as tar:
        first = tar.next()
        assert first is not None and first.name == "pipcachex/header.json"
        header = tar.extractfile(first)
        index = tar.extractfile("pipcachex/index.jsonl")
        assert header is not None and index is not None
        document: dict[str, Any] = json.loads(header.read())
        return document, [json.loads(line) for line in index.read().splitlines()]


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


@pytest.mark.parametrize("compression", ["none", "gz", "xz", "zst"])
def test_round_trip_of_both_layouts_in_every_compression(
    mixed_cache: Path, compression: str, tmp_path: Path
) -> None:
    before = snapshot(mixed_cache)
    suffix = {"none": ".tar", "gz": ".tar.gz", "xz": ".tar.xz", "zst": ".tar.zst"}[compression]
    (tmp_path / "out").mkdir()
    document = backup(mixed_cache, "--to", str(tmp_path / "out"), "--compression", compression)
    assert document["archive"].endswith(suffix) and document["compression"] == compression
    wipe(mixed_cache)
    result = restore(mixed_cache, document["archive"])
    assert result.exit_code == 0, result.stderr
    assert snapshot(mixed_cache) == before


def test_header_and_index_record_every_file(cache_v2: Path, tmp_path: Path) -> None:
    archive = tmp_path / "named.tar.gz"
    document = backup(cache_v2, "--to", str(archive))
    assert document["archive"] == str(archive) and document["compression"] == "gz"
    header, records = contents_of(archive)
    assert header["format"] == "pipcachex-backup" and header["format_version"] == 2
    assert header["cache"]["source_dir"] == str(cache_v2)
    assert header["pipcachex_version"] and header["created"].endswith("Z")
    assert {p["package"] for p in header["projects"]} >= {"alpha-pkg", "gamma"}
    files = {f["path"]: f for f in records}
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
    assert names == [
        "pipcachex/header.json",
        *("cache/" + p for p in files),
        "pipcachex/index.jsonl",
        "pipcachex/seal.json",
    ]


def test_selectors_back_up_whole_entries(cache_v2: Path) -> None:
    listed = invoke(["list", "--json", "--cache-dir", str(cache_v2), packages.ALPHA])
    wanted = {
        Path(p).relative_to(cache_v2).as_posix() for e in listed.json["entries"] for p in e["paths"]
    }
    assert any(p.endswith(".body") for p in wanted)
    document = backup(cache_v2, packages.ALPHA, "--kind", "distribution", "--kind", "index-page")
    header, records = contents_of(Path(document["archive"]))
    recorded = {f["path"] for f in records}
    assert header["selection"]["specs"] == [packages.ALPHA]
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
    rows = {b["name"]: b for b in listing.json["backups"]}
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
    assert [b["name"] for b in listing.json["backups"]] == [Path(made["archive"]).name]
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


# -- damaged and hostile archives (the byte-level table is in test_backup_format.py) ----------


def _flip_in_file_member(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers()[1:] if m.size > 1)
    data = bytearray(archive.read_bytes())
    data[member.offset_data + member.size // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


def _truncate_before_seal(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        seal = tar.getmember("pipcachex/seal.json")
    dest.write_bytes(archive.read_bytes()[: seal.offset])
    return dest


def _dotfiles_at_the_top(archive: Path, dest: Path) -> Path:
    """A well-formed archive whose members are a user's dotfiles, not pip's layout."""
    with tarfile.open(archive) as src, tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as out:
        for info in src.getmembers():
            stream = src.extractfile(info)
            out.addfile(info, stream)
            if info.name == "pipcachex/header.json":
                for name in ("cache/.bashrc", "cache/.git/config"):
                    planted = tarfile.TarInfo(name)
                    planted.size = 4
                    out.addfile(planted, io.BytesIO(b"evil"))
    return dest


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_flip_in_file_member, "does not match its recorded"),
        (_truncate_before_seal, "no seal|ends"),
        (_dotfiles_at_the_top, "not part of pip's cache layout"),
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
        assert contents(cache_v2) == []


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def _pax_bomb(path: Path) -> None:
    """A small .tar.gz whose first pax header claims 1.5 GB (and holds that many zeros)."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = 1_500_000_000
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with path.open("wb") as out:
        out.write(packer.compress(info.tobuf(tarfile.USTAR_FORMAT)))
        zeros = bytes(1 << 24)
        for _ in range(1_500_000_000 // len(zeros) + 1):
            out.write(packer.compress(zeros))
        out.write(packer.flush())


def test_memory_bombs_are_refused_within_bounds(cache_v2: Path, tmp_path: Path) -> None:
    """``restore --dry-run`` and ``backups DIR`` on a pax-header bomb, under a 1 GiB limit."""
    directory = tmp_path / "bombs"
    directory.mkdir()
    bomb = directory / "bomb.tar.gz"
    _pax_bomb(bomb)
    base = [sys.executable, "-m", "pipcachex"]
    runs = {
        "restore": [
            *base,
            "restore",
            "--dry-run",
            "--json",
            "--cache-dir",
            str(cache_v2),
            str(bomb),
        ],
        "backups": [*base, "backups", "--json", str(directory)],
    }
    results = {
        name: subprocess.run(
            command,
            env={**pip_env(), "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
            preexec_fn=_limit_memory,
            check=False,
        )
        for name, command in runs.items()
    }
    restored = results["restore"]
    assert restored.returncode == 1, restored.stderr
    assert "Traceback" not in restored.stderr
    assert "allowed" in json.loads(restored.stdout)["error"]["message"]
    listed = results["backups"]
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)["backups"]
    assert row["name"] == "bomb.tar.gz" and "allowed" in row["problem"]


# -- writing safely ----------------------------------------------------------------------------


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))


def test_disk_full_leaves_no_archive_and_says_it_cannot_write(
    cache_v2: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # Bigger than a write buffer: the disk fills up while a cache file is being copied.
    (cache_v2 / "http-v2" / "large-unknown-file").write_bytes(os.urandom(3 << 20))
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
    assert f"cannot write {out}" in result.stderr and "cannot read" not in result.stderr
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
    assert result.archive == str(tmp_path / "gamma.tar.xz")
    assert result.header.entries == len(chosen) and result.compression.value == "xz"
    assert {p["package"] for p in result.header.projects} == {"gamma"}


def test_two_backups_at_once_both_survive(cache_v2: Path, backup_dir: Path) -> None:
    """A second backup finishing while the first is being written (the same second, the same
    directory, as two ``purge --backup`` at once) never loses either archive."""
    entries = scan_cache(cache_v2).entries
    inner: list[str] = []

    def second_backup_meanwhile(done: int, total: int) -> None:
        if not inner:
            inner.append(backup_entries(cache_v2, entries).archive)

    outer = backup_entries(cache_v2, entries, on_progress=second_backup_meanwhile).archive
    assert outer != inner[0]
    assert sorted(p.name for p in backup_dir.iterdir()) == sorted(
        Path(a).name for a in (outer, inner[0])
    )
    for archive in (outer, inner[0]):
        assert restore(cache_v2, archive, "--dry-run").exit_code == 0


def test_two_backups_to_one_file_never_replace_each_other(cache_v2: Path, tmp_path: Path) -> None:
    entries = scan_cache(cache_v2).entries
    target = tmp_path / "one.tar"
    inner: list[str] = []

    def second_backup_meanwhile(done: int, total: int) -> None:
        if not inner:
            inner.append(backup_entries(cache_v2, entries[:1], target).archive)

    with pytest.raises(UsageError, match="already exists"):
        backup_entries(cache_v2, entries, target, on_progress=second_backup_meanwhile)
    assert contents_of(target)[0]["totals"]["entries"] == 1, "the first archive is intact"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "{cache}/inside.tar"], "inside the cache directory"),
        (["--to", "{existing}"], "already exists"),
        (["--to", "{tmp}/no/such/dir/x.tar"], "'{missing}' does not exist"),
        (["--to", "{tmp}/x.tar.gz", "--compression", "xz"], "names gz compression"),
        (["--compression", "zip"], "zip"),
    ],
)
def test_backup_bad_usage(cache_v2: Path, tmp_path: Path, args: list[str], message: str) -> None:
    existing = tmp_path / "existing.tar"
    existing.write_bytes(b"")
    # The message shows the directory as the platform writes paths (backslashes on Windows).
    missing = tmp_path / "no" / "such" / "dir"
    values = {"cache": cache_v2, "existing": existing, "tmp": tmp_path, "missing": missing}
    filled = [a.format(**values) for a in args]
    result = invoke(["backup", "--cache-dir", str(cache_v2), *filled])
    assert result.exit_code == 2 and message.format(**values) in result.stderr, result.stderr
    assert not (cache_v2 / "inside.tar").exists() and not (tmp_path / "x.tar.gz").exists()


def test_restore_without_backups_or_with_a_missing_archive(cache_v2: Path) -> None:
    none_yet = invoke(["restore", "--cache-dir", str(cache_v2)])
    assert none_yet.exit_code == 1 and "no backup of" in none_yet.stderr
    missing = invoke(["restore", "--cache-dir", str(cache_v2), "nowhere.tar"])
    assert missing.exit_code == 2 and "'nowhere.tar'" in missing.stderr


def test_restore_without_a_name_takes_this_caches_newest_and_says_so(
    cache_v2: Path, tmp_path: Path
) -> None:
    backup(cache_v2)
    other = tmp_path / "other-cache"
    other.mkdir()
    refused = invoke(["restore", "--cache-dir", str(other)])
    assert refused.exit_code == 1
    assert f"no backup of {other}" in refused.stderr and "1 of other caches" in refused.stderr
    assert contents(other) == []
    mine = invoke(["restore", "--dry-run", "--cache-dir", str(cache_v2)])
    assert mine.exit_code == 0 and "the newest backup in" in mine.stderr


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


@pytest.mark.parametrize("name", ["x.tar", "x.tar.gz"])
def test_interrupted_backup_leaves_nothing(cache_v2: Path, tmp_path: Path, name: str) -> None:
    """Ctrl-C in the middle of writing (raised from the progress callback) leaves no file.

    Every backup reads each file once, while copying it into the archive.
    """
    out = tmp_path / "out"
    out.mkdir()
    total_bytes = sum(e.size for e in scan_cache(cache_v2).entries)
    seen: list[int] = []

    def interrupt(done: int, total: int) -> None:
        seen.append(total)
        if done > total_bytes * 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backup_entries(cache_v2, scan_cache(cache_v2).entries, out / name, on_progress=interrupt)
    gc.collect()  # a compressor left open would now write into its closed file, and fail here
    assert list(out.iterdir()) == []
    assert seen[-1] == total_bytes


def test_restore_onto_a_fresh_machine_creates_the_cache_dir(cache_v2: Path, tmp_path: Path) -> None:
    """A CI runner restoring yesterday's backup has no cache directory yet."""
    document = backup(cache_v2, "--to", str(tmp_path / "cache.tar"))
    fresh = tmp_path / "new-runner" / "pip-cache"
    result = restore(fresh, document["archive"])
    assert result.exit_code == 0, result.stderr
    assert snapshot(fresh) == snapshot(cache_v2)


def test_a_symlink_where_a_directory_belongs_is_refused(cache_v2: Path, tmp_path: Path) -> None:
    """Nothing is written through a symlinked directory, found at plan time or appearing later."""
    from pipcachex.backup import apply_restore, plan_restore, resolve_archive

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
    plan = plan_restore(cache_v2, resolve_archive(document["archive"], cache_v2))
    assert not plan.blocked
    (cache_v2 / "http-v2").symlink_to(outside)
    applied = apply_restore(plan)
    assert {p.path for p in applied.problems} == blocked
    assert list(outside.iterdir()) == []
    assert not list(cache_v2.rglob("*.restore.tmp"))


def test_leftover_partial_files_are_reported_and_pruned(cache_v2: Path, backup_dir: Path) -> None:
    """A backup killed mid-write leaves a hidden .partial file: listed, and pruned once stale."""
    made = backup(cache_v2)
    stale = backup_dir / ".pipcachex-20260101T000000.000Z-abcdef.tar.0badf00d.partial"
    stale.write_bytes(b"half an archive")
    fresh = backup_dir / ".pipcachex-20260102T000000.000Z-abcdef.tar.0badf00e.partial"
    fresh.write_bytes(b"being written right now")
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    listing = invoke(["backups", "--json"])
    assert sorted(p["name"] for p in listing.json["partial"]) == sorted([stale.name, fresh.name])
    assert [b["name"] for b in listing.json["backups"]] == [Path(made["archive"]).name]
    assert "unfinished backup files" in invoke(["backups"]).stderr
    pruned = invoke(["backups", "prune", "--keep", "1", "--yes", "--json"])
    assert pruned.exit_code == 0, pruned.stderr
    assert pruned.json["removed"] == [str(stale)]
    assert not stale.exists() and fresh.exists() and Path(made["archive"]).exists()
