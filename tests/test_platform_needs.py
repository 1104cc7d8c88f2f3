"""The skip of tests that need what a system lacks (``platform_needs``), as a Windows runner
would take it: this machine has every need, so the system's answers are given to it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import platform_needs
import pytest

EVERYTHING = {need.name: True for need in platform_needs.NEEDS}


def _makes_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path)


def _kills_a_child() -> int:
    return -signal.SIGKILL


def _takes_access_away(path: Path) -> None:
    path.chmod(0o000)


def _makes_executable(path: Path) -> None:
    path.chmod(0o755)


def _asks_who_runs() -> bool:
    return os.geteuid() == 0


def _plain() -> int:
    return 1


@pytest.mark.parametrize(
    ("functions", "lacking", "reason"),
    [
        ([_makes_a_symlink], "symlinks", "symbolic links (os.symlink)"),
        ([_plain, _makes_a_symlink], "symlinks", "symbolic links"),  # through a fixture
        ([_kills_a_child], "sigkill", "signal.SIGKILL"),
        ([_takes_access_away], "file_modes", "file modes (chmod)"),
        ([_asks_who_runs], "geteuid", "os.geteuid"),
        ([_makes_executable], "file_modes", None),  # harmless anywhere
        ([_plain], "symlinks", None),
        ([_makes_a_symlink], "sigkill", None),  # lacking something it does not use
    ],
)
def test_a_test_is_skipped_for_what_it_uses_and_the_system_lacks(
    functions: list[object], lacking: str, reason: str | None
) -> None:
    have = {**EVERYTHING, lacking: False}
    found = platform_needs.missing_need(functions, have)  # type: ignore[arg-type]
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found


def test_nothing_is_skipped_where_everything_is_there() -> None:
    everything = [_makes_a_symlink, _kills_a_child, _takes_access_away, _asks_who_runs]
    assert platform_needs.missing_need(everything, EVERYTHING) is None  # type: ignore[arg-type]


@pytest.mark.skipif(os.name != "posix", reason="the answers checked are a POSIX system's")
def test_this_posix_system_has_every_need() -> None:
    # On the Linux machines the suite runs on, the mechanism must skip nothing.
    assert platform_needs.this_system() == EVERYTHING


def test_a_helper_requires_a_need_and_the_test_skips_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(platform_needs, "this_system", lambda: {**EVERYTHING, "symlinks": False})
    platform_needs.require("sigkill")  # there: nothing happens
    with pytest.raises(pytest.skip.Exception, match="symbolic links"):
        platform_needs.require("symlinks")
