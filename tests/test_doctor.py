"""`doctor` end to end: each condition made for real (real pips, config files, owners, mounts).

Every test runs the real CLI with ``--json`` against real pips in venvs, in an environment
scrubbed of the machine's pip settings (``_env``); each finding is produced by making its
condition on disk or in the environment, and is absent where the condition is.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import cachefactory
import packages
import pytest
from cli_helpers import invoke
from conftest import PipName, copy_tree, require_free_space_reading, venv_python
from index_server import IndexServer
from unprivileged import NOBODY, Runner

from pipcachex import capabilities
from pipcachex.doctor.filesystem import mount_of, read_mounts

VenvFactory = Callable[[PipName], Path]
OTHER_UID = 4321
_NOATIME = getattr(os, "O_NOATIME", 0)


def _env(tmp_path: Path, **extra: str | None) -> dict[str, str | None]:
    """No PIP_* of the machine's, no config files, a private HOME and backups directory."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PIP_")}
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "HOME": str(tmp_path / "home"),
            "XDG_CACHE_HOME": None,
            "PIPCACHEX_BACKUP_DIR": str(tmp_path / "backups"),
        }
    )
    env.update(extra)
    return env


def _doctor(
    env: Mapping[str, str | None], *pythons: Path | str, args: tuple[str, ...] = ()
) -> tuple[int, dict[str, Any]]:
    options = [item for p in pythons for item in ("--python", str(p))]
    result = invoke(["doctor", "--json", *options, *args], env=env)
    document = result.json
    assert document["schema"] == 1, result.stderr
    return result.exit_code, document


def _found(document: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for f in document["findings"] if f["code"] == code]


def _one(document: dict[str, Any], code: str) -> dict[str, Any]:
    found = _found(document, code)
    assert len(found) == 1, [f["code"] for f in document["findings"]]
    return found[0]


def _codes(document: dict[str, Any]) -> set[str]:
    return {f["code"] for f in document["findings"]}


def _levels(document: dict[str, Any]) -> dict[str, str]:
    return {f["code"]: f["level"] for f in document["findings"]}


def _run_fix(fix: str, env: Mapping[str, str | None], *extra: str) -> None:
    """Run a finding's fix command as printed (pip commands in the same environment)."""
    full = {k: v for k, v in os.environ.items() if k not in env}
    full.update({k: v for k, v in env.items() if v is not None})
    args = shlex.split(fix) + list(extra)
    if args[0] == "pipcachex":
        result = invoke(args[1:], env=env)
        assert result.exit_code == 0, result.stdout + result.stderr
        return
    done = subprocess.run(args, env=full, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _snapshot(root: Path) -> dict[str, tuple[int, int, int, int, str]]:
    """Every file and directory below ``root``: mode, size, mtime, atime and content digest.

    Files and directories are opened with ``O_NOATIME`` (root may use it on any file), so
    taking the snapshot does not itself move the atimes it records.
    """
    found: dict[str, tuple[int, int, int, int, str]] = {}
    pending = [root]
    while pending:
        directory = pending.pop()
        if os.listdir in os.supports_fd and hasattr(os, "O_DIRECTORY"):
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | _NOATIME)
            try:
                names = sorted(os.listdir(fd))
            finally:
                os.close(fd)
        else:  # Windows: no directory descriptors (and last-access times rarely move there)
            names = sorted(os.listdir(directory))
        for name in names:
            path = directory / name
            info = os.lstat(path)
            digest = ""
            if path.is_dir() and not path.is_symlink():
                pending.append(path)
            elif path.is_file() and not path.is_symlink():
                fd = os.open(path, os.O_RDONLY | _NOATIME)
                with os.fdopen(fd, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            key = str(path.relative_to(root))
            found[key] = (info.st_mode, info.st_size, info.st_mtime_ns, info.st_atime_ns, digest)
    return found


@pytest.fixture
def current(venv_with_pip: VenvFactory) -> Path:
    """The interpreter of a venv whose pip is the current test pip (writes http-v2/)."""
    return venv_python(venv_with_pip("current"))


@pytest.fixture
def legacy(venv_with_pip: VenvFactory) -> Path:
    """The interpreter of a venv whose pip is pip 23.2.1 (writes http/)."""
    return venv_python(venv_with_pip("legacy"))


needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="giving files to another user (os.chown) needs root",
)


