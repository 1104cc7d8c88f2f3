"""``purge``: remove the selected entries, optionally backed up first and checked afterwards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipcachex.cli.common import (
    Common,
    confirm_destructive,
    warn_if_reads_leave_no_trace,
    with_common_options,
)
from pipcachex.cli.options import (
    DryRunOption,
    YesOption,
)
from pipcachex.cli.selectors import Selectors, with_selector_options
from pipcachex.errors import EXIT_FAILURE, EXIT_OK, UsageError


@with_common_options()
@with_selector_options
def purge_command(
    max_size: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--max-size",
            metavar="SIZE",
            help="Evict the least recently used (selected) entries until the cache fits in SIZE.",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    backup: Annotated[
        bool,
        typer.Option(
            "--backup",
            help="First write what will be removed into a verified archive in the backups "
            "directory (see `pipcachex backups`); if that fails, nothing is removed.",
        ),
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Afterwards, run `pipcachex check` on the purged projects: prove pip fetches "
            "them from the index again and the environment still works.",
        ),
    ] = False,
    force: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--force",
            metavar="PATH",
            help="Purge the cache at PATH (the cache's own path, spelt out) although it holds "
            "things pip never writes.",
            show_default=False,
        ),
    ] = None,
    *,
    selectors: Selectors,
    common: Common,
) -> int:
    """Remove selected entries; with no selector, everything (`pip cache purge` and leftovers)."""
    from pipcachex.operations.purge import (
        PurgeFailed,
        PurgePlan,
        plan_purge,
        preview_purge,
    )
    from pipcachex.operations.purge_workflow import run_purge
    from pipcachex.render.purge import (
        render_purge_failure,
        render_purge_outcome,
        render_purge_plan,
        render_purge_result,
    )
    from pipcachex.render.words import count_noun
    from pipcachex.units import format_size, parse_size

    output = common.output
    selected = selectors.selection()
    budget = parse_size(max_size, option="--max-size") if max_size is not None else None
    target = common.target()
    forced = force is not None and _forced(force, target.root)
    warn_if_reads_leave_no_trace(output, target, **selectors.by_last_use, max_size=max_size)
    with output.scan_progress() as bar:
        plan = plan_purge(
            target.root, selected, max_size=budget, force=forced, on_progress=bar.update
        )
    output.details(plan.worker_trouble)
    if dry_run:
        render_purge_plan(output, plan, dry_run=True)
        render_purge_result(output, preview_purge(plan))
        return EXIT_OK

    def confirm(plan: PurgePlan) -> None:
        # The project table goes with the question; without one, the result shows it.
        render_purge_plan(output, plan, dry_run=False, table=not yes)
        question = (
            f"Remove {count_noun(len(plan.remove), 'entry')} ({format_size(plan.freed_bytes)})?"
        )
        confirm_destructive(yes, question)

    if not plan.remove:
        render_purge_plan(output, plan, dry_run=False, table=False)
    try:
        outcome = run_purge(
            plan, target, confirm=confirm, backup=backup, check=check, progress=output.progress
        )
    except PurgeFailed as failure:
        render_purge_failure(output, failure)
        return failure.exit_code
    render_purge_outcome(output, outcome, table=yes)
    return EXIT_OK if outcome.ok else EXIT_FAILURE


def _forced(force: Path, root: Path) -> bool:
    """Whether ``--force PATH`` names the cache being purged; another path is bad input."""
    if os.path.realpath(force) != os.path.realpath(root):
        raise UsageError(
            f"invalid value for --force: {str(force)!r} is not the cache directory {root}"
        )
    return True
