"""``dir``, ``list`` and ``info``: the commands that look at the cache and change nothing."""

from __future__ import annotations

from typing import Annotated

import typer

from pipcachex.cli.common import (
    Common,
    warn_if_not_a_cache,
    warn_if_reads_leave_no_trace,
    with_common_options,
)
from pipcachex.cli.options import (
    SORT_CHOICES,
    choice,
    completer,
)
from pipcachex.cli.selectors import Selectors, with_selector_options
from pipcachex.errors import EXIT_OK


@with_common_options()
def dir_command(*, common: Common) -> int:
    """Print the cache directory (delegated to `pip cache dir`)."""
    output = common.output
    target = common.target()
    if common.json_mode:
        output.emit_json({"cache_dir": str(target.root), "exists": target.exists})
    else:
        output.out.print(str(target.root), markup=False)
    return EXIT_OK


@with_common_options(formats=("human", "plain", "tsv", "csv", "abspath", "json"))
@with_selector_options
def list_command(
    sort: Annotated[
        str,
        typer.Option(
            "--sort",
            metavar="|".join(SORT_CHOICES),
            help="Order rows by name, size (largest first) or age.",
            autocompletion=completer(SORT_CHOICES),
        ),
    ] = "name",
    packages: Annotated[
        bool, typer.Option("--packages", help="One row per project instead of one per entry.")
    ] = False,
    *,
    selectors: Selectors,
    common: Common,
) -> int:
    """List every cache entry (HTTP downloads, index pages, built wheels) with its project."""
    from pipcachex.cache import scan_cache
    from pipcachex.operations.listing import SortKey, list_entries
    from pipcachex.render.listing import render_list

    output = common.output
    order = SortKey(choice("--sort", sort, SORT_CHOICES))
    selected = selectors.selection()
    target = common.target()
    warn_if_not_a_cache(output, target)
    warn_if_reads_leave_no_trace(output, target, **selectors.by_last_use)
    with output.scan_progress() as bar:
        scan = scan_cache(target.root, on_progress=bar.update)
    output.details(scan.worker_trouble)
    render_list(output, list_entries(scan, selected, order, packages))
    return EXIT_OK


@with_common_options(formats=("human", "plain", "tsv", "csv", "json"))
def info_command(*, common: Common) -> int:
    """Summarise the cache: size by kind and layout, damaged entries, largest projects."""
    from pipcachex.cache import CacheWalk
    from pipcachex.operations.listing import cache_info
    from pipcachex.render.listing import render_info

    output = common.output
    target = common.target()
    warn_if_not_a_cache(output, target)
    with output.scan_progress() as bar:
        walk = CacheWalk(target.root, on_progress=bar.update)
        info = cache_info(target, walk)
    output.details(walk.worker_trouble)
    render_info(output, info)
    return EXIT_OK
