"""Bad input, a missing or old pip, a disabled cache: one clear line and the right exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cachefactory
import pytest
from cli_helpers import invoke
from conftest import make_venv, venv_site_packages

from pipcachex.errors import PipError
from pipcachex.pip_runner import PipRunner, pip_environment


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["list", "--older-than", "30x"], "'30x'"),
        (["list", "--larger-than", "lots"], "'lots'"),
        (["list", "--larger-than", "5Xi"], "'5Xi'"),
        (["list", "numpy<<2"], "numpy<<2"),
        (["list", "bad name!"], "bad name!"),
        (["list", "--kind", "wheelz"], "wheelz"),
    ],
)
def test_bad_values_exit_2_naming_the_value(args: list[str], named: str, tmp_path: Path) -> None:
    result = invoke([*args, "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_cache_dir_that_is_missing_or_a_file(tmp_path: Path) -> None:
    missing = invoke(["list", "--cache-dir", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    a_file = tmp_path / "file"
    a_file.write_text("x")
    not_dir = invoke(["info", "--json", "--cache-dir", str(a_file)])
    assert not_dir.exit_code == 2 and "not a directory" in not_dir.stderr
    assert not_dir.json["error"]["exit_code"] == 2


def test_python_that_is_not_an_interpreter(tmp_path: Path) -> None:
    result = invoke(["dir", "--python", str(tmp_path / "python9")])
    assert result.exit_code == 2
    assert "--python" in result.stderr and "python9" in result.stderr


def test_python_without_pip(venv_without_pip: Path) -> None:
    result = invoke(["dir", "--python", str(venv_without_pip / "bin" / "python")])
    assert result.exit_code == 1
    assert "no pip is installed" in result.stderr


def test_pip_older_than_20_1_is_refused(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "old", None)
    fake = venv_site_packages(venv) / "pip"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('__version__ = "19.3.1"\n')
    result = invoke(["dir", "--python", str(venv / "bin" / "python")])
    assert result.exit_code == 1
    assert "19.3.1" in result.stderr and "20.1" in result.stderr


def test_disabled_cache_is_reported(
    venv_with_pip: Callable[[str], Path], pip_env: Callable[..., dict[str, str]]
) -> None:
    python = str(venv_with_pip("current") / "bin" / "python")
    env = pip_env(extra={"PIP_NO_CACHE_DIR": "1"})
    env.pop("PYTHONPATH", None)
    result = invoke(["info", "--python", python], env=env)
    assert result.exit_code == 1
    assert "cache is disabled" in result.stderr
    assert result.stderr.count("\n") == 1


def test_verbose_shows_each_pip_command(
    venv_with_pip: Callable[[str], Path], pip_env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    python = str(venv_with_pip("current") / "bin" / "python")
    env = pip_env(extra={"PIP_CACHE_DIR": str(tmp_path)})
    env.pop("PYTHONPATH", None)
    result = invoke(["dir", "-v", "--python", python], env=env)
    assert result.exit_code == 0
    assert f"$ {python} -m pip --no-input cache dir" in result.stderr
    assert result.stdout.strip() == str(tmp_path)
    quiet = invoke(["dir", "-q", "--python", python], env=env)
    assert quiet.stderr == ""


def test_pip_failure_carries_command_exit_code_and_stderr(
    venv_with_pip: Callable[[str], Path],
) -> None:
    runner = PipRunner(python=str(venv_with_pip("current") / "bin" / "python"))
    with pytest.raises(PipError) as caught:
        runner.run(["cache", "no-such-action"])
    error = caught.value
    assert error.returncode == 1
    assert error.command[-2:] == ["cache", "no-such-action"]
    assert "Need an action" in error.stderr


def test_pip_environment_is_scrubbed() -> None:
    env = pip_environment({"PYTHONPATH": "/somewhere", "PIP_INDEX_URL": "http://x", "HOME": "/h"})
    assert "PYTHONPATH" not in env
    assert env["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"
    assert env["PYTHONIOENCODING"] == "utf-8"
    assert env["PIP_INDEX_URL"] == "http://x"  # the user's own pip settings still apply


def test_python_m_pipcachex_and_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipcachex", "--version"],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert result.returncode == 0
    assert result.stdout.startswith("pipcachex ")


def test_list_and_info_say_in_one_line_when_the_directory_is_not_a_pip_cache(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".zshrc").write_text("z\n")
    project = tmp_path / "project"
    (project / "wheels").mkdir(parents=True)
    (project / "notes.txt").write_text("n\n")
    cache = tmp_path / "cache"
    (cache / "http-v2").mkdir(parents=True)
    (cache / ".DS_Store").write_text("litter\n")
    cases = {
        home: f"warning: {home} is a system or home directory, not a pip cache",
        project: f"warning: {project} holds things pip never writes in a cache: notes.txt",
        cache: None,
    }
    for directory, warning in cases.items():
        for command in (["list"], ["info"], ["list", "--json"]):
            result = invoke([*command, "--cache-dir", str(directory)], env={"HOME": str(home)})
            assert result.exit_code == 0, result.stderr
            lines = [line for line in result.stderr.splitlines() if "warning" in line]
            if warning is None:
                assert lines == [], (command, lines)
            else:
                assert len(lines) == 1 and lines[0].startswith(warning), (command, lines)
                assert lines[0].endswith("shown as unknown entries"), lines


def _small_cache(root: Path) -> dict[str, bytes]:
    """A cache of two HTTP entries written in pip's format; returns every file's bytes."""
    for name in ("a", "b"):
        body = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n\n".encode()
        url = f"https://files.invalid/{name}-1.0-py3-none-any.whl.metadata"
        entry = cachefactory.write_http_v2_entry(root, url, body, cachefactory.file_headers(body))
        cachefactory.set_age(entry.meta, 40 * 86400)
    return _contents(root)


def _contents(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", ["list", "purge", "backup"])
@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--older-than", "", "invalid value for --older-than: ''"),
        ("--larger-than", "", "invalid value for --larger-than: ''"),
        ("--older-than", "99999999d", "'99999999d' reaches outside the years 1 to 9999"),
        ("--older-than", "0001-01-01T00:00+14:00", "reaches outside the years 1 to 9999"),
        ("--larger-than", "9" * 400, "is larger than 8 EiB"),
    ],
    ids=["empty-age", "empty-size", "age-overflow", "date-overflow", "size-overflow"],
)
def test_empty_and_overflowing_values_are_bad_input_and_change_nothing(
    command: str, option: str, value: str, says: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    before = _small_cache(cache)
    backups = tmp_path / "backups"
    args = [command, option, value, "--cache-dir", str(cache), "--yes", "--json"]
    result = invoke(
        [a for a in args if command == "purge" or a != "--yes"],
        env={"PIPCACHEX_BACKUP_DIR": str(backups), "PIP_CONFIG_FILE": os.devnull},
    )
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert says in result.stderr and "Traceback" not in result.stderr
    assert result.json["error"]["exit_code"] == 2
    assert _contents(cache) == before
    assert not backups.exists()


@pytest.mark.parametrize("value", ["", "9" * 400, "1" * 30 + "PB"])
def test_empty_and_overflowing_max_size_is_bad_input(value: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = _small_cache(cache)
    result = invoke(["purge", "--max-size", value, "--cache-dir", str(cache), "--yes"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: invalid value for --max-size: ")
    assert len(result.stderr.splitlines()) == 1
    assert _contents(cache) == before
