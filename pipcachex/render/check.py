"""Rendering of ``check``: each step per project, then the environment."""

from __future__ import annotations

from typing import Any

from pipcachex.operations.check import CheckResult, Step
from pipcachex.pip_runner import ChosenPython
from pipcachex.render.output import Output
from pipcachex.render.rows import Column, write_table
from pipcachex.render.tables import (
    entry_json,
)

CHECK_COLUMNS = (
    Column("Project"),
    Column("Step"),
    Column("Status"),
    Column("Result", flexible=True),
)


def _step_json(step: Step) -> dict[str, Any]:
    return {
        "step": step.name,
        "status": step.status.value,
        "summary": step.summary,
        "output": step.output,
    }


def check_json(result: CheckResult) -> dict[str, Any]:
    """The JSON form of a ``check`` result (also embedded in ``purge --check``'s document)."""
    return {
        "python": result.python,
        "python_source": result.python_source,
        "pip_version": result.pip_version,
        "cache_dir": str(result.cache_dir),
        "ok": result.ok,
        "projects": [
            {
                "spec": p.spec,
                "project": p.project,
                "ok": p.ok,
                "source": p.source,
                "cached_entries": [entry_json(e) for e in p.cached],
                "steps": [_step_json(s) for s in p.steps],
            }
            for p in result.projects
        ],
        "environment": _step_json(result.environment),
    }


def render_check(output: Output, result: CheckResult) -> None:
    """Show each step of ``check`` per project, then the environment's ``pip check``."""
    if output.json_mode:
        output.emit_json(check_json(result))
        return
    rows = [(p.spec, s) for p in result.projects for s in p.steps]
    rows.append(("(environment)", result.environment))
    write_table(
        output,
        CHECK_COLUMNS,
        lambda: ((project, step.name, step.status.value, step.summary) for project, step in rows),
    )
    for project, step in rows:
        if not step.ok and step.output:
            output.err.print(f"--- {project}: {step.name} (pip's output) ---", markup=False)
            output.err.print(step.output, markup=False, style="dim")
    verdict = "every step passed" if result.ok else "some steps failed"
    python = ChosenPython(result.python, result.python_source).describe()
    output.info(f"pip {result.pip_version} of {python}: {verdict}")
