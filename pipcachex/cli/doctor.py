"""``doctor``: say why pip's cache is not doing its job, and what to run about it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipcachex.cli.common import Common, with_common_options
from pipcachex.errors import EXIT_FAILURE, EXIT_OK


# Its own --python (repeatable: several pips are compared) and --cache-dir (a cache to examine
# rather than the one to work on), so not the common pair.
@with_common_options(cache=False)
def doctor_command(
    pythons: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--python",
            metavar="PYTHON",
            help="Interpreter whose pip is checked (repeatable). Default: the one running "
            "pipcachex, and python3 and python on PATH where they differ.",
            show_default=False,
        ),
    ] = None,
    cache_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--cache-dir",
            metavar="PATH",
            help="Cache directory to examine. Default: the caches the pips report using.",
            show_default=False,
        ),
    ] = None,
    *,
    common: Common,
) -> int:
    """Say why pip's cache is not doing its job, and what to run about it; exit 1 on a failure."""
    from pipcachex.doctor import run_doctor
    from pipcachex.render.doctor import render_doctor

    output = common.output
    with output.scan_progress("Checking pips and caches") as bar:
        report = run_doctor(
            pythons or (), cache_dir, on_command=output.show_command, on_progress=bar.update
        )
    render_doctor(output, report)
    return EXIT_FAILURE if report.failed else EXIT_OK
