"""What "last used" means where a cache lives: read from what the system says, per platform.

The parsers get the system's own words (``/proc/self/mountinfo`` lines, macOS ``mount``
output, the NTFS registry value); a test on this machine checks the live answer, and the
commands say it (``info``, the ``--older-than`` warning).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import invoke

from pipcachex import lastuse
from pipcachex.lastuse import LastUsed

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
40 27 0:40 / /data rw,noatime - xfs /dev/vdb rw
41 40 0:41 / /data/fast rw - tmpfs tmpfs rw,size=1g
42 27 0:42 / /my\\040disk rw,nosuid,noatime - btrfs /dev/vdc rw
43 27 0:43 / /data rw,relatime - ext4 /dev/vdd rw
"""


@pytest.mark.parametrize(
    ("path", "policy", "file_system", "mount_point"),
    [
        ("/home/me/.cache/pip", "relatime", "ext4", "/"),
        ("/proc/1", "relatime", "proc", "/proc"),
        # Mounted twice on /data: the later mount hides the earlier one.
        ("/data/pip", "relatime", "ext4", "/data"),
        ("/data/fast/pip", "strictatime", "tmpfs", "/data/fast"),
        ("/data/fastest", "relatime", "ext4", "/data"),
        ("/my disk/pip", "noatime", "btrfs", "/my disk"),
    ],
)
def test_the_mount_holding_a_path_says_what_last_used_is(
    path: str, policy: str, file_system: str, mount_point: str
) -> None:
    found = lastuse.from_mountinfo(MOUNTINFO.splitlines(), path)
    assert found == LastUsed(policy, lastuse.MOUNTINFO, file_system, mount_point)


MOUNT_OUTPUT = """\
/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)
/dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled, nobrowse, protect)
/dev/disk4s1 on /Volumes/Backup (hfs, local, nodev, nosuid, journaled, noowners)
/dev/disk5s1 on /Volumes/Fast Disk (apfs, local, nodev, nosuid, journaled, noatime)
"""


@pytest.mark.parametrize(
    ("path", "policy", "file_system"),
    [
        ("/System/Volumes/Data/Users/me/Library/Caches/pip", "apfs", "apfs"),
        ("/Volumes/Backup/pip", "unknown", "hfs"),
        ("/Volumes/Fast Disk/pip", "noatime", "apfs"),
        ("/usr/local", "apfs", "apfs"),
    ],
)
def test_macos_mount_output_says_what_last_used_is(
    path: str, policy: str, file_system: str
) -> None:
    found = lastuse.from_mount_output(MOUNT_OUTPUT, path)
    assert found is not None and (found.policy, found.file_system) == (policy, file_system)


@pytest.mark.parametrize(
    ("value", "policy", "records_reads"),
    [
        (0, "ntfs", True),
        (1, "ntfs-disabled", False),
        (0x80000002, "ntfs", True),  # system managed, enabled (a small volume)
        (0x80000003, "ntfs-disabled", False),  # system managed, disabled (the usual case)
        (None, "unknown", None),
    ],
)
def test_the_ntfs_setting_says_what_last_used_is(
    value: int | None, policy: str, records_reads: bool | None
) -> None:
    found = lastuse.from_ntfs_setting(value)
    assert (found.policy, found.records_reads) == (policy, records_reads)


def test_this_machine_answers_from_mountinfo_else_statvfs(
    tmp_path: Path, capabilities_off: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not os.path.exists(lastuse.MOUNTINFO):
        pytest.skip(f"needs {lastuse.MOUNTINFO} (Linux)")
    live = lastuse.last_used(tmp_path)
    assert live.source == lastuse.MOUNTINFO and live.policy in lastuse.MEANINGS
    monkeypatch.setattr(lastuse, "MOUNTINFO", str(tmp_path / "no-such-file"))
    by_flags = lastuse.last_used(tmp_path)
    if by_flags.source == "statvfs":
        assert by_flags.policy == live.policy
    capabilities_off("statvfs")
    monkeypatch.delattr(os, "statvfs")
    assert lastuse.last_used(tmp_path).policy == "unknown"


def test_info_says_what_last_used_means(cache_v2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = invoke(["info", "--json", "--cache-dir", str(cache_v2)]).json
    said = document["last_used"]
    assert said["policy"] in lastuse.MEANINGS and said["meaning"]
    assert set(said) == {
        "policy",
        "records_reads",
        "meaning",
        "file_system",
        "mount_point",
        "source",
    }
    human = invoke(["info", "--cache-dir", str(cache_v2)]).stdout
    assert f"Last used: {said['policy']}" in human


@pytest.mark.parametrize(
    ("policy", "warned"),
    [
        ("noatime", "reading a file leaves no trace"),
        ("ntfs-disabled", "reading a file leaves no trace"),
        ("apfs", "only when it is older than the last write"),
        ("unknown", "cannot tell whether reading a file is recorded"),
        ("relatime", None),
        ("strictatime", None),
    ],
)
@pytest.mark.parametrize(
    ("command", "named"),
    [
        (["purge", "--older-than", "30d", "--dry-run"], "--older-than"),
        (["purge", "--newer-than", "30d", "--dry-run"], "--newer-than"),
        (["purge", "--max-size", "1MB", "--dry-run"], "--max-size"),
        (["list", "--newer-than", "1d"], "--newer-than"),
        (["list", "--older-than", "1d", "--newer-than", "9d"], "--older-than and --newer-than"),
    ],
    ids=["purge-older", "purge-newer", "purge-max-size", "list-newer", "list-both"],
)
def test_selecting_by_last_use_warns_where_it_is_not_the_last_read(
    cache_v2: Path,
    monkeypatch: pytest.MonkeyPatch,
    policy: str,
    warned: str | None,
    command: list[str],
    named: str,
) -> None:
    # The test machine has one file system: the others are what the detection would find.
    monkeypatch.setattr(lastuse, "last_used", lambda path: LastUsed(policy))
    result = invoke([*command, "--cache-dir", str(cache_v2)])
    assert result.exit_code == 0, result.stderr
    if warned is None:
        assert "last use" not in result.stderr and named not in result.stderr
    else:
        assert warned in result.stderr and f"for {named}," in result.stderr


def test_no_warning_without_a_selector_by_last_use(
    cache_v2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lastuse, "last_used", lambda path: LastUsed("noatime"))
    result = invoke(["purge", "--larger-than", "1kB", "--dry-run", "--cache-dir", str(cache_v2)])
    assert result.exit_code == 0, result.stderr
    assert "leaves no trace" not in result.stderr
