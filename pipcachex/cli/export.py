"""``export``: the cached distributions, proven whole, as a wheelhouse (and simple index)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipcachex.cli.common import (
    Common,
    warn_if_reads_leave_no_trace,
    with_common_options,
)
from pipcachex.cli.options import (
    DryRunOption,
)
from pipcachex.cli.selectors import Selectors, with_selector_options
from pipcachex.errors import EXIT_FAILURE, EXIT_OK

DirectoryArgument = Annotated[
    Path,
    typer.Argument(
        metavar="DIR",
        help="Directory to write the distributions into (created if missing; "
        "never inside the cache).",
        show_default=False,
    ),
]
IndexOption = Annotated[
    bool,
    typer.Option(
        "--index",
        help="Also write a simple index in DIR/simple "
        "(pip install --index-url file://DIR/simple ...).",
    ),
]
CopyOption = Annotated[
    bool,
    typer.Option(
        "--copy",
        help="Always write real copies; by default a download the cache holds as a file of "
        "its own is cloned (reflink) or hard-linked when DIR is on the same file system.",
    ),
]


@with_common_options()
@with_selector_options
def export_command(
    directory: DirectoryArgument,
    index: IndexOption = False,
    copy: CopyOption = False,
    dry_run: DryRunOption = False,
    *,
    selectors: Selectors,
    common: Common,
) -> int:
    """Write the cached distributions into DIR, proven whole, for pip --no-index --find-links."""
    from pipcachex.cache import scan_cache
    from pipcachex.export import check_directory, export_cache
    from pipcachex.render.export import render_export

    output = common.output
    selected = selectors.selection()
    target = common.target()
    check_directory(directory, target.root)
    warn_if_reads_leave_no_trace(output, target, **selectors.by_last_use)
    with output.scan_progress() as bar:
        scan = scan_cache(target.root, on_progress=bar.update)
    output.details(scan.worker_trouble)
    with output.progress("Exporting") as bar:
        result = export_cache(
            scan,
            directory,
            selected,
            dry_run=dry_run,
            copy=copy,
            index=index,
            on_progress=bar.update,
        )
    render_export(output, result)
    return EXIT_OK if result.ok else EXIT_FAILURE
