"""What "last used" means on the file system that holds a cache.

pip never records when it uses a cache entry: the only trace a use leaves is the access time
(atime) the file system puts on a file when it is read, and file systems differ in whether and
how often they do. ``last_used`` finds out what can be known for a path, without guessing from
the platform where the system can say:

- Linux: the mount's options in ``/proc/self/mountinfo`` (``strictatime``, ``relatime``, the
  default, ``noatime``), or else ``os.statvfs``'s flags;
- macOS: the ``mount`` command's line for the volume (APFS, or ``noatime``);
- Windows: NTFS's last-access setting in the registry (``NtfsDisableLastAccessUpdate``).

What ``--older-than`` and ``--max-size`` evict by follows from it (see docs/platforms.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipcachex import capabilities

MOUNTINFO = "/proc/self/mountinfo"

#: What a read does to atime under each policy, said the way ``info`` says it.
MEANINGS = {
    "strictatime": "every read updates it: last used is the last read",
    "relatime": (
        "a read updates it at most once a day, or when it is older than the last write: "
        "last used is the last read, to within a day"
    ),
    "noatime": "reads are not recorded: last used is the last write",
    "apfs": (
        "a read updates it only when it is older than the last write: "
        "last used is the first read after the last write"
    ),
    "ntfs": "a read updates it when it is more than an hour old: last used is the last read, "
    "to within an hour",
    "ntfs-disabled": "last-access updates are off: last used is the last write",
    "unknown": "whether reads are recorded could not be found out: last used may be the last write",
}
#: Whether a read moves atime under each policy (None: cannot be told).
RECORDS_READS = {
    "strictatime": True,
    "relatime": True,
    "noatime": False,
    "apfs": True,
    "ntfs": True,
    "ntfs-disabled": False,
    "unknown": None,
}


@dataclass(frozen=True)
class LastUsed:
    """What "last used" means for the files under one path."""

    policy: str
    #: Where it was learnt: "/proc/self/mountinfo", "statvfs", "mount", "registry", or None.
    source: str | None = None
    file_system: str | None = None
    mount_point: str | None = None

    @property
    def records_reads(self) -> bool | None:
        """Whether reading a file moves its "last used" (None: unknown)."""
        return RECORDS_READS[self.policy]

    @property
    def meaning(self) -> str:
        """One sentence on what "last used" is here."""
        return MEANINGS[self.policy]


def last_used(path: Path) -> LastUsed:
    """What "last used" means for the files under ``path`` (an existing directory)."""
    where = os.path.realpath(path)
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as handle:
            found = from_mountinfo(handle, where)
    except OSError:
        found = None
    if found is None and capabilities.current().statvfs:
        found = _from_statvfs(where)
    if found is None and sys.platform == "darwin":
        found = _from_mount_command(where)
    if found is None and sys.platform == "win32":
        found = _from_registry()
    return found or LastUsed("unknown")


def last_used_warning(root: Path, options: Sequence[str]) -> str | None:
    """What selecting by last use (``options``, e.g. ``--older-than``) should warn of at ``root``.

    None when reads are recorded, so "last used" means what it says (or no option was given).
    """
    if not options:
        return None
    found = last_used(root)
    names = " and ".join(options)
    if found.policy == "noatime":
        where = "a noatime mount"
    elif found.records_reads is False:
        where = f"{found.file_system or 'a file system'} with last-access updates off"
    elif found.policy == "apfs":
        return (
            f"on APFS ({root}) a read moves a file's last use only when it is older than the "
            f"last write: for {names}, only the first read after a write counts"
        )
    elif found.records_reads is None:
        return (
            f"pipcachex cannot tell whether reading a file is recorded on {root}: "
            f"for {names}, an entry's last use may be when it was written"
        )
    else:
        return None
    return (
        f"{root} is on {where}, where reading a file leaves no trace: "
        f"for {names}, an entry's last use is when it was written"
    )


def from_mountinfo(lines: Iterable[str], path: str) -> LastUsed | None:
    """The policy of the mount holding ``path``, from ``/proc/self/mountinfo`` lines.

    Each line is ``id parent major:minor root mount-point options ... - type source super``;
    the last mount listed at the longest matching mount point is the one in effect.
    """
    best: tuple[int, str, str, str] | None = None
    for line in lines:
        fields = line.split()
        if "-" not in fields or len(fields) < 6:
            continue
        mount_point = _unescape(fields[4])
        if not _is_within(path, mount_point):
            continue
        dash = fields.index("-")
        file_system = fields[dash + 1] if dash + 1 < len(fields) else "?"
        if best is None or len(mount_point) >= best[0]:
            best = (len(mount_point), mount_point, fields[5], file_system)
    if best is None:
        return None
    _, mount_point, options, file_system = best
    flags = set(options.split(","))
    if "noatime" in flags:
        policy = "noatime"
    elif "relatime" in flags:
        policy = "relatime"
    else:
        policy = "strictatime"  # the kernel lists relatime and noatime; strictatime is neither
    return LastUsed(policy, MOUNTINFO, file_system, mount_point)


def from_mount_output(output: str, path: str) -> LastUsed | None:
    """The policy of the volume holding ``path``, from macOS ``mount`` output.

    Lines read ``/dev/disk3s1 on /System/Volumes/Data (apfs, local, journaled, noatime)``.
    """
    best: tuple[int, str, list[str]] | None = None
    for line in output.splitlines():
        _, sep, rest = line.partition(" on ")
        point, paren, listed = rest.rpartition(" (")
        if not (sep and paren) or not _is_within(path, point):
            continue
        if best is None or len(point) >= best[0]:
            best = (len(point), point, [o.strip() for o in listed.rstrip(")").split(",")])
    if best is None:
        return None
    _, point, options = best
    file_system = options[0] if options else None
    if "noatime" in options:
        policy = "noatime"
    elif file_system == "apfs":
        policy = "apfs"
    else:
        policy = "unknown"
    return LastUsed(policy, "mount", file_system, point)


def from_ntfs_setting(value: int | None) -> LastUsed:
    """The policy ``NtfsDisableLastAccessUpdate`` sets (None: the value is not there).

    Its low bit disables updates; 0x80000000 marks a value the system manages (Windows 10 1803
    and later pick it by volume size). Missing, nothing can be told.
    """
    if value is None:
        return LastUsed("unknown", "registry", "NTFS")
    return LastUsed("ntfs-disabled" if value & 1 else "ntfs", "registry", "NTFS")


def _from_statvfs(path: str) -> LastUsed | None:
    noatime, relatime = getattr(os, "ST_NOATIME", 0), getattr(os, "ST_RELATIME", 0)
    if not (noatime and relatime):
        return None  # this system's statvfs does not report atime flags (macOS's does not)
    try:
        flags = os.statvfs(path).f_flag
    except OSError:
        return None
    policy = "noatime" if flags & noatime else "relatime" if flags & relatime else "strictatime"
    return LastUsed(policy, "statvfs")


def _from_mount_command(path: str) -> LastUsed | None:
    try:
        output = subprocess.run(
            ["mount"], capture_output=True, text=True, check=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return from_mount_output(output, path)


def _from_registry() -> LastUsed | None:
    try:
        import winreg  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    key_path = r"SYSTEM\CurrentControlSet\Control\FileSystem"
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key_path) as key:  # type: ignore[attr-defined,unused-ignore]
            value, _ = winreg.QueryValueEx(key, "NtfsDisableLastAccessUpdate")  # type: ignore[attr-defined,unused-ignore]
    except OSError:
        return from_ntfs_setting(None)
    return from_ntfs_setting(int(value))


def _is_within(path: str, mount_point: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point + "/")


def _unescape(field: str) -> str:
    """Mount points in mountinfo have space, tab, newline and backslash as octal escapes."""
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field
