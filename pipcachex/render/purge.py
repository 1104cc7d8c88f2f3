"""Rendering of ``purge``: the plan shown before confirming, and the result."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipcachex.deletion import DeletionProblem
from pipcachex.operations.check import CheckResult
from pipcachex.operations.purge import (
    PurgeFailed,
    PurgePlan,
    PurgeResult,
    pip_would_overreach,
)
from pipcachex.operations.purge_workflow import PurgeOutcome
from pipcachex.render.check import check_json, render_check
from pipcachex.render.output import Output
from pipcachex.render.tables import (
    count_noun,
    entries_table,
    entry_json,
    package_json,
    packages_table,
)
from pipcachex.units import format_size

PROJECT_ROWS = 25
"""Projects a purge's tables show (the largest; one more row sums the rest) without ``-v``."""


def _problems_json(problems: Sequence[DeletionProblem]) -> list[dict[str, str]]:
    return [{"path": str(p.path), "reason": p.reason} for p in problems]


def _reason_counts(problems: Sequence[DeletionProblem]) -> str:
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.reason] = counts.get(problem.reason, 0) + 1
    return "; ".join(f"{count_noun(n, 'entry', 'entries')}: {r}" for r, n in counts.items())


def render_purge_plan(
    output: Output, plan: PurgePlan, *, dry_run: bool, table: bool = True
) -> None:
    """Show what a purge will remove: per project (per entry with -v), bytes, what stays.

    A dry run's plan is its result (stdout); otherwise it precedes a prompt (stderr), and
    without a prompt (``--yes``) ``table`` is false: the result shows the table, once.
    """
    if output.quiet or (output.json_mode and dry_run):
        return
    console = output.out if dry_run and not output.json_mode else output.err
    if plan.full and plan.remove:
        overreach = pip_would_overreach(plan)
        if overreach is None:
            console.print("No selector given: `pip cache purge` runs first, then pipcachex")
            console.print("removes what that pip leaves behind (pip's own state stays).")
        else:
            console.print(
                f"No selector given: pipcachex removes everything itself, as `pip cache purge` "
                f"must not run here ({overreach}); pip's own state stays.",
                markup=False,
            )
    if plan.remove and table and not output.json_mode:
        if output.verbose:
            console.print(entries_table(plan.remove, plan.scanned_at))
        else:
            console.print(packages_table(plan.projects, plan.scanned_at, PROJECT_ROWS))
    verb = "Would remove" if dry_run else "Will remove"
    projects = len([p for p in plan.projects if p.package is not None])
    console.print(
        f"{verb} {count_noun(len(plan.remove), 'entry', 'entries')}, "
        f"{format_size(plan.freed_bytes)}, from {count_noun(projects, 'project', 'projects')}; "
        f"{count_noun(len(plan.kept), 'entry', 'entries')} kept "
        f"({format_size(plan.size_after)}).",
        markup=False,
    )
    if plan.max_size is not None and plan.size_after > plan.max_size:
        output.warn(
            f"the cache stays above --max-size {format_size(plan.max_size)}: what is left "
            "is not selected or may not be deleted"
        )
    if plan.refused:
        output.warn(f"kept although selected: {_reason_counts(plan.refused)}")


def render_purge_outcome(output: Output, outcome: PurgeOutcome, *, table: bool = True) -> None:
    """Show what ``run_purge`` did; ``table`` false when the plan's table was shown already."""
    render_purge_result(
        output, outcome.result, backup=outcome.backup, check=outcome.check, table=table
    )


def render_purge_result(
    output: Output,
    result: PurgeResult,
    backup: Path | str | None = None,
    check: CheckResult | None = None,
    *,
    table: bool = True,
) -> None:
    """Show what a purge removed (or would remove), bytes freed, entries kept, per project.

    ``backup`` is the archive ``--backup`` wrote before anything was removed; ``check`` what
    ``--check`` found afterwards; ``table`` false leaves out the project table (shown with the
    question before).
    """
    plan = result.plan
    if output.json_mode:
        output.emit_json(
            {
                "dry_run": result.dry_run,
                "removed": (entry_json(e) for e in result.removed),
                "removed_entries": len(result.removed),
                "freed_bytes": result.freed_bytes,
                "kept_entries": result.kept_entries,
                "failed": _problems_json(result.failed),
                "refused": _problems_json(result.refused),
                "cache_dir": str(plan.root),
                "full": plan.full,
                "projects": [package_json(p) for p in result.projects],
                "max_size": plan.max_size,
                "size_before": plan.cache_size,
                "size_after": plan.cache_size - result.freed_bytes,
                "pip": None
                if result.pip is None
                else {
                    "version": result.pip_version,
                    "files_removed": result.pip.files_removed,
                    "directories_removed": result.pip.directories_removed,
                },
                "leftovers_removed": result.leftovers_removed,
                "pip_skipped": result.pip_skipped,
                "backup": None if backup is None else str(backup),
                "check": None if check is None else check_json(check),
            }
        )
        return
    for problem in result.failed:
        output.error(f"could not delete {problem.path}: {problem.reason}")
    if output.quiet or result.dry_run:
        return
    if backup is not None:
        output.info(f"Backed up what was removed to {backup} (pipcachex restore to undo)")
    if result.pip_skipped is not None:
        output.out.print(
            f"pip cache purge was not run ({result.pip_skipped}): pipcachex removed the "
            "entries itself",
            markup=False,
        )
    if result.pip is not None:
        output.out.print(
            f"pip cache purge (pip {result.pip_version}): {result.pip.files_removed} files "
            f"removed; pipcachex then removed {result.leftovers_removed} entries it left behind",
            markup=False,
        )
    if result.removed and table:
        limit = None if output.verbose else PROJECT_ROWS
        output.out.print(packages_table(result.projects, plan.scanned_at, limit))
    output.out.print(
        f"Removed {count_noun(len(result.removed), 'entry', 'entries')}, "
        f"{format_size(result.freed_bytes)} freed; "
        f"{count_noun(result.kept_entries, 'entry', 'entries')} kept."
        + (f" {len(result.failed)} files could not be deleted." if result.failed else ""),
        markup=False,
    )
    if check is not None:
        output.out.print("After the purge:")
        render_check(output, check)


def render_purge_failure(output: Output, failure: PurgeFailed) -> None:
    """Report a full purge that pip broke off: the error, and what was removed by then."""
    output.error(failure.message)
    if failure.details:
        output.err.print(failure.details, markup=False, style="dim")
    if output.json_mode:
        output.emit_json(
            {
                "error": {
                    "message": failure.message,
                    "exit_code": failure.exit_code,
                    "removed_entries": len(failure.removed),
                    "freed_bytes": sum(e.size for e in failure.removed),
                    "removed": [entry_json(e) for e in failure.removed],
                }
            }
        )
