"""The checks about one cache directory: owners, layouts, its file system, its entries.

Each check is a pure function from facts to findings, so every rule is tested without a pip.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from pipcachex.doctor.checks_pip import legacy_pips, upgrade_command, uses
from pipcachex.doctor.facts import CacheFacts, EntryProblem, OwnFiles, PipFacts
from pipcachex.doctor.filesystem import NETWORK_TYPES, TEMPORARY_TYPES
from pipcachex.doctor.model import Code, Evidence, Finding, Level
from pipcachex.units import format_size

LOW_SPACE = 256 * 1000 * 1000
"""Free bytes below which a large download or build fails and can leave a truncated file."""
EXAMPLES = 5


def _as_admin(cache: CacheFacts, command: list[str]) -> str:
    """``command`` for a shell, behind ``sudo`` unless the current user is root already."""
    owner = cache.ownership
    return shlex.join(command if owner is not None and owner.uid == 0 else ["sudo", *command])


def _chown(cache: CacheFacts) -> str | None:
    owner = cache.ownership
    if owner is None:
        return None
    return _as_admin(cache, ["chown", "-R", f"{owner.user}:{owner.group}", cache.root])


def check_ownership(cache: CacheFacts, pips: Sequence[PipFacts]) -> list[Finding]:
    """3. What in the cache the current user does not own or cannot write, and the ``chown``."""
    owner = cache.ownership
    if not cache.exists or owner is None:
        return []
    findings: list[Finding] = []
    root = cache.root
    if not owner.pip_accepts_root:
        said = tuple(
            Evidence(
                "pip warned",
                f"the directory {p.refused_dir} is not owned or not writable",
                f"pip {p.version} of {p.python}",
            )
            for p in pips
            if p.refused_dir is not None and uses(p, root)
        )
        rule = "owned by root" if owner.uid == 0 else f"writable for {owner.user}"
        findings.append(
            Finding(
                Code.CACHE_REFUSED,
                Level.FAIL,
                f"pip disables this cache altogether: its directory is not {rule}, so every "
                "install downloads and builds again.",
                (
                    Evidence("path", root),
                    Evidence(
                        "owner uid", owner.root_owner if owner.root_owner is not None else "?"
                    ),
                    Evidence("current user", f"{owner.user} (uid {owner.uid})"),
                    *said,
                ),
                _chown(cache),
                root,
            )
        )
    if owner.not_owned or owner.not_writable:
        level = Level.FAIL if owner.not_writable else Level.WARN
        findings.append(
            Finding(
                Code.NOT_OWNED,
                level,
                f"{owner.affected} files and directories in the cache are "
                f"not {owner.user}'s (left by a `sudo pip`, for instance): pip cannot store new "
                "entries in a directory it cannot write, nor replace or remove what is not its "
                "user's.",
                (
                    Evidence("not owned by the current user", owner.not_owned, root),
                    Evidence("directories not writable", owner.not_writable, root),
                    *(Evidence("example", path) for path in owner.examples),
                ),
                _chown(cache),
                root,
            )
        )
    if not findings:
        findings.append(
            Finding(
                Code.OWNERSHIP_OK,
                Level.OK,
                f"Everything in the cache belongs to {owner.user} and pip can write to it.",
                (
                    Evidence("path", root),
                    Evidence("current user", f"{owner.user} (uid {owner.uid})"),
                ),
                cache_dir=root,
            )
        )
    return findings


def check_layouts(cache: CacheFacts, pips: Sequence[PipFacts]) -> list[Finding]:
    """4. ``http/`` and ``http-v2/``: how much each holds and which pips here use which."""
    if not cache.exists:
        return []
    legacy, current = cache.layout("http"), cache.layout("http-v2")
    users = [p for p in pips if uses(p, cache.root) and p.http_v2 is not None]
    old = legacy_pips(pips, cache.root)
    new = [p for p in users if p.http_v2]
    evidence = (
        Evidence(
            "http/ (pip < 23.3)", f"{legacy.entries} entries, {legacy.size} bytes", cache.root
        ),
        Evidence(
            "http-v2/ (pip >= 23.3)", f"{current.entries} entries, {current.size} bytes", cache.root
        ),
        *(
            Evidence(
                "pip", f"pip {p.version} writes {'http-v2/' if p.http_v2 else 'http/'}", p.python
            )
            for p in users
        ),
    )
    if legacy.entries and current.entries and old and new:
        return [
            Finding(
                Code.MIXED_LAYOUTS,
                Level.WARN,
                f"Old and new pips share this cache but never reuse each other's downloads: "
                f"{len(old)} pip(s) before 23.3 read only http/ "
                f"({format_size(legacy.size)}), newer ones only http-v2/ "
                f"({format_size(current.size)}).",
                evidence,
                upgrade_command(old[0].python),
                cache.root,
            )
        ]
    if legacy.entries and users and not old:
        return [
            Finding(
                Code.LEGACY_LAYOUT_UNUSED,
                Level.WARN,
                f"http/ holds {format_size(legacy.size)} that no pip checked here reads any more "
                "(only pips before 23.3 use it).",
                evidence,
                legacy_purge_command(cache.root),
                cache.root,
            )
        ]
    return [
        Finding(
            Code.LAYOUTS,
            Level.OK,
            "Every HTTP entry in the cache is in a layout a pip checked here reads."
            if users
            else "No pip checked here uses this cache; the sizes of its HTTP layouts follow.",
            evidence,
            cache_dir=cache.root,
        )
    ]


def legacy_purge_command(root: str) -> str:
    """The command that removes the legacy ``http/`` layout of the cache at ``root``.

    ``purge --layout http`` deletes only what it recognises there, under the cache lock, and
    asks first: safe, as no pip that reads the layout is left and pip treats a missing entry
    as a miss.
    """
    return shlex.join(["pipcachex", "purge", "--layout", "http", "--cache-dir", root])


def check_filesystem(cache: CacheFacts) -> list[Finding]:
    """6. What "last used" can mean here, free space against the cache's size, the fs type."""
    facts = cache.filesystem
    if not cache.exists or facts is None:
        return []
    findings: list[Finding] = []
    mount = facts.mount
    where = mount.mount_point if mount is not None else cache.root
    mount_evidence = (
        (Evidence("mount", f"{mount.fstype} {','.join(mount.options)}", mount.mount_point),)
        if mount is not None
        else ()
    )
    if not facts.reads_recorded:
        findings.append(
            Finding(
                Code.READS_NOT_RECORDED,
                Level.WARN,
                'This file system records no reads (noatime): "last used" means "written", and '
                "`purge --older-than` removes what was written before then, used or not.",
                (Evidence("path", cache.root), *mount_evidence),
                # "relatime" alone leaves a noatime mount noatime: "atime" clears the flag.
                _as_admin(cache, ["mount", "-o", "remount,atime,relatime", where])
                if mount is not None
                else None,
                cache.root,
            )
        )
    else:
        if mount is None:
            meaning = "as the file system allows"
        elif "relatime" in mount.options:
            meaning = 'at most once a day (relatime): "last used" is right to within a day'
        else:
            meaning = 'on every read (strictatime): "last used" is exact'
        findings.append(
            Finding(
                Code.READS_RECORDED,
                Level.OK,
                f"Reads of cache files are recorded {meaning}.",
                (Evidence("path", cache.root), *mount_evidence),
                cache_dir=cache.root,
            )
        )
    findings += _space(cache)
    findings.append(_fstype(cache))
    return findings


