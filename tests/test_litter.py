"""Litter never changes what a real entry is: table-driven, on caches written byte for byte.

A file or directory that pip never writes where it lies (a desktop file, an editor backup, a
README, a copy at the wrong depth, a symlink) is an ``unknown`` entry of its own, at its own
path; every real entry around it keeps its kind, project, version and files. The caches here
are written by ``cachefactory`` (pip's exact formats) so each case runs in milliseconds; the
property test in ``test_litter_property.py`` does the same on caches real pips filled.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cachefactory
import packages
import platform_needs
import pytest

from pipcachex.cache import Kind, ProblemCode, scan_cache
from pipcachex.cache.layout import LOCK_NAME, folder_prefix, http_name_kind, is_wheel_level
from pipcachex.cache.model import CacheEntry

ENTRY = hashlib.sha224(b"some url").hexdigest()


def _identity(entry: CacheEntry) -> tuple[Any, ...]:
    problem = None if entry.problem is None else entry.problem.code
    return (entry.kind, entry.package, entry.version, entry.filename, problem, entry.paths)


def _real_cache(cache: Path) -> dict[str, Path]:
    """Two http-v2 entries, a legacy one, two built wheels and pip's state; their anchors."""
    wheel = packages.build_wheel_bytes(packages.WHEELS[0])
    v2 = cachefactory.write_http_v2_entry(
        cache, "https://x.invalid/a.whl", wheel, cachefactory.file_headers(wheel)
    )
    body = b"Metadata-Version: 2.1\nName: meta-pkg\nVersion: 3.0\n\n"
    meta = cachefactory.write_http_v2_entry(
        cache, "https://x.invalid/m.metadata", body, cachefactory.file_headers(body)
    )
    legacy = cachefactory.write_legacy_http_entry(
        cache, "https://x.invalid/l.whl", wheel, cachefactory.file_headers(wheel)
    )
    origin = cachefactory.origin_json("https://x.invalid/gamma-1.2.3.tar.gz")
    gamma = cachefactory.write_wheel_entry(
        cache, "https://x.invalid/gamma-1.2.3.tar.gz", wheel, "gamma-1.2.3-py3-none-any.whl", origin
    )
    delta = cachefactory.write_wheel_entry(
        cache, "https://x.invalid/delta-0.1.zip", wheel, "delta_zip-0.1-py3-none-any.whl"
    )
    cachefactory.write_selfcheck(cache)
    return {
        "v2": v2.meta,
        "meta": meta.meta,
        "legacy": legacy.meta,
        "gamma": gamma.parent,
        "delta": delta.parent,
    }


@dataclass(frozen=True)
class Litter:
    """One piece of litter: where (relative to the cache; ``{name}`` fills in) and what it is."""

    where: str
    what: str = "file"  # "file", "empty" (zero bytes), "dir" (a file inside), "link", "linkdir"


def _place(cache: Path, anchors: dict[str, Path], litter: Litter, outside: Path) -> Path:
    fields = {name: path.relative_to(cache).as_posix() for name, path in anchors.items()}
    path = Path(os.path.normpath(cache / litter.where.format(**fields)))
    path.parent.mkdir(parents=True, exist_ok=True)
    if litter.what == "file":
        path.write_bytes(b"not pip's\n")
    elif litter.what == "empty":
        path.write_bytes(b"")
    elif litter.what == "dir":
        path.mkdir()
        path = path / "inside.txt"
        path.write_bytes(b"not pip's either\n")
    elif litter.what == "link":
        platform_needs.require("symlinks")
        path.symlink_to(outside / "target.txt")
    else:
        platform_needs.require("symlinks")
        path.symlink_to(outside, target_is_directory=True)
    return path


LITTER = [
    Litter(".DS_Store"),
    Litter("README"),
    Litter("notes", "dir"),
    Litter("link-out", "linkdir"),
    Litter("wheels/.DS_Store"),
    Litter("wheels/Thumbs.db", "empty"),
    Litter("wheels/linkdir", "linkdir"),
    Litter("wheels/zz", "dir"),
    Litter("{gamma}/../notes.txt"),
    Litter("{gamma}/../../desktop.ini"),
    Litter("{gamma}/../../../._gamma"),
    Litter("{gamma}/../../../nothex", "dir"),
    Litter("{gamma}/.DS_Store"),
    Litter("{gamma}/README", "empty"),
    Litter("{gamma}/gamma-1.2.3-py3-none-any.whl~"),
    Litter("{gamma}/not-a-wheel.whl"),
    Litter("{gamma}/extra", "dir"),
    Litter("{gamma}/linked-9.9-py3-none-any.whl", "link"),
    Litter("{delta}/.gamma.swp"),
    Litter("http-v2/.DS_Store"),
    Litter("http-v2/a/desktop.ini", "empty"),
    Litter("{v2}/../README"),
    Litter("{v2}/../._x"),
    Litter("{v2}/../" + "0" * 56),
    Litter("{v2}/../../" + ENTRY, "empty"),
    Litter("{v2}/../link", "link"),
    Litter("{v2}/../zdir", "dir"),
    Litter("{v2}~"),
    Litter("{v2}.swp"),
    Litter("{v2}.body~"),
    Litter("{meta}/../notes.tmp"),
    Litter("http/.DS_Store"),
    Litter("{legacy}/../Thumbs.db"),
    Litter("{legacy}/../../" + ENTRY),
    Litter("{legacy}~", "empty"),
    Litter("selfcheck/.DS_Store"),
]


