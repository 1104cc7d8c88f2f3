"""Bad input, a missing or old pip, a disabled cache: one clear line and the right exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import cachefactory
import pytest
from cli_helpers import invoke
from conftest import make_venv, venv_python, venv_site_packages

from pipcachex.backup import Compression
from pipcachex.cache import Kind
from pipcachex.cli.options import COMPRESSION_CHOICES, KIND_CHOICES, SORT_CHOICES
from pipcachex.cli.usage import wants_json
from pipcachex.errors import PipError
from pipcachex.operations.listing import SortKey
from pipcachex.pip_runner import (
    PipRunner,
    default_python,
    format_command,
    pip_environment,
    pip_error_line,
)


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


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["list", "--kind", "wheelz"], "invalid value for --kind: 'wheelz' (choose from "),
        (["list", "--sort", "biggest"], "--sort: 'biggest' (choose from name, size, age)"),
        (
            ["backup", "--compression", "zip"],
            "--compression: 'zip' (choose from none, gz, xz, zst)",
        ),
        (["list", "--zzz"], "no such option: --zzz (`"),
        (["list", "--jsn"], "no such option: --jsn (did you mean --json?)"),
        (["lst"], "no such command 'lst' (did you mean 'list'?); the commands are dir, list"),
        (["list", "--cache-dir"], "--cache-dir needs a value"),
        (["purge", "--max-size"], "--max-size needs a value"),
    ],
)
def test_every_usage_error_is_one_line_exit_2_and_a_json_document(
    args: list[str], expected: str
) -> None:
    """Our bad values and the parser's (bad choice, unknown option) read the same way."""
    for json_flag in ([], ["--json"]):
        result = invoke([args[0], *json_flag, *args[1:]])
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert expected in result.stderr
        if json_flag:
            assert result.json["error"]["exit_code"] == 2
            assert expected in result.json["error"]["message"]
        else:
            assert result.stdout == ""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["list", "--json"], True),
        (["list", "--format", "json"], True),
        (["list", "--format=json"], True),
        (["list", "--format", "csv"], False),
        (["list", "--", "--json"], False),
        (["list"], False),
    ],
)
def test_json_is_recognised_on_a_command_line_that_does_not_parse(
    argv: list[str], expected: bool
) -> None:
    assert wants_json(argv) is expected


@pytest.mark.parametrize(
    ("choices", "enum"),
    [(KIND_CHOICES, Kind), (SORT_CHOICES, SortKey), (COMPRESSION_CHOICES, Compression)],
)
def test_option_choices_are_the_enum_values(choices: tuple[str, ...], enum: type[Enum]) -> None:
    assert choices == tuple(member.value for member in enum)


@pytest.mark.parametrize(
    ("command", "posix"),
    [
        (["/usr/bin/python3", "-m", "pip", "cache", "dir"], "/usr/bin/python3 -m pip cache dir"),
        (
            ["/opt/my python/bin/python", "-c", "import pip"],
            "'/opt/my python/bin/python' -c 'import pip'",
        ),
        (["pip", "install", "numpy<2"], "pip install 'numpy<2'"),
    ],
)
def test_commands_are_shown_quoted_for_the_shell(command: list[str], posix: str) -> None:
    if os.name == "nt":
        assert format_command(command) == subprocess.list2cmdline(command)
    else:
        assert format_command(command) == posix


@pytest.mark.parametrize(
    ("stderr", "line"),
    [
        (
            "ERROR: Need an action (dir, info, list, remove, purge) to perform.\n",
            "Need an action (dir, info, list, remove, purge) to perform.",
        ),
        ("WARNING: x\nERROR: first\nERROR: second\n", "second"),
        ("Traceback (most recent call last):\n  ...\nModuleNotFoundError: pip\n", None),
        ("", None),
    ],
)
def test_what_pip_said_went_wrong(stderr: str, line: str | None) -> None:
    assert pip_error_line(stderr) == line


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
    """One line; the child's traceback only with -v."""
    python = str(venv_python(venv_without_pip))
    result = invoke(["dir", "--python", python])
    assert result.exit_code == 1
    assert result.stderr == f"error: no pip is installed for {python}\n"
    verbose = invoke(["dir", "-v", "--python", python])
    assert verbose.exit_code == 1
    assert "No module named 'pip'" in verbose.stderr


