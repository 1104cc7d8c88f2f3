"""Capabilities: each non-portable call is used only where the system has it, with a fallback.

The fallbacks run here, on a system that has every capability, by switching capabilities off
(``capabilities_off``) or by taking the calls away from ``os`` the way Windows lacks them.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke
from conftest import require_free_space_reading

from pipcachex import atomic, capabilities, lastuse
from pipcachex.cache import fileio, scan_cache
from pipcachex.errors import UsageError
from pipcachex.lock import LOCK_NAME

DAY = 86400


@pytest.mark.parametrize(
    ("setting", "off"),
    [
        ("", set()),
        ("all", set(capabilities.NAMES)),
        ("noatime", {"noatime"}),
        (" statvfs , syncfs ,", {"statvfs", "syncfs"}),
        ("directory-fd", {"directory_fd"}),
        ("noatime,all", set(capabilities.NAMES)),
    ],
)
def test_which_capabilities_a_setting_switches_off(setting: str, off: set[str]) -> None:
    assert capabilities.switched_off(setting) == off


def test_an_unknown_capability_is_a_usage_error(
    tmp_path: Path, capabilities_off: Callable[..., None]
) -> None:
    with pytest.raises(UsageError, match="'noatim'"):
        capabilities.switched_off("noatim")
    capabilities_off("syncfs", "noatim")
    result = invoke(["list", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown capability 'noatim'" in result.stderr
    assert "Traceback" not in result.stderr


def test_this_system_has_every_capability_until_switched_off(
    capabilities_off: Callable[..., None],
) -> None:
    if os.environ.get(capabilities.ENVIRONMENT):
        pytest.skip(f"{capabilities.ENVIRONMENT} is set for this run")
    if not sys.platform.startswith("linux"):
        pytest.skip("describes Linux, the system that has every capability")
    assert all(getattr(capabilities.current(), name) for name in capabilities.NAMES)
    capabilities_off("noatime", "syncfs")
    have = capabilities.current()
    assert not have.noatime and not have.syncfs
    assert have.statvfs and have.directory_fd


@contextmanager
def _windows_like(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``os`` as Windows has it: none of the calls below, no descriptors on directories, and
    files that cannot be replaced while open elsewhere (the first try at each target fails).
    """
    for name in ("O_NOATIME", "O_DIRECTORY", "statvfs", "sync", "ST_NOATIME"):
        monkeypatch.delattr(os, name, raising=False)
    monkeypatch.setattr(capabilities, "_SYNCFS", [None])  # no C library with syncfs(2)
    monkeypatch.setattr(os, "supports_fd", os.supports_fd - {os.scandir})
    real_open, real_replace = os.open, os.replace

    def no_directories(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        # (shutil.rmtree's own opens, relative to a dir_fd, are left alone.)
        if kwargs.get("dir_fd") is None and os.path.isdir(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    held: set[str] = set()

    def busy_once(source: Any, target: Any) -> None:
        if os.path.exists(target) and str(target) not in held:
            held.add(str(target))
            raise PermissionError(13, "Access is denied", str(target))
        real_replace(source, target)

    monkeypatch.setattr(os, "open", no_directories)
    monkeypatch.setattr(os, "replace", busy_once)
    capabilities.forget()
    try:
        yield
    finally:
        monkeypatch.undo()
        capabilities.forget()


def _documents(cache: Path, tmp_path: Path) -> dict[str, Any]:
    """What list, info, verify and a purge plan say, and a backup restored into a copy."""
    root = ["--cache-dir", str(cache)]
    said = {
        "list": invoke(["list", "--json", *root]).json,
        "info": invoke(["info", "--json", *root]).json,
        "verify": invoke(["verify", "--json", *root]).json,
        "purge": invoke(["purge", "--older-than", "1d", "--dry-run", "--json", *root]).json,
    }
    archive = tmp_path / f"backup-{len(list(tmp_path.iterdir()))}.tar"
    backed = invoke(["backup", "--json", "--to", str(archive), *root])
    assert backed.exit_code == 0, backed.stderr
    target = tmp_path / f"restored-{len(list(tmp_path.iterdir()))}"
    restored = invoke(["restore", "--json", "--cache-dir", str(target), str(archive)])
    assert restored.exit_code == 0, restored.stderr
    said["restored"] = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    for document in said.values():
        if isinstance(document, dict):
            document.pop("scanned_at", None)
    return said


def test_the_probes_find_what_windows_lacks() -> None:
    with pytest.MonkeyPatch.context() as monkeypatch, _windows_like(monkeypatch):
        have = capabilities.current()
        assert not (have.directory_fd or have.noatime or have.o_directory or have.statvfs)
        assert not (have.syncfs or have.fsync_directory or have.replace_open)


def test_every_command_answers_the_same_without_the_posix_calls(
    busy_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPCACHEX_MEMO_DIR", "")
    with_all, without = tmp_path / "with", tmp_path / "without"
    with_all.mkdir()
    without.mkdir()
    everything = _documents(busy_cache, with_all)
    with pytest.MonkeyPatch.context() as patch, _windows_like(patch):
        # Any of the missing calls reached would raise AttributeError or PermissionError.
        assert _documents(busy_cache, without) == everything


def _aged(path: Path) -> int:
    old = path.stat().st_mtime_ns - 30 * DAY * 10**9
    os.utime(path, ns=(old, old))
    return old


def test_without_noatime_reads_put_atime_back(
    tmp_path: Path, capabilities_off: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    capabilities_off("noatime")
    assert not capabilities.current().noatime
    opened: list[int] = []
    real_open = os.open

    def spy(path: Any, flags: int, *args: Any) -> int:
        opened.append(flags)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", spy)
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    old = _aged(path)
    assert fileio.read_untouched(path, 10) == b"x" * 10
    with fileio.open_untouched(path) as handle:
        assert handle.read() == b"x" * 100
    assert path.stat().st_atime_ns == old
    assert opened and not any(flags & getattr(os, "O_NOATIME", 0) for flags in opened)


def test_without_directory_descriptors_directories_are_listed_by_path(
    busy_cache: Path, capabilities_off: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPCACHEX_MEMO_DIR", "")
    expected = [(e.path, e.kind, e.package) for e in scan_cache(busy_cache).entries]
    capabilities_off("directory_fd")
    assert not capabilities.current().directory_fd  # probed before os.open is watched
    real_open = os.open

    def files_only(path: Any, flags: int, *args: Any) -> int:
        assert not os.path.isdir(path), f"opened a directory: {path}"
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", files_only)
    assert [(e.path, e.kind, e.package) for e in scan_cache(busy_cache).entries] == expected
    with fileio.scandir_untouched(busy_cache) as listing:
        assert {item.name for item in listing} >= {"http-v2", "wheels"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX FIFOs)")
def test_without_o_directory_only_directories_open(
    tmp_path: Path, capabilities_off: Callable[..., None]
) -> None:
    capabilities_off("o_directory")
    fifo, plain = tmp_path / "fifo", tmp_path / "plain"
    os.mkfifo(fifo)
    plain.write_bytes(b"")
    for path in (fifo, plain):
        # A FIFO would block an ordinary open until a writer came: this must return at once.
        with pytest.raises(NotADirectoryError):
            fileio.open_directory_untouched(path)
    fd = fileio.open_directory_untouched(tmp_path)
    assert stat.S_ISDIR(os.fstat(fd).st_mode)
    os.close(fd)


def test_without_statvfs_nothing_calls_it(
    tmp_path: Path, capabilities_off: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    capabilities_off("statvfs")
    monkeypatch.delattr(os, "statvfs")
    assert lastuse.last_used(tmp_path).policy in lastuse.MEANINGS
    result = invoke(["purge", "--older-than", "1d", "--dry-run", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    # Free space is "unknown" (restore's space check and doctor's finding then step aside).
    assert capabilities.disk_usage(tmp_path) is None


def test_free_space_is_told_where_the_system_can(tmp_path: Path) -> None:
    require_free_space_reading(tmp_path)
    usage = capabilities.disk_usage(tmp_path)
    assert usage is not None
    free, total = usage
    assert 0 < free <= total
    assert capabilities.disk_usage(tmp_path / "missing") is None


def test_without_fsync_of_directories_writes_are_still_atomic(
    tmp_path: Path, capabilities_off: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    capabilities_off("fsync_directory")
    assert not capabilities.current().fsync_directory
    real_open = os.open

    def files_only(path: Any, flags: int, *args: Any) -> int:
        assert not os.path.isdir(path), f"opened a directory: {path}"
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", files_only)
    target = tmp_path / "out"
    with atomic.atomic_output(target) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_replace_retries_only_where_open_files_block_it(
    tmp_path: Path, capabilities_off: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic, "REPLACE_RETRY_SECONDS", 0.01)
    real_replace = os.replace
    refusals: list[str] = []

    def held_twice(source: Any, target: Any) -> None:
        if len(refusals) < 2:
            refusals.append(str(target))
            raise PermissionError(13, "Access is denied", str(target))
        real_replace(source, target)

    replaces_open = capabilities.current().replace_open  # probed before os.replace is faked
    monkeypatch.setattr(os, "replace", held_twice)
    source, target = tmp_path / "new", tmp_path / "old"
    source.write_bytes(b"new")
    target.write_bytes(b"old")
    if replaces_open:
        # Where open files never block a rename, a refusal is real: it is not retried.
        with pytest.raises(PermissionError):
            atomic.replace(source, target)
    else:
        refusals.append("switched off for the whole run")
    capabilities_off("replace_open")
    atomic.replace(source, target)
    assert target.read_bytes() == b"new" and len(refusals) == 2
    # It gives up after REPLACE_PATIENCE_SECONDS all the same.
    monkeypatch.setattr(atomic, "REPLACE_PATIENCE_SECONDS", 0.05)
    monkeypatch.setattr(os, "replace", _refuse)
    with pytest.raises(PermissionError):
        atomic.replace(source, target)


def _refuse(*args: object) -> None:
    raise PermissionError(13, "Access is denied")


def _restore_counting_fsyncs(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Path], list[int]]:
    """Restore a backup of ``cache``; the files restored and the fsyncs made meanwhile."""
    archive = tmp_path / "all.tar"
    assert invoke(["backup", "--cache-dir", str(cache), "--to", str(archive)]).exit_code == 0
    fsynced: list[int] = []
    real_fsync = os.fsync

    def counted(fd: int) -> None:
        fsynced.append(fd)
        real_fsync(fd)

    def no_sync() -> None:
        raise AssertionError(f"os.sync called from {threading.current_thread().name}")

    monkeypatch.setattr(os, "sync", no_sync, raising=False)
    monkeypatch.setattr(os, "fsync", counted)
    target = tmp_path / "restored"
    result = invoke(["restore", "--cache-dir", str(target), str(archive)])
    assert result.exit_code == 0, result.stderr
    # pipcachex's own lock file is not restored content: it is never fsynced.
    files = [p for p in target.rglob("*") if p.is_file() and p.name != LOCK_NAME]
    assert files
    return files, fsynced


def test_without_syncfs_restore_fsyncs_each_file(
    mixed_cache: Path,
    tmp_path: Path,
    capabilities_off: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    capabilities_off("syncfs")
    files, fsynced = _restore_counting_fsyncs(mixed_cache, tmp_path, monkeypatch)
    assert len(fsynced) >= len(files)


def test_with_syncfs_restore_syncs_the_file_system_not_each_file(
    mixed_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not capabilities.current().syncfs:
        pytest.skip("needs syncfs(2) (Linux), which this run lacks or switched off")
    synced: list[str] = []
    real = capabilities.sync_file_system

    def spy(path: Any) -> bool:
        synced.append(str(path))
        return real(path)

    monkeypatch.setattr(capabilities, "sync_file_system", spy)
    _files, fsynced = _restore_counting_fsyncs(mixed_cache, tmp_path, monkeypatch)
    # One batch, then the renames: two calls, on the cache; no file or directory fsynced.
    assert synced == [str(tmp_path / "restored")] * 2 and fsynced == []


def test_sync_file_system_is_used_only_where_it_exists(
    tmp_path: Path, capabilities_off: Callable[..., None]
) -> None:
    off = capabilities.switched_off(os.environ.get(capabilities.ENVIRONMENT, ""))
    expected = sys.platform.startswith("linux") and "syncfs" not in off
    assert capabilities.sync_file_system(tmp_path) is expected
    assert capabilities.sync_file_system(tmp_path / "missing") is False
    capabilities_off("syncfs")
    assert capabilities.sync_file_system(tmp_path) is False
