"""The ``pipcachex`` command line: parse options, call one service, render, pick the exit code.

Each command lives in its own module of this package and imports its services and renderers
when it runs, so that ``--help``, ``--version`` and every command start without loading what
only the others need. The options every command shares are added by
``common.with_common_options``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pipcachex import __version__
from pipcachex.cli.backup import backup_command, backups_command, restore_command
from pipcachex.cli.check import check_command
from pipcachex.cli.doctor import doctor_command
from pipcachex.cli.help import PipcachexCommand, examples
from pipcachex.cli.listing import dir_command, info_command, list_command
from pipcachex.cli.purge import purge_command
from pipcachex.cli.usage import PipcachexGroup
from pipcachex.cli.verify import verify_command
from pipcachex.errors import EXIT_OK

__all__ = ["app", "main"]

app = typer.Typer(
    name="pipcachex",
    cls=PipcachexGroup,
    help="See, prune, back up, verify and re-check pip's cache.",
    no_args_is_help=True,
    add_completion=True,
    # Plain help (see cli/help.py): no type column, and no rich to import for --help.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"pipcachex {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_version_callback,
            is_eager=True,
            help="Show pipcachex's version and exit.",
        ),
    ] = False,
) -> None:
    """See, prune, back up, verify and re-check pip's cache."""


# The order here is the order `pipcachex --help` lists the commands in.
_COMMANDS = {
    "dir": (dir_command, ("pipcachex dir", "pipcachex dir --python python3.12 --json")),
    "list": (
        list_command,
        (
            "pipcachex list --packages --sort size",
            'pipcachex list "django-*" --older-than 2w',
            "pipcachex list --kind damaged --json",
            "pipcachex list numpy --format abspath | xargs du -ch",
            "pipcachex list --format csv > cache.csv",
        ),
    ),
    "info": (info_command, ("pipcachex info", "pipcachex info --cache-dir /srv/ci/pip-cache")),
    "purge": (
        purge_command,
        (
            "pipcachex purge --older-than 30d --dry-run",
            "pipcachex purge --max-size 5GB --yes",
            "pipcachex purge requests --backup --check",
            "pipcachex purge --yes",
        ),
    ),
    "verify": (verify_command, ("pipcachex verify", "pipcachex verify --deep --fix --yes")),
    "check": (check_command, ("pipcachex check requests", 'pipcachex check "numpy<2" --reinstall')),
    "doctor": (
        doctor_command,
        ("pipcachex doctor", "pipcachex doctor --python python3.10 --python python3.13 --json"),
    ),
    "backup": (
        backup_command,
        (
            "pipcachex backup",
            "pipcachex backup requests numpy --to ~/pip-cache.tar.gz",
            "pipcachex backup --older-than 90d --compression xz",
        ),
    ),
    "backups": (
        backups_command,
        ("pipcachex backups", "pipcachex backups ~/archives --format abspath"),
    ),
    "restore": (
        restore_command,
        (
            "pipcachex restore --dry-run",
            "pipcachex restore ~/pip-cache.tar.gz",
            "pipcachex restore pipcachex-20260101T120000Z.tar --replace --yes",
        ),
    ),
}
for _name, (_function, _examples) in _COMMANDS.items():
    app.command(_name, cls=PipcachexCommand, epilog=examples(*_examples))(_function)


def main() -> None:
    """Console-script entry point."""
    app()
