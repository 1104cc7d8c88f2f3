"""`list`, `info` and `dir` on caches written by real pips: attribution, filters, times, figures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cachefactory
import packages
import pytest
from cli_helpers import entries_by, invoke
from conftest import PipRunner, venv_python

DAY = 86400

EXPECTED_DISTRIBUTIONS = {
    ("alpha-pkg", "1.0", "alpha_pkg-1.0-py3-none-any.whl"),
    ("alpha-pkg", "2.0", "alpha_pkg-2.0-py3-none-any.whl"),
    ("broken-import", "1.0", "broken_import-1.0-py3-none-any.whl"),
    ("needs-missing", "1.0", "needs_missing-1.0-py3-none-any.whl"),
    ("gamma", "1.2.3", "gamma-1.2.3.tar.gz"),
    ("delta-zip", "0.1", "delta_zip-0.1.zip"),
}
EXPECTED_PAGES = {"alpha-pkg", "beta-pkg", "broken-import", "delta-zip", "gamma", "needs-missing"}


def _list(cache: Path, *args: str) -> dict[str, Any]:
    result = invoke(["list", "--json", "--cache-dir", str(cache), *args])
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = result.json
    assert document["schema"] == 1
    assert document["cache_dir"] == str(cache)
    return document


@pytest.mark.parametrize(
    ("fixture", "layout"), [("filled_cache_v2", "http-v2"), ("filled_cache_legacy", "http")]
)
def test_every_entry_real_pips_wrote_is_attributed(
    fixture: str, layout: str, request: pytest.FixtureRequest
) -> None:
    cache: Path = request.getfixturevalue(fixture)
    document = _list(cache)
    entries = document["entries"]
    assert not entries_by(document, kind="unknown"), "a real pip's entry was not recognised"
    assert not entries_by(document, kind="damaged")
    assert all(e["package"] for e in entries), "every entry of a real pip has a project"

    distributions = {
        (e["package"], e["version"], e["filename"])
        for e in entries_by(document, kind="distribution", layout=layout)
    }
    assert distributions >= EXPECTED_DISTRIBUTIONS
    beta = entries_by(document, kind="distribution", package="beta-pkg")
    assert [e["version"] for e in beta] == ["0.5"]

    pages = {e["package"] for e in entries_by(document, kind="index-page", layout=layout)}
    assert pages == EXPECTED_PAGES
    metadata = {(e["package"], e["version"]) for e in entries_by(document, kind="metadata")}
    assert ("alpha-pkg", "1.0") in metadata and ("alpha-pkg", "2.0") in metadata
    redirects = entries_by(document, kind="redirect")
    assert [e["package"] for e in redirects] == ["beta-pkg"]

    built = {(e["package"], e["version"]) for e in entries_by(document, kind="built-wheel")}
    assert built == {("gamma", "1.2.3"), ("delta-zip", "0.1")}
    for entry in entries_by(document, kind="built-wheel"):
        assert entry["layout"] == "wheels"
        assert entry["filename"].endswith(".whl")
        assert any(p.endswith(".whl") for p in entry["paths"])

    for entry in entries:
        assert entry["size"] == sum(os.path.getsize(p) for p in entry["paths"])
        assert all(os.path.isabs(p) and os.path.exists(p) for p in entry["paths"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["last_used"])
    if layout == "http-v2":
        pairs = entries_by(document, layout="http-v2")
        assert all(len(e["paths"]) == 2 and e["paths"][1].endswith(".body") for e in pairs)


def test_mixed_cache_lists_both_layouts_and_pip_state(filled_cache_mixed: Path) -> None:
    document = _list(filled_cache_mixed)
    layouts = {e["layout"] for e in document["entries"]}
    assert {"http", "http-v2", "wheels", "other"} <= layouts
    state = entries_by(document, kind="pip-state")
    assert state and all(e["package"] is None for e in state)


def test_patterns_are_normalised_globs_and_specifiers(filled_cache_v2: Path) -> None:
    beta = _list(filled_cache_v2, "Beta_Pkg")["entries"]
    assert beta and {e["package"] for e in beta} == {"beta-pkg"}
    assert {e["kind"] for e in beta} >= {"distribution", "index-page", "redirect", "metadata"}

    globbed = {e["package"] for e in _list(filled_cache_v2, "*-PKG")["entries"]}
    assert globbed == {"alpha-pkg", "beta-pkg"}

    pinned = _list(filled_cache_v2, "alpha-pkg==1.0")["entries"]
    assert pinned and {e["version"] for e in pinned} == {"1.0"}
    assert not [e for e in pinned if e["kind"] == "index-page"]


def test_kind_size_sort_and_package_rows(filled_cache_v2: Path) -> None:
    built = _list(filled_cache_v2, "--kind", "built-wheel")["entries"]
    assert {e["kind"] for e in built} == {"built-wheel"}

    everything = _list(filled_cache_v2, "--sort", "size")["entries"]
    sizes = [e["size"] for e in everything]
    assert sizes == sorted(sizes, reverse=True)
    threshold = sizes[len(sizes) // 2]
    bigger = _list(filled_cache_v2, "--larger-than", str(threshold))["entries"]
    assert bigger and all(e["size"] > threshold for e in bigger)
    assert len(bigger) < len(everything)

    rows = _list(filled_cache_v2, "--packages")["packages"]
    alpha = next(r for r in rows if r["package"] == "alpha-pkg")
    assert alpha["versions"] == ["1.0", "2.0"]
    alpha_entries = _list(filled_cache_v2, "alpha-pkg")["entries"]
    assert alpha["entries"] == len(alpha_entries)
    assert alpha["size"] == sum(e["size"] for e in alpha_entries)


def _age_tree(cache: Path, seconds: float) -> None:
    for path in cache.rglob("*"):
        if path.is_file():
            stamp = time.time() - seconds
            os.utime(path, (stamp, stamp))


def _times(cache: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_atime_ns, p.stat().st_mtime_ns)
        for p in cache.rglob("*")
        if p.is_file()
    }


def test_reading_the_cache_does_not_move_atimes(cache_v2: Path) -> None:
    _age_tree(cache_v2, 40 * DAY)
    before = _times(cache_v2)
    assert invoke(["list", "--cache-dir", str(cache_v2)]).exit_code == 0
    assert invoke(["info", "--json", "--cache-dir", str(cache_v2)]).exit_code == 0
    assert _times(cache_v2) == before
    old = _list(cache_v2, "--older-than", "30d")["entries"]
    assert len(old) == len(_list(cache_v2)["entries"])


def test_older_than_splits_old_and_fresh(cache_legacy: Path) -> None:
    _age_tree(cache_legacy / "http", 40 * DAY)
    old = _list(cache_legacy, "--older-than", "30d")["entries"]
    assert old and {e["layout"] for e in old} == {"http"}
    cutoff = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 10 * DAY))
    assert _list(cache_legacy, "--older-than", cutoff)["entries"] == old


def test_damaged_entries_are_listed_never_attributed_wrongly(cache_v2: Path) -> None:
    url = "https://files.example.invalid/alpha_pkg-9.9-py3-none-any.whl"
    wheel = packages.build_wheel_bytes(packages.WHEELS[0])
    damaged = cachefactory.write_damaged_http_v2_entries(cache_v2, url, wheel)
    document = _list(cache_v2, "--kind", "damaged")
    problems = {e["path"]: e["problem"] for e in document["entries"]}
    assert "Content-Length" in problems[str(damaged.truncated)]
    assert "cc=4" in problems[str(damaged.garbage)]
    assert "without its metadata" in problems[str(damaged.orphan)]
    assert "temporary" in problems[str(damaged.stale)]
    assert all(e["package"] is None for e in document["entries"])
    info = invoke(["info", "--json", "--cache-dir", str(cache_v2)]).json
    assert info["reclaimable_damaged"]["entries"] == len(document["entries"])


def test_info_agrees_with_pip_cache_info(filled_cache_mixed: Path, run_pip: PipRunner) -> None:
    info = invoke(["info", "--json", "--cache-dir", str(filled_cache_mixed)]).json
    pip_says = run_pip("current", ["cache", "info"], filled_cache_mixed, check=True).stdout
    http_files = int(re.search(r"Number of HTTP files: (\d+)", pip_says).group(1))  # type: ignore[union-attr]
    wheels = int(re.search(r"Number of locally built wheels: (\d+)", pip_says).group(1))  # type: ignore[union-attr]
    assert info["pip_cache_info"]["http_files"] == http_files
    assert info["pip_cache_info"]["wheels"] == wheels
    assert info["total"]["entries"] == sum(t["entries"] for t in info["by_kind"].values())
    assert info["total"]["size"] == sum(t["size"] for t in info["by_layout"].values())
    largest = [r["package"] for r in info["largest_projects"]]
    assert "alpha-pkg" in largest and None not in largest
    human = invoke(["info", "--cache-dir", str(filled_cache_mixed)])
    assert human.exit_code == 0 and str(filled_cache_mixed) in human.stdout


def test_default_cache_dir_comes_from_pip(
    tmp_path: Path, pip_env: Callable[..., dict[str, str]], venv_with_pip: Callable[[str], Path]
) -> None:
    python = str(venv_python(venv_with_pip("current")))
    env = pip_env(extra={"PIP_CACHE_DIR": str(tmp_path / "from-env")})
    env.pop("PYTHONPATH", None)
    result = invoke(["dir", "--json", "--python", python], env=env)
    assert result.exit_code == 0, result.stderr
    assert result.json == {"schema": 1, "cache_dir": str(tmp_path / "from-env"), "exists": False}
    info = invoke(["info", "--json", "--python", python], env=env).json
    assert info["exists"] is False and info["total"]["entries"] == 0
    assert info["pip_version"] == "26.3" and info["pip_writes_layout"] == "http-v2"
    legacy = str(venv_python(venv_with_pip("legacy")))
    info = invoke(["info", "--json", "--python", legacy], env=env).json
    assert info["pip_version"] == "23.2.1" and info["pip_writes_layout"] == "http"


@pytest.fixture
def noatime_dir(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs mounted noatime; skips where that cannot be done (``mount`` needs root, Linux)."""
    mount = shutil.which("mount")
    if mount is None or sys.platform != "linux":
        pytest.skip("needs mount(8) and Linux tmpfs")
    if os.geteuid() != 0:
        pytest.skip("mount(8) of a tmpfs needs root")
    mount_point = tmp_path / "noatime"
    mount_point.mkdir()
    mounted = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "noatime,size=64m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:  # root without the capability, as in many containers
        pytest.skip(f"mount(8) of a noatime tmpfs failed: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_older_than_on_a_noatime_mount_says_it_means_written(
    filled_cache_v2: Path, noatime_dir: Path, copy_cache: Callable[[Path], Path]
) -> None:
    cache = noatime_dir / "cache"
    shutil.copytree(filled_cache_v2, cache, copy_function=shutil.copy2)
    for command in ("list", "purge"):
        dry_run = ["--dry-run"] if command == "purge" else []
        warned = invoke([command, "--older-than", "30d", *dry_run, "--cache-dir", str(cache)])
        assert warned.exit_code == 0, warned.stderr
        assert "noatime mount" in warned.stderr
        assert "for --older-than, an entry's last use is when it was written" in warned.stderr
    ordinary = invoke(
        ["list", "--older-than", "30d", "--cache-dir", str(copy_cache(filled_cache_v2))]
    )
    assert "noatime mount" not in ordinary.stderr
