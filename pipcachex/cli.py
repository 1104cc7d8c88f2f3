"""The ``pipcachex`` command line: parse options, call one service, render, pick the exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipcachex import __version__
from pipcachex.cache import Kind, scan_cache
from pipcachex.errors import EXIT_OK, Aborted, ConfirmationRefused, PipcachexError, PipError
from pipcachex.listing import SortKey, cache_info, list_entries
from pipcachex.render import Output, render_info, render_list
from pipcachex.selection import build_selection
from pipcachex.target import CacheTarget, resolve_target
from pipcachex.units import parse_age, parse_size

app = typer.Typer(
    name="pipcachex",
    help="See, prune, back up, verify and re-check pip's cache.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

CacheDirOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional at runtime on Python 3.10
    typer.Option(
        "--cache-dir",
        metavar="PATH",
        help="Cache directory to work on. Default: what `<python> -m pip cache dir` prints.",
        show_default=False,
    ),
]
PythonOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--python",
        metavar="PYTHON",
        help="Interpreter whose pip is consulted and run. Default: the one running pipcachex.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (schema 1) on stdout.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also show each pip command run.")
]
KindOption = Annotated[
    Optional[list[Kind]],  # noqa: UP045
    typer.Option(
        "--kind",
        metavar="KIND",
        help="Only entries of this kind (repeatable): " + ", ".join(k.value for k in Kind) + ".",
        show_default=False,
    ),
]
OlderThanOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--older-than",
        metavar="AGE",
        help="Only entries last used before AGE ago: 90m, 30d, 2w, or an ISO date.",
        show_default=False,
    ),
]
LargerThanOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--larger-than",
        metavar="SIZE",
        help="Only entries bigger than SIZE: bytes, or 500MB, 1.5GiB, 200k.",
        show_default=False,
    ),
]
SpecsArgument = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Argument(
        metavar="SPEC",
        help="Project names or globs (compared after normalisation), optionally with a version "
        'specifier such as "numpy<2".',
        show_default=False,
    ),
]


@dataclass
class Common:
    """The options every command takes."""

    cache_dir: Path | None
    python: str | None
    json_mode: bool
    quiet: bool
    verbose: bool

    def output(self) -> Output:
        """The Output these options ask for."""
        return Output(json_mode=self.json_mode, quiet=self.quiet, verbose=self.verbose)


def _run(common: Common, body: Callable[[Output], int]) -> None:
    """Run a command body; turn pipcachex errors into one message and their exit code."""
    output = common.output()
    try:
        code = body(output)
    except PipcachexError as exc:
        output.error(exc.message)
        if (isinstance(exc, PipError) and exc.details) or (exc.details and output.verbose):
            output.err.print(exc.details, markup=False, style="dim")
        if common.json_mode:
            output.emit_json({"error": {"message": exc.message, "exit_code": exc.exit_code}})
        code = exc.exit_code
    except KeyboardInterrupt:
        output.error("interrupted")
        code = 130
    raise typer.Exit(code)


def confirm_destructive(yes: bool, question: str) -> None:
    """Ask ``question`` on a terminal unless ``--yes``; with no terminal, refuse without --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfirmationRefused(
            "refusing to delete without confirmation: there is no terminal to ask on; "
            "add --yes (or use --dry-run to see what would go)"
        )
    if not typer.confirm(question, default=False, err=True):
        raise Aborted("nothing was changed")


def _target(common: Common, output: Output) -> CacheTarget:
    return resolve_target(common.python, common.cache_dir, output.show_command)


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


@app.command("dir")
def dir_command(
    cache_dir: CacheDirOption = None,
    python: PythonOption = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Print the cache directory (delegated to `pip cache dir`)."""
    common = Common(cache_dir, python, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        target = _target(common, output)
        if json_mode:
            output.emit_json({"cache_dir": str(target.root), "exists": target.exists})
        else:
            output.out.print(str(target.root), markup=False)
        return EXIT_OK

    _run(common, body)


@app.command("list")
def list_command(
    specs: SpecsArgument = None,
    kind: KindOption = None,
    older_than: OlderThanOption = None,
    larger_than: LargerThanOption = None,
    sort: Annotated[
        SortKey, typer.Option("--sort", help="Order rows by name, size (largest first) or age.")
    ] = SortKey.NAME,
    packages: Annotated[
        bool, typer.Option("--packages", help="One row per project instead of one per entry.")
    ] = False,
    cache_dir: CacheDirOption = None,
    python: PythonOption = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List every cache entry (HTTP downloads, index pages, built wheels) with its project."""
    common = Common(cache_dir, python, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        selection = build_selection(
            specs or [],
            kind or [],
            parse_age(older_than).timestamp() if older_than else None,
            parse_size(larger_than) if larger_than else None,
        )
        target = _target(common, output)
        with output.progress("Scanning cache") as bar:
            scan = scan_cache(target.root, on_progress=bar.update)
        render_list(output, list_entries(scan, selection, sort, packages))
        return EXIT_OK

    _run(common, body)


@app.command("info")
def info_command(
    cache_dir: CacheDirOption = None,
    python: PythonOption = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Summarise the cache: size by kind and layout, damaged entries, largest projects."""
    common = Common(cache_dir, python, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        target = _target(common, output)
        with output.progress("Scanning cache") as bar:
            scan = scan_cache(target.root, on_progress=bar.update)
        render_info(output, cache_info(target, scan))
        return EXIT_OK

    _run(common, body)


def main() -> None:
    """Console-script entry point."""
    app()
