"""purge: selective and full purges of caches real pips filled, proven with real pips afterwards.

Every test works on its own copy of a cache filled by pip 26.3 (``http-v2/``) or pip 23.2.1
(``http/``); "gone" is checked on disk and by a real ``pip download`` requesting the file from
the loopback index again, "kept" by the same download being served from the cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cachefactory
import packages
import platform_needs
import pytest
from cli_helpers import CliResult, invoke
from conftest import PipName, PipRunner, pip_env, require_tool, venv_python
from index_server import IndexServer

from pipcachex.cache.fileio import open_untouched, scandir_untouched
from pipcachex.lock import LOCK_NAME

#: What pipcachex's own pip runs see: no user config, no prompts (as the harness's pips).
ENV = {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
DAY = 86400
ALPHA_2_WHEEL = "alpha_pkg-2.0-py3-none-any.whl"
ALPHA_1_WHEEL = "alpha_pkg-1.0-py3-none-any.whl"
LAYOUT_OF = {"current": "http-v2", "legacy": "http"}
OLD_YES_JSON = ("--older-than", "30d", "--yes", "--json")

#: Runs pipcachex in a child process that SIGKILLs itself right after it unlinks the file named
#: first, so a purge dies part-way at a known point (no cleanup, no atexit, like a real kill -9)
#: whichever of its deleting threads gets there. The file named second is a guard: its unlink
#: waits for the first, so the purge is always killed before it, however its threads ran.
KILL_AFTER_UNLINKING = """
import os, signal, sys, threading
target, guard, real_unlink = sys.argv[1], sys.argv[2], os.unlink
target_gone = threading.Event()
def unlink(path, *args, **kwargs):
    if os.fspath(path) == guard:
        target_gone.wait(60)
    real_unlink(path, *args, **kwargs)
    if os.fspath(path) == target:
        target_gone.set()
        os.kill(os.getpid(), signal.SIGKILL)
os.unlink = unlink
sys.argv = ["pipcachex", *sys.argv[3:]]
from pipcachex.cli import main
main()
"""


# -- helpers -----------------------------------------------------------------------------------


def purge(cache: Path, *args: str) -> CliResult:
    """``pipcachex purge --cache-dir CACHE ARGS`` in-process, stdin not a terminal."""
    return invoke(["purge", "--cache-dir", str(cache), *args], env=ENV)


def listing(cache: Path, *args: str) -> list[dict[str, Any]]:
    """The entries ``pipcachex list --json`` reports."""
    result = invoke(["list", "--cache-dir", str(cache), "--json", *args], env=ENV)
    assert result.exit_code == 0, result.stderr
    entries: list[dict[str, Any]] = result.json["entries"]
    return entries


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under ``root`` with type, size, contents, atime and mtime (ns), read untouched.

    pipcachex's lock file at the top is left out: a purge that got as far as locking made it.

    Times are taken before contents are read, and reads use pipcachex's O_NOATIME helpers, so a
    second snapshot differs only if something else moved a time.
    """
    found: dict[str, tuple[object, ...]] = {}

    def walk(directory: Path) -> None:
        with scandir_untouched(directory) as listing_:
            names = sorted(item.name for item in listing_)
        for name in names:
            if directory == root and name == LOCK_NAME:
                continue  # pipcachex's own lock file: it is there once a purge got going
            path = directory / name
            info = os.lstat(path)
            key = str(path.relative_to(root))
            times = (info.st_atime_ns, info.st_mtime_ns)
            if os.path.islink(path):
                found[key] = ("link", os.readlink(path), *times)
            elif path.is_dir():
                found[key] = ("dir", *times)
                walk(path)
            else:
                with open_untouched(path) as handle:
                    found[key] = ("file", info.st_size, handle.read(), *times)

    walk(root)
    return found


def age_entry(entry: dict[str, Any], days: float) -> None:
    """Set every file of a ``list --json`` entry to ``days`` old (atime and mtime)."""
    for path in entry["paths"]:
        cachefactory.set_age(Path(path), days * DAY)


def add_fillers(cache: Path, layout: str, count: int, days: float = 40) -> int:
    """Write ``count`` small PEP 658 metadata entries (projects ``filler-<i>``), ``days`` old."""
    write = (
        cachefactory.write_http_v2_entry
        if layout == "http-v2"
        else cachefactory.write_legacy_http_entry
    )
    for i in range(count):
        body = f"Metadata-Version: 2.1\nName: filler-{i}\nVersion: 1.0\n\n".encode() + b"x" * 512
        url = f"https://filler.invalid/files/filler_{i}-1.0-py3-none-any.whl.metadata"
        entry = write(cache, url, body, cachefactory.file_headers(body))
        for path in (entry.meta, entry.body):
            if path is not None:
                cachefactory.set_age(path, days * DAY)
    return count


def files_under(directory: Path) -> list[Path]:
    """Regular files and links below ``directory`` (none when it does not exist)."""
    return [p for p in directory.rglob("*") if p.is_file() or p.is_symlink()]


def assert_no_empty_dirs_left(cache: Path, removed: list[dict[str, Any]]) -> None:
    """No directory that held a removed file is left empty (layout directories may stay)."""
    stops = {cache, *(cache / name for name in ("http", "http-v2", "wheels"))}
    for entry in removed:
        for path in map(Path, entry["paths"]):
            parent = path.parent
            while parent not in stops:
                assert not parent.exists() or any(parent.iterdir()), f"{parent} left empty"
                parent = parent.parent


