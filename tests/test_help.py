"""`--help`, `-V` and shell completion: what a person reads before running anything."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from cli_helpers import invoke

from pipcachex import __version__
from pipcachex.cli import app

COMMANDS = ["dir", "list", "info", "purge", "verify", "check", "backup", "backups", "restore"]
WIDE = {"COLUMNS": "200"}
# What typer prints in its type column: the type of a flag or an argument, never a metavar.
TYPE_COLUMN = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|text)>")


def _sub_command(name: str) -> object:
    import typer.main

    group = typer.main.get_command(app)
    return group.commands[name]  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_help_has_no_type_column(command: list[str]) -> None:
    result = invoke([*command, "--help"], env=WIDE)
    assert result.exit_code == 0
    assert not TYPE_COLUMN.search(result.stdout), TYPE_COLUMN.findall(result.stdout)
    assert "--help" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_shows_examples_it_accepts(command: str) -> None:
    result = invoke([command, "--help"], env=WIDE)
    text = result.stdout
    assert "Examples:" in text, command
    lines = [
        line.strip(" │")
        for line in text[text.index("Examples:") :].splitlines()[1:]
        if line.strip(" │")
    ]
    assert lines, command
    options = {
        opt
        for param in _sub_command(command).params  # type: ignore[attr-defined]
        for opt in [*param.opts, *param.secondary_opts]
    }
    for line in lines:
        words = shlex.split(line)
        assert words[:2] == ["pipcachex", command], line
        for word in words[2:]:
            if word in ("|", ">"):
                break
            if word.startswith("-"):
                assert word in options, f"{line}: {word} is not an option of {command}"


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str) -> None:
    result = invoke([flag])
    assert result.exit_code == 0
    assert result.stdout == f"pipcachex {__version__}\n"


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o default -F"),
        ("zsh", "compdef"),
        ("fish", "complete --command pipcachex"),
    ],
)
def test_completion_script_for_each_shell(shell: str, marker: str) -> None:
    # Typer's own switch: take the shell from the command line instead of detecting it. It is
    # read when the command line is built, so this needs a process of its own.
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = subprocess.run(
        [_executable(), "--show-completion", shell], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout
    assert "_PIPCACHEX_COMPLETE" in done.stdout


def _executable() -> str:
    executable = shutil.which("pipcachex", path=os.path.dirname(sys.executable))
    assert executable is not None
    return executable


def _complete_bash(words: str) -> list[str]:
    env = {
        **os.environ,
        "_PIPCACHEX_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(shlex.split(words)) - (0 if words.endswith(" ") else 1)),
    }
    done = subprocess.run([_executable()], env=env, capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("pipcachex ba", ["backup", "backups"]),
        ("pipcachex list --sort ", ["name", "size", "age"]),
        ("pipcachex list --format t", ["tsv"]),
        ("pipcachex purge --kind b", ["built-wheel"]),
        ("pipcachex backup --compression ", ["none", "gz", "xz"]),
    ],
)
def test_completion_answers_bash(words: str, expected: list[str]) -> None:
    assert _complete_bash(words) == expected
