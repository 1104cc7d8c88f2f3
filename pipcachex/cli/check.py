"""``check``: prove pip fetches projects again and the environment still works."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pipcachex.cli.common import Common, with_common_options
from pipcachex.errors import EXIT_FAILURE, EXIT_OK


@with_common_options()
def check_command(
    specs: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(
            metavar="SPEC",
            help='Project names, optionally with a version specifier such as "numpy<2".',
            show_default=False,
        ),
    ] = None,
    reinstall: Annotated[
        bool,
        typer.Option(
            "--reinstall", help="Also install each project in a throwaway venv and import it."
        ),
    ] = False,
    *,
    common: Common,
) -> int:
    """Check that pip fetches each project again (index or cache) and the environment works."""
    from pipcachex.operations.check import check_projects, parse_check_specs
    from pipcachex.render.check import render_check

    output = common.output
    parsed = parse_check_specs(specs or [])
    target = common.target()
    with output.progress("Checking projects", total=len(parsed)) as bar:
        result = check_projects(target, parsed, reinstall=reinstall, on_project=bar.update)
    render_check(output, result)
    return EXIT_OK if result.ok else EXIT_FAILURE