@pytest.fixture(params=["current", "legacy"])
def which(request: pytest.FixtureRequest) -> PipName:
    """The pip that filled the cache under test: ``current`` (http-v2/) or ``legacy`` (http/)."""
    name: PipName = request.param
    return name


@pytest.fixture
def cache(which: PipName, request: pytest.FixtureRequest) -> Path:
    """This test's own copy of the cache ``which`` filled."""
    path: Path = request.getfixturevalue("cache_v2" if which == "current" else "cache_legacy")
    return path


def download(
    run_pip: PipRunner, which: PipName, cache: Path, dest: Path, *requirements: str
) -> subprocess.CompletedProcess[str]:
    """A real ``pip download --no-deps`` into ``dest`` that must succeed."""
    args = ["download", "-v", "--no-deps", "-d", str(dest), *requirements]
    return run_pip(which, args, cache, check=True)


# -- selecting by project ----------------------------------------------------------------------


def test_purge_by_name_makes_pip_fetch_it_again(
    which: PipName, cache: Path, run_pip: PipRunner, index: IndexServer, tmp_path: Path
) -> None:
    """``purge Alpha_Pkg`` removes every alpha-pkg entry; other projects stay cached."""
    before = listing(cache)
    result = purge(cache, "Alpha_Pkg", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json
    expected = [e for e in before if e["package"] == "alpha-pkg"]
    assert sorted(e["path"] for e in doc["removed"]) == sorted(e["path"] for e in expected)
    assert {"distribution", "index-page", "metadata"} <= {e["kind"] for e in doc["removed"]}
    assert doc["schema"] == 1 and doc["dry_run"] is False
    assert doc["removed_entries"] == len(expected)
    assert doc["freed_bytes"] == sum(e["size"] for e in expected)
    assert doc["kept_entries"] == len(before) - len(expected)
    assert doc["failed"] == [] and doc["refused"] == []
    assert [p["package"] for p in doc["projects"]] == ["alpha-pkg"]
    for entry in doc["removed"]:
        assert not any(Path(p).exists() for p in entry["paths"])
    assert_no_empty_dirs_left(cache, doc["removed"])
    after = listing(cache)
    assert len(after) == doc["kept_entries"]
    assert not [e for e in after if e["package"] == "alpha-pkg"]

    index.clear_log()
    download(run_pip, which, cache, tmp_path / "a", "alpha-pkg==2.0")
    assert f"/files/{ALPHA_2_WHEEL}" in index.file_requests()
    index.clear_log()
    beta = download(run_pip, which, cache, tmp_path / "b", packages.BETA)
    assert [p for p in index.file_requests() if "beta" in p.lower()] == []
    assert "Using cached" in beta.stdout


def test_purge_versioned_spec_removes_only_that_version(
    which: PipName, cache: Path, run_pip: PipRunner, index: IndexServer, tmp_path: Path
) -> None:
    """``purge "alpha-pkg==1.0"`` takes 1.0's file and metadata; the page and 2.0 stay."""
    result = purge(cache, "alpha-pkg==1.0", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    removed = result.json["removed"]
    assert removed and {(e["package"], e["version"]) for e in removed} == {("alpha-pkg", "1.0")}
    kept = listing(cache, "alpha-pkg")
    assert {e["kind"] for e in kept} >= {"index-page", "distribution"}
    assert {e["version"] for e in kept if e["kind"] == "distribution"} == {"2.0"}

    index.clear_log()
    download(run_pip, which, cache, tmp_path / "one", "alpha-pkg==1.0")
    assert f"/files/{ALPHA_1_WHEEL}" in index.file_requests()
    index.clear_log()
    download(run_pip, which, cache, tmp_path / "two", "alpha-pkg==2.0")
    assert [p for p in index.file_requests() if ALPHA_2_WHEEL in p] == []


# -- age, size and budget ----------------------------------------------------------------------


def test_older_than_takes_old_entries_even_after_list_and_info(which: PipName, cache: Path) -> None:
    """Entries set back 40 days go, fresh ones stay; ``list``/``info`` reads do not refresh them."""
    entries = listing(cache)
    old = [e for e in entries if e["package"] in ("alpha-pkg", "gamma")]
    assert {e["layout"] for e in old} == {LAYOUT_OF[which], "wheels"}
    for entry in old:
        age_entry(entry, 40)
    for command in (["list"], ["info"], ["list", "--packages"]):
        ran = invoke([*command, "--cache-dir", str(cache), "--json"], env=ENV)
        assert ran.exit_code == 0, ran.stderr

    result = purge(cache, "--older-than", "30d", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert sorted(e["path"] for e in result.json["removed"]) == sorted(e["path"] for e in old)
    remaining = {e["path"] for e in listing(cache)}
    assert remaining == {e["path"] for e in entries} - {e["path"] for e in old}
    assert_no_empty_dirs_left(cache, result.json["removed"])


def test_layout_and_newer_than_select_as_list_shows(mixed_cache: Path) -> None:
    """``--layout http`` drops the legacy layout alone; ``--newer-than`` keeps what is old."""
    every = listing(mixed_cache)
    legacy = {e["path"] for e in every if e["layout"] == "http"}
    assert legacy and {e["layout"] for e in every} >= {"http", "http-v2", "wheels"}
    old = [e for e in every if e["layout"] == "wheels"]
    for entry in old:
        age_entry(entry, 10)
    recent = {e["path"] for e in every if e["layout"] != "wheels" and e["kind"] != "pip-state"}
    assert {e["path"] for e in listing(mixed_cache, "--newer-than", "5d")} >= recent
    assert not {e["path"] for e in listing(mixed_cache, "--newer-than", "5d")} & {
        e["path"] for e in old
    }
    assert {e["path"] for e in listing(mixed_cache, "--layout", "http")} == legacy

    result = purge(mixed_cache, "--layout", "http", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["full"] is False
    assert {e["path"] for e in result.json["removed"]} == legacy
    assert {e["layout"] for e in listing(mixed_cache)} == {"http-v2", "wheels", "other"}

    young = purge(mixed_cache, "--newer-than", "5d", "--layout", "wheels", "--yes", "--json")
    assert young.exit_code == 0 and young.json["removed"] == []
    for bad in (["--newer-than", ""], ["--layout", "other"], ["--layout", "http3"]):
        refused = purge(mixed_cache, *bad, "--yes")
        assert refused.exit_code == 2, (bad, refused.stderr)
        assert refused.stderr.startswith("error: invalid value for " + bad[0]), refused.stderr


def test_larger_than_and_kind_combine_with_and(cache: Path) -> None:
    """``--larger-than`` and ``--kind`` select only entries matching both."""
    entries = listing(cache)
    dists = [e for e in entries if e["kind"] == "distribution"]
    threshold = sorted(e["size"] for e in dists)[len(dists) // 2]
    result = purge(
        cache, "--kind", "distribution", "--larger-than", str(threshold), "--yes", "--json"
    )
    assert result.exit_code == 0, result.stderr
    expected = {e["path"] for e in dists if e["size"] > threshold}
    assert expected and {e["path"] for e in result.json["removed"]} == expected


def test_max_size_evicts_least_recently_used_until_under_budget(cache: Path) -> None:
    """``--max-size`` removes the oldest-used entries first and stops once the cache fits."""
    entries = sorted(listing(cache), key=lambda e: e["path"])
    for days, entry in enumerate(entries, start=1):
        age_entry(entry, days)  # the later in path order, the longer ago it was used
    total = sum(e["size"] for e in entries)
    budget = total // 2
    expected, left = [], total
    for entry in reversed(entries):
        if left <= budget:
            break
        expected.append(entry["path"])
        left -= entry["size"]

    result = purge(cache, "--max-size", str(budget), "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json
    assert [e["path"] for e in doc["removed"]] == expected
    assert doc["size_before"] == total and doc["size_after"] <= budget
    assert sum(e["size"] for e in listing(cache)) == doc["size_after"] <= budget

    again = purge(cache, "--max-size", str(budget), "--yes", "--json")
    assert again.exit_code == 0 and again.json["removed"] == []


# -- what a purge never removes ----------------------------------------------------------------


def test_unknown_state_and_root_survive_selective_purges(mixed_cache: Path) -> None:
    """Unknown files go only with ``--kind unknown``; selfcheck/ and the root never."""
    stray = mixed_cache / "http-v2" / "README.txt"
    stray.write_text("not pip's\n")
    state = sorted(files_under(mixed_cache / "selfcheck"))
    assert state

    result = purge(mixed_cache, "--older-than", "0s", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert stray.exists() and all(p.exists() for p in state)
    assert str(stray) in {r["path"] for r in result.json["refused"]}
    assert {e["kind"] for e in listing(mixed_cache)} == {"unknown", "pip-state"}
    assert files_under(mixed_cache / "wheels") == []

    result = purge(mixed_cache, "--kind", "unknown", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert not stray.exists() and all(p.exists() for p in state) and mixed_cache.is_dir()
    assert [e["kind"] for e in listing(mixed_cache)] == ["pip-state"] * len(state)


def test_symlinks_stay_and_their_targets_are_untouched(
    cache: Path, which: PipName, tmp_path: Path, venv_with_pip: Callable[[PipName], Path]
) -> None:
    """Links in the cache pointing outside survive every purge; what they point to is intact."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text("keep me\n")
    (outside / "dir" / "data.bin").write_bytes(b"\x00" * 100)
    layout = cache / LAYOUT_OF[which]
    links = {
        layout / "0" / "link-to-file": outside / "secret.txt",
        layout / "0" / "link-to-dir": outside / "dir",
        cache / "wheels" / "zz" / "link-to-dir": outside / "dir",
        cache / "link-to-outside": outside,
    }
    for link, target in links.items():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    cachefactory.set_age(outside / "secret.txt", 40 * DAY)
    before = snapshot(outside)

    # A link at the top is not pip's: the cache is purged only when named with --force.
    assert purge(cache, "--kind", "unknown", "--yes").exit_code == 1
    refused: dict[str, str] = {}
    for args in (["--kind", "unknown"], ["--older-than", "0s"], ["--kind", "damaged"]):
        result = purge(cache, *args, "--force", str(cache), "--yes", "--json")
        assert result.exit_code == 0, (args, result.stderr)
        assert all(link.is_symlink() for link in links), args
        assert snapshot(outside) == before, args
        refused.update({r["path"]: r["reason"] for r in result.json["refused"]})
    # Each link is an unknown entry of its own, refused as a link.
    for link in links:
        assert "symbolic link" in refused[str(link)], link

    add_fillers(cache, LAYOUT_OF[which], 3)  # something for pip itself to purge
    python = venv_python(venv_with_pip("current"))
    full = purge(cache, "--python", str(python), "--force", str(cache), "--yes", "--json")
    assert full.exit_code == 0, full.stderr
    assert all(link.is_symlink() for link in links)
    assert snapshot(outside) == before


def test_a_full_purge_leaves_a_symlinked_layout_directory_and_what_it_points_to(
    cache: Path, which: PipName, tmp_path: Path
) -> None:
    """``pip cache purge`` would empty the other disk: pipcachex purges the rest itself."""
    layout = LAYOUT_OF[which]
    elsewhere = tmp_path / "other-disk" / layout
    elsewhere.parent.mkdir()
    shutil.move(str(cache / layout), str(elsewhere))
    (elsewhere / "NOTES.txt").write_text("the user's own\n")
    (cache / layout).symlink_to(elsewhere, target_is_directory=True)
    before = snapshot(elsewhere)
    assert any(p.name.endswith(".whl") for p in files_under(cache / "wheels"))

    shown = purge(cache, "--dry-run")
    assert shown.exit_code == 0, shown.stderr
    assert "removes everything itself" in " ".join(shown.stdout.split())
    result = purge(cache, "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json
    assert snapshot(elsewhere) == before
    assert (cache / layout).is_symlink()
    assert doc["pip"] is None and "symbolic link" in doc["pip_skipped"]
    assert {r["path"]: r["reason"] for r in doc["refused"]} == {
        str(cache / layout): "a symbolic link: neither it nor what it points to is removed"
    }
    assert doc["removed"] and files_under(cache / "wheels") == []
    human = purge(cache, "--yes")
    assert human.exit_code == 0 and snapshot(elsewhere) == before


def test_file_links_a_full_purge_reports_as_kept_are_kept(cache: Path, which: PipName) -> None:
    """Links named like pip's entries, which pip would unlink: each one kept, as reported."""
    outside = cache.parent / "outside"
    outside.mkdir()
    links = []
    for number in range(12):
        target = outside / f"file-{number}"
        target.write_text(f"{number}\n")
        name = f"{number:02x}".ljust(56, "0")
        link = cache / LAYOUT_OF[which] / "/".join(name[:5]) / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
        links.append(link)
    before = snapshot(outside)

    result = purge(cache, "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    refused = {r["path"] for r in result.json["refused"]}
    assert refused == {str(link) for link in links}
    assert all(link.is_symlink() for link in links)
    assert snapshot(outside) == before
    assert result.json["pip"] is None and result.json["pip_skipped"]
    kept = [e for e in listing(cache) if e["kind"] != "pip-state"]
    assert sorted(e["path"] for e in kept) == sorted(refused)


def _write_files(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def _foreign_dirs(tmp_path: Path) -> dict[Path, list[str]]:
    """Directories that are not pip caches, each with the names a refusal must mention."""
    project = _write_files(
        tmp_path / "project",
        {
            "src/main.py": "x\n",
            "notes.txt": "n\n",
            "id_ed25519": "k\n",
            ".zshrc": "z\n",
            "wheels/t-1.0-py3-none-any.whl": "",
        },
    )
    home_like = _write_files(
        tmp_path / "home-like",
        {
            ".zshrc": "alias ll='ls -l'\n",
            ".config/app.ini": "[app]\n",
            "Documents/thesis.tex": "\\begin{document}\n",
            "wheels/ab/notes.txt": "mine\n",
        },
    )
    wheelhouse = _write_files(
        tmp_path / "wheelhouse-project",
        {
            "README.md": "# mine\n",
            "pyproject.toml": "[project]\n",
            "wheels/alpha_pkg-1.0-py3-none-any.whl": "PK",
            "http/0/1/2/3/4/" + "0" * 56: "cc=4,",
        },
    )
    plain = _write_files(tmp_path / "documents", {"report.txt": "important\n", "sub/old.txt": ""})
    cachefactory.set_age(plain / "sub" / "old.txt", 400 * DAY)
    return {
        project: [".zshrc", "id_ed25519", "notes.txt", "src"],
        home_like: [".config", ".zshrc", "Documents"],
        wheelhouse: ["README.md", "pyproject.toml"],
        plain: ["no http, http-v2 or wheels directory"],
    }


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["t"],
        ["alpha-pkg"],
        ["--kind", "unknown"],
        ["--kind", "damaged"],
        ["--older-than", "1d"],
        ["--max-size", "0"],
        ["--dry-run"],
        ["--dry-run", "--kind", "unknown"],
    ],
    ids=["full", "t", "alpha", "unknown", "damaged", "older", "max-size", "dry-run", "dry-unknown"],
)
def test_foreign_directory_is_refused(args: list[str], tmp_path: Path) -> None:
    """A directory holding what pip never writes: exit 1 naming it, nothing deleted, no pip run."""
    for directory, named in _foreign_dirs(tmp_path).items():
        before = snapshot(directory)
        result = purge(directory, *args, "--yes")
        assert result.exit_code == 1, (directory, result.stderr)
        message = " ".join(result.stderr.split())
        assert message.startswith(f"error: refusing to delete anything: {directory} "), message
        assert all(name in message for name in named), (named, message)
        assert "pip cache purge" not in result.stdout + result.stderr
        assert snapshot(directory) == before
        assert not (directory / LOCK_NAME).exists()


def test_force_with_the_cache_s_own_path_purges_what_pip_never_wrote(tmp_path: Path) -> None:
    """``--force PATH`` lifts the refusal for that very directory only; another path is exit 2."""
    project = next(iter(_foreign_dirs(tmp_path)))
    before = snapshot(project)
    for other in (tmp_path, project / "src", tmp_path / "elsewhere"):
        wrong = purge(project, "--force", str(other), "--yes")
        assert wrong.exit_code == 2, wrong.stderr
        assert f"invalid value for --force: {str(other)!r}" in wrong.stderr
    assert snapshot(project) == before

    shown = purge(project, "--force", str(project), "--dry-run", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert snapshot(project) == before
    assert {e["path"] for e in shown.json["removed"]} >= {str(project / "notes.txt")}

    relative = purge(project, "--force", os.path.relpath(project), "--yes", "--json")
    assert relative.exit_code == 0, relative.stderr
    left = {p.name for p in project.iterdir()}
    assert project.is_dir() and left <= {"wheels", LOCK_NAME}, left


def test_a_full_purge_refuses_a_cache_holding_files_pip_never_writes(
    cache: Path, which: PipName
) -> None:
    """Anywhere in the layout, a file pip never writes stops a full purge, not a selective one."""
    layout = cache / LAYOUT_OF[which]
    wheel_dir = next(p.parent for p in (cache / "wheels").rglob("*.whl"))
    foreign = [layout / "README.txt", wheel_dir / "notes.txt", cache / "wheels" / "08" / "x.py"]
    for path in foreign:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine\n")
    before = snapshot(cache)
    for args in ([], ["--dry-run"], ["--dry-run", "--json"]):
        result = purge(cache, *args, "--yes")
        assert result.exit_code == 1, (args, result.stderr)
        message = " ".join(result.stderr.split())
        assert message.startswith(f"error: refusing to purge everything: {cache} holds files")
        for path in foreign:
            assert str(path.relative_to(cache)) in message, message
        assert f"--force {cache}" in message
        assert snapshot(cache) == before
    assert result.json["error"]["exit_code"] == 1

    selective = purge(cache, "alpha-pkg", "--yes", "--json")
    assert selective.exit_code == 0, selective.stderr
    assert selective.json["removed"] and all(p.exists() for p in foreign)


def test_desktop_litter_does_not_stop_a_full_purge(cache: Path, which: PipName) -> None:
    """Finder's and Explorer's files, at the top or deep in the layout, are no sign of a user."""
    wheel_dir = next(p.parent for p in (cache / "wheels").rglob("*.whl"))
    litter = [
        cache / ".DS_Store",
        cache / "Thumbs.db",
        cache / LAYOUT_OF[which] / ".DS_Store",
        wheel_dir / "._origin.json",
        wheel_dir.parent / "desktop.ini",
    ]
    for path in litter:
        path.write_bytes(b"\0\0\0\1Bud1")
    result = purge(cache, "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["full"] is True and result.json["removed"]
    assert [e for e in listing(cache) if e["kind"] != "pip-state"] == []


def test_no_terminal_and_no_yes_changes_nothing(cache: Path) -> None:
    """Without a terminal to ask on, a purge without ``--yes`` exits 2 and says to add it."""
    before = snapshot(cache)
    for args in (["alpha-pkg"], [], ["--json", "--older-than", "0s"]):
        result = purge(cache, *args)
        assert result.exit_code == 2, result.stderr
        assert "add --yes" in result.stderr
        assert snapshot(cache) == before
    assert result.json["error"]["exit_code"] == 2


def test_a_file_that_cannot_be_deleted_is_reported_and_the_rest_goes(cache: Path) -> None:
    """One undeletable file: reported in ``failed``, everything else removed, exit 1."""
    entries = listing(cache, "alpha-pkg")
    stuck = Path(entries[0]["paths"][-1])
    with _undeletable(stuck):
        result = purge(cache, "alpha-pkg", "--yes", "--json")
    assert result.exit_code == 1
    doc = result.json
    assert [f["path"] for f in doc["failed"]] == [str(stuck)]
    assert doc["removed_entries"] == len(entries) - 1
    assert stuck.exists()
    others = [Path(p) for e in entries[1:] for p in e["paths"]]
    assert others and not any(p.exists() for p in others)


@contextmanager
def _undeletable(path: Path) -> Iterator[None]:
    """Make ``path`` impossible to unlink: immutable as root, a read-only directory otherwise."""
    platform_needs.require("file_modes")
    platform_needs.require("geteuid")
    if os.geteuid() != 0:
        mode = path.parent.stat().st_mode
        path.parent.chmod(0o555)
        try:
            yield
        finally:
            path.parent.chmod(mode)
        return
    chattr = require_tool("chattr")
    made = subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a file undeletable here: {made.stderr!r}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


# -- dry run -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["alpha-pkg", "Beta_Pkg"],
        ["--older-than", "0s"],
        ["--max-size", "0"],
        ["--kind", "unknown"],
        ["--kind", "built-wheel", "--larger-than", "1"],
    ],
    ids=["full", "names", "older", "max-size", "unknown", "kind-size"],
)
def test_dry_run_changes_nothing(args: list[str], mixed_cache: Path) -> None:
    """``--dry-run`` reports what would go and leaves paths, bytes, atimes and mtimes alone."""
    (mixed_cache / ".DS_Store").write_text("unknown\n")
    for path in [mixed_cache, *mixed_cache.rglob("*")]:
        os.utime(path, (time.time() - 3 * DAY, time.time() - 3 * DAY), follow_symlinks=False)
    before = snapshot(mixed_cache)
    result = purge(mixed_cache, *args, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json
    assert doc["dry_run"] is True and doc["removed"] and doc["pip"] is None
    assert doc["freed_bytes"] == sum(e["size"] for e in doc["removed"])
    human = purge(mixed_cache, *args, "--dry-run")
    assert human.exit_code == 0 and "Would remove" in human.stdout
    assert snapshot(mixed_cache) == before
    assert not (mixed_cache / LOCK_NAME).exists()


# -- full purge --------------------------------------------------------------------------------


@pytest.mark.parametrize("pip_which", ["legacy", "current"])
def test_full_purge_runs_pip_then_removes_what_it_left(
    pip_which: PipName,
    mixed_cache: Path,
    venv_with_pip: Callable[[PipName], Path],
    run_pip: PipRunner,
    index: IndexServer,
    tmp_path: Path,
) -> None:
    """No selector: ``pip cache purge``, then pipcachex removes leftovers (http-v2/ for 23.2)."""
    (mixed_cache / ".DS_Store").write_text("unknown\n")
    state = files_under(mixed_cache / "selfcheck")
    python = venv_python(venv_with_pip(pip_which))
    result = purge(mixed_cache, "--python", str(python), "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json
    assert doc["pip"]["version"] == ("23.2.1" if pip_which == "legacy" else "26.3")
    assert doc["pip"]["files_removed"] > 0
    if pip_which == "legacy":
        assert doc["leftovers_removed"] > 0  # pip 23.2 knows nothing of http-v2/
    for layout in ("http", "http-v2", "wheels"):
        assert list((mixed_cache / layout).rglob("*")) == [], layout
    assert not (mixed_cache / ".DS_Store").exists()
    assert files_under(mixed_cache / "selfcheck") == state
    assert doc["kept_entries"] == len(state)
    assert {e["kind"] for e in listing(mixed_cache)} == {"pip-state"}

    again = purge(mixed_cache, "--python", str(python), "--yes", "--json")
    assert again.exit_code == 0 and again.json["removed"] == [] and again.json["pip"] is None
    index.clear_log()
    download(run_pip, "current", mixed_cache, tmp_path / "dl", "alpha-pkg==2.0")
    assert f"/files/{ALPHA_2_WHEEL}" in index.file_requests()


# -- interruption and concurrency --------------------------------------------------------------


def test_purge_killed_part_way_leaves_a_usable_cache(
    which: PipName, cache: Path, run_pip: PipRunner, index: IndexServer, tmp_path: Path
) -> None:
    """SIGKILL in the middle of an entry: pip still installs without errors; a rerun finishes."""
    add_fillers(cache, LAYOUT_OF[which], 150)
    for entry in listing(cache, "alpha-pkg", "Beta_Pkg"):
        age_entry(entry, 40)
    args = ["purge", "--cache-dir", str(cache), "--older-than", "30d", "--yes"]
    planned = purge(cache, *args[3:-1], "--dry-run", "--json").json["removed"]
    target = next(e for e in planned if e["filename"] == ALPHA_2_WHEEL)
    # The guard is deleted last in its thread, never in the target's chunk before the target.
    guard = planned[-1] if planned[-1] is not target else planned[0]
    # Kill after the entry's first file (its metadata) went: an http-v2 body is left orphaned.
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_UNLINKING, target["path"], guard["path"], *args],
        env=pip_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not os.path.lexists(target["path"])
    assert all(os.path.lexists(p) for p in target["paths"][1:]), "the body goes after"
    assert os.path.lexists(guard["path"]), "the guard outlives the kill"
    gone = [p for e in planned for p in e["paths"] if not os.path.lexists(p)]
    assert 0 < len(gone) < sum(len(e["paths"]) for e in planned), "killed part-way"

    index.clear_log()
    installed = run_pip(
        which,
        ["install", "--no-deps", "--target", str(tmp_path / "t"), "alpha-pkg==2.0", packages.BETA],
        cache,
        check=True,
    )
    assert "ERROR" not in installed.stderr and "deserialization failed" not in installed.stderr
    assert (tmp_path / "t" / "alpha_pkg.py").exists() and (tmp_path / "t" / "beta_pkg.py").exists()
    assert f"/files/{ALPHA_2_WHEEL}" in index.file_requests()

    rerun = purge(cache, *args[3:], "--json")
    assert rerun.exit_code == 0, rerun.stderr
    assert rerun.json["failed"] == []
    left = listing(cache)
    assert not [e for e in left if (e["package"] or "").startswith("filler-")]
    assert not [e for e in left if e["kind"] == "damaged"]


def test_pip_download_during_a_purge_succeeds(
    cache: Path, which: PipName, run_pip: PipRunner, index: IndexServer, tmp_path: Path
) -> None:
    """A real pip downloading while a purge deletes that very project still succeeds."""
    add_fillers(cache, LAYOUT_OF[which], 400)  # a purge of a few seconds
    for entry in listing(cache, "alpha-pkg"):
        age_entry(entry, 40)
    purging = subprocess.Popen(
        [sys.executable, "-m", "pipcachex", "purge", "--cache-dir", str(cache), *OLD_YES_JSON],
        env=pip_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        rounds, overlapped = 0, False
        while rounds == 0 or (purging.poll() is None and rounds < 3):
            dest = tmp_path / f"dl{rounds}"
            download(run_pip, which, cache, dest, "alpha-pkg==2.0")
            wheel = dest / ALPHA_2_WHEEL
            assert wheel.read_bytes() == (index.files_dir / ALPHA_2_WHEEL).read_bytes()
            rounds += 1
            overlapped = overlapped or purging.poll() is None
        out, err = purging.communicate(timeout=120)
    finally:
        if purging.poll() is None:
            purging.kill()
            purging.communicate()
    assert overlapped, "the purge ended before a download did: add fillers"
    assert purging.returncode in (0, 1), err
    assert "Traceback" not in err
    doc = json.loads(out)
    fillers = [e for e in doc["removed"] if (e["package"] or "").startswith("filler-")]
    assert len(fillers) == 400, "the purge did its work beside pip"
    # Anything pip rewrote meanwhile is left alone (reported), never half-deleted. Most runs
    # have no such entry; the ones that do must say why, and a changed entry must still be there.
    for failure in doc["failed"]:
        reason = failure["reason"]
        assert "changed since" in reason and os.path.lexists(failure["path"]), failure
    download(run_pip, which, cache, tmp_path / "after", "alpha-pkg==2.0")


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--older-than", "30x"], "'30x'"),
        (["--max-size", "lots"], "'lots'"),
        (["--larger-than", "5MBs"], "'5MBs'"),
        (["alpha-pkg<<2"], "alpha-pkg<<2"),
        (["numpy>=1,<"], "numpy>=1,<"),
        (["--kind", "everything"], "everything"),
    ],
)
def test_bad_input_exits_2_naming_the_value(args: list[str], named: str, cache: Path) -> None:
    """A malformed AGE, SIZE, SPEC or KIND: exit 2, one message naming it, nothing touched."""
    before = snapshot(cache)
    result = purge(cache, *args, "--yes")
    assert result.exit_code == 2
    assert named in result.stderr
    assert snapshot(cache) == before
    if "--max-size" in args:
        assert "--max-size" in result.stderr


# -- --backup ----------------------------------------------------------------------------------


def test_backup_before_purge_can_be_restored(cache: Path, tmp_path: Path) -> None:
    """``--backup`` archives what goes before removing it; ``restore`` brings it back."""
    backups = tmp_path / "backups"
    before = {e["path"]: e["size"] for e in listing(cache, "alpha-pkg")}
    env = {**ENV, "PIPCACHEX_BACKUP_DIR": str(backups)}
    result = invoke(
        ["purge", "--cache-dir", str(cache), "alpha-pkg", "--backup", "--yes", "--json"], env=env
    )
    assert result.exit_code == 0, result.stderr
    archive = Path(result.json["backup"])
    assert archive.parent == backups and archive.is_file()
    assert listing(cache, "alpha-pkg") == []

    restored = invoke(["restore", "--cache-dir", str(cache), str(archive), "--json"], env=env)
    assert restored.exit_code == 0, restored.stderr
    assert {e["path"]: e["size"] for e in listing(cache, "alpha-pkg")} == before


def test_failed_backup_removes_nothing(cache: Path, tmp_path: Path) -> None:
    """When the backup cannot be written the purge stops with exit 1 before deleting."""
    not_a_dir = tmp_path / "backups-is-a-file"
    not_a_dir.write_text("")
    before = snapshot(cache)
    env = {**ENV, "PIPCACHEX_BACKUP_DIR": str(not_a_dir)}
    result = invoke(["purge", "--cache-dir", str(cache), "alpha-pkg", "--backup", "--yes"], env=env)
    assert result.exit_code == 1, result.stderr
    assert snapshot(cache) == before


# -- terminal, pip trouble, budget shortfall ---------------------------------------------------


def _purge_on_terminal(cache: Path, answer: str, *args: str) -> tuple[int, str]:
    """Run ``pipcachex purge`` with a pseudo-terminal as stdin and type ``answer``."""
    code, _out, err = _purge_on_terminal_with_output(cache, answer, *args)
    return code, err


def _purge_on_terminal_with_output(cache: Path, answer: str, *args: str) -> tuple[int, str, str]:
    """``_purge_on_terminal``, with stdout too."""
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipcachex", "purge", "--cache-dir", str(cache), *args],
            env=pip_env(),
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(controller, answer.encode() + b"\n")
        out, err = process.communicate(timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    return process.returncode, out, err


def test_terminal_prompt_defaults_to_no(cache: Path) -> None:
    """On a terminal the purge asks ``[y/N]``: no (or Enter) keeps everything, y removes."""
    before = snapshot(cache)
    code, err = _purge_on_terminal(cache, "n", "alpha-pkg")
    assert code == 1 and "[y/N]" in err
    # Saying no is an answer, not an error.
    assert err.rstrip().endswith(":nothing was changed") and "error" not in err, err
    assert snapshot(cache) == before
    code, err = _purge_on_terminal(cache, "y", "alpha-pkg")
    assert code == 0, err
    assert listing(cache, "alpha-pkg") == []


def test_the_project_table_is_shown_once(cache: Path) -> None:
    """With the question on a terminal, or in the result with --yes: never both."""
    code, out, err = _purge_on_terminal_with_output(cache, "y", "alpha-pkg")
    assert code == 0, err
    assert err.count("Package") == 1 and "Package" not in out, (out, err)
    assert "Removed" in out
    result = purge(cache, "beta-pkg", "--yes")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("Package") == 1 and "Package" not in result.stderr


def test_full_purge_without_a_pip_changes_nothing(cache: Path, venv_without_pip: Path) -> None:
    """A full purge needs pip: with an interpreter that has none, exit 1 and nothing deleted."""
    before = snapshot(cache)
    result = purge(cache, "--python", str(venv_python(venv_without_pip)), "--yes")
    assert result.exit_code == 1
    assert "no pip is installed" in result.stderr
    assert snapshot(cache) == before


def test_max_size_warns_when_the_selection_cannot_reach_the_budget(cache: Path) -> None:
    """``--max-size 0 --kind index-page`` removes every page, then says the cache is still over."""
    pages = {e["path"] for e in listing(cache, "--kind", "index-page")}
    result = purge(cache, "--max-size", "0", "--kind", "index-page", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert {e["path"] for e in result.json["removed"]} == pages
    assert result.json["size_after"] > 0
    assert "stays above --max-size" in result.stderr


def test_a_directory_swapped_for_a_symlink_after_the_scan_is_not_followed(
    tmp_path: Path,
) -> None:
    """Deletion re-checks each directory: one replaced by a link since the scan is left alone."""
    from pipcachex.cache import scan_cache
    from pipcachex.deletion import delete_entries

    cache = tmp_path / "cache"
    swapped = cachefactory.write_http_v2_entry(
        cache, "https://example.invalid/a-1.0.tar.gz", b"a" * 10, {"Content-Length": "10"}
    )
    kept = cachefactory.write_http_v2_entry(
        cache, "https://example.invalid/b-1.0.tar.gz", b"b" * 10, {"Content-Length": "10"}
    )
    scan = scan_cache(cache)
    # After the scan, the entry's directory becomes a link to a look-alike outside the cache.
    outside = tmp_path / "outside"
    shutil.copytree(swapped.meta.parent, outside, copy_function=shutil.copy2)
    shutil.rmtree(swapped.meta.parent)
    swapped.meta.parent.symlink_to(outside)
    before = sorted(p.name for p in outside.iterdir())

    report = delete_entries(cache, scan.entries, allow_unknown=True)

    assert sorted(p.name for p in outside.iterdir()) == before
    assert swapped.meta.parent.is_symlink()
    assert {p.reason for p in report.failed} == {"outside the cache directory"}, report
    assert not kept.meta.exists() and kept.body is not None and not kept.body.exists()


def test_a_purge_of_many_projects_shows_the_largest_and_sums_the_rest(tmp_path: Path) -> None:
    """Past 25 projects the tables keep the 25 largest and one summing row; -v shows them all."""
    for verbose in ([], ["-v"]):
        cache = tmp_path / f"cache{len(verbose)}"
        for number in range(30):
            cachefactory.write_wheel_entry(
                cache,
                f"https://example.invalid/proj{number}-1.0.tar.gz",
                b"w" * (1000 + number),
                f"proj{number}-1.0-py3-none-any.whl",
            )
        result = purge(cache, "--older-than", "0s", "--yes", *verbose)
        assert result.exit_code == 0, result.stderr
        shown = {name for name in re.findall(r"\bproj\d+\b", result.stdout)}
        if verbose:
            assert shown == {f"proj{n}" for n in range(30)}
            assert "more projects" not in result.stdout
        else:
            assert shown == {f"proj{n}" for n in range(5, 30)}, "the 25 largest"
            assert re.search(r"… 5 more projects\W+5\W", result.stdout), result.stdout
        assert "Removed 30 entries" in result.stdout


def test_a_purge_by_age_without_the_memo_removes_fully_attributed_entries(cache: Path) -> None:
    """Reading only what it removes, a purge by age still reports each entry for what it is."""
    no_memo = {**ENV, "PIPCACHEX_MEMO_DIR": ""}
    entries = listing(cache)
    old = [e for e in entries if e["package"] in ("alpha-pkg", "gamma")]
    for entry in old:
        age_entry(entry, 40)
    result = invoke(["purge", "--cache-dir", str(cache), *OLD_YES_JSON], env=no_memo)
    assert result.exit_code == 0, result.stderr
    fields = ("path", "kind", "package", "version", "filename")
    removed = sorted(tuple(e[f] for f in fields) for e in result.json["removed"])
    assert removed == sorted(tuple(e[f] for f in fields) for e in old)
    assert result.json["kept_entries"] == len(entries) - len(old)
    assert result.json["refused"] == []


def test_a_large_purge_shared_out_among_threads_removes_exactly_its_entries(
    tmp_path: Path,
) -> None:
    """Hundreds of entries in shared directories: each old one gone, no empty directory left."""
    cache = tmp_path / "cache"
    written = []
    for number in range(400):
        body = f"Metadata-Version: 2.1\nName: p{number}\nVersion: 1.0\n\n".encode()
        url = f"https://example.invalid/files/p{number}-1.0-py3-none-any.whl.metadata"
        entry = cachefactory.write_http_v2_entry(cache, url, body, cachefactory.file_headers(body))
        paths = [entry.meta] + ([entry.body] if entry.body is not None else [])
        for path in paths:
            cachefactory.set_age(path, (40 if number % 4 else 1) * DAY)
        written.append((number % 4 != 0, paths))

    result = purge(cache, *OLD_YES_JSON)

    assert result.exit_code == 0, result.stderr
    assert len(result.json["removed"]) == 300
    assert result.json["failed"] == [] and result.json["refused"] == []
    for old, paths in written:
        assert all(path.exists() != old for path in paths), paths
    assert_no_empty_dirs_left(cache, result.json["removed"])
    assert result.json["kept_entries"] == 100