# -- a healthy cache: every problem finding absent -------------------------------------------


def test_a_healthy_cache_passes_and_doctor_changes_nothing(
    cache_v2: Path, current: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2))
    before = _snapshot(cache_v2)
    code, document = _doctor(env, current)
    assert _snapshot(cache_v2) == before
    assert code == 0, document
    assert document["ok"] is True
    assert document["caches"] == [str(cache_v2)]
    assert document["pips"] == [
        {
            "python": str(current),
            "version": "26.3",
            "cache_dir": str(cache_v2),
            "http_layout": "http-v2",
        }
    ]
    expected = {
        "pip-cache",
        "caching-enabled",
        "ownership-ok",
        "layouts",
        "no-stranded-cache",
        "reads-recorded",
        "entries-intact",
        "pipcachex-files",
    }
    if capabilities.disk_usage(cache_v2) is not None:  # unknown without statvfs
        expected.add("disk-space")
    assert expected <= _codes(document)
    absent = {
        "no-pip",
        "caching-disabled",
        "cache-refused",
        "not-owned",
        "mixed-layouts",
        "legacy-layout-unused",
        "stranded-cache",
        "reads-not-recorded",
        "low-disk-space",
        "network-filesystem",
        "damaged-entries",
        "stale-temp-files",
    }
    assert not absent & _codes(document)
    where = _one(document, "pip-cache")["evidence"][0]
    assert where == {
        "what": "cache directory",
        "value": str(cache_v2),
        "where": f"PIP_CACHE_DIR={cache_v2} (environment)",
    }
    assert document["counts"]["fail"] == 0
    assert document["counts"]["ok"] == sum(1 for f in document["findings"] if f["level"] == "ok")


# -- 1. which cache each pip uses --------------------------------------------------------------


def test_by_default_the_running_interpreter_and_python3_on_path(
    mixed_cache: Path, current: Path, tmp_path: Path
) -> None:
    path = f"{current.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = _env(tmp_path, PIP_CACHE_DIR=str(mixed_cache), PATH=path)
    code, document = _doctor(env)
    assert [p["python"] for p in document["pips"]] == [
        sys.executable,
        str(current.parent / "python3"),
    ]
    venv_pip = document["pips"][1]
    assert (venv_pip["version"], venv_pip["cache_dir"]) == ("26.3", str(mixed_cache))
    assert code == 0


def test_pips_with_separate_caches_say_where_each_was_set(
    venv_with_pip: VenvFactory, tmp_path: Path
) -> None:
    configured, plain = venv_with_pip("current"), venv_with_pip("current")
    other = tmp_path / "other-cache"
    (configured / "pip.conf").write_text(f"[global]\ncache-dir = {other}\n", encoding="utf-8")
    empty = tmp_path / "empty.conf"
    empty.write_text("", encoding="utf-8")
    env = _env(tmp_path, PIP_CONFIG_FILE=str(empty))
    code, document = _doctor(env, venv_python(configured), venv_python(plain))
    assert code == 0, document
    first, second = _found(document, "pip-cache")
    default = tmp_path / "home" / ".cache" / "pip"
    assert first["evidence"][0]["value"] == str(other)
    assert first["evidence"][0]["where"] == (
        f"cache-dir = {other} in {configured / 'pip.conf'} [global]"
    )
    assert second["evidence"][0] == {
        "what": "cache directory",
        "value": str(default),
        "where": "the platform default",
    }
    assert _one(document, "separate-caches")["level"] == "ok"
    assert "shared-cache" not in _codes(document)
    assert len(_found(document, "cache-missing")) == 2
    # the platform default is in use here: not a stranded cache
    assert "stranded-cache" not in _codes(document)


