"""Turning service results into what the user sees: rich tables for people, JSON for scripts.

Results and tables go to stdout; messages, warnings and progress go to stderr, so that
``--json`` output on stdout is always exactly one JSON document.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipcachex.cache import CacheEntry
from pipcachex.listing import InfoResult, ListResult, PackageSummary, Totals
from pipcachex.units import format_age, format_size, iso_utc

SCHEMA_VERSION = 1


@dataclass
class Output:
    """Where and how a command speaks: JSON or tables, and how much to say on stderr."""

    json_mode: bool = False
    quiet: bool = False
    verbose: bool = False
    out: Console = field(default_factory=lambda: Console(soft_wrap=True, highlight=False))
    err: Console = field(
        default_factory=lambda: Console(stderr=True, soft_wrap=True, highlight=False)
    )

    def emit_json(self, document: Mapping[str, Any]) -> None:
        """Print one JSON document with the schema version on stdout."""
        payload = {"schema": SCHEMA_VERSION, **document}
        sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()

    def info(self, text: str) -> None:
        """A progress or status message for people (stderr; hidden by --quiet)."""
        if not self.quiet:
            self.err.print(text, markup=False)

    def warn(self, text: str) -> None:
        """A warning (stderr; hidden by --quiet)."""
        if not self.quiet:
            self.err.print(f"warning: {text}", markup=False, style="yellow")

    def error(self, text: str) -> None:
        """An error message; always shown."""
        self.err.print(f"error: {text}", markup=False, style="red")

    def show_command(self, command: Sequence[str]) -> None:
        """With --verbose, show each pip command before it runs."""
        if self.verbose:
            self.err.print("$ " + " ".join(command), markup=False, style="dim")

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[ProgressHandle]:
        """A progress bar on stderr when it is a terminal; silent otherwise and under --json."""
        if self.quiet or self.json_mode or not self.err.is_terminal:
            yield ProgressHandle(None, None)
            return
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"))
        with Progress(*columns, TimeElapsedColumn(), console=self.err, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield ProgressHandle(bar, task)


class ProgressHandle:
    """Lets a service report progress without knowing whether anyone is watching."""

    def __init__(self, bar: Progress | None, task: Any) -> None:
        self._bar = bar
        self._task = task
        self._last = 0.0

    def update(self, completed: int, total: int | None = None) -> None:
        """Record that ``completed`` units of work are done (redrawn at most 10 times a second)."""
        if self._bar is None:
            return
        now = time.monotonic()
        if now - self._last >= 0.1 or (total is not None and completed >= total):
            self._last = now
            self._bar.update(self._task, completed=completed, total=total)


def entry_json(entry: CacheEntry) -> dict[str, Any]:
    """The JSON form of one entry, shared by every command that reports entries."""
    return {
        "package": entry.package,
        "version": entry.version,
        "filename": entry.filename,
        "kind": entry.kind.value,
        "layout": entry.layout.value,
        "size": entry.size,
        "created": iso_utc(entry.created),
        "last_used": iso_utc(entry.last_used),
        "path": str(entry.path),
        "paths": [str(p) for p in entry.paths],
        "problem": entry.problem,
        "busy": entry.busy,
    }


def package_json(row: PackageSummary) -> dict[str, Any]:
    """The JSON form of one per-project row."""
    return {
        "package": row.package,
        "entries": row.entries,
        "size": row.size,
        "versions": list(row.versions),
        "oldest_use": iso_utc(row.oldest_use),
        "newest_use": iso_utc(row.newest_use),
    }


def _totals_json(totals: Totals) -> dict[str, int]:
    return {"entries": totals.entries, "size": totals.size}


def entries_table(entries: Sequence[CacheEntry], now: float, title: str | None = None) -> Table:
    """A table of entries: project, version, kind, layout, size, last use and file or problem."""
    table = Table(title=title, show_edge=False, header_style="bold")
    for name, justify in (
        ("Package", "left"),
        ("Version", "left"),
        ("Kind", "left"),
        ("Layout", "left"),
        ("Size", "right"),
        ("Last used", "right"),
        ("File / problem", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for e in entries:
        detail = e.problem or e.filename or e.path.name
        table.add_row(
            e.package or "-",
            e.version or "-",
            e.kind.value,
            e.layout.value,
            format_size(e.size),
            format_age(e.last_used, now=now) + " ago",
            detail,
        )
    return table


def packages_table(rows: Sequence[PackageSummary], now: float) -> Table:
    """A table of per-project totals."""
    table = Table(show_edge=False, header_style="bold")
    for name in ("Package", "Entries", "Size", "Versions", "Last used"):
        table.add_column(name, justify="right" if name in ("Entries", "Size") else "left")
    for row in rows:
        versions = ", ".join(row.versions[-5:]) + (" …" if len(row.versions) > 5 else "")
        table.add_row(
            row.package or "(unattributed)",
            str(row.entries),
            format_size(row.size),
            versions or "-",
            format_age(row.newest_use, now=now) + " ago",
        )
    return table


def render_list(output: Output, result: ListResult) -> None:
    """Show the result of ``list``."""
    if output.json_mode:
        document: dict[str, Any] = {
            "cache_dir": str(result.cache_dir),
            "entries": [entry_json(e) for e in result.entries],
        }
        if result.packages is not None:
            document["packages"] = [package_json(r) for r in result.packages]
        output.emit_json(document)
        return
    if result.packages is not None:
        output.out.print(packages_table(result.packages, result.scanned_at))
    elif result.entries:
        output.out.print(entries_table(result.entries, result.scanned_at))
    total = sum(e.size for e in result.entries)
    output.info(f"{len(result.entries)} entries, {format_size(total)} in {result.cache_dir}")


def render_info(output: Output, result: InfoResult) -> None:
    """Show the result of ``info``."""
    figures = result.pip_figures
    if output.json_mode:
        output.emit_json(
            {
                "cache_dir": str(result.cache_dir),
                "exists": result.exists,
                "pip_version": result.pip_version,
                "pip_writes_layout": result.pip_layout,
                "total": _totals_json(result.total),
                "by_kind": {k: _totals_json(v) for k, v in result.by_kind.items()},
                "by_layout": {k: _totals_json(v) for k, v in result.by_layout.items()},
                "reclaimable_damaged": _totals_json(result.damaged),
                "largest_projects": [package_json(r) for r in result.largest_projects],
                "pip_cache_info": {
                    "http_files": figures.http_files,
                    "http_size": figures.http_size,
                    "wheels": figures.wheels,
                    "wheels_size": figures.wheels_size,
                },
                "unreadable": list(result.unreadable),
            }
        )
        return
    out = output.out
    out.print(
        f"Cache directory: {result.cache_dir}" + ("" if result.exists else " (not created yet)")
    )
    if result.pip_version:
        out.print(f"pip: {result.pip_version} (writes {result.pip_layout}/)")
    out.print(f"Total: {result.total.entries} entries, {format_size(result.total.size)}")
    out.print(
        f"HTTP files: {figures.http_files} ({format_size(figures.http_size)}); "
        f"locally built wheels: {figures.wheels} ({format_size(figures.wheels_size)})"
    )
    if result.damaged.entries:
        out.print(
            f"Damaged: {result.damaged.entries} entries, {format_size(result.damaged.size)} "
            "reclaimable (pipcachex verify --fix)"
        )
    grid = Table(show_edge=False, header_style="bold")
    grid.add_column("By kind")
    grid.add_column("Entries", justify="right")
    grid.add_column("Size", justify="right")
    for name, totals in result.by_kind.items():
        grid.add_row(name, str(totals.entries), format_size(totals.size))
    for name, totals in result.by_layout.items():
        grid.add_row(
            f"{name}/" if name != "other" else "other",
            str(totals.entries),
            format_size(totals.size),
            style="dim",
        )
    if result.total.entries:
        out.print(grid)
    if result.largest_projects:
        out.print("Largest projects:")
        out.print(packages_table(result.largest_projects, time.time()))
    for problem in result.unreadable:
        output.warn(f"could not read {problem}")