def _space(cache: CacheFacts) -> list[Finding]:
    facts = cache.filesystem
    if facts is None or facts.free is None:
        return []
    evidence = (
        Evidence("free", facts.free, cache.root),
        Evidence("file system size", facts.total or 0, cache.root),
        Evidence("cache size", cache.total_size, cache.root),
    )
    budget = f"{max(cache.total_size // 2_000_000, 1)}MB"
    fix = shlex.join(["pipcachex", "purge", "--max-size", budget, "--cache-dir", cache.root])
    if facts.free < LOW_SPACE:
        return [
            Finding(
                Code.LOW_DISK_SPACE,
                Level.FAIL,
                f"Only {format_size(facts.free)} is free where the cache is: a large download or "
                "build will fail and can leave a truncated file pip trips over on every run.",
                evidence,
                fix if cache.total_size else None,
                cache.root,
            )
        ]
    if facts.free < cache.total_size:
        return [
            Finding(
                Code.LOW_DISK_SPACE,
                Level.WARN,
                f"The cache ({format_size(cache.total_size)}) is larger than the space left on "
                f"its file system ({format_size(facts.free)}).",
                evidence,
                fix,
                cache.root,
            )
        ]
    return [
        Finding(
            Code.DISK_SPACE,
            Level.OK,
            f"{format_size(facts.free)} is free where the cache is; the cache takes "
            f"{format_size(cache.total_size)}.",
            evidence,
            cache_dir=cache.root,
        )
    ]


