"""Shared fixtures: a loopback index, two real pips, caches those pips filled, throwaway venvs.

Everything talks only to 127.0.0.1. The real pips live in ``.test-pips/legacy`` (pip 23.2.1,
writes ``http/``) and ``.test-pips/current`` (pip 26.3, writes ``http-v2/``); ``scripts/test.py``
installs them. Every pip runs with an isolated environment (:func:`pip_env`): no ``PIP_*``
variables, ``PIP_CONFIG_FILE=os.devnull`` (no config files), no version check, no prompts and
no ``PYTHONPATH`` but the pip's own directory.

Expensive things (built dists, the index, the filled caches) are session-scoped and shared;
tests that mutate a cache get their own copy (``cache_v2``, ``cache_legacy``, ``mixed_cache``).

Every test that uses one of those fixtures, or runs a child process, is end-to-end: the
collection hook at the end of this file marks it ``slow``, so ``pytest -m "not slow"`` runs the
unit tests alone (no pip, no index, no subprocess), and plain ``pytest`` runs everything.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal, Protocol

import cachefactory
import packages
import platform_needs
import pytest
import unprivileged
from index_server import IndexServer, ServeOptions

from pipcachex import capabilities
from pipcachex.cache import parallel

ROOT = Path(__file__).resolve().parent.parent
TEST_PIPS = ROOT / ".test-pips"
PipName = Literal["legacy", "current", "old"]
#: The test pips: "legacy" writes http/, "current" http-v2/; "old" is the newest pip without
#: ``--python`` (added in 22.3), for the paths that must do without it.
PIP_VERSIONS: dict[str, str] = {"legacy": "23.2.1", "current": "26.3", "old": "22.2.2"}
#: pip sub-commands that take index options (``--index-url``, ``--trusted-host``).
INDEX_COMMANDS = frozenset({"install", "download", "wheel", "index", "lock"})

#: Per-project serving options of the session index, so real caches hold every page variant.
SESSION_PROJECT_OPTIONS: dict[str, ServeOptions] = {
    packages.HTML_ONLY_PROJECT: ServeOptions(json_pages=False),
    packages.PYPI_HEADERS_PROJECT: ServeOptions(pypi_file_headers=True),
    packages.PLAIN_PAGE_PROJECT: ServeOptions(gzip_pages=False),
}


def pip_dir(which: str) -> Path:
    """The ``--target`` directory of a test pip; fails the test when it is not installed."""
    if which not in PIP_VERSIONS:
        raise ValueError(f"unknown test pip {which!r}: use one of {sorted(PIP_VERSIONS)}")
    target = TEST_PIPS / which
    if not (target / "pip" / "__init__.py").is_file():
        pytest.fail(
            f"test pip {which!r} (pip {PIP_VERSIONS[which]}) is missing from {target}: "
            "run python scripts/test.py --here (it installs the test pips) before running pytest",
            pytrace=False,
        )
    return target


def pip_env(which: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment isolated from the machine's pip configuration.

    Drops every ``PIP_*`` variable and ``PYTHONPATH``, sets ``PIP_CONFIG_FILE=os.devnull``,
    ``PIP_DISABLE_PIP_VERSION_CHECK=1`` and ``PIP_NO_INPUT=1``; ``which`` puts that test pip's
    directory on ``PYTHONPATH``. ``extra`` is applied last.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    if which is not None:
        env["PYTHONPATH"] = str(pip_dir(which))
    env.update(extra or {})
    return env


def run_pip(
    which: PipName,
    args: Sequence[str],
    cache_dir: Path | None,
    *,
    index_url: str | None = None,
    check: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run a test pip as ``PYTHONPATH=<pip dir> python -m pip <args>``, isolated.

    Adds ``--cache-dir cache_dir`` (``--no-cache-dir`` for ``None``, so the user's cache is never
    touched) and, for commands that take them, ``--index-url index_url --trusted-host
    127.0.0.1``. ``env`` entries are added to the isolated environment. ``check`` raises an
    ``AssertionError`` with pip's output on a non-zero exit.
    """
    cmd = [sys.executable, "-m", "pip", *args]
    cmd += ["--cache-dir", str(cache_dir)] if cache_dir is not None else ["--no-cache-dir"]
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if index_url is not None and command in INDEX_COMMANDS:
        cmd += ["--index-url", index_url, "--trusted-host", "127.0.0.1"]
    result = subprocess.run(
        cmd,
        env=pip_env(which, env),
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"pip ({which}) failed with exit {result.returncode}: {' '.join(cmd)}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


class PipRunner(Protocol):
    """Signature of the ``run_pip`` fixture (:func:`run_pip` bound to the session index)."""

    def __call__(
        self,
        which: PipName,
        args: Sequence[str],
        cache_dir: Path | None,
        *,
        index_url: str | None = ...,
        check: bool = ...,
        env: Mapping[str, str] | None = ...,
        cwd: Path | None = ...,
        timeout: float = ...,
    ) -> subprocess.CompletedProcess[str]:
        """Run a test pip against the session index."""
        ...


def require_tool(name: str) -> str:
    """The path of a (POSIX-only) tool the test needs; where it is missing, skip naming it."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"needs the {name} command, which this system does not have")
    return found


def require_file_modes() -> None:
    """Skip the test where file modes mean little (Windows: only a read-only bit)."""
    if not capabilities.current().file_modes:
        pytest.skip("needs file modes (chmod), which mean little on this system")


def require_free_space_reading(path: Path) -> None:
    """Skip where the free space of ``path``'s file system cannot be read.

    pipcachex reads it through ``capabilities.disk_usage``: unknown where ``os.statvfs`` is
    missing, or switched off (the run with every capability off).
    """
    if capabilities.disk_usage(path) is None:
        pytest.skip("needs the file system's free space, which statvfs tells and this run lacks")


def copy_tree(src: Path, dest: Path) -> Path:
    """Copy a cache tree keeping file times (``copy2``) and symlinks; return ``dest``."""
    shutil.copytree(src, dest, symlinks=True, copy_function=shutil.copy2, dirs_exist_ok=True)
    return dest


def venv_python(venv: Path) -> Path:
    """The interpreter of a venv made by :func:`make_venv` (``Scripts\\python.exe`` on Windows)."""
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def venv_site_packages(venv: Path) -> Path:
    """The ``site-packages`` directory of a venv made by :func:`make_venv`."""
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    return Path(purelib)


def make_venv(dest: Path, which: str | None) -> Path:
    """``python -m venv --without-pip dest``; with ``which``, a ``.pth`` makes that pip importable.

    Returns ``dest``; ``<dest>/bin/python -m pip`` is then the chosen test pip (or no pip).
    """
    pip_path = pip_dir(which) if which is not None else None
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(dest)],
        check=True,
        capture_output=True,
        env=pip_env(),
    )
    if pip_path is not None:
        site = venv_site_packages(dest)
        site.mkdir(parents=True, exist_ok=True)
        (site / "pipcachex-test-pip.pth").write_text(f"{pip_path}\n", encoding="utf-8")
    return dest


def fill_cache(which: PipName, cache: Path, index: IndexServer, work: Path) -> Path:
    """Fill ``cache`` with a real pip: download every catalogue project, build the sdists.

    Also fetches the non-normalised ``/simple/Beta_Pkg/`` as a find-links page, so the cache holds
    a 301 redirect stub.
    """
    downloads, wheelhouse = work / "downloads", work / "wheelhouse"
    first_wheels = [
        f"{packages.ALPHA}=={packages.ALPHA_VERSIONS[0]}",
        packages.BETA,
        packages.BROKEN,
        packages.NEEDS_MISSING,
    ]
    find_links = f"{index.base_url}/simple/{packages.BETA}/"
    commands = [
        ["download", "--no-deps", "-d", str(downloads), "--find-links", find_links, *first_wheels],
        [
            "download",
            "--no-deps",
            "-d",
            str(downloads),
            f"{packages.ALPHA}=={packages.ALPHA_VERSIONS[1]}",
        ],
        ["wheel", "--no-deps", "-w", str(wheelhouse), *packages.SDIST_PROJECTS],
    ]
    for args in commands:
        run_pip(which, args, cache, index_url=index.url, check=True, cwd=work)
    return cache


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def private_memo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep pipcachex's attribution memo out of the real user's cache directory.

    Set in ``os.environ`` so pipcachex subprocesses inherit it too.
    """
    memo = tmp_path_factory.mktemp("pipcachex-memo")
    previous = os.environ.get("PIPCACHEX_MEMO_DIR")
    os.environ["PIPCACHEX_MEMO_DIR"] = str(memo)
    yield memo
    if previous is None:
        os.environ.pop("PIPCACHEX_MEMO_DIR", None)
    else:
        os.environ["PIPCACHEX_MEMO_DIR"] = previous


@pytest.fixture(autouse=True)
def default_python_runs_the_tests(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A command without ``--python`` works with the interpreter running the tests.

    pipcachex's default is the user's own interpreter (``$VIRTUAL_ENV``, else ``python3`` on
    PATH): the tests' venv, or, outside one, this interpreter first on PATH.
    """
    if sys.prefix != sys.base_prefix:
        monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
        return
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    front = tmp_path_factory.getbasetemp() / "default-python"
    if not front.exists():
        front.mkdir()
        (front / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", f"{front}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.fixture(scope="session")
def built_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory holding every distribution of :data:`packages.CATALOGUE` (built once)."""
    dest = tmp_path_factory.mktemp("dists")
    packages.build_all(dest)
    return dest


@pytest.fixture(scope="session")
def index(built_packages: Path) -> Iterator[IndexServer]:
    """The session's running loopback index (``.url``, ``.requests()``, ``.stopped()``...)."""
    with IndexServer(built_packages, project_options=SESSION_PROJECT_OPTIONS) as server:
        yield server


@pytest.fixture
def make_index(built_packages: Path) -> Iterator[Callable[..., IndexServer]]:
    """Factory for extra indexes with other :class:`ServeOptions`; all stopped at teardown.

    Call as ``make_index(options=None, project_options=None, files_dir=built_packages)``.
    """
    servers: list[IndexServer] = []

    def factory(
        options: ServeOptions | None = None,
        project_options: dict[str, ServeOptions] | None = None,
        files_dir: Path | None = None,
    ) -> IndexServer:
        server = IndexServer(files_dir or built_packages, options, project_options).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def test_pips() -> dict[str, Path]:
    """``{name: path}`` of every test pip (fails if one is missing)."""
    return {which: pip_dir(which) for which in PIP_VERSIONS}


@pytest.fixture(name="run_pip", scope="session")
def run_pip_fixture(index: IndexServer, test_pips: dict[str, Path]) -> PipRunner:
    """:func:`run_pip` with ``index_url`` defaulting to the session index."""

    def runner(
        which: PipName,
        args: Sequence[str],
        cache_dir: Path | None,
        *,
        index_url: str | None = index.url,
        check: bool = False,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 180,
    ) -> subprocess.CompletedProcess[str]:
        return run_pip(
            which,
            args,
            cache_dir,
            index_url=index_url,
            check=check,
            env=env,
            cwd=cwd,
            timeout=timeout,
        )

    return runner


@pytest.fixture(name="pip_env", scope="session")
def pip_env_fixture() -> Callable[..., dict[str, str]]:
    """:func:`pip_env`, for tests that run pip (or pipcachex driving pip) themselves."""
    return pip_env


@pytest.fixture(scope="session")
def filled_cache_v2(
    index: IndexServer, test_pips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A cache filled by real pip 26.3 (``http-v2/`` + ``wheels/``). Read-only: do not mutate."""
    work = tmp_path_factory.mktemp("fill-current")
    return fill_cache("current", work / "cache", index, work)


@pytest.fixture(scope="session")
def filled_cache_legacy(
    index: IndexServer, test_pips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A cache filled by real pip 23.2.1 (``http/`` + ``wheels/``). Read-only: do not mutate."""
    work = tmp_path_factory.mktemp("fill-legacy")
    return fill_cache("legacy", work / "cache", index, work)


@pytest.fixture(scope="session")
def filled_cache_mixed(
    filled_cache_v2: Path, filled_cache_legacy: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Both layouts in one cache (as when two pips share it) plus ``selfcheck/``. Read-only."""
    dest = tmp_path_factory.mktemp("mixed") / "cache"
    copy_tree(filled_cache_v2, dest)
    copy_tree(filled_cache_legacy, dest)
    cachefactory.write_selfcheck(dest)
    return dest


@pytest.fixture
def copy_cache(tmp_path: Path) -> Callable[[Path], Path]:
    """Factory: ``copy_cache(src)`` copies a cache into this test's tmp dir (times preserved)."""
    counter = iter(range(1_000_000))

    def factory(src: Path) -> Path:
        return copy_tree(src, tmp_path / f"cache-copy-{next(counter)}")

    return factory


@pytest.fixture
def cache_v2(filled_cache_v2: Path, copy_cache: Callable[[Path], Path]) -> Path:
    """This test's own mutable copy of :func:`filled_cache_v2`."""
    return copy_cache(filled_cache_v2)


@pytest.fixture
def cache_legacy(filled_cache_legacy: Path, copy_cache: Callable[[Path], Path]) -> Path:
    """This test's own mutable copy of :func:`filled_cache_legacy`."""
    return copy_cache(filled_cache_legacy)


@pytest.fixture
def mixed_cache(filled_cache_mixed: Path, copy_cache: Callable[[Path], Path]) -> Path:
    """This test's own mutable copy of :func:`filled_cache_mixed`."""
    return copy_cache(filled_cache_mixed)


@pytest.fixture
def busy_cache(mixed_cache: Path) -> Path:
    """Both layouts by real pips, damaged entries of several kinds and 60 small fillers."""
    url = "https://files.example.invalid/alpha_pkg-9.9-py3-none-any.whl"
    wheel = packages.build_wheel_bytes(packages.WHEELS[0])
    cachefactory.write_damaged_http_v2_entries(mixed_cache, url, wheel)
    legacy = cachefactory.write_legacy_http_entry(mixed_cache, url + "?l", wheel, {})
    cachefactory.truncate_body(legacy, keep=40)
    for i in range(60):
        body = f"Metadata-Version: 2.1\nName: filler-{i}\nVersion: 1.{i}\n\n".encode()
        url = f"https://filler.invalid/files/filler_{i}-1.{i}-py3-none-any.whl.metadata"
        write = cachefactory.write_http_v2_entry if i % 3 else cachefactory.write_legacy_http_entry
        entry = write(mixed_cache, url, body, cachefactory.file_headers(body))
        for path in (entry.meta, entry.body):
            if path is not None and i % 2:
                cachefactory.set_age(path, 40 * 86400)
    return mixed_cache


@pytest.fixture
def capabilities_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Factory: ``capabilities_off(name, ...)`` switches those capabilities off for the test.

    It goes through ``PIPCACHEX_CAPABILITIES_OFF``, so worker processes and CLI subprocesses the
    test starts do without them too; what the run switched off already stays off.
    """

    def switch_off(*names: str) -> None:
        before = os.environ.get(capabilities.ENVIRONMENT, "")
        monkeypatch.setenv(capabilities.ENVIRONMENT, ",".join(filter(None, [before, *names])))
        capabilities.forget()

    yield switch_off
    monkeypatch.undo()
    capabilities.forget()


@pytest.fixture
def started_workers(monkeypatch: pytest.MonkeyPatch) -> list[BaseProcess]:
    """Every worker process pipcachex starts during the test, in order of start."""
    started: list[BaseProcess] = []
    real_submit = parallel.Workers.submit

    def counted_submit(self: parallel.Workers, *args: Any) -> parallel.Job[Any]:
        job = real_submit(self, *args)
        started.extend(p for p in self.processes.values() if p not in started)
        return job

    monkeypatch.setattr(parallel.Workers, "submit", counted_submit)
    return started


@pytest.fixture
def venv_with_pip(tmp_path: Path) -> Callable[[PipName], Path]:
    """Factory: ``venv_with_pip(name)`` -> a fresh venv whose pip is that test pip.

    Made with ``--without-pip`` plus a ``.pth`` pointing at ``.test-pips/<which>``; use
    :func:`venv_python` (``<venv>/bin/python``) as pipcachex's ``--python``.
    """

    def factory(which: PipName) -> Path:
        pip_dir(which)
        return make_venv(tmp_path / f"venv-{which}-{len(list(tmp_path.glob('venv-*')))}", which)

    return factory


@pytest.fixture
def venv_without_pip(tmp_path: Path) -> Path:
    """A fresh venv in which ``python -m pip`` does not exist."""
    return make_venv(tmp_path / "venv-no-pip", None)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory another (unprivileged) user can reach, unlike pytest's private tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="pipcachex-shared-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="session")
def unprivileged_runner() -> Iterator[unprivileged.Runner]:
    """Runs pipcachex as a user whom permission bits stop (``nobody`` when the suite is root).

    It works from a readable copy of pipcachex and its dependencies, so the checkout may lie
    under a directory of mode 0700; skips, saying why, when no such user can run Python here.
    """
    copy_dir = Path(tempfile.mkdtemp(prefix="pipcachex-runtime-"))
    copy_dir.chmod(0o755)
    try:
        found = unprivileged.runner(copy_dir)
        if isinstance(found, str):
            pytest.skip(found)
        yield found
    finally:
        shutil.rmtree(copy_dir)


# -- test levels -------------------------------------------------------------------------------

#: Fixtures that build the test distributions, start a loopback index, run a real pip, fill a
#: cache with one, or make a venv. ``item.fixturenames`` is the closure, so a test that reaches
#: one of these through another fixture counts too.
END_TO_END_FIXTURES = frozenset(
    {
        "built_packages",
        "index",
        "make_index",
        "test_pips",
        "run_pip",
        "pip_env",
        "filled_cache_v2",
        "filled_cache_legacy",
        "filled_cache_mixed",
        "cache_v2",
        "cache_legacy",
        "mixed_cache",
        "busy_cache",
        "venv_with_pip",
        "venv_without_pip",
        "unprivileged_runner",
    }
)
#: What a test's own code calls when it runs pip, pipcachex or another program in a child
#: process (the CLI in a subprocess, a real pip, a venv, ``mount``...).
CHILD_PROCESS_CALLS = ("subprocess.", "run_pip(", "make_venv(", "fill_cache(", "os.fork")


@functools.cache
def _end_to_end_in_source(function: Callable[..., object]) -> str | None:
    """Why the source of a test or fixture function makes it end-to-end, or ``None``.

    It runs something in a child process, or asks for an end-to-end fixture by name
    (``request.getfixturevalue("cache_v2")``, the name often given by ``parametrize``, whose
    decorator is part of the source).
    """
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):  # no source to read: judge by the fixtures alone
        return None
    if any(call in source for call in CHILD_PROCESS_CALLS):
        return "runs a child process"
    if "getfixturevalue(" in source:
        named = sorted(n for n in END_TO_END_FIXTURES if f'"{n}"' in source)
        if named:
            return f"asks for the {named[0]} fixture"
    return None


def end_to_end_reason(
    fixturenames: Sequence[str], functions: Sequence[Callable[..., object]]
) -> str | None:
    """Why a test is end-to-end, or ``None`` for a unit test.

    ``fixturenames`` is every fixture the test uses (directly or through other fixtures),
    ``functions`` the test function and those fixtures' functions.
    """
    used = sorted(END_TO_END_FIXTURES.intersection(fixturenames))
    if used:
        return f"uses the {used[0]} fixture"
    return next(filter(None, map(_end_to_end_in_source, functions)), None)


def _functions_of(item: pytest.Function) -> list[Callable[..., object]]:
    """The test function, then the function of each fixture it uses."""
    # pytest has no public way from an item to its fixture definitions; without them only the
    # test's own source is read.
    info = getattr(item, "_fixtureinfo", None)
    definitions = getattr(info, "name2fixturedefs", {})
    fixtures = [d.func for name in item.fixturenames for d in definitions.get(name, ())]
    return [item.function, *fixtures]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every end-to-end test ``slow`` (see :func:`end_to_end_reason`), and skip a test
    that needs what this system lacks (see :mod:`platform_needs`), saying what."""
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        functions = _functions_of(item)
        if end_to_end_reason(item.fixturenames, functions):
            item.add_marker(pytest.mark.slow)
        missing = platform_needs.missing_need(functions)
        if missing is not None:
            item.add_marker(pytest.mark.skip(reason=missing))
