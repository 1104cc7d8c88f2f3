"""The rules that decide what a purge may delete: which names pip writes, which roots are caches.

Unit tests on files made in tmp_path; no pip, no index.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import platform_needs
import pytest

from pipcachex.cache import CacheEntry, CacheFile, Kind, Layout
from pipcachex.cache.directory import STALE_SECONDS
from pipcachex.cache.layout_names import foreign_at_root, is_litter, is_pip_path
from pipcachex.deletion import ensure_deletable
from pipcachex.deletion.rules import (
    directories_below,
    foreign_files,
    foreign_reason,
    has_fresh_build,
    holds_more_than_pip_state,
    name_some,
    refusal_reason,
)
from pipcachex.errors import UnsafeCacheError

H = "0123456789abcdef" * 3 + "01234567"  # 56 hex digits, the shape of an HTTP entry's name
LEAF = H[:50]
HTTP_DIRS = "0/1/2/3/4"
WHEEL_DIR = f"wheels/ab/cd/ef/{LEAF}"


@pytest.mark.parametrize(
    ("name", "litter"),
    [
        (".DS_Store", True),
        ("._alpha_pkg-1.0-py3-none-any.whl", True),
        ("Thumbs.db", True),
        ("thumbs.db", True),
        ("desktop.ini", True),
        ("Desktop.ini", True),
        ("DS_Store", False),
        ("_.x", False),
        ("README", False),
        (".zshrc", False),
        ("notes.txt~", False),
    ],
)
def test_litter_names(name: str, litter: bool) -> None:
    assert is_litter(name) is litter


@pytest.mark.parametrize(
    ("relative", "pip_writes_it"),
    [
        # HTTP entries, both layouts: the name is the hash, five one-hex directories down.
        (f"http-v2/{HTTP_DIRS}/{H}", True),
        (f"http-v2/{HTTP_DIRS}/{H}.body", True),
        (f"http-v2/{HTTP_DIRS}/{H}abcd1234.tmp", True),
        (f"http-v2/{HTTP_DIRS}/{H}.bodyabcd1234.tmp", True),
        (f"http/{HTTP_DIRS}/{H}", True),
        (f"http-v2/{HTTP_DIRS}/.DS_Store", True),
        (f"http-v2/{HTTP_DIRS}/._{H}", True),
        ("http-v2/Thumbs.db", True),
        (f"http-v2/{HTTP_DIRS}/{H.upper()}", False),
        (f"http-v2/{HTTP_DIRS}/{H[:-1]}", False),
        (f"http-v2/{HTTP_DIRS}/{H}.json", False),
        (f"http-v2/{HTTP_DIRS}/README.txt", False),
        (f"http-v2/0/1/2/3/{H}", False),
        (f"http-v2/0/1/2/3/4/5/{H}", False),
        (f"http-v2/0/1/2/3/g/{H}", False),
        (f"http-v2/0/1/2/3/44/{H}", False),
        (f"http-v2/{H}", False),
        ("http-v2/README.txt", False),
        (f"http/src/a/b/c/d/{H}", False),
        # Built wheels: three hex pairs, 50 hex, then wheels, origin.json and build dirs.
        (f"{WHEEL_DIR}/alpha_pkg-1.0-py3-none-any.whl", True),
        (f"{WHEEL_DIR}/origin.json", True),
        (f"{WHEEL_DIR}/origin.jsonx8y7.tmp", True),
        (f"{WHEEL_DIR}/tmpab12cd/build/lib/alpha/__init__.py", True),
        (f"{WHEEL_DIR}/tmpab12cd/anything", True),
        (f"{WHEEL_DIR}/.DS_Store", True),
        (f"{WHEEL_DIR}/notes.txt", False),
        (f"{WHEEL_DIR}/src/alpha.py", False),
        (f"{WHEEL_DIR}/tmp", False),
        ("wheels/t-1.0-py3-none-any.whl", False),
        ("wheels/ab/cd/t-1.0-py3-none-any.whl", False),
        (f"wheels/ab/cd/EF/{LEAF}/t-1.0-py3-none-any.whl", False),
        (f"wheels/ab/cd/ef/{LEAF}0/t-1.0-py3-none-any.whl", False),
        (f"wheels/ab/cd/ef/{LEAF.upper()}/t-1.0-py3-none-any.whl", False),
        ("wheels/08/notes.txt", False),
        # A trailing newline is another name, at every level ("$" alone would accept it).
        (f"http-v2/0/1/2/3/4/{H}\n", False),
        (f"http-v2/0/1/2/3/4\n/{H}", False),
        (f"{WHEEL_DIR}/alpha_pkg-1.0-py3-none-any.whl\n", False),
        (f"{WHEEL_DIR}/origin.json\n", False),
        (f"wheels/ab/cd/ef\n/{LEAF}/t-1.0-py3-none-any.whl", False),
        (f"wheels/ab/cd/ef/{LEAF}\n/t-1.0-py3-none-any.whl", False),
        (f"selfcheck/{H}.json\n", False),
        # pip's own state, pipcachex's lock, and the top.
        (f"selfcheck/{H}", True),
        (f"selfcheck/{H}.json", True),
        (f"selfcheck/{H}q1w2.tmp", True),
        ("selfcheck/notes", False),
        (f"selfcheck/x/{H}", False),
        ("selfcheck.json", True),
        (".pipcachex.lock", True),
        (".DS_Store", True),
        ("selfcheck", False),
        ("http-v2", False),
        ("wheels", False),
        ("notes.txt", False),
        ("id_ed25519", False),
        (".zshrc", False),
        ("src/main.py", False),
        (".config/app.ini", False),
        ("Documents/thesis.tex", False),
    ],
)
def test_is_pip_path(relative: str, pip_writes_it: bool) -> None:
    assert is_pip_path(relative.split("/")) is pip_writes_it


def test_an_empty_path_is_not_pip_s() -> None:
    assert is_pip_path(()) is False


def test_foreign_at_root_is_everything_but_pip_s_names_and_litter() -> None:
    names = [
        "http",
        "http-v2",
        "wheels",
        "selfcheck",
        "selfcheck.json",
        ".pipcachex.lock",
        ".DS_Store",
        "._http",
        "Thumbs.db",
        "desktop.ini",
        "src",
        "notes.txt",
        ".zshrc",
        "id_ed25519",
        "HTTP",
    ]
    assert foreign_at_root(names) == [".zshrc", "HTTP", "id_ed25519", "notes.txt", "src"]


def _tree(root: Path, *files: str) -> Path:
    for relative in files:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    return root


@pytest.mark.parametrize(
    ("files", "verdict"),
    [
        ([f"http-v2/{HTTP_DIRS}/{H}"], None),
        ([f"{WHEEL_DIR}/origin.json", ".DS_Store", "desktop.ini", ".pipcachex.lock"], None),
        ([f"http/{HTTP_DIRS}/{H}", "selfcheck.json", f"selfcheck/{H}"], None),
        (
            ["src/main.py", "notes.txt", "id_ed25519", ".zshrc", "wheels/t-1.0-py3-none-any.whl"],
            "holds things pip never writes in a cache: .zshrc, id_ed25519, notes.txt, src",
        ),
        ([".bashrc", f"http/{HTTP_DIRS}/{H}"], "holds things pip never writes in a cache: .bashrc"),
        (["README.md", "wheels/x.whl"], "holds things pip never writes in a cache: README.md"),
        (["report.txt", "sub/old.txt"], "no http, http-v2 or wheels directory"),
        ([".DS_Store"], "no http, http-v2 or wheels directory"),
    ],
)
def test_foreign_reason(files: list[str], verdict: str | None, tmp_path: Path) -> None:
    root = _tree(tmp_path / "c", *files)
    reason = foreign_reason(root)
    if verdict is None:
        assert reason is None
    else:
        assert reason is not None and verdict in reason and str(root) in reason


def test_force_accepts_foreign_names_but_never_a_home_or_a_non_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _tree(tmp_path / "p", "src/main.py", "wheels/t-1.0-py3-none-any.whl")
    assert foreign_reason(project) is not None
    assert foreign_reason(project, force=True) is None
    documents = _tree(tmp_path / "d", "report.txt")
    assert foreign_reason(documents, force=True) is not None
    home = _tree(tmp_path / "home", f"http/{HTTP_DIRS}/{H}")
    monkeypatch.setenv("HOME", str(home))
    for directory in (home, home.parent, Path("/")):
        reason = foreign_reason(directory, force=True)
        assert reason is not None and "system or home directory" in reason


def test_ensure_deletable_names_the_root_and_ends_with_the_hint(tmp_path: Path) -> None:
    root = _tree(tmp_path / "p", "notes.txt", "wheels/x.whl")
    with pytest.raises(UnsafeCacheError) as raised:
        ensure_deletable(root, hint=" (try harder)")
    assert raised.value.message == (
        f"refusing to delete anything: {root} holds things pip never writes in a cache: "
        "notes.txt (try harder)"
    )
    ensure_deletable(root, force=True)


def test_foreign_files_are_named_relative_and_sorted(tmp_path: Path) -> None:
    root = tmp_path / "c"
    paths = [
        f"{root}/http-v2/{HTTP_DIRS}/{H}",
        f"{root}/wheels/08/notes.txt",
        f"{root}/http-v2/README.txt",
        f"{root}/{WHEEL_DIR}/.DS_Store",
    ]
    assert foreign_files(root, paths) == ["http-v2/README.txt", "wheels/08/notes.txt"]
    assert foreign_files(Path(f"{root}{os.sep}"), paths[:1]) == []


@pytest.mark.parametrize(
    ("files", "holds_more"),
    [
        ([], False),
        ([f"selfcheck/{H}", "selfcheck.json", ".pipcachex.lock", ".DS_Store"], False),
        ([f"http-v2/{HTTP_DIRS}/{H}"], True),
        (["notes.txt"], True),
    ],
)
def test_holds_more_than_pip_state(files: list[str], holds_more: bool, tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    _tree(root, *files)
    assert holds_more_than_pip_state(root) is holds_more


def test_holds_more_than_pip_state_of_a_missing_root_or_a_file(tmp_path: Path) -> None:
    assert holds_more_than_pip_state(tmp_path / "missing") is False
    (tmp_path / "file").write_text("x")
    with pytest.raises(UnsafeCacheError, match="is not a directory"):
        holds_more_than_pip_state(tmp_path / "file")


@pytest.mark.parametrize(
    ("names", "text"),
    [
        (["a"], "a"),
        (["a", "b", "c", "d", "e"], "a, b, c, d, e"),
        (["a", "b", "c", "d", "e", "f", "g"], "a, b, c, d, e and 2 more"),
    ],
)
def test_name_some(names: list[str], text: str) -> None:
    assert name_some(names) == text


# -- what an entry may never lose, and what a killed build left -------------------------------


def _entry(path: Path, kind: Kind, *, busy: bool = False) -> CacheEntry:
    member = CacheFile(str(path), 1, 0.0, 0.0)
    return CacheEntry(str(path), kind, Layout.HTTP_V2, (member,), busy=busy)


@pytest.mark.parametrize(
    ("kind", "busy", "link", "allow_unknown", "reason"),
    [
        (Kind.DISTRIBUTION, False, False, False, None),
        (Kind.DAMAGED, False, False, False, None),
        (Kind.UNKNOWN, False, False, True, None),
        (Kind.UNKNOWN, False, False, False, "not recognised as a pip cache entry"),
        (Kind.PIP_STATE, False, False, True, "pip's own state is never removed"),
        (Kind.DISTRIBUTION, True, False, True, "a pip is writing it right now"),
        (Kind.UNKNOWN, True, False, True, "a pip is writing it right now"),
        (
            Kind.UNKNOWN,
            False,
            True,
            True,
            "a symbolic link: neither it nor what it points to is removed",
        ),
        (
            Kind.DISTRIBUTION,
            False,
            True,
            True,
            "a symbolic link: neither it nor what it points to is removed",
        ),
    ],
)
def test_refusal_reason(
    kind: Kind,
    busy: bool,
    link: bool,
    allow_unknown: bool,
    reason: str | None,
    tmp_path: Path,
) -> None:
    path = tmp_path / H
    if link:
        platform_needs.require("symlinks")
        path.symlink_to(tmp_path / "elsewhere")
    else:
        path.write_text("x")
    entry = _entry(path, kind, busy=busy)
    assert refusal_reason(entry, allow_unknown=allow_unknown) == reason


def test_a_link_among_an_entry_s_files_refuses_the_whole_entry(tmp_path: Path) -> None:
    meta = tmp_path / H
    meta.write_text("x")
    body = tmp_path / f"{H}.body"
    body.symlink_to(tmp_path / "elsewhere")
    files = (CacheFile(str(meta), 1, 0.0, 0.0), CacheFile(str(meta), 1, 0.0, 0.0, ".body"))
    entry = CacheEntry(str(meta), Kind.DISTRIBUTION, Layout.HTTP_V2, files)
    assert refusal_reason(entry, allow_unknown=True) is not None


@pytest.mark.parametrize(
    ("name", "age", "is_dir", "fresh"),
    [
        ("tmpab12", 0, True, True),
        ("tmpab12", STALE_SECONDS - 60, True, True),
        ("tmpab12", STALE_SECONDS + 60, True, False),
        ("tmpab12", 0, False, False),  # a file, not a build directory
        ("build", 0, True, False),  # not pip's tmp* name
        ("xtmp", 0, True, False),
    ],
)
def test_has_fresh_build(name: str, age: float, is_dir: bool, fresh: bool, tmp_path: Path) -> None:
    wheel_dir = tmp_path / LEAF
    wheel_dir.mkdir()
    (wheel_dir / "alpha_pkg-1.0-py3-none-any.whl").write_bytes(b"PK")
    build = wheel_dir / name
    if is_dir:
        build.mkdir()
    else:
        build.write_text("x")
    when = time.time() - age
    os.utime(build, (when, when))
    assert has_fresh_build(wheel_dir) is fresh
    assert has_fresh_build(str(wheel_dir)) is fresh


def test_has_fresh_build_of_a_missing_directory_is_false(tmp_path: Path) -> None:
    assert has_fresh_build(tmp_path / "gone") is False


def test_a_link_named_like_a_build_is_not_a_build(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    wheel_dir = tmp_path / LEAF
    wheel_dir.mkdir()
    (wheel_dir / "tmpab12").symlink_to(tmp_path / "target", target_is_directory=True)
    assert has_fresh_build(wheel_dir) is False


def test_directories_below_lists_deepest_first_and_never_follows_a_link(tmp_path: Path) -> None:
    top = tmp_path / "w"
    for relative in ("a/b/c", "a/d", "e"):
        (top / relative).mkdir(parents=True)
    (tmp_path / "outside" / "deep").mkdir(parents=True)
    (top / "a" / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    (top / "a" / "file").write_text("x")

    found = directories_below(str(top))

    assert sorted(found) == sorted(f"{top}/{r}" for r in ("a", "a/b", "a/b/c", "a/d", "e"))
    depths = [path.count("/") for path in found]
    assert depths == sorted(depths, reverse=True)
    assert directories_below(str(tmp_path / "missing")) == []