@pytest.mark.parametrize("litter", LITTER, ids=[f"{x.where}:{x.what}" for x in LITTER])
def test_litter_is_unknown_and_changes_no_real_entry(tmp_path: Path, litter: Litter) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.txt").write_bytes(b"outside\n")
    cache = tmp_path / "cache"
    anchors = _real_cache(cache)
    before = {e.path: _identity(e) for e in scan_cache(cache).entries}
    assert {e[0] for e in before.values()} == {
        Kind.DISTRIBUTION,
        Kind.METADATA,
        Kind.BUILT_WHEEL,
        Kind.PIP_STATE,
    }

    placed = _place(cache, anchors, litter, outside)
    after = {e.path: e for e in scan_cache(cache).entries}
    assert {path: after[path] and _identity(after[path]) for path in before} == before
    (extra,) = [after[path] for path in after.keys() - before.keys()]
    assert extra.path == str(placed)
    assert extra.paths == (str(placed),)
    assert extra.kind is Kind.UNKNOWN
    is_link = litter.what in ("link", "linkdir")
    assert (extra.problem is not None and extra.problem.code is ProblemCode.SYMLINK) == is_link


def test_the_lock_file_is_never_an_entry(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _real_cache(cache)
    before = [e.path for e in scan_cache(cache).entries]
    (cache / LOCK_NAME).write_bytes(b"")
    assert [e.path for e in scan_cache(cache).entries] == before


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("/c/http-v2/a/b/c/d/e", "abcde"),
        ("/c/http-v2/a/b/c/d", None),
        ("/c/http-v2/a/b/c/d/e/f", None),
        ("/c/http-v2/ab/c/d/e", None),
        ("/c/http-v2x/a/b/c/d", None),
        ("/c/http/a/b/c/d/e", None),  # another layout's directory
    ],
)
def test_folder_prefix(folder: str, expected: str | None) -> None:
    assert folder_prefix(folder, "/c/http-v2") == expected


@pytest.mark.parametrize(
    ("prefix", "name", "expected"),
    [
        (ENTRY[:5], ENTRY, "entry"),
        (ENTRY[:5], ENTRY + ".body", "body"),
        (ENTRY[:5], ENTRY + "k2j3h4.tmp", "temp"),
        (ENTRY[:5], ENTRY + ".tmp", "temp"),
        (ENTRY[:5], ENTRY + ".bodyx8y7.tmp", "temp"),  # a body being written
        (ENTRY[:5], ENTRY + "a\nb.tmp", "temp"),  # what follows the name is pip's random part
        (ENTRY[:5], ENTRY + "\n", None),
        (ENTRY[:5], ENTRY + ".body\n", None),
        (ENTRY[:5], ENTRY + ".tmp\n", None),
        (ENTRY[:5], ENTRY + "~", None),
        (ENTRY[:5], ENTRY + ".body~", None),
        (ENTRY[:5], ENTRY + ".swp", None),
        (ENTRY[:5], ENTRY.upper(), None),
        (ENTRY[:5], ENTRY[:55], None),
        (ENTRY[:5], "notes.tmp", None),
        ("fffff", ENTRY, None),  # a real name in another entry's folder
        (None, ENTRY, None),
    ],
)
def test_http_name_kind(prefix: str | None, name: str, expected: str | None) -> None:
    assert http_name_kind(prefix, name) == expected


@pytest.mark.parametrize(
    ("name", "depth", "expected"),
    [
        ("ab", 1, True),
        ("0f", 3, True),
        ("AB", 1, False),
        ("abc", 1, False),
        ("zz", 2, False),
        ("a" * 50, 4, True),
        ("a" * 49, 4, False),
        ("ab", 4, False),
        ("ab", 5, False),
        ("ab", 0, False),
    ],
)
def test_is_wheel_level(name: str, depth: int, expected: bool) -> None:
    assert is_wheel_level(name, depth) is expected
