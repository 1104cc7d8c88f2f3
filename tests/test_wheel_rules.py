"""The rules for a built-wheel directory, for problem codes and for the memo: table-driven, fast.

``built_wheel_entries`` is fed listings made here (no file system, no pip); the culprit rules and
the memo get entries and identities made by hand.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipcachex.cache import CacheEntry, CacheFile, Kind, Layout, Problem, ProblemCode
from pipcachex.cache.identify import Identity
from pipcachex.cache.integrity import find_damage
from pipcachex.cache.memo import AttributionMemo, memo_key
from pipcachex.cache.wheels import Subdirectory, built_wheel_entries

NOW = 1_800_000_000.0
OLD = NOW - 7200
FRESH = NOW - 60
LEAF = "/c/wheels/ab/cd/ef/" + "0" * 50
WHEEL = "gamma-1.2.3-py3-none-any.whl"


def _stat(size: int = 10, mtime: float = OLD, mode: int = stat.S_IFREG | 0o644) -> os.stat_result:
    return os.stat_result((mode, 1, 1, 1, 0, 0, size, int(mtime), int(mtime), int(mtime)))


LINK = _stat(mode=stat.S_IFLNK | 0o777)


@dataclass(frozen=True)
class Case:
    """A leaf's files and subdirectories, and the (kind, name, problem) of each entry expected."""

    name: str
    files: list[tuple[str, os.stat_result]]
    expected: list[tuple[Kind, str, ProblemCode | None]]
    subdirectories: tuple[tuple[str, float, list[tuple[str, os.stat_result]]], ...] = ()


