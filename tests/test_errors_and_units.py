"""Bad input, a missing or old pip, a disabled cache: one clear line and the right exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import pytest
from cli_helpers import invoke
from conftest import make_venv, venv_site_packages

from pipcachex.archive import Compression
from pipcachex.cache import Kind
from pipcachex.cli.options import COMPRESSION_CHOICES, KIND_CHOICES, SORT_CHOICES
from pipcachex.cli.usage import wants_json
from pipcachex.errors import PipError
from pipcachex.listing import SortKey
from pipcachex.pip_runner import PipRunner, format_command, pip_environment, pip_error_line
from pipcachex.units import parse_age, parse_size


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
        (["backup", "--compression", "zip"], "--compression: 'zip' (choose from none, gz, xz)"),
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
    python = str(venv_without_pip / "bin" / "python")
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1024", 1024),
        ("500MB", 500_000_000),
        ("500M", 500_000_000),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("200k", 200_000),
        ("2KiB", 2048),
        ("3 G", 3_000_000_000),
    ],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_ages() -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 1, 31, tzinfo=timezone.utc)
    assert parse_age("30d", now=now) == now - timedelta(days=30)
    assert parse_age("90m", now=now) == now - timedelta(minutes=90)
    assert parse_age("2w", now=now) == now - timedelta(weeks=2)
    assert parse_age("2026-01-01", now=now) == datetime(2026, 1, 1, tzinfo=timezone.utc)


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