def test_an_interpreter_without_pip_and_one_that_is_not_an_interpreter(
    venv_without_pip: Path, tmp_path: Path
) -> None:
    code, document = _doctor(_env(tmp_path), venv_python(venv_without_pip))
    finding = _one(document, "no-pip")
    assert finding["level"] == "warn"
    assert finding["fix"] == f"{venv_python(venv_without_pip)} -m ensurepip --upgrade"
    assert code == 0
    result = invoke(["doctor", "--json", "--python", str(tmp_path / "nope")], env=_env(tmp_path))
    assert result.exit_code == 2
    assert result.json["error"]["exit_code"] == 2
    assert "nope" in result.stderr
    assert "Traceback" not in result.stderr


# -- 2. caching switched off ------------------------------------------------------------------


def test_pip_no_cache_dir_with_any_value_fails(
    cache_v2: Path, current: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2), PIP_NO_CACHE_DIR="0")
    code, document = _doctor(env, current)
    assert code == 1
    assert document["ok"] is False
    finding = _one(document, "caching-disabled")
    assert finding["level"] == "fail"
    assert finding["fix"] == "unset PIP_NO_CACHE_DIR"
    setting, said = finding["evidence"]
    assert setting == {"what": "setting", "value": "PIP_NO_CACHE_DIR=0", "where": "environment"}
    assert "cache is disabled" in said["value"]
    assert document["pips"][0]["cache_dir"] is None


def test_no_cache_dir_in_the_config_file_and_its_fix(
    cache_v2: Path, current: Path, tmp_path: Path
) -> None:
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nno-cache-dir = true\n", encoding="utf-8")
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2), PIP_CONFIG_FILE=str(config))
    code, document = _doctor(env, current)
    assert code == 1
    finding = _one(document, "caching-disabled")
    assert finding["evidence"][0] == {
        "what": "setting",
        "value": "global.no-cache-dir = true",
        "where": f"{config} (env config file)",
    }
    assert finding["fix"].startswith("sed -i.bak ")
    _run_fix(finding["fix"], env)
    code, document = _doctor(env, current)
    assert (code, _levels(document)["caching-enabled"]) == (0, "ok")


def test_no_cache_dir_for_install_in_the_site_config_and_its_fix(
    venv_with_pip: VenvFactory, cache_v2: Path, tmp_path: Path
) -> None:
    venv = venv_with_pip("current")
    site = venv / "pip.conf"
    site.write_text("[install]\nno-cache-dir = yes\n", encoding="utf-8")
    empty = tmp_path / "empty.conf"
    empty.write_text("", encoding="utf-8")
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2), PIP_CONFIG_FILE=str(empty))
    python = venv_python(venv)
    code, document = _doctor(env, python)
    assert code == 1
    finding = _one(document, "caching-disabled")
    assert "`pip install` caches nothing" in finding["message"]
    assert finding["evidence"][0]["where"] == f"{site} (site config file)"
    assert finding["fix"] == f"{python} -m pip config unset --site install.no-cache-dir"
    # pip cache still works: only installs are uncached, so the cache itself is examined
    assert document["caches"] == [str(cache_v2)]
    _run_fix(finding["fix"], env)
    code, document = _doctor(env, python)
    assert code == 0
    assert "caching-disabled" not in _codes(document)


# -- 3. owners -------------------------------------------------------------------------------------


@needs_root
def test_files_of_another_user_are_counted_and_the_chown_fixes_them(
    cache_v2: Path, current: Path, tmp_path: Path
) -> None:
    directory = next(p for p in sorted((cache_v2 / "http-v2").rglob("*")) if p.is_dir())
    file = next(p for p in sorted(cache_v2.rglob("*.body")))
    os.chown(directory, OTHER_UID, OTHER_UID)
    os.chown(file, OTHER_UID, OTHER_UID)
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2))
    code, document = _doctor(env, current)
    finding = _one(document, "not-owned")
    assert finding["level"] == "warn"  # root can still write there: pip keeps working
    assert code == 0
    counts = {e["what"]: e["value"] for e in finding["evidence"] if e["what"] != "example"}
    assert counts == {"not owned by the current user": 2, "directories not writable": 0}
    examples = {e["value"] for e in finding["evidence"] if e["what"] == "example"}
    assert examples == {str(directory), str(file)}
    assert finding["fix"] == f"chown -R root:root {cache_v2}"
    _run_fix(finding["fix"], env)
    code, document = _doctor(env, current)
    assert "not-owned" not in _codes(document)
    assert _levels(document)["ownership-ok"] == "ok"