CASES = [
    Case(
        "a wheel and its origin",
        [(WHEEL, _stat()), ("origin.json", _stat())],
        [(Kind.BUILT_WHEEL, LEAF, None)],
    ),
    Case("empty", [], [(Kind.DAMAGED, LEAF, ProblemCode.NO_WHEEL)]),
    Case(
        "origin without a wheel",
        [("origin.json", _stat())],
        [(Kind.DAMAGED, LEAF, ProblemCode.NO_WHEEL)],
    ),
    Case(
        "zero-byte wheel", [(WHEEL, _stat(0))], [(Kind.DAMAGED, LEAF, ProblemCode.ZERO_BYTE_WHEEL)]
    ),
    Case(
        "litter beside a wheel",
        [(".DS_Store", _stat()), (WHEEL, _stat()), ("notes.txt", _stat(0))],
        [
            (Kind.BUILT_WHEEL, LEAF, None),
            (Kind.UNKNOWN, f"{LEAF}/.DS_Store", None),
            (Kind.UNKNOWN, f"{LEAF}/notes.txt", None),
        ],
    ),
    Case("only litter", [("README", _stat())], [(Kind.UNKNOWN, f"{LEAF}/README", None)]),
    Case(
        "a wheel name that does not parse",
        [("not-a-wheel.whl", _stat())],
        [(Kind.UNKNOWN, f"{LEAF}/not-a-wheel.whl", None)],
    ),
    Case(
        "a symlinked wheel",
        [(WHEEL, _stat()), ("gamma-9.0-py3-none-any.whl", LINK)],
        [
            (Kind.BUILT_WHEEL, LEAF, None),
            (Kind.UNKNOWN, f"{LEAF}/gamma-9.0-py3-none-any.whl", ProblemCode.SYMLINK),
        ],
    ),
    Case(
        "a stale build beside a wheel",
        [(WHEEL, _stat())],
        [(Kind.BUILT_WHEEL, LEAF, None), (Kind.DAMAGED, f"{LEAF}/tmpold", ProblemCode.STALE_BUILD)],
        ((f"{LEAF}/tmpold", OLD, [(f"{LEAF}/tmpold/{WHEEL}", _stat(3))]),),
    ),
    Case(
        "a stale build without a wheel",
        [],
        [(Kind.DAMAGED, LEAF, ProblemCode.NO_WHEEL)],
        ((f"{LEAF}/tmpold", OLD, [(f"{LEAF}/tmpold/x.py", _stat(3))]),),
    ),
    Case(
        "a fresh build",
        [],
        [(Kind.UNKNOWN, LEAF, None)],
        ((f"{LEAF}/tmpnew", FRESH, []),),
    ),
    Case(
        "a directory pip never makes",
        [(WHEEL, _stat())],
        [(Kind.BUILT_WHEEL, LEAF, None), (Kind.UNKNOWN, f"{LEAF}/extra/a.txt", None)],
        ((f"{LEAF}/extra", OLD, [(f"{LEAF}/extra/a.txt", _stat())]),),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_built_wheel_entries(case: Case) -> None:
    subdirectories = [
        Subdirectory(path, mtime, files) for path, mtime, files in case.subdirectories
    ]
    entries = built_wheel_entries(LEAF, case.files, subdirectories, NOW, OLD)
    found = [(e.kind, e.path, e.problem.code if e.problem else None) for e in entries]
    assert found == case.expected
    own = [e for e in entries if e.path == LEAF]
    for entry in own:
        # The leaf's entry owns pip's files only: never the litter beside them.
        assert all(p.startswith(LEAF + "/") for p in entry.paths)
        assert not {p for e in entries if e is not entry for p in e.paths} & set(entry.paths)


def test_an_empty_directory_is_as_old_as_the_directory() -> None:
    (entry,) = built_wheel_entries(LEAF, [], [], NOW, OLD)
    assert entry.files == ()
    assert (entry.created, entry.last_used) == (OLD, OLD)


def _entry(code: ProblemCode, *files: CacheFile, kind: Kind = Kind.DAMAGED) -> CacheEntry:
    return CacheEntry("/c/meta", kind, Layout.HTTP_V2, files, problem=Problem(code, "whatever"))


META = CacheFile("/c/meta", 100, OLD, OLD)
BODY = CacheFile("/c/meta", 5, OLD, OLD, ".body")


@pytest.mark.parametrize(
    ("code", "culprit"),
    [
        (ProblemCode.BODY_LENGTH, "/c/meta.body"),
        (ProblemCode.BAD_BODY, "/c/meta.body"),
        (ProblemCode.BAD_PAGE, "/c/meta.body"),
        (ProblemCode.BAD_METADATA, "/c/meta"),
        (ProblemCode.ORPHAN_METADATA, "/c/meta"),
    ],
)
def test_the_culprit_follows_the_code_not_the_message(code: ProblemCode, culprit: str) -> None:
    finding = find_damage(_entry(code, META, BODY))
    assert finding is not None
    assert (finding.path, finding.problem.code) == (culprit, code)


def test_an_unreadable_entry_is_found_but_not_damage(tmp_path: Path) -> None:
    entry = _entry(ProblemCode.UNREADABLE, META, BODY, kind=Kind.UNKNOWN)
    finding = find_damage(entry)
    assert finding is not None
    assert finding.problem.code is ProblemCode.UNREADABLE
    assert not finding.problem.code.is_damage
    assert find_damage(_entry(ProblemCode.SYMLINK, META, kind=Kind.UNKNOWN)) is None


@pytest.mark.parametrize(
    ("code", "kept"),
    [
        (ProblemCode.UNREADABLE, False),
        (ProblemCode.VANISHED, False),
        (ProblemCode.BAD_METADATA, True),
        (None, True),
    ],
)
def test_the_memo_skips_transient_problems_by_code(
    tmp_path: Path, code: ProblemCode | None, kept: bool
) -> None:
    # A message that looks transient, on a code that is not, is kept: only the code counts.
    problem = None if code is None else Problem(code, "cannot be read: looks transient")
    identity = Identity(Kind.UNKNOWN if code else Kind.METADATA, "p", "1", None, problem)
    key, stamp = memo_key(True, "0" * 56), (1, 2, 3, 4, 5, 6)
    memo = AttributionMemo(tmp_path / "cache", tmp_path / "memo")
    with memo.recording():
        memo.record(key, stamp, identity)
    again = AttributionMemo(tmp_path / "cache", tmp_path / "memo")
    with again.recording():
        assert again.lookup(key, stamp) == (identity if kept else None)
