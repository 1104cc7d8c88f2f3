"""The deleter at the level of files: what ``delete_entries`` removes, keeps and reports.

Real files in ``tmp_path``, written in pip's layout and scanned as pipcachex scans them; no pip,
no index. Each case is one way a file can differ from what the scan saw, or one rule that keeps
the cache root, the lock file and what lies outside the cache from ever being removed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cachefactory
import packages
import platform_needs
import pytest

from pipcachex.cache import CacheEntry, CacheFile, Kind, Layout, scan_cache
from pipcachex.deletion import DeletionReport, delete_entries, remove_empty_directories
from pipcachex.errors import UnsafeCacheError
from pipcachex.lock import LOCK_NAME

WHEEL = packages.build_wheel_bytes(packages.WHEELS[0])


def _cache(tmp_path: Path, count: int = 1) -> tuple[Path, list[CacheEntry]]:
    """A cache of ``count`` http-v2 entries, scanned."""
    cache = tmp_path / "cache"
    (cache / "http-v2").mkdir(parents=True)
    (cache / "wheels").mkdir()
    for n in range(count):
        url = f"https://files.example.invalid/alpha_pkg-1.{n}-py3-none-any.whl"
        cachefactory.write_http_v2_entry(cache, url, WHEEL, cachefactory.file_headers(WHEEL))
    entries = [e for e in scan_cache(cache).entries if e.layout is Layout.HTTP_V2]
    assert len(entries) == count
    return cache, entries


def _files(cache: Path) -> set[str]:
    return {str(p.relative_to(cache)) for p in cache.rglob("*") if not p.is_dir()}


def _delete(cache: Path, entries: list[CacheEntry], **options: object) -> DeletionReport:
    return delete_entries(cache, entries, root_checked=True, **options)  # type: ignore[arg-type]


def test_an_http_entry_is_removed_with_the_directories_it_emptied(tmp_path: Path) -> None:
    cache, [entry] = _cache(tmp_path)
    report = _delete(cache, [entry])
    assert report.removed == (entry,) and not report.refused and not report.failed
    assert report.freed_bytes == entry.size > 0
    assert _files(cache) == set()
    # The five one-character levels went; the layout directory itself stays.
    assert report.removed_directories == 5
    assert (cache / "http-v2").is_dir() and list((cache / "http-v2").iterdir()) == []


def test_directories_that_still_hold_something_stay(tmp_path: Path) -> None:
    cache, entries = _cache(tmp_path, 2)
    keep = Path(entries[1].path)
    report = _delete(cache, entries[:1])
    assert report.removed == (entries[0],)
    assert keep.exists() and keep.with_name(keep.name + ".body").exists()
    # Every directory above the kept entry is still there; only the other entry's went.
    assert all(parent.is_dir() for parent in keep.parents if cache in parent.parents)
    assert report.removed_directories == sum(
        1
        for level in Path(entries[0].path).parents
        if cache in level.parents and level not in keep.parents and level != cache / "http-v2"
    )


def _grow(entry: CacheEntry) -> None:
    with open(entry.files[-1].path, "ab") as handle:
        handle.write(b"more")


def _touch(entry: CacheEntry) -> None:
    path = entry.files[-1].path
    os.utime(path, (1_000_000.0, 1_000_000.0))


def _replace_with_directory(entry: CacheEntry) -> None:
    path = entry.files[-1].path
    os.unlink(path)
    os.mkdir(path)


def _remove_already(entry: CacheEntry) -> None:
    for member in entry.files:
        os.unlink(member.path)


@pytest.mark.parametrize(
    ("change", "removed", "reason"),
    [
        (_grow, False, "changed since it was scanned (left alone)"),
        (_touch, False, "changed since it was scanned (left alone)"),
        (_replace_with_directory, False, "not a regular file (left alone)"),
        (_remove_already, True, None),  # gone already (another purge): what was wanted
    ],
    ids=["grown", "touched", "now-a-directory", "gone-already"],
)
def test_a_file_that_is_not_what_was_scanned_is_left_alone(
    tmp_path: Path, change: Callable[[CacheEntry], None], removed: bool, reason: str | None
) -> None:
    cache, [entry] = _cache(tmp_path)
    change(entry)
    report = _delete(cache, [entry])
    assert (report.removed == (entry,)) is removed
    assert [(p.path, p.reason) for p in report.failed] == (
        [(entry.files[-1].path, reason)] if reason else []
    )
    if reason is not None:
        # The metadata file (the anchor) went first; the body that changed is still there.
        assert not os.path.lexists(entry.path)
        assert os.path.lexists(entry.files[-1].path)


def test_the_metadata_file_goes_before_the_body(tmp_path: Path) -> None:
    # A body whose metadata is gone is an orphan pip ignores; a metadata file without its body
    # would be a broken entry pip trips over. So the anchor goes first.
    cache, [entry] = _cache(tmp_path)
    body = entry.files[-1]
    assert body.suffix == ".body" and entry.files[0].path == entry.path
    _grow(entry)
    _delete(cache, [entry])
    assert not os.path.exists(entry.path) and os.path.exists(body.path)


def _entry_at(path: Path, kind: Kind = Kind.UNKNOWN, layout: Layout = Layout.OTHER) -> CacheEntry:
    info = os.lstat(path)
    member = CacheFile(str(path), info.st_size, info.st_mtime, info.st_atime)
    return CacheEntry(str(path), kind, layout, (member,))


def test_the_root_and_the_lock_file_are_never_removed(tmp_path: Path) -> None:
    cache, _ = _cache(tmp_path)
    lock = cache / LOCK_NAME
    lock.write_text("")
    root = CacheEntry(str(cache), Kind.UNKNOWN, Layout.OTHER, ())
    report = _delete(cache, [root, _entry_at(lock)], allow_unknown=True)
    assert report.removed == ()
    assert sorted(p.reason for p in report.refused) == [
        "pipcachex's own lock file is never removed",
        "the cache directory itself is never removed",
    ]
    assert lock.exists() and cache.is_dir()


def test_unknown_entries_go_only_when_allowed(tmp_path: Path) -> None:
    cache, _ = _cache(tmp_path)
    stray = cache / "http-v2" / "notes.txt"
    stray.write_text("mine\n")
    entry = _entry_at(stray, layout=Layout.HTTP_V2)
    refused = _delete(cache, [entry])
    assert refused.removed == () and len(refused.refused) == 1 and stray.exists()
    allowed = _delete(cache, [entry], allow_unknown=True)
    assert allowed.removed == (entry,) and not stray.exists()


def test_a_file_reached_through_a_symlinked_directory_is_outside(tmp_path: Path) -> None:
    platform_needs.require("symlinks")
    cache, _ = _cache(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "precious.txt"
    victim.write_text("not the cache's\n")
    (cache / "http-v2" / "a").symlink_to(outside, target_is_directory=True)
    entry = _entry_at(cache / "http-v2" / "a" / "precious.txt", layout=Layout.HTTP_V2)
    report = _delete(cache, [entry], allow_unknown=True)
    assert report.removed == ()
    assert [(p.path, p.reason) for p in report.failed] == [
        (entry.path, "outside the cache directory")
    ]
    assert victim.exists() and (cache / "http-v2" / "a").is_symlink()


def test_a_path_outside_the_root_by_name_is_outside(tmp_path: Path) -> None:
    cache, _ = _cache(tmp_path)
    elsewhere = tmp_path / "cache-other" / "file.txt"
    elsewhere.parent.mkdir()
    elsewhere.write_text("x")  # "cache-other" starts like "cache": a prefix is not inside
    report = _delete(cache, [_entry_at(elsewhere)], allow_unknown=True)
    assert [(p.path, p.reason) for p in report.failed] == [
        (str(elsewhere), "outside the cache directory")
    ]
    assert elsewhere.exists()


def test_a_built_wheel_directory_goes_with_its_nested_leftovers(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "http-v2").mkdir(parents=True)
    wheel = cachefactory.write_wheel_entry(
        cache, "file:///src/alpha", WHEEL, "alpha_pkg-1.0-py3-none-any.whl", {"url": "x"}
    )
    directory = wheel.parent
    [entry] = [e for e in scan_cache(cache).entries if e.kind is Kind.BUILT_WHEEL]
    report = _delete(cache, [entry])
    assert report.removed == (entry,)
    assert not directory.exists() and (cache / "wheels").is_dir()
    assert report.removed_directories == 4  # the 2/2/2/50 levels, not wheels/ itself


def test_a_built_wheel_directory_with_a_build_under_way_is_left_alone(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "http-v2").mkdir(parents=True)
    wheel = cachefactory.write_wheel_entry(
        cache, "file:///src/alpha", WHEEL, "alpha_pkg-1.0-py3-none-any.whl", {"url": "x"}
    )
    [entry] = [e for e in scan_cache(cache).entries if e.kind is Kind.BUILT_WHEEL]
    (wheel.parent / "tmpab12").mkdir()  # a pip started building here after the scan
    report = _delete(cache, [entry])
    assert report.removed == ()
    assert [(p.path, p.reason) for p in report.failed] == [
        (entry.path, "a pip started building here (left alone)")
    ]
    assert wheel.exists()


def test_many_entries_are_shared_out_and_reported_in_order(tmp_path: Path) -> None:
    cache, entries = _cache(tmp_path, 40)  # enough for several chunks on several threads
    seen: list[int] = []
    report = _delete(cache, list(reversed(entries)), on_progress=seen.append)
    assert sorted(e.path for e in report.removed) == sorted(e.path for e in entries)
    assert seen == sorted(seen) and seen[-1] == 40 and len(seen) > 1
    assert _files(cache) == set()


def test_failures_are_reported_in_path_order(tmp_path: Path) -> None:
    cache, entries = _cache(tmp_path, 12)
    for entry in entries:
        _grow(entry)
    report = _delete(cache, list(reversed(entries)))
    paths = [p.path for p in report.failed]
    assert len(paths) == 12 and paths == sorted(paths)


def test_empty_directories_are_removed_up_to_the_layout(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    deep = cache / "http-v2" / "a" / "b" / "c" / "d" / "e"
    deep.mkdir(parents=True)
    kept = cache / "http-v2" / "f" / "g"
    kept.mkdir(parents=True)
    (kept / "x").write_text("")
    removed = remove_empty_directories(cache, [deep, kept], root_checked=True)
    assert removed == 5
    assert not (cache / "http-v2" / "a").exists()
    assert kept.is_dir() and (cache / "http-v2").is_dir()


@pytest.mark.parametrize(
    ("error", "removed", "reason"),
    [
        (PermissionError(13, "Permission denied"), False, "Permission denied"),
        (FileNotFoundError(2, "No such file or directory"), True, None),  # a pip got there first
    ],
    ids=["refused-by-the-system", "gone-meanwhile"],
)
def test_what_the_system_says_when_unlinking_is_reported(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: OSError,
    removed: bool,
    reason: str | None,
) -> None:
    # As root nothing refuses an unlink, and a race cannot be timed: the system's answer is
    # what is simulated, for the metadata file only.
    cache, [entry] = _cache(tmp_path)
    real_unlink = os.unlink

    def unlink(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if os.fspath(path) == entry.path:
            raise error
        real_unlink(path)

    monkeypatch.setattr(os, "unlink", unlink)
    report = _delete(cache, [entry])
    assert (report.removed == (entry,)) is removed
    assert [(p.path, p.reason) for p in report.failed] == ([(entry.path, reason)] if reason else [])


def test_the_not_a_cache_guard_runs_unless_the_caller_ran_it(tmp_path: Path) -> None:
    # A directory holding what pip never writes at its top is refused before anything goes,
    # unless the user named it with --force (or the caller checked it already).
    cache, [entry] = _cache(tmp_path)
    (cache / "notes.txt").write_text("mine\n")
    empty = cache / "http-v2" / "z" / "y"
    empty.mkdir(parents=True)
    with pytest.raises(UnsafeCacheError, match=r"notes\.txt"):
        delete_entries(cache, [entry])
    with pytest.raises(UnsafeCacheError, match=r"notes\.txt"):
        remove_empty_directories(cache, [empty])
    assert os.path.exists(entry.path) and empty.is_dir()
    assert delete_entries(cache, [entry], force=True).removed == (entry,)
    assert remove_empty_directories(cache, [empty], force=True) == 2
    assert (cache / "notes.txt").exists()


def test_a_killed_builds_nested_leftovers_go_with_the_wheel_directory(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "http-v2").mkdir(parents=True)
    wheel = cachefactory.write_wheel_entry(
        cache, "file:///src/alpha", WHEEL, "alpha_pkg-1.0-py3-none-any.whl", {"url": "x"}
    )
    stale = wheel.parent / "tmpab12" / "build" / "lib"
    stale.mkdir(parents=True)
    (stale / "module.py").write_text("x = 1\n")
    old = 1_000_000.0  # long before any build could still be running
    for path in (stale / "module.py", stale, stale.parent, stale.parent.parent):
        os.utime(path, (old, old))
    built = [e for e in scan_cache(cache).entries if e.layout is Layout.WHEELS]
    report = _delete(cache, built)
    assert sorted(e.path for e in report.removed) == sorted(e.path for e in built)
    assert not wheel.parent.exists() and (cache / "wheels").is_dir()


def test_an_empty_built_wheel_directory_is_an_entry_that_goes(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "http-v2").mkdir(parents=True)
    wheel = cachefactory.write_wheel_entry(
        cache, "file:///src/alpha", WHEEL, "alpha_pkg-1.0-py3-none-any.whl", {"url": "x"}
    )
    for name in os.listdir(wheel.parent):
        os.unlink(wheel.parent / name)
    [entry] = [e for e in scan_cache(cache).entries if e.layout is Layout.WHEELS]
    assert entry.files == ()
    report = _delete(cache, [entry])
    assert report.removed == (entry,) and not wheel.parent.exists()


def test_a_wheel_directory_with_a_file_that_changed_is_not_reported_removed(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    (cache / "http-v2").mkdir(parents=True)
    wheel = cachefactory.write_wheel_entry(
        cache, "file:///src/alpha", WHEEL, "alpha_pkg-1.0-py3-none-any.whl", {"url": "x"}
    )
    [entry] = [e for e in scan_cache(cache).entries if e.kind is Kind.BUILT_WHEEL]
    with open(wheel, "ab") as handle:
        handle.write(b"rebuilt since the scan")
    report = _delete(cache, [entry])
    assert report.removed == ()
    assert [(p.path, p.reason) for p in report.failed] == [
        (str(wheel), "changed since it was scanned (left alone)")
    ]
    assert wheel.exists()
