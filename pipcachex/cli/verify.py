"""``verify``: find damaged entries, and with ``--fix`` remove them."""

from __future__ import annotations

from typing import Annotated

import typer

from pipcachex.cli.common import Common, confirm_destructive, with_common_options
from pipcachex.cli.options import DryRunOption, YesOption
from pipcachex.errors import EXIT_FAILURE, EXIT_OK


@with_common_options()
def verify_command(
    fix: Annotated[
        bool, typer.Option("--fix", help="Remove the damaged entries (pip fetches them again).")
    ] = False,
    deep: Annotated[
        bool,
        typer.Option("--deep", help="Also test every zip member's CRC and every tar member."),
    ] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    *,
    common: Common,
) -> int:
    """Find damaged cache entries and say what is wrong; exit 1 if any (fixed: 0)."""
    from pipcachex.cache import scan_cache
    from pipcachex.deletion import ensure_deletable
    from pipcachex.lock import cache_lock
    from pipcachex.operations.verify import fix_problems, verify_scan
    from pipcachex.render.verify import render_verify
    from pipcachex.render.words import count_noun

    output = common.output
    target = common.target()
    with output.scan_progress() as bar:
        scan = scan_cache(target.root, on_progress=bar.update)
    output.details(scan.worker_trouble)
    with output.progress("Verifying entries", total=len(scan.entries)) as bar:
        result = verify_scan(scan, deep=deep, on_progress=bar.update)
    fixing = fix and not dry_run and bool(result.damaged)
    if fixing:
        if not common.json_mode:
            render_verify(output, result, fixing=False)
        confirm_destructive(
            yes,
            f"Remove {count_noun(len(result.damaged), 'damaged entry', 'damaged entries')} "
            f"from {result.cache_dir}?",
        )
        # Refused before the lock, so that no lock file is left in a directory that is not a
        # cache; then one destructive pipcachex at a time.
        ensure_deletable(result.cache_dir)
        with (
            cache_lock(result.cache_dir, command="verify --fix"),
            output.progress("Removing entries", total=len(result.damaged)) as bar,
        ):
            result = fix_problems(result, on_progress=bar.update)
    # The rows were shown before the question: afterwards only what could not be fixed.
    render_verify(output, result, fixing=fixing, table=not fixing)
    return EXIT_OK if result.all_fixed and (fixing or not result.problems) else EXIT_FAILURE
