"""Property: random litter in a real cache changes nothing pipcachex does to pip's entries.

A seeded generator (each case is reproducible from its seed, shown in the test id) drops litter
at random places and depths of a copy of the mixed cache (pip 23.2.1 and 26.3 entries, built
wheels, pip's state): desktop files, editor backups, notes, directories holding them, symlinks
to outside files and directories, some of them old. For every case the scanner (in-process)
must identify each real entry exactly as without the litter and list each piece of litter as an
``unknown`` entry of its own. A few cases also run a deleting command and check that it removes
no real entry it was not asked to, no litter, and nothing outside the cache.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cachefactory
import platform_needs
import pytest
from cli_helpers import invoke
from conftest import PipName, copy_tree, venv_python

from pipcachex.cache import CacheEntry, Kind, scan_cache

CASES = 30
#: Every ``DELETING_EVERY``-th case also runs one deleting command (in turn, see ``OPERATIONS``).
DELETING_EVERY = 5
DAY = 86400
ENV = {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
#: Names people and their tools leave behind. None starts with ``tmp`` or is ``origin.json``,
#: and none is a wheel name that parses: those are pip's own names in a built-wheel directory.
NAMES = [
    ".DS_Store",
    "._{word}",
    "Thumbs.db",
    "desktop.ini",
    "{word}~",
    ".{word}.swp",
    "README",
    "notes.txt",
    "{word}.whl",
    "{hex56}",
    "{hex2}",
    "{hex50}",
]
WORDS = ["gamma", "alpha", "backup", "copy", "x"]


@dataclass(frozen=True)
class Case:
    """A copy of the real cache with litter in it, and what is outside it."""

    cache: Path
    outside: Path
    litter: frozenset[str]  # absolute paths of the litter's files and links


def _identity(entry: CacheEntry, root: Path) -> tuple[Any, ...]:
    """An entry as the scanner identified it, with paths relative to the cache."""
    problem = None if entry.problem is None else entry.problem.code
    paths = tuple(os.path.relpath(p, root) for p in entry.paths)
    return (entry.kind, entry.package, entry.version, entry.filename, problem, entry.busy, paths)


def _identities(root: Path) -> dict[str, tuple[Any, ...]]:
    return {os.path.relpath(e.path, root): _identity(e, root) for e in scan_cache(root).entries}


def _name(rng: random.Random) -> str:
    return rng.choice(NAMES).format(
        word=rng.choice(WORDS),
        hex2=f"{rng.randrange(256):02x}",
        hex50=f"{rng.getrandbits(200):050x}",
        hex56=f"{rng.getrandbits(224):056x}",
    )


def _directories(root: Path) -> list[Path]:
    found = [root]
    for folder, dirs, _ in os.walk(root):  # never follows a symlink
        found += [Path(folder, d) for d in dirs]
    return sorted(found)


def _litter(rng: random.Random, cache: Path, outside: Path, *, top: bool = True) -> frozenset[str]:
    """Drop 1-6 pieces of litter at random places and depths; return their files' paths.

    ``top=False`` keeps it out of the cache root itself.
    """
    placed: set[str] = set()
    directories = [d for d in _directories(cache) if top or d != cache]
    for _ in range(rng.randint(1, 6)):
        base = rng.choice(directories)
        # Sometimes inside new directories; every component is new, so nothing is written
        # through a symlink or into something that was there.
        parts = [_name(rng) for _ in range(rng.choice([0, 0, 1, 2]))] + [_name(rng)]
        if any(os.path.lexists(base.joinpath(*parts[: i + 1])) for i in range(len(parts))):
            continue
        path = base.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        what = rng.choice(["file", "file", "empty", "link", "linkdir"])
        if what in ("link", "linkdir"):
            platform_needs.require("symlinks")
        if what == "link":
            path.symlink_to(outside / "target.txt")
        elif what == "linkdir":
            path.symlink_to(outside / "dir", target_is_directory=True)
        else:
            path.write_bytes(b"" if what == "empty" else b"not pip's\n" * rng.randint(1, 50))
            if rng.random() < 0.5:
                cachefactory.set_age(path, 40 * DAY)
        placed.add(str(path))
    return frozenset(placed)


def _snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    found: dict[str, tuple[int, int, bytes]] = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            info = path.lstat()
            found[str(path)] = (info.st_mode, info.st_mtime_ns, path.read_bytes())
    return found


def _make_case(seed: int, source: Path, tmp_path: Path, *, top: bool = True) -> Case:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "target.txt").write_text("outside\n", encoding="utf-8")
    (outside / "dir" / "data.bin").write_bytes(b"\0" * 64)
    cache = copy_tree(source, tmp_path / "cache")
    return Case(cache, outside, _litter(random.Random(seed), cache, outside, top=top))


@pytest.fixture(scope="module")
def real(filled_cache_mixed: Path) -> dict[str, tuple[Any, ...]]:
    """The real entries of the mixed cache, as the scanner identifies them without litter."""
    found = _identities(filled_cache_mixed)
    assert all(identity[0] is not Kind.UNKNOWN for identity in found.values()), found
    return found


def _assert_identified(case: Case, real: dict[str, tuple[Any, ...]]) -> dict[str, CacheEntry]:
    entries = {os.path.relpath(e.path, case.cache): e for e in scan_cache(case.cache).entries}
    found = {path: _identity(entries[path], case.cache) for path in real if path in entries}
    assert found == real, "a real entry changed because of litter"
    extra = [entries[path] for path in entries.keys() - real.keys()]
    assert {e.path for e in extra} == case.litter
    assert all(e.kind is Kind.UNKNOWN and e.paths == (e.path,) for e in extra)
    return entries


def _intact(case: Case, entry: CacheEntry) -> bool:
    return all(os.path.lexists(path) for path in entry.paths)


def _gone(case: Case, entry: CacheEntry) -> bool:
    return not any(os.path.lexists(path) for path in entry.paths)


Operation = Callable[[Case, dict[str, CacheEntry], random.Random], None]


def _verify_fix(case: Case, entries: dict[str, CacheEntry], rng: random.Random) -> None:
    result = invoke(["verify", "--fix", "--yes", "--json", "--cache-dir", str(case.cache)])
    assert (result.exit_code, result.json["problems"]) == (0, []), result.stderr
    assert all(_intact(case, e) for e in entries.values())


def _purge_project(case: Case, entries: dict[str, CacheEntry], rng: random.Random) -> None:
    project = rng.choice(sorted({e.package for e in entries.values() if e.package}))
    result = invoke(["purge", project, "--yes", "--json", "--cache-dir", str(case.cache)], env=ENV)
    assert result.exit_code == 0, result.stderr
    for entry in entries.values():
        asked = entry.package == project and entry.kind is not Kind.PIP_STATE
        assert _gone(case, entry) if asked else _intact(case, entry), (project, entry.path)


def _real(entries: dict[str, CacheEntry]) -> list[CacheEntry]:
    return [e for e in entries.values() if e.kind not in (Kind.UNKNOWN, Kind.PIP_STATE)]


def _purge_older(case: Case, entries: dict[str, CacheEntry], rng: random.Random) -> None:
    aged = {e.path for e in _real(entries) if rng.random() < 0.5}
    for entry in _real(entries):
        if entry.path in aged:
            for path in entry.paths:
                cachefactory.set_age(Path(path), 40 * DAY)
    args = ["purge", "--older-than", "30d", "--yes", "--json", "--cache-dir", str(case.cache)]
    result = invoke(args, env=ENV)
    assert result.exit_code == 0, result.stderr
    for entry in entries.values():
        assert _gone(case, entry) if entry.path in aged else _intact(case, entry), entry.path


def _purge_max_size(case: Case, entries: dict[str, CacheEntry], rng: random.Random) -> None:
    real = _real(entries)
    budget = sum(e.size for e in entries.values()) // 2
    args = ["purge", "--max-size", str(budget), "--yes", "--json", "--cache-dir", str(case.cache)]
    result = invoke(args, env=ENV)
    assert result.exit_code == 0, result.stderr
    removed = [e for e in real if _gone(case, e)]
    kept = [e for e in entries.values() if e not in removed]
    assert removed, "half the cache's size must cost some entries"
    assert all(_intact(case, e) for e in kept)
    # Least recently used first: nothing kept is older than anything removed.
    newest_removed = max(e.last_used for e in removed)
    assert all(e.last_used >= newest_removed for e in real if e not in removed)


OPERATIONS: list[Operation] = [_verify_fix, _purge_project, _purge_older, _purge_max_size]


@pytest.mark.parametrize("seed", range(CASES))
def test_random_litter_changes_no_real_entry(
    seed: int, filled_cache_mixed: Path, real: dict[str, tuple[Any, ...]], tmp_path: Path
) -> None:
    case = _make_case(seed, filled_cache_mixed, tmp_path)
    entries = _assert_identified(case, real)
    if seed % DELETING_EVERY:
        return
    outside = _snapshot(case.outside)
    operation = OPERATIONS[seed // DELETING_EVERY % len(OPERATIONS)]
    operation(case, entries, random.Random(seed))
    assert all(os.path.lexists(path) for path in case.litter), "litter is never selected"
    assert _snapshot(case.outside) == outside


def test_a_full_purge_with_litter_removes_every_real_entry_and_nothing_outside(
    filled_cache_mixed: Path,
    real: dict[str, tuple[Any, ...]],
    tmp_path: Path,
    venv_with_pip: Callable[[PipName], Path],
) -> None:
    # At the top only desktop files, which Finder and Explorer write into any folder opened: a
    # full purge may refuse a root holding what no pip and no desktop would write there.
    case = _make_case(CASES, filled_cache_mixed, tmp_path, top=False)
    for name in (".DS_Store", "._.DS_Store", "Thumbs.db"):
        (case.cache / name).write_bytes(b"\0\0\0\1")
    entries = scan_cache(case.cache).entries
    outside = _snapshot(case.outside)
    python = venv_python(venv_with_pip("current"))
    args = ["purge", "--python", str(python), "--yes", "--json", "--cache-dir", str(case.cache)]
    # Litter that is not a desktop's (an editor's backup, a copy at the wrong depth) is not
    # pip's: a full purge refuses to take it, changing nothing, unless the cache is named.
    refused = invoke(args, env=ENV)
    if refused.exit_code != 0:
        assert refused.exit_code == 1, refused.stderr
        assert "refusing to purge everything" in refused.stderr
        assert {e.path for e in scan_cache(case.cache).entries} == {e.path for e in entries}
    result = invoke([*args, "--force", str(case.cache)], env=ENV)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert _snapshot(case.outside) == outside
    for entry in entries:
        if entry.kind not in (Kind.UNKNOWN, Kind.PIP_STATE):
            assert _gone(case, entry), entry.path
