"""`check`: after a purge pip fetches from the index again, cached projects are served from the
cache, `--reinstall` installs and imports in a throwaway venv, and `pip check` of the target
environment is reported, all with real pips against the loopback index.

`check` runs pip with the user's own configuration, so these tests point that configuration at
the loopback index through the environment, with this machine's own pip settings removed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import packages
import pytest
from cli_helpers import invoke
from conftest import PipName, PipRunner, venv_python
from index_server import IndexServer

from pipcachex.cache import scan_cache
from pipcachex.deletion import delete_entries

ALPHA_WHEEL = "alpha_pkg-2.0-py3-none-any.whl"


@pytest.fixture
def check_env(index: IndexServer) -> dict[str, str | None]:
    """The environment `check` runs in: only the loopback index, no machine pip settings."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PIP_")}
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_INDEX_URL": index.url,
            "PIP_TRUSTED_HOST": "127.0.0.1",
            "PIP_RETRIES": "0",  # a refused connection fails at once instead of backing off
            "PIP_DEFAULT_TIMEOUT": "20",
            "PYTHONPATH": None,
            "COLUMNS": "300",
        }
    )
    return env


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Route check's temp dirs into this test's tmp dir, so their removal can be checked."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    yield scratch
    assert list(scratch.iterdir()) == [], "check left temporary directories behind"


def _check(
    cache: Path, python: Path, env: dict[str, str | None], *args: str
) -> tuple[int, dict[str, Any]]:
    result = invoke(
        ["check", "--json", "--cache-dir", str(cache), "--python", str(python), *args], env=env
    )
    document = result.json
    assert document["schema"] == 1, result.stderr
    return result.exit_code, document


def _steps(document: dict[str, Any], project: str) -> dict[str, dict[str, Any]]:
    (found,) = [p for p in document["projects"] if p["project"] == project]
    return {s["step"]: s for s in found["steps"]}


def _purge(cache: Path, project: str) -> None:
    """Remove every entry of ``project`` the way purge does (through deletion.py)."""
    scan = scan_cache(cache)
    chosen = [e for e in scan.entries if e.package == project]
    assert chosen, f"the cache holds nothing for {project}"
    report = delete_entries(cache, chosen)
    assert len(report.removed) == len(chosen), report


@pytest.mark.parametrize("which", ["current", "legacy"])
def test_after_purge_pip_downloads_from_the_index(
    which: PipName,
    request: pytest.FixtureRequest,
    index: IndexServer,
    venv_with_pip: Callable[[PipName], Path],
    check_env: dict[str, str | None],
) -> None:
    cache: Path = request.getfixturevalue("cache_v2" if which == "current" else "cache_legacy")
    _purge(cache, packages.ALPHA)
    python = venv_python(venv_with_pip(which))
    index.clear_log()
    code, document = _check(cache, python, check_env, packages.ALPHA)
    assert code == 0, document
    steps = _steps(document, packages.ALPHA)
    assert steps["cache"]["status"] == "passed"
    assert "no entries" in steps["cache"]["summary"]
    assert steps["fetch"]["status"] == "passed"
    assert "downloaded from the index" in steps["fetch"]["summary"]
    assert document["projects"][0]["source"] == "index"
    assert document["projects"][0]["cached_entries"] == []
    assert f"/files/{ALPHA_WHEEL}" in index.file_requests(), "the index log must agree"
    assert document["environment"]["status"] == "passed"
    assert document["ok"] is True


def test_still_cached_project_is_served_from_the_cache(
    cache_v2: Path,
    index: IndexServer,
    venv_with_pip: Callable[[PipName], Path],
    check_env: dict[str, str | None],
) -> None:
    python = venv_python(venv_with_pip("current"))
    index.clear_log()
    code, document = _check(cache_v2, python, check_env, packages.GAMMA)
    assert code == 0, document
    project = document["projects"][0]
    assert project["source"] == "cache"
    assert (
        "served from the cache (gamma-1.2.3.tar.gz)"
        in _steps(document, "gamma")["fetch"]["summary"]
    )
    assert {e["filename"] for e in project["cached_entries"]} >= {"gamma-1.2.3.tar.gz"}
    assert not [p for p in index.file_requests() if "gamma" in p], "nothing was downloaded"


