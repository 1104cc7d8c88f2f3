"""The options the commands share, declared once so every command spells them the same way.

Options with a fixed set of values take a string, checked by ``choice`` when the command runs:
the error then reads like every other bad value (one line, the valid ones named), and the
values are spelled out here so that parsing the command line imports none of the services
that define them (a unit test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from pipcachex.errors import UsageError

#: The values of ``pipcachex.cache.Kind``.
KIND_CHOICES = (
    "distribution",
    "index-page",
    "metadata",
    "redirect",
    "built-wheel",
    "pip-state",
    "damaged",
    "unknown",
)
#: The layouts ``--layout`` selects (``pipcachex.cache.Layout`` but ``other``).
LAYOUT_CHOICES = ("http", "http-v2", "wheels")
#: The values of ``pipcachex.operations.listing.SortKey``.
SORT_CHOICES = ("name", "size", "age")
#: The values of ``pipcachex.backup.Compression``.
COMPRESSION_CHOICES = ("none", "gz", "xz", "zst")


def choice(option: str, value: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; otherwise a usage error naming the valid ones."""
    if value not in choices:
        raise UsageError(
            f"invalid value for {option}: {value!r} (choose from {', '.join(choices)})"
        )
    return value


def completer(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """Shell completion of an option's values: those starting with what was typed."""

    def complete(incomplete: str) -> list[str]:
        return [c for c in choices if c.startswith(incomplete)]

    return complete


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
        help="Interpreter whose pip is consulted and run. Default: the active virtual "
        "environment's ($VIRTUAL_ENV), else python3 (or python) on PATH.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document (schema 1) on stdout: --format json."),
]


def format_option(formats: Sequence[str]) -> Any:
    """The ``--format`` option of a command that writes rows in ``formats``."""
    text = (
        "How to write the output: human (the default) is a table on a terminal and plain "
        "otherwise; "
        + ", ".join(f for f in formats if f in ("plain", "tsv", "csv"))
        + " cut nothing"
    )
    if "abspath" in formats:
        text += "; abspath is one path a line"
    return Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--format",
            metavar="FORMAT",
            help=text + ".",
            show_default=False,
            autocompletion=completer(formats),
        ),
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
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--kind",
        metavar="KIND",
        help="Only entries of this kind (repeatable): " + ", ".join(KIND_CHOICES) + ".",
        show_default=False,
        autocompletion=completer(KIND_CHOICES),
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
NewerThanOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--newer-than",
        metavar="AGE",
        help="Only entries last used within AGE: 90m, 30d, 2w, or since an ISO date.",
        show_default=False,
    ),
]
LayoutOption = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--layout",
        metavar="LAYOUT",
        help="Only entries of this layout (repeatable): " + ", ".join(LAYOUT_CHOICES) + ".",
        show_default=False,
        autocompletion=completer(LAYOUT_CHOICES),
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
