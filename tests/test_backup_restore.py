"""Unit tests of restore on small synthetic caches: permissions, durability, space, locking.

No pip and no index: the caches are real files written in tmp_path (``make_cache``); only
what a test machine cannot produce (a full disk, an unreadable directory when running as
root) is simulated.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import require_free_space_reading
from test_backup_format import FILES, make_cache

from pipcachex import capabilities
from pipcachex.backup import (
    ArchiveRef,
    RestoreError,
    apply_restore,
    backup_entries,
    dry_run_result,
    plan_restore,
    resolve_archive,
)
from pipcachex.lock import CacheBusyError, cache_lock


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """A backup of FILES (written from tmp_path/source)."""
    source = tmp_path / "source"
    result = backup_entries(
        source, make_cache(source), tmp_path / "all.tar", default_dir=tmp_path / "d"
    )
    return Path(result.archive)


def ref(archive: Path, root: Path) -> ArchiveRef:
    return resolve_archive(str(archive), root)


def test_restore_writes_every_file_with_its_times(archive: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    result = apply_restore(plan_restore(target, ref(archive, target)))
    assert result.ok and sorted(result.added) == sorted(FILES)
    for relative, data in FILES.items():
        restored = target / relative
        original = tmp_path / "source" / relative
        assert restored.read_bytes() == data
        assert restored.stat().st_mtime_ns == original.stat().st_mtime_ns
    assert not list(target.rglob("*.restore.tmp"))


@pytest.mark.parametrize(("directory_mode", "file_mode"), [(0o700, 0o600), (0o775, 0o664)])
def test_restored_files_get_the_permissions_pip_gives(
    archive: Path, tmp_path: Path, directory_mode: int, file_mode: int
) -> None:
    """pip gives a new cache file its cache directory's read/write bits (plus 0600)."""
    target = tmp_path / "shared"
    for top in ("http-v2", "wheels"):
        (target / top).mkdir(parents=True)
        (target / top).chmod(directory_mode)
    apply_restore(plan_restore(target, ref(archive, target)))
    for relative in FILES:
        assert stat.S_IMODE((target / relative).stat().st_mode) == file_mode, relative


def test_restore_fsyncs_what_it_wrote_and_never_syncs_the_machine(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def no_sync() -> None:
        raise AssertionError("os.sync flushes every file system on the machine")

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "sync", no_sync, raising=False)
    monkeypatch.setattr(os, "fsync", counting_fsync)
    target = tmp_path / "target"
    apply_restore(plan_restore(target, ref(archive, target)))
    if capabilities.current().syncfs:
        assert synced == []  # syncfs of the cache's file system instead (test_capabilities)
    else:
        assert len(synced) >= len(FILES)  # every file, then the directories with new names


def test_no_room_changes_nothing(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The space is checked before anything is removed or written (a full disk is simulated)."""
    require_free_space_reading(tmp_path)
    target = tmp_path / "target"
    (target / "wheels").mkdir(parents=True)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage())
    plan = plan_restore(target, ref(archive, target))
    with pytest.raises(RestoreError, match=r"not enough space .* nothing changed"):
        apply_restore(plan)
    assert [p.name for p in (target / "wheels").iterdir()] == []
    assert not (target / "http-v2").exists()


class _Usage:
    total = used = 10**9
    free = 100


def test_an_unreadable_directory_is_a_problem_not_a_traceback(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root every directory is readable, so the EACCES an ordinary user gets is simulated."""
    target = tmp_path / "target"
    (target / "http-v2" / "a").mkdir(parents=True)
    real_lstat = os.lstat
    forbidden = str(target / "http-v2" / "a")

    def lstat(path: str | os.PathLike[str], **kwargs: object) -> os.stat_result:
        if os.fspath(path).startswith(forbidden + os.sep):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_lstat(path)

    monkeypatch.setattr(os, "lstat", lstat)
    plan = plan_restore(target, ref(archive, target))
    reasons = {p.path: p.reason for p in dry_run_result(plan).problems}
    assert set(reasons) == {p for p in FILES if p.startswith("http-v2/a/")}
    assert all("Permission denied" in r for r in reasons.values())


def test_a_restore_waits_for_no_one_while_another_pipcachex_works(
    archive: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    plan = plan_restore(target, ref(archive, target))
    with cache_lock(target, command="purge"), pytest.raises(CacheBusyError, match="purge"):
        apply_restore(plan)
    assert [p.name for p in target.iterdir()] == [".pipcachex.lock"]


def test_an_archive_changed_between_the_passes_is_caught(archive: Path, tmp_path: Path) -> None:
    """The second pass checks each member against the first pass's table before renaming."""
    target = tmp_path / "target"
    plan = plan_restore(target, ref(archive, target))
    data = bytearray(archive.read_bytes())
    position = data.index(bytes(range(256)))
    data[position + 7] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(Exception, match="changed since it was verified"):
        apply_restore(plan)
    assert not list(target.rglob("*.body"))
    assert not list(target.rglob("*.restore.tmp"))