def _fstype(cache: CacheFacts) -> Finding:
    mount = cache.filesystem.mount if cache.filesystem is not None else None
    if mount is None:
        return Finding(
            Code.LOCAL_FILESYSTEM,
            Level.OK,
            "This system does not say what file system the cache is on.",
            (Evidence("path", cache.root),),
            cache_dir=cache.root,
        )
    evidence = (Evidence("file system", f"{mount.fstype} ({mount.source})", mount.mount_point),)
    if mount.fstype in NETWORK_TYPES:
        return Finding(
            Code.NETWORK_FILESYSTEM,
            Level.WARN,
            "The cache is on a network file system: every hit is a network read, and pip takes "
            "no lock, so pips on several machines sharing it can race.",
            evidence,
            cache_dir=cache.root,
        )
    if mount.fstype in TEMPORARY_TYPES:
        return Finding(
            Code.TEMPORARY_FILESYSTEM,
            Level.WARN,
            "The cache is on a temporary file system held in memory: it is emptied at every "
            "reboot, and what it holds takes memory.",
            evidence,
            cache_dir=cache.root,
        )
    return Finding(
        Code.LOCAL_FILESYSTEM,
        Level.OK,
        f"The cache is on a local {mount.fstype} file system.",
        evidence,
        cache_dir=cache.root,
    )


def check_entries(cache: CacheFacts) -> list[Finding]:
    """7. Damaged entries and stale temp files (``verify``'s fast checks)."""
    if not cache.exists:
        return [
            Finding(
                Code.CACHE_MISSING,
                Level.OK,
                "The cache directory does not exist yet: pip creates it on its first download.",
                (Evidence("path", cache.root),),
                cache_dir=cache.root,
            )
        ]
    fix = shlex.join(["pipcachex", "verify", "--fix", "--cache-dir", cache.root])
    findings: list[Finding] = []
    if cache.unreadable:
        findings.append(
            Finding(
                Code.UNREADABLE,
                Level.WARN,
                f"{len(cache.unreadable)} files or directories of the cache cannot be read, so "
                "they were not checked (and pip cannot use them either).",
                (
                    Evidence("unreadable", len(cache.unreadable), cache.root),
                    *(Evidence("example", text) for text in cache.unreadable[:EXAMPLES]),
                ),
                _chown(cache),
                cache.root,
            )
        )
    if cache.damaged:
        findings.append(
            Finding(
                Code.DAMAGED_ENTRIES,
                Level.FAIL,
                f"{len(cache.damaged)} cache entries are damaged: pip warns, downloads again, "
                "fails a hash check or (a broken index page) crashes until they are removed.",
                (
                    Evidence("damaged entries", len(cache.damaged), cache.root),
                    *_examples(cache.damaged),
                ),
                fix,
                cache.root,
            )
        )
    if cache.stale:
        size = sum(p.size for p in cache.stale)
        findings.append(
            Finding(
                Code.STALE_TEMP_FILES,
                Level.WARN,
                f"{len(cache.stale)} temporary files or build directories left by interrupted "
                f"pips take {format_size(size)}; pip never reads or removes them.",
                (
                    Evidence("stale temp files", len(cache.stale), cache.root),
                    Evidence("size", size),
                    *_examples(cache.stale),
                ),
                fix,
                cache.root,
            )
        )
    if not cache.damaged and not cache.stale:
        findings.append(
            Finding(
                Code.ENTRIES_INTACT,
                Level.OK,
                f"All {cache.entries} entries read pass verify's fast checks.",
                (Evidence("entries", cache.entries, cache.root),),
                cache_dir=cache.root,
            )
        )
    return findings


def _examples(problems: Sequence[EntryProblem]) -> tuple[Evidence, ...]:
    return tuple(Evidence("example", p.path, p.problem) for p in problems[:EXAMPLES])


def check_own_files(own: OwnFiles) -> list[Finding]:
    """7. pipcachex's own directories: the attribution memo and the backups, with their sizes."""
    memo = (
        Evidence("memo directory", own.memo_dir, f"{own.memo_files} files, {own.memo_size} bytes")
        if own.memo_dir is not None
        else Evidence("memo directory", "off", "PIPCACHEX_MEMO_DIR is empty")
    )
    backups = Evidence(
        "backups directory", own.backup_dir, f"{own.backup_files} files, {own.backup_size} bytes"
    )
    return [
        Finding(
            Code.PIPCACHEX_FILES,
            Level.OK,
            f"pipcachex keeps {format_size(own.memo_size)} of attribution memo and "
            f"{format_size(own.backup_size)} of backups outside pip's cache.",
            (memo, backups),
        )
    ]