@needs_root
def test_a_cache_directory_pip_refuses_is_a_failure(
    cache_v2: Path, current: Path, tmp_path: Path
) -> None:
    os.chown(cache_v2, OTHER_UID, OTHER_UID)
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2))
    code, document = _doctor(env, current)
    assert code == 1
    finding = _one(document, "cache-refused")
    assert finding["level"] == "fail"
    whats = {e["what"]: e["value"] for e in finding["evidence"]}
    assert whats["owner uid"] == OTHER_UID
    assert str(cache_v2) in whats["pip warned"]
    assert document["caches"] == [str(cache_v2)]  # examined although pip disabled it
    assert "caching-disabled" not in _codes(document)  # said once, by the ownership check
    _run_fix(finding["fix"], env)
    code, document = _doctor(env, current)
    assert code == 0
    assert "cache-refused" not in _codes(document)


@pytest.fixture
def nobodys_cache(filled_cache_v2: Path, shared_tmp: Path) -> Path:
    """A copy of the v2 cache owned by an unprivileged user, in a directory that user reaches."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("giving a cache to another user (os.chown) needs root")
    cache = copy_tree(filled_cache_v2, shared_tmp / "cache")
    for path in [cache, *cache.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    return cache


def _python_for(runner: Runner) -> str:
    """An interpreter with pip the runner's user may run (a venv's may lie under /root)."""
    as_user = runner.command([])[:-2]  # "<python> -m pipcachex" without "-m pipcachex"
    # Probed the way pipcachex starts it, from a process of that user: exec rights can differ.
    starts = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"
    for python in (runner.python, "/usr/bin/python3", "/usr/local/bin/python3"):
        probe = [*as_user, "-c", starts, python, "-I", "-m", "pip", "--version"]
        done = subprocess.run(probe, capture_output=True, check=False, env=runner.env())
        if done.returncode == 0:
            return python
    pytest.skip(f"no interpreter with pip that uid {runner.uid} may run")


def _doctor_as(runner: Runner, cache: Path) -> tuple[int, dict[str, Any]]:
    """Run ``pipcachex doctor --json`` as the runner's user, with ``cache`` as its pip cache."""
    env = {k: v for k, v in runner.env().items() if not k.startswith("PIP_")}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_CACHE_DIR=str(cache),
        HOME=str(cache.parent / "home"),
        PIPCACHEX_MEMO_DIR="",
        PIPCACHEX_BACKUP_DIR=str(cache.parent / "backups"),
    )
    command = runner.command(["doctor", "--json", "--python", _python_for(runner)])
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env=env, cwd=cache.parent
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_a_sudo_pip_left_root_owned_directories_in_a_users_cache(
    nobodys_cache: Path, unprivileged_runner: Runner
) -> None:
    built = next(p for p in sorted((nobodys_cache / "wheels").rglob("*")) if p.is_dir())
    for path in [built, *built.rglob("*")]:
        os.chown(path, 0, 0)  # what `sudo pip install` (without -H) leaves behind
    code, document = _doctor_as(unprivileged_runner, nobodys_cache)
    assert code == 1
    finding = _one(document, "not-owned")
    assert finding["level"] == "fail"
    counts = {e["what"]: e["value"] for e in finding["evidence"] if e["what"] != "example"}
    below = sum(1 for _ in built.rglob("*"))
    assert counts["not owned by the current user"] == 1 + below
    assert counts["directories not writable"] == 1 + sum(1 for p in built.rglob("*") if p.is_dir())
    examples = [e["value"] for e in finding["evidence"] if e["what"] == "example"]
    assert examples == [str(built)]  # the top of the root-owned tree, not every file below
    assert finding["fix"] == f"sudo chown -R nobody:nogroup {nobodys_cache}"
    assert "cache-refused" not in _codes(document)


