"""Rendering of ``verify``."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from pipcachex.operations.verify import Found, VerifyResult
from pipcachex.render.output import Output
from pipcachex.render.tables import entry_json
from pipcachex.units import format_size


def problem_json(problem: Found) -> dict[str, Any]:
    """The JSON form of one entry ``verify`` reports (damaged, or unreadable)."""
    return {
        "path": str(problem.path),
        "entry": entry_json(problem.entry),
        "problem": problem.problem.message,
        "code": problem.problem.code.value,
        "fixed": bool(problem.fixed),
        "fix_error": problem.fix_error,
    }


def render_verify(
    output: Output, result: VerifyResult, *, fixing: bool, table: bool = True
) -> None:
    """Show what ``verify`` found and, when ``fixing``, what it removed.

    ``table=False`` leaves out the rows that were fixed (they were shown before the question).
    With ``--quiet`` no table is shown: only what a fix could not remove, as errors.
    """
    if output.json_mode:
        output.emit_json(
            {
                "cache_dir": str(result.cache_dir),
                "deep": result.deep,
                "checked_entries": result.checked_entries,
                "problems": [problem_json(p) for p in result.problems],
                "freed": result.freed_bytes,
                "unreadable": list(result.unreadable),
            }
        )
        return
    if output.quiet:
        for p in result.damaged if fixing else ():
            if not p.fixed:
                output.error(f"could not remove {p.path}: {p.fix_error}")
        return
    rows = [p for p in result.problems if table or not p.fixed]
    if rows:
        grid = Table(show_edge=False, header_style="bold")
        for name in ("Package", "Layout", "Problem", "Path", *(("Fixed",) if fixing else ())):
            grid.add_column(name, overflow="fold")  # a path cut short names nothing
        for p in rows:
            fixed = ("yes" if p.fixed else f"no: {p.fix_error}",) if fixing else ()
            grid.add_row(
                p.entry.package or "-",
                p.entry.layout.value,
                p.problem.message,
                str(p.path),
                *fixed,
            )
        output.out.print(grid)
    for problem in result.unreadable:
        output.warn(f"could not read {problem}")
    output.info(_summary(result, fixing))


def _summary(result: VerifyResult, fixing: bool) -> str:
    damaged = len(result.damaged)
    summary = f"checked {result.checked_entries} entries: {damaged} damaged"
    if fixing and damaged:
        done = sum(1 for p in result.damaged if p.fixed)
        summary += f", {done} removed ({format_size(result.freed_bytes)} freed)"
    elif damaged:
        summary += " (pipcachex verify --fix removes them; pip fetches them again)"
    unreadable = len(result.unreadable_entries)
    if unreadable:
        summary += f"; {unreadable} could not be read (left alone)"
    return summary
