"""The options the commands share, declared once so every command spells them the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipcachex.cache import Kind

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
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Also show each pip command run, and any worker process that failed.",
    ),
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


DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
