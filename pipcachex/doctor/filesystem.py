"""Facts about the file system under a cache: the mount, free space, owners, sizes.

Everything here only reads. Directories are listed with ``fileio.scandir_untouched`` so that
looking at a cache does not move the access times ``purge --older-than`` relies on. What a
system cannot tell (no ``/proc/self/mountinfo``, no ``os.geteuid``) is left as None, and the
checks then say nothing about it rather than guess.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pipcachex import capabilities
from pipcachex.cache import reads_are_recorded, scandir_untouched

MOUNTINFO = Path("/proc/self/mountinfo")
NETWORK_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "9p",
        "fuse.sshfs",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.rclone",
        "fuse.glusterfs",
        "fuse.cephfs",
        "davfs",
    }
)
TEMPORARY_TYPES = frozenset({"tmpfs", "ramfs"})
EXAMPLES = 5


@dataclass(frozen=True)
class Mount:
    """One line of ``/proc/self/mountinfo``: where, what type, with which options."""

    mount_point: str
    fstype: str
    source: str
    options: tuple[str, ...]


@dataclass(frozen=True)
class FilesystemFacts:
    """The file system a cache is on."""

    mount: Mount | None
    reads_recorded: bool
    free: int | None
    total: int | None


@dataclass(frozen=True)
class OwnershipFacts:
    """Who owns what in a cache, seen from the current user (None fields: cannot tell here)."""

    uid: int
    user: str
    group: str
    pip_accepts_root: bool
    root_owner: int | None
    not_owned: int
    not_writable: int
    examples: tuple[str, ...]
    #: Files and directories either not owned or not writable (each counted once).
    affected: int = 0


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes (\040 ...).
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> tuple[Mount, ...]:
    """Parse ``/proc/self/mountinfo``; malformed lines are skipped."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if not sep or len(fields) < 6 or len(tail) < 2:
            continue
        options = fields[5].split(",") + (tail[2].split(",") if len(tail) > 2 else [])
        unique = tuple(dict.fromkeys(options))  # "rw" is both a mount and a superblock option
        mounts.append(Mount(_unescape(fields[4]), tail[0], _unescape(tail[1]), unique))
    return tuple(mounts)


def mount_of(path: str, mounts: tuple[Mount, ...]) -> Mount | None:
    """The mount ``path`` (absolute, symlinks resolved) is on: the longest matching mount point.

    Of several mounts on one point the last is the visible one.
    """
    best: Mount | None = None
    for mount in mounts:
        point = mount.mount_point.rstrip("/") or "/"
        inside = point == "/" or path == point or path.startswith(point + "/")
        if inside and (best is None or len(point) >= len(best.mount_point.rstrip("/") or "/")):
            best = mount
    return best


def read_mounts() -> tuple[Mount, ...]:
    """The mounts of this process, where the system describes them (Linux); else none."""
    try:
        return parse_mountinfo(MOUNTINFO.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ()


def filesystem_facts(root: Path) -> FilesystemFacts:
    """The mount, atime behaviour and free space of the file system ``root`` is on."""
    mount = mount_of(os.path.realpath(root), read_mounts())
    usage = capabilities.disk_usage(root)
    if usage is None:
        return FilesystemFacts(mount, reads_are_recorded(root), None, None)
    return FilesystemFacts(mount, reads_are_recorded(root), *usage)


def pip_accepts(path: str) -> bool:
    """Whether pip keeps its cache at ``path`` enabled, by pip's own ownership rule.

    pip looks at the nearest existing directory of ``path``: as root it must be owned by root
    (a ``sudo pip`` without ``-H`` must not fill a user's cache with root's files); otherwise
    it must be writable. Where there is no ``geteuid`` pip does not check.
    """
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:
        return True
    previous = None
    while path != previous:
        if os.path.lexists(path):
            if geteuid() == 0:
                try:
                    return os.lstat(path).st_uid == 0
                except OSError:
                    return False
            return os.access(path, os.W_OK)
        previous, path = path, os.path.dirname(path)
    return False


def ownership_facts(root: Path) -> OwnershipFacts | None:
    """Count what in ``root`` the current user does not own, or (directories) cannot write.

    Symlinks are counted by their own owner and never followed. None where the system has no
    notion of file owners (no ``os.geteuid``).
    """
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:
        return None
    uid = geteuid()
    not_owned = not_writable = affected = 0
    examples: list[str] = []
    named: set[str] = set()
    try:
        root_owner: int | None = os.lstat(root).st_uid
    except OSError:
        root_owner = None
    pending = [str(root)]
    while pending:
        directory = pending.pop()
        try:
            with scandir_untouched(directory) as listing:
                items = [(item.name, item.stat(follow_symlinks=False)) for item in listing]
        except OSError:
            # Unlistable: count it, unless its owner or mode was counted from its parent.
            if directory not in named:
                not_writable += 1
                affected += 1
                if len(examples) < EXAMPLES:
                    examples.append(directory)
            continue
        for name, info in items:
            path = os.path.join(directory, name)
            is_dir = stat.S_ISDIR(info.st_mode)
            foreign = info.st_uid != uid
            locked = is_dir and not os.access(path, os.W_OK | os.X_OK)
            not_owned += foreign
            not_writable += locked
            affected += foreign or locked
            # Name the top of each foreign tree, not every file below it.
            if (foreign or locked) and len(examples) < EXAMPLES and directory not in named:
                examples.append(path)
            if (foreign or locked) and is_dir:
                named.add(path)
            if is_dir:
                pending.append(path)
    user, group = _names(uid)
    return OwnershipFacts(
        uid,
        user,
        group,
        pip_accepts(str(root)),
        root_owner,
        not_owned,
        not_writable,
        tuple(sorted(examples)[:EXAMPLES]),
        affected,
    )


def _names(uid: int) -> tuple[str, str]:
    """The user's name and primary group name, for a ``chown`` command (numbers if unknown)."""
    try:
        import grp
        import pwd

        record = pwd.getpwuid(uid)
        try:
            return record.pw_name, grp.getgrgid(record.pw_gid).gr_name
        except KeyError:
            return record.pw_name, str(record.pw_gid)
    except (ImportError, KeyError):
        return str(uid), str(getattr(os, "getegid", lambda: uid)())


def tree_size(root: Path) -> tuple[int, int]:
    """Files and bytes below ``root`` (symlinks not followed); (0, 0) when it is absent."""
    files = size = 0
    pending = [str(root)]
    while pending:
        directory = pending.pop()
        try:
            with scandir_untouched(directory) as listing:
                items = [(item.name, item.stat(follow_symlinks=False)) for item in listing]
        except OSError:
            continue
        for name, info in items:
            if stat.S_ISDIR(info.st_mode):
                pending.append(os.path.join(directory, name))
            elif stat.S_ISREG(info.st_mode):
                files += 1
                size += info.st_size
    return files, size