@pytest.mark.parametrize("which", ["current", "old"])
def test_reinstall_installs_and_imports_in_a_throwaway_venv(
    which: PipName,
    cache_v2: Path,
    index: IndexServer,
    venv_with_pip: Callable[[PipName], Path],
    check_env: dict[str, str | None],
) -> None:
    """With pip 22.3+ the install goes through ``--python``; older pips install with
    ``--target`` into the throwaway venv's site-packages. Neither touches the target environment.
    """
    if which == "old" and sys.version_info >= (3, 12):
        # Its vendored pkg_resources needs pkgutil.ImpImporter, gone in 3.12; every pip that
        # runs there has --python.
        pytest.skip("pip 22.2.2 (the newest pip without --python) cannot install on 3.12+")
    venv = venv_with_pip(which)
    code, document = _check(cache_v2, venv_python(venv), check_env, "--reinstall", packages.ALPHA)
    assert code == 0, document
    steps = _steps(document, packages.ALPHA)
    assert [s for s in steps] == ["cache", "fetch", "venv", "install", "import"]
    assert all(s["status"] == "passed" for s in steps.values()), steps
    assert steps["import"]["summary"] == "imported alpha_pkg"
    site = next(iter((venv / "lib").glob("python*/site-packages")))
    assert not list(site.glob("alpha_pkg*")), "the target environment itself was not touched"


def test_a_package_that_fails_to_import_fails_the_check(
    cache_v2: Path,
    venv_with_pip: Callable[[PipName], Path],
    check_env: dict[str, str | None],
) -> None:
    python = venv_python(venv_with_pip("current"))
    code, document = _check(cache_v2, python, check_env, "--reinstall", packages.BROKEN)
    assert code == 1
    steps = _steps(document, packages.BROKEN)
    assert steps["install"]["status"] == "passed"
    assert steps["import"]["status"] == "failed"
    assert "broken on purpose" in steps["import"]["summary"]
    assert document["ok"] is False


