"""The cache lock: one destructive pipcachex per cache, released by the OS when its holder dies."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipcachex import lock
from pipcachex.errors import PipcachexError
from pipcachex.lock import LOCK_NAME, CacheBusyError, cache_lock


def test_a_second_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    with (
        cache_lock(tmp_path, command="purge"),
        pytest.raises(CacheBusyError) as caught,
        cache_lock(tmp_path, command="restore"),
    ):
        pass
    message = caught.value.message
    assert f"pid {os.getpid()}" in message and "`purge`" in message
    assert str(tmp_path) in message
    assert isinstance(caught.value, PipcachexError) and caught.value.exit_code == 1


def test_the_lock_is_free_again_after_the_block_and_the_file_stays(tmp_path: Path) -> None:
    with cache_lock(tmp_path, command="purge"):
        pass
    with cache_lock(tmp_path, command="verify --fix"):
        pass
    assert (tmp_path / LOCK_NAME).is_file()


def test_the_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), cache_lock(tmp_path, command="purge"):
        raise RuntimeError("boom")
    with cache_lock(tmp_path, command="purge"):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    script = (
        "import sys, pathlib; from pipcachex.lock import cache_lock\n"
        "with cache_lock(pathlib.Path(sys.argv[1]), command='purge'):\n"
        "    print('locked', flush=True); sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            with (
                pytest.raises(CacheBusyError, match=f"pid {holder.pid}"),
                cache_lock(tmp_path, command="restore"),
            ):
                pass
        finally:
            holder.kill()
            holder.wait(timeout=10)
    with cache_lock(tmp_path, command="restore"):
        pass


def test_a_cache_that_cannot_be_written_is_not_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A read-only mount cannot be made here (and root writes through mode bits), so the
    # open fails the way it does on one.
    def read_only(*args: object, **kwargs: object) -> int:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "open", read_only)
    with cache_lock(tmp_path, command="purge"):
        pass
    monkeypatch.undo()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_file_that_is_a_symlink_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep me")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / LOCK_NAME).symlink_to(outside)
    if not hasattr(os, "O_NOFOLLOW"):
        pytest.skip("this system has no O_NOFOLLOW")
    with (
        pytest.raises(PipcachexError, match="cannot open the lock file"),
        cache_lock(cache, command="purge"),
    ):
        pass
    assert outside.read_text() == "keep me"


def test_without_any_os_lock_the_command_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock, "fcntl", None)
    monkeypatch.setattr(lock, "msvcrt", None)
    with cache_lock(tmp_path, command="purge"):
        assert (tmp_path / LOCK_NAME).is_file()
