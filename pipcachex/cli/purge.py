"""``purge``: remove the selected entries, optionally backed up first and checked afterwards."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pipcachex.cli.common import (
    Common,
    confirm_destructive,
    pip_version,
    selection,
    warn_if_reads_leave_no_trace,
    with_common_options,
)
from pipcachex.cli.options import (
    DryRunOption,
    KindOption,
    LargerThanOption,
    OlderThanOption,
    SpecsArgument,
    YesOption,
)
from pipcachex.errors import EXIT_FAILURE, EXIT_OK


@with_common_options()
def purge_command(
    specs: SpecsArgument = None,
    kind: KindOption = None,
    older_than: OlderThanOption = None,
    larger_than: LargerThanOption = None,
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
    *,
    common: Common,
) -> int:
    """Remove selected entries; with no selector, everything (`pip cache purge` and leftovers)."""
    from pipcachex.backup import backup_entries
    from pipcachex.check import check_after_purge
    from pipcachex.purge import execute_purge, plan_purge, preview_purge
    from pipcachex.render.purge import render_purge_plan, render_purge_result
    from pipcachex.render.words import count_noun
    from pipcachex.units import format_size, parse_size

    output = common.output
    selected = selection(specs, kind, older_than, larger_than)
    budget = parse_size(max_size, option="--max-size") if max_size is not None else None
    target = common.target()
    warn_if_reads_leave_no_trace(output, target, older_than)
    with output.progress("Scanning cache") as bar:
        plan = plan_purge(target.root, selected, max_size=budget, on_progress=bar.update)
    output.details(plan.worker_trouble)
    render_purge_plan(output, plan, dry_run=dry_run)
    if dry_run or not plan.remove:
        render_purge_result(output, preview_purge(plan) if dry_run else execute_purge(plan))
        return EXIT_OK
    question = f"Remove {count_noun(len(plan.remove), 'entry')} ({format_size(plan.freed_bytes)})?"
    confirm_destructive(yes, question)
    archive = None
    if backup:
        # A BackupError ends the command here, before anything is deleted.
        with output.progress("Backing up") as bar:
            archive = backup_entries(
                plan.root, plan.remove, pip_version=pip_version(target), on_progress=bar.update
            ).archive
    with output.progress("Removing entries", total=len(plan.remove)) as bar:
        result = execute_purge(plan, target.pip, on_progress=bar.update)
    checked = None
    if check:
        with output.progress("Checking purged projects") as bar:
            checked = check_after_purge(target, result.removed, on_project=bar.update)
    render_purge_result(output, result, backup=archive, check=checked)
    failed = bool(result.failed) or (checked is not None and not checked.ok)
    return EXIT_FAILURE if failed else EXIT_OK