def test_a_missing_requirement_fails_the_pip_check_step(
    cache_v2: Path,
    venv_with_pip: Callable[[PipName], Path],
    check_env: dict[str, str | None],
    run_pip: PipRunner,
    index: IndexServer,
) -> None:
    venv = venv_with_pip("current")
    python = venv_python(venv)
    # Install needs-missing without its (absent) dependency into the target environment.
    installed = run_pip(
        "current",
        ["install", "--no-deps", "--prefix", str(venv), "--no-warn-script-location",
         packages.NEEDS_MISSING],
        None,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    code, document = _check(cache_v2, python, check_env, packages.ALPHA)
    assert code == 1
    environment = document["environment"]
    assert environment["status"] == "failed"
    assert packages.MISSING_DEPENDENCY in environment["output"]
    assert _steps(document, packages.ALPHA)["fetch"]["status"] == "passed"


def test_an_unreachable_index_is_a_network_error_not_a_cache_problem(
    cache_v2: Path,
    index: IndexServer,
    venv_with_pip: Callable[[PipName], Path],
    check_env: dict[str, str | None],
) -> None:
    _purge(cache_v2, packages.ALPHA)  # so pip has to reach the index
    python = venv_python(venv_with_pip("current"))
    with index.stopped():
        code, document = _check(cache_v2, python, check_env, packages.ALPHA, "--reinstall")
    assert code == 1
    steps = _steps(document, packages.ALPHA)
    assert steps["fetch"]["status"] == "network-error"
    assert "could not be reached" in steps["fetch"]["summary"]
    assert "Connection refused" in steps["fetch"]["output"]
    assert steps["install"]["status"] == "skipped"


def test_human_output_and_bad_specs(
    cache_v2: Path, venv_with_pip: Callable[[PipName], Path], check_env: dict[str, str | None]
) -> None:
    python = str(venv_python(venv_with_pip("current")))
    result = invoke(
        ["check", "--cache-dir", str(cache_v2), "--python", python, packages.GAMMA], env=check_env
    )
    assert result.exit_code == 0, result.stderr
    assert "served from the cache" in result.stdout
    assert "pip-check" in result.stdout
    glob = invoke(["check", "--cache-dir", str(cache_v2), "--python", python, "alpha-*"])
    assert glob.exit_code == 2
    assert "not patterns" in glob.stderr


def test_purge_with_check_proves_the_purged_project_is_fetched_again(
    cache_v2: Path,
    index: IndexServer,
    venv_with_pip: Callable[[PipName], Path],
    check_env: dict[str, str | None],
) -> None:
    python = str(venv_python(venv_with_pip("current")))
    index.clear_log()
    result = invoke(
        [
            "purge",
            "Beta_Pkg",
            "--yes",
            "--check",
            "--json",
            "--cache-dir",
            str(cache_v2),
            "--python",
            python,
        ],
        env=check_env,
    )
    assert result.exit_code == 0, result.stderr
    document = result.json
    assert document["removed_entries"] > 0
    assert {e["package"] for e in document["removed"]} == {"beta-pkg"}
    checked = document["check"]
    assert [p["project"] for p in checked["projects"]] == ["beta-pkg"]
    assert checked["projects"][0]["source"] == "index"
    assert checked["ok"] is True
    assert any("Beta_Pkg-0.5" in path for path in index.file_requests()), "the index must agree"


@pytest.mark.parametrize("pip_which", ["current", "old"])
def test_purge_check_refuses_before_deleting_when_the_index_does_not_answer(
    pip_which: PipName,
    cache_v2: Path,
    index: IndexServer,
    venv_with_pip: Callable[[PipName], Path],
    check_env: dict[str, str | None],
) -> None:
    python = str(venv_python(venv_with_pip(pip_which)))
    before = sorted(str(p) for p in cache_v2.rglob("*"))
    with index.stopped():
        result = invoke(
            [
                "purge",
                "alpha-pkg",
                "--yes",
                "--check",
                "--cache-dir",
                str(cache_v2),
                "--python",
                python,
            ],
            env=check_env,
        )
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith(
        "error: --check: pip could not fetch alpha-pkg from its index, so nothing was removed"
    )
    assert sorted(str(p) for p in cache_v2.rglob("*")) == before
    assert [e for e in scan_cache(cache_v2).entries if e.package == "alpha-pkg"]


def test_purge_check_failure_after_the_purge_makes_it_exit_1(
    cache_v2: Path,
    index: IndexServer,
    venv_with_pip: Callable[[PipName], Path],
    check_env: dict[str, str | None],
) -> None:
    """The index answers beforehand but serves no files: the purge goes, the check fails."""
    python = str(venv_python(venv_with_pip("current")))
    with index.files_unavailable():
        result = invoke(
            [
                "purge",
                "alpha-pkg",
                "--yes",
                "--check",
                "--cache-dir",
                str(cache_v2),
                "--python",
                python,
            ],
            env=check_env,
        )
    assert result.exit_code == 1, result.stderr
    assert "Removed 5 entries" in result.stdout and "failed" in result.stdout
    # What the check fetched again is the index page: the purged files stay gone.
    assert {e.kind.value for e in scan_cache(cache_v2).entries if e.package == "alpha-pkg"} == {
        "index-page"
    }


def test_a_project_the_index_does_not_have_fails_the_fetch(
    cache_v2: Path, venv_with_pip: Callable[[PipName], Path], check_env: dict[str, str | None]
) -> None:
    python = venv_python(venv_with_pip("current"))
    code, document = _check(cache_v2, python, check_env, packages.MISSING_DEPENDENCY)
    assert code == 1
    fetch = _steps(document, packages.MISSING_DEPENDENCY)["fetch"]
    assert fetch["status"] == "failed"
    assert "not found on the index" in fetch["summary"]
    assert "No matching distribution" in fetch["output"]