def test_a_directory_the_user_cannot_read_is_named_not_judged(
    nobodys_cache: Path, unprivileged_runner: Runner
) -> None:
    hidden = next(p for p in sorted((nobodys_cache / "http-v2").iterdir()) if p.is_dir())
    os.chown(hidden, 0, 0)
    hidden.chmod(0o700)
    code, document = _doctor_as(unprivileged_runner, nobodys_cache)
    assert code == 1  # the directory is not writable either: not-owned fails
    finding = _one(document, "unreadable")
    assert finding["level"] == "warn"
    assert finding["evidence"][0]["value"] == 1
    assert finding["evidence"][1]["value"].startswith(f"{hidden}: ")
    assert finding["fix"] == f"sudo chown -R nobody:nogroup {nobodys_cache}"
    assert _levels(document)["entries-intact"] == "ok"  # what could be read is intact


def test_a_cache_directory_created_by_sudo_pip_is_refused_by_the_users_pip(
    nobodys_cache: Path, unprivileged_runner: Runner
) -> None:
    os.chown(nobodys_cache, 0, 0)
    code, document = _doctor_as(unprivileged_runner, nobodys_cache)
    assert code == 1
    finding = _one(document, "cache-refused")
    assert "not writable for nobody" in finding["message"]
    whats = {e["what"]: e["value"] for e in finding["evidence"]}
    assert whats["owner uid"] == 0
    assert str(nobodys_cache) in whats["pip warned"]
    assert finding["fix"] == f"sudo chown -R nobody:nogroup {nobodys_cache}"
    os.chown(nobodys_cache, NOBODY, NOBODY)  # what the fix does
    code, document = _doctor_as(unprivileged_runner, nobodys_cache)
    assert code == 0, document
    assert _levels(document)["ownership-ok"] == "ok"


# -- 4. layouts ---------------------------------------------------------------------------------


def _layout_sizes(cache: Path, env: Mapping[str, str | None]) -> dict[str, Any]:
    info = invoke(["info", "--json", "--cache-dir", str(cache)], env=env).json
    return dict(info["by_layout"])


def test_an_old_and_a_new_pip_sharing_a_mixed_cache(
    mixed_cache: Path, current: Path, legacy: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path, PIP_CACHE_DIR=str(mixed_cache))
    code, document = _doctor(env, current, legacy, current)
    assert [p["http_layout"] for p in document["pips"]] == ["http-v2", "http"]
    finding = _one(document, "mixed-layouts")
    assert finding["level"] == "warn"
    assert finding["fix"] == f"{legacy} -m pip install --upgrade 'pip>=23.3'"
    sizes = _layout_sizes(mixed_cache, env)
    values = [e["value"] for e in finding["evidence"]]
    assert values[:2] == [
        f"{sizes['http']['entries']} entries, {sizes['http']['size']} bytes",
        f"{sizes['http-v2']['entries']} entries, {sizes['http-v2']['size']} bytes",
    ]
    assert values[2:] == ["pip 26.3 writes http-v2/", "pip 23.2.1 writes http/"]
    assert _one(document, "shared-cache")["level"] == "ok"
    assert "legacy-layout-unused" not in _codes(document)
    assert code == 0


def test_a_legacy_layout_no_pip_here_reads(
    mixed_cache: Path, current: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path, PIP_CACHE_DIR=str(mixed_cache))
    code, document = _doctor(env, current)
    finding = _one(document, "legacy-layout-unused")
    assert finding["level"] == "warn"
    assert shlex.split(finding["fix"]) == [
        "pipcachex",
        "purge",
        "--layout",
        "http",
        "--cache-dir",
        str(mixed_cache),
    ]
    assert "mixed-layouts" not in _codes(document)
    assert code == 0
    kept = {p for p in mixed_cache.rglob("*") if "http" not in p.relative_to(mixed_cache).parts}
    assert any(p.parts[len(mixed_cache.parts)] == "http-v2" for p in kept)
    _run_fix(finding["fix"], env, "--yes")
    assert not [p for p in (mixed_cache / "http").rglob("*") if p.is_file()]
    # Nothing outside the legacy layout was touched.
    assert kept <= set(mixed_cache.rglob("*"))
    _, document = _doctor(env, current)
    assert "legacy-layout-unused" not in _codes(document)
    assert _levels(document)["layouts"] == "ok"


