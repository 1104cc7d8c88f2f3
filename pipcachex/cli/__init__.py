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
from pipcachex.cli.listing import dir_command, info_command, list_command
from pipcachex.cli.purge import purge_command
from pipcachex.cli.verify import verify_command
from pipcachex.errors import EXIT_OK

__all__ = ["app", "main"]

app = typer.Typer(
    name="pipcachex",
    help="See, prune, back up, verify and re-check pip's cache.",
    no_args_is_help=True,
    add_completion=False,
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
            callback=_version_callback,
            is_eager=True,
            help="Show pipcachex's version and exit.",
        ),
    ] = False,
) -> None:
    """See, prune, back up, verify and re-check pip's cache."""


# The order here is the order `pipcachex --help` lists the commands in.
app.command("dir")(dir_command)
app.command("list")(list_command)
app.command("info")(info_command)
app.command("purge")(purge_command)
app.command("verify")(verify_command)
app.command("check")(check_command)
app.command("backup")(backup_command)
app.command("backups")(backups_command)
app.command("restore")(restore_command)


def main() -> None:
    """Console-script entry point."""
    app()
