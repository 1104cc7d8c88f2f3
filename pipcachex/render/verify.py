"""Rendering of ``verify``."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from pipcachex.render.output import Output
from pipcachex.render.tables import (
    entry_json,
)
from pipcachex.units import format_size
from pipcachex.verify import Problem, VerifyResult


def problem_json(problem: Problem) -> dict[str, Any]:
    """The JSON form of one damaged entry found by ``verify``."""
    return {
        "path": str(problem.path),
        "entry": entry_json(problem.entry),
        "problem": problem.problem,
        "fixed": bool(problem.fixed),
        "fix_error": problem.fix_error,
    }


def render_verify(
    output: Output, result: VerifyResult, *, fixing: bool, table: bool = True
) -> None:
    """Show what ``verify`` found and, when ``fixing``, what it removed.

    ``table=False`` leaves out the rows that were fixed (they were shown before the question).
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
    rows = [p for p in result.problems if table or not p.fixed]
    if rows:
        grid = Table(show_edge=False, header_style="bold")
        for name in ("Package", "Layout", "Problem", "Path", *(("Fixed",) if fixing else ())):
            grid.add_column(name, overflow="fold")  # a path cut short names nothing
        for p in rows:
            fixed = ("yes" if p.fixed else f"no: {p.fix_error}",) if fixing else ()
            grid.add_row(
                p.entry.package or "-", p.entry.layout.value, p.problem, str(p.path), *fixed
            )
        output.out.print(grid)
    for problem in result.unreadable:
        output.warn(f"could not read {problem}")
    found = len(result.problems)
    summary = f"checked {result.checked_entries} entries: {found} damaged"
    if fixing and found:
        done = sum(1 for p in result.problems if p.fixed)
        summary += f", {done} removed ({format_size(result.freed_bytes)} freed)"
    elif found:
        summary += " (pipcachex verify --fix removes them; pip fetches them again)"
    output.info(summary)