def test_cache_dir_examines_a_cache_no_pip_checked_uses(
    mixed_cache: Path, cache_v2: Path, current: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2))
    code, document = _doctor(env, current, args=("--cache-dir", str(mixed_cache)))
    assert code == 0
    assert document["caches"] == [str(mixed_cache)]
    assert document["pips"][0]["cache_dir"] == str(cache_v2)
    finding = _one(document, "layouts")
    assert "No pip checked here uses this cache" in finding["message"]


# -- 5. stranded caches -------------------------------------------------------------------------


def test_the_default_cache_is_stranded_while_pip_cache_dir_points_elsewhere(
    cache_v2: Path, filled_cache_legacy: Path, current: Path, tmp_path: Path
) -> None:
    stranded = copy_tree(filled_cache_legacy, tmp_path / "home" / ".cache" / "pip")
    size = sum(p.stat().st_size for p in stranded.rglob("*") if p.is_file())
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2))
    code, document = _doctor(env, current)
    finding = _one(document, "stranded-cache")
    assert finding["level"] == "warn"
    assert finding["fix"] == f"pipcachex purge --cache-dir {stranded}"
    assert finding["evidence"][0] == {
        "what": "path",
        "value": str(stranded),
        "where": "pip's default cache",
    }
    assert finding["evidence"][2] == {"what": "size", "value": size, "where": None}
    assert code == 0
    # the same cache used by pip (no PIP_CACHE_DIR) is not stranded
    env = _env(tmp_path)
    code, document = _doctor(env, current)
    assert document["caches"] == [str(stranded)]
    assert "stranded-cache" not in _codes(document)


def test_a_cache_left_by_a_shell_without_xdg_cache_home(
    filled_cache_v2: Path, current: Path, tmp_path: Path
) -> None:
    stranded = copy_tree(filled_cache_v2, tmp_path / "home" / ".cache" / "pip")
    env = _env(tmp_path, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    code, document = _doctor(env, current)
    assert code == 0
    assert document["pips"][0]["cache_dir"] == str(tmp_path / "xdg" / "pip")
    finding = _one(document, "stranded-cache")
    assert finding["evidence"][0]["value"] == str(stranded)
    assert "without XDG_CACHE_HOME" in finding["evidence"][0]["where"]


# -- 6. the file system ----------------------------------------------------------------------


@pytest.fixture
def cache_on_tmpfs(filled_cache_v2: Path) -> Iterator[Path]:
    """A copy of the v2 cache on /dev/shm, where that is a tmpfs we may write to."""
    shm = Path("/dev/shm")
    mount = mount_of(str(shm), read_mounts()) if shm.is_dir() else None
    if mount is None or mount.fstype != "tmpfs" or not os.access(shm, os.W_OK):
        pytest.skip("no writable tmpfs at /dev/shm to put a cache on")
    dest = shm / f"pipcachex-doctor-{uuid.uuid4().hex}"
    try:
        yield copy_tree(filled_cache_v2, dest)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_a_cache_on_a_temporary_file_system(
    cache_on_tmpfs: Path, current: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_on_tmpfs))
    code, document = _doctor(env, current)
    finding = _one(document, "temporary-filesystem")
    assert finding["level"] == "warn"
    assert finding["evidence"][0]["where"] == "/dev/shm"
    assert "local-filesystem" not in _codes(document)
    assert code == 0


