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
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipcachex.archive import Manifest
from pipcachex.backup import BackupList, BackupResult
from pipcachex.cache import CacheEntry
from pipcachex.check import CheckResult, Step
from pipcachex.deletion import DeletionProblem
from pipcachex.listing import InfoResult, ListResult, PackageSummary, Totals
from pipcachex.purge import PurgePlan, PurgeResult
from pipcachex.restore import RestorePlan, RestoreResult
from pipcachex.units import format_age, format_size, iso_utc
from pipcachex.verify import Problem, VerifyResult

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


def _problems_json(problems: Sequence[DeletionProblem]) -> list[dict[str, str]]:
    return [{"path": str(p.path), "reason": p.reason} for p in problems]


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _reason_counts(problems: Sequence[DeletionProblem]) -> str:
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.reason] = counts.get(problem.reason, 0) + 1
    return "; ".join(f"{_count(n, 'entry', 'entries')}: {r}" for r, n in counts.items())


def render_purge_plan(output: Output, plan: PurgePlan, *, dry_run: bool) -> None:
    """Show what a purge will remove: per project (per entry with -v), bytes, what stays.

    A dry run's plan is its result (stdout); otherwise it precedes a prompt (stderr).
    """
    if output.quiet or (output.json_mode and dry_run):
        return
    console = output.out if dry_run and not output.json_mode else output.err
    if plan.full and plan.remove:
        console.print("No selector given: `pip cache purge` runs first, then pipcachex removes")
        console.print("what that pip leaves behind (pip's own state in selfcheck/ stays).")
    if plan.remove and not output.json_mode:
        if output.verbose:
            console.print(entries_table(plan.remove, plan.scanned_at))
        else:
            console.print(packages_table(plan.projects, plan.scanned_at))
    verb = "Would remove" if dry_run else "Will remove"
    projects = len([p for p in plan.projects if p.package is not None])
    console.print(
        f"{verb} {_count(len(plan.remove), 'entry', 'entries')}, "
        f"{format_size(plan.freed_bytes)}, from {_count(projects, 'project', 'projects')}; "
        f"{_count(len(plan.kept), 'entry', 'entries')} kept "
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


def render_purge_result(output: Output, result: PurgeResult, backup: Path | None = None) -> None:
    """Show what a purge removed (or would remove), bytes freed, entries kept, per project.

    ``backup`` is the archive ``--backup`` wrote before anything was removed.
    """
    plan = result.plan
    if output.json_mode:
        output.emit_json(
            {
                "dry_run": result.dry_run,
                "removed": [entry_json(e) for e in result.removed],
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
                "backup": None if backup is None else str(backup),
            }
        )
        return
    for problem in result.failed:
        output.error(f"could not delete {problem.path}: {problem.reason}")
    if output.quiet or result.dry_run:
        return
    if backup is not None:
        output.info(f"Backed up what was removed to {backup} (pipcachex restore to undo)")
    if result.pip is not None:
        output.out.print(
            f"pip cache purge (pip {result.pip_version}): {result.pip.files_removed} files "
            f"removed; pipcachex then removed {result.leftovers_removed} entries it left behind",
            markup=False,
        )
    if result.removed:
        output.out.print(packages_table(result.projects, plan.scanned_at))
    output.out.print(
        f"Removed {_count(len(result.removed), 'entry', 'entries')}, "
        f"{format_size(result.freed_bytes)} freed; "
        f"{_count(result.kept_entries, 'entry', 'entries')} kept."
        + (f" {len(result.failed)} files could not be deleted." if result.failed else ""),
        markup=False,
    )


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


def _step_json(step: Step) -> dict[str, Any]:
    return {
        "step": step.name,
        "status": step.status.value,
        "summary": step.summary,
        "output": step.output,
    }


def render_check(output: Output, result: CheckResult) -> None:
    """Show each step of ``check`` per project, then the environment's ``pip check``."""
    if output.json_mode:
        output.emit_json(
            {
                "python": result.python,
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
        )
        return
    table = Table(show_edge=False, header_style="bold")
    for name in ("Project", "Step", "Status", "Result"):
        table.add_column(name)
    rows = [(p.spec, s) for p in result.projects for s in p.steps]
    rows.append(("(environment)", result.environment))
    styles = {"passed": "green", "failed": "red", "network-error": "yellow", "skipped": "dim"}
    for project, step in rows:
        status = f"[{styles[step.status.value]}]{step.status.value}[/]"
        table.add_row(project, step.name, status, step.summary)
    output.out.print(table)
    for project, step in rows:
        if not step.ok and step.output:
            output.err.print(f"--- {project}: {step.name} (pip's output) ---", markup=False)
            output.err.print(step.output, markup=False, style="dim")
    verdict = "every step passed" if result.ok else "some steps failed"
    output.info(f"pip {result.pip_version} of {result.python}: {verdict}")


def _manifest_json(manifest: Manifest) -> dict[str, Any]:
    return {
        "created": manifest.created,
        "source_cache_dir": manifest.source_cache_dir,
        "pipcachex_version": manifest.pipcachex_version,
        "pip_version": manifest.pip_version,
        "compression": manifest.compression,
        "entries": manifest.entries,
        "files": len(manifest.files),
        "size": manifest.size,
    }


def render_backup(output: Output, result: BackupResult) -> None:
    """Show the result of ``backup``."""
    manifest = result.manifest
    if output.json_mode:
        output.emit_json(
            {
                "archive": str(result.archive),
                "archive_size": result.archive_size,
                **_manifest_json(manifest),
                "projects": list(manifest.projects),
                "skipped_busy": [entry_json(e) for e in result.skipped_busy],
            }
        )
        return
    output.out.print(str(result.archive), markup=False)
    output.info(
        f"Backed up {manifest.entries} entries ({len(manifest.files)} files, "
        f"{format_size(manifest.size)}) from {manifest.source_cache_dir} into "
        f"{result.archive.name} ({format_size(result.archive_size)}, "
        f"compression {result.compression.value})"
    )
    if result.skipped_busy:
        output.warn(f"skipped {len(result.skipped_busy)} entries a pip is writing right now")


def render_backups(output: Output, listing: BackupList) -> None:
    """Show the result of ``backups``: every archive in the backups directory, oldest first."""
    if output.json_mode:
        output.emit_json(
            {
                "backup_dir": str(listing.directory),
                "backups": [
                    {
                        "path": str(b.path),
                        "archive_size": b.size,
                        **(_manifest_json(b.manifest) if b.manifest else {}),
                        "problem": b.problem,
                    }
                    for b in listing.backups
                ],
            }
        )
        return
    if listing.backups:
        table = Table(show_edge=False, header_style="bold")
        for name in ("File", "Created", "Size", "Entries"):
            table.add_column(
                name, justify="right" if name in ("Size", "Entries") else "left", no_wrap=True
            )
        table.add_column("Source / problem", overflow="fold")
        for b in listing.backups:
            m = b.manifest
            table.add_row(
                b.path.name,
                m.created if m else "-",
                format_size(b.size),
                str(m.entries) if m else "-",
                m.source_cache_dir if m else f"unreadable: {b.problem}",
            )
        output.out.print(table)
    output.info(f"{len(listing.backups)} backups in {listing.directory}")


def render_restore_plan(output: Output, plan: RestorePlan) -> None:
    """Before asking to confirm ``restore --replace``: say what will be removed and written."""
    removed = sum(e.size for e in plan.remove)
    output.err.print(
        f"Restoring {plan.archive.name} into {plan.root} will remove {len(plan.remove)} entries "
        f"({format_size(removed)}) and write {len(plan.add)} files "
        f"({format_size(sum(r.size for r in plan.add))}).",
        markup=False,
    )


def render_restore(output: Output, result: RestoreResult) -> None:
    """Show the result of ``restore`` (or of ``restore --dry-run``)."""
    plan = result.plan
    if output.json_mode:
        output.emit_json(
            {
                "archive": str(plan.archive),
                "cache_dir": str(plan.root),
                "mode": "replace" if plan.replace else "merge",
                "dry_run": result.dry_run,
                "backup": _manifest_json(plan.manifest),
                "added": list(result.added),
                "identical": result.identical,
                "kept_different": list(result.kept),
                "removed": [entry_json(e) for e in result.removed],
                "warnings": [{"path": p.path, "reason": p.reason} for p in result.warnings],
                "problems": [{"path": p.path, "reason": p.reason} for p in result.problems],
            }
        )
        return
    verb = ("Would add", "would remove") if result.dry_run else ("Added", "removed")
    added = {r.path: r.size for r in plan.manifest.files}
    size = sum(added.get(p, 0) for p in result.added)
    summary = f"{verb[0]} {len(result.added)} files ({format_size(size)}) to {plan.root}"
    if plan.replace:
        summary += f", {verb[1]} {len(result.removed)} entries"
    output.out.print(f"{summary}; {result.identical} already identical.", markup=False)
    if result.kept:
        output.out.print(
            f"Kept {len(result.kept)} cache files that differ from the backup "
            "(use --replace to take the backup's):",
            markup=False,
        )
        for path in result.kept if output.verbose else result.kept[:10]:
            output.out.print(f"  {path}", markup=False)
        if len(result.kept) > 10 and not output.verbose:
            output.out.print(f"  … and {len(result.kept) - 10} more (-v lists all)")
    for problem in result.warnings:
        output.warn(f"{problem.path}: {problem.reason}")
    for problem in result.problems:
        output.error(f"{problem.path}: {problem.reason}")