def test_pip_older_than_20_1_is_refused(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "old", None)
    fake = venv_site_packages(venv) / "pip"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('__version__ = "19.3.1"\n')
    result = invoke(["dir", "--python", str(venv_python(venv))])
    assert result.exit_code == 1
    assert "19.3.1" in result.stderr and "20.1" in result.stderr


def test_disabled_cache_is_reported(
    venv_with_pip: Callable[[str], Path], pip_env: Callable[..., dict[str, str]]
) -> None:
    python = str(venv_python(venv_with_pip("current")))
    env = pip_env(extra={"PIP_NO_CACHE_DIR": "1"})
    env.pop("PYTHONPATH", None)
    result = invoke(["info", "--python", python], env=env)
    assert result.exit_code == 1
    assert "cache is disabled" in result.stderr
    assert result.stderr.count("\n") == 1


def test_verbose_shows_each_pip_command(
    venv_with_pip: Callable[[str], Path], pip_env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    python = str(venv_python(venv_with_pip("current")))
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
    runner = PipRunner(python=str(venv_python(venv_with_pip("current"))))
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


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.mark.skipif(os.name == "nt", reason="POSIX layout of a venv and of PATH")
@pytest.mark.parametrize(
    ("venv", "on_path", "source", "chosen"),
    [
        ("venv", ["bin1/python3"], "virtual-env", "venv/bin/python"),
        ("missing-venv", ["bin1/python3"], "path", "bin1/python3"),
        (None, ["bin1/python", "bin2/python3"], "path", "bin2/python3"),
        (None, ["bin1/python3", "bin2/python"], "path", "bin1/python3"),
        (None, ["WindowsApps/python3", "bin2/python"], "path", "bin2/python"),
        (None, [], "pipcachex", None),
    ],
)
def test_the_default_python_is_the_users_own(
    tmp_path: Path, venv: str | None, on_path: list[str], source: str, chosen: str | None
) -> None:
    _executable(tmp_path / "venv" / "bin" / "python")
    for entry in on_path:
        _executable(tmp_path / entry)
    env = {"PATH": os.pathsep.join(str(tmp_path / p.split("/")[0]) for p in on_path)}
    if venv is not None:
        env["VIRTUAL_ENV"] = str(tmp_path / venv)
    found = default_python(env)
    assert found.source == source
    assert found.path == (str(tmp_path / chosen) if chosen else sys.executable)
    assert found.describe().startswith(found.path + " (")


def test_info_and_check_say_which_python_they_use(
    venv_with_pip: Callable[[str], Path],
    pip_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    venv = venv_with_pip("current")
    env = pip_env(extra={"PIP_CACHE_DIR": str(tmp_path / "cache"), "VIRTUAL_ENV": str(venv)})
    env.pop("PYTHONPATH", None)
    info = invoke(["info", "--json"], env=env)
    assert info.exit_code == 0, info.stderr
    assert info.json["python"] == str(venv_python(venv))
    assert info.json["python_source"] == "virtual-env"
    assert info.json["cache_dir"] == str(tmp_path / "cache")
    human = invoke(["info"], env=env)
    assert f"Python: {venv / 'bin' / 'python'} (the active virtual environment" in human.stdout
    verbose = invoke(["dir", "-v"], env=env)
    assert verbose.stderr.startswith(f"python: {venv / 'bin' / 'python'} (the active virtual")
    given = invoke(["info", "--json", "--python", str(venv_python(venv))], env=env)
    assert given.json["python_source"] == "option"


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


@pytest.mark.parametrize("command", ["list", "purge", "backup", "export"])
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
    exported = tmp_path / "exported"
    args = [command, option, value, "--cache-dir", str(cache), "--yes", "--json"]
    if command == "export":
        args.insert(1, str(exported))
    result = invoke(
        [a for a in args if command == "purge" or a != "--yes"],
        env={"PIPCACHEX_BACKUP_DIR": str(backups), "PIP_CONFIG_FILE": os.devnull},
    )
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert says in result.stderr and "Traceback" not in result.stderr
    assert result.json["error"]["exit_code"] == 2
    assert _contents(cache) == before
    assert not backups.exists() and not exported.exists()


@pytest.mark.parametrize("value", ["", "9" * 400, "1" * 30 + "PB"])
def test_empty_and_overflowing_max_size_is_bad_input(value: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = _small_cache(cache)
    result = invoke(["purge", "--max-size", value, "--cache-dir", str(cache), "--yes"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: invalid value for --max-size: ")
    assert len(result.stderr.splitlines()) == 1
    assert _contents(cache) == before