@pytest.fixture
def small_noatime_mount(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs mounted noatime in tmp_path, where this process may mount one."""
    point = tmp_path / "small"
    point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "noatime,size=1m", "tmpfs", str(point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


def test_a_small_noatime_file_system_and_the_remount_that_fixes_atime(
    small_noatime_mount: Path, filled_cache_v2: Path, current: Path, tmp_path: Path
) -> None:
    require_free_space_reading(small_noatime_mount)
    cache = copy_tree(filled_cache_v2, small_noatime_mount / "pip")
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache))
    code, document = _doctor(env, current)
    assert code == 1  # less than 256 MB free
    levels = _levels(document)
    assert levels["reads-not-recorded"] == "warn"
    assert levels["low-disk-space"] == "fail"
    assert levels["temporary-filesystem"] == "warn"
    noatime = _one(document, "reads-not-recorded")
    assert noatime["evidence"][1]["where"] == str(small_noatime_mount)
    assert "noatime" in noatime["evidence"][1]["value"]
    low = _one(document, "low-disk-space")
    assert low["fix"] == f"pipcachex purge --max-size 1MB --cache-dir {cache}"
    _run_fix(noatime["fix"], env)
    _, document = _doctor(env, current)
    assert "reads-not-recorded" not in _codes(document)
    assert "once a day" in _one(document, "reads-recorded")["message"]


def test_free_space_is_measured_against_the_cache(
    cache_v2: Path, current: Path, tmp_path: Path
) -> None:
    require_free_space_reading(cache_v2)
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2))
    _, document = _doctor(env, current)
    found = _found(document, "disk-space") + _found(document, "low-disk-space")
    assert len(found) == 1
    values = {e["what"]: e["value"] for e in found[0]["evidence"]}
    usage = shutil.disk_usage(cache_v2)
    assert values["file system size"] == usage.total
    assert 0 < values["free"] <= usage.total
    assert values["cache size"] == sum(p.stat().st_size for p in cache_v2.rglob("*") if p.is_file())


# -- 7. entries and pipcachex's own files ----------------------------------------------------


def test_damaged_entries_and_stale_temp_files_and_their_fix(
    cache_v2: Path, current: Path, index: IndexServer, tmp_path: Path
) -> None:
    meta = cachefactory.http_entry_path(cache_v2, index.page_url(packages.ALPHA))
    body = meta.with_name(meta.name + ".body")
    cachefactory.truncate(body)
    stale = cachefactory.write_stale_tmp(meta)
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2))
    before = _snapshot(cache_v2)
    code, document = _doctor(env, current)
    assert _snapshot(cache_v2) == before
    assert code == 1
    damaged, old = _one(document, "damaged-entries"), _one(document, "stale-temp-files")
    assert (damaged["level"], old["level"]) == ("fail", "warn")
    assert damaged["evidence"][1]["value"] == str(body)
    assert "Content-Length" in damaged["evidence"][1]["where"]
    assert old["evidence"][0]["value"] == 1
    assert old["evidence"][2]["value"] == str(stale)
    assert damaged["fix"] == old["fix"] == f"pipcachex verify --fix --cache-dir {cache_v2}"
    _run_fix(damaged["fix"], env, "--yes")
    code, document = _doctor(env, current)
    assert code == 0
    assert _levels(document)["entries-intact"] == "ok"


def test_pipcachex_memo_and_backups_are_sized(
    cache_v2: Path, current: Path, tmp_path: Path
) -> None:
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / "one.tar").write_bytes(b"x" * 100)
    memo = tmp_path / "memo"
    memo.mkdir()
    (memo / "m").write_bytes(b"y" * 10)
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2), PIPCACHEX_MEMO_DIR=str(memo))
    _, document = _doctor(env, current)
    finding = _one(document, "pipcachex-files")
    assert finding["evidence"] == [
        {"what": "memo directory", "value": str(memo), "where": "1 files, 10 bytes"},
        {
            "what": "backups directory",
            "value": str(tmp_path / "backups"),
            "where": "1 files, 100 bytes",
        },
    ]
    _, document = _doctor({**env, "PIPCACHEX_MEMO_DIR": ""}, current)
    assert _one(document, "pipcachex-files")["evidence"][0]["value"] == "off"


def test_human_report_names_level_evidence_and_fix(
    cache_v2: Path, current: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path, PIP_CACHE_DIR=str(cache_v2), PIP_NO_CACHE_DIR="1", COLUMNS="300")
    result = invoke(["doctor", "--python", str(current)], env=env)
    assert result.exit_code == 1
    assert "FAIL PIP_NO_CACHE_DIR is set" in result.stdout
    assert "setting: PIP_NO_CACHE_DIR=1  (environment)" in result.stdout
    assert "fix: unset PIP_NO_CACHE_DIR" in result.stdout
    assert "1 fail" in result.stderr
    quiet = invoke(["doctor", "-q", "--python", str(current)], env=env)
    assert "OK " not in quiet.stdout
    assert "FAIL" in quiet.stdout
