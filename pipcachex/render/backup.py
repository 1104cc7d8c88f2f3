"""Rendering of ``backup``, ``backups``, ``backups prune`` and ``restore``."""

from __future__ import annotations

from typing import Any

from pipcachex.backup import (
    BackupHeader,
    BackupInfo,
    BackupList,
    BackupResult,
    PruneResult,
    RestorePlan,
    RestoreResult,
)
from pipcachex.render.output import Output
from pipcachex.render.rows import Column, write_lines, write_records, write_table
from pipcachex.render.tables import entry_json
from pipcachex.render.words import count_noun
from pipcachex.units import format_size


def _header_json(header: BackupHeader) -> dict[str, Any]:
    return {
        "created": header.created,
        "source_cache_dir": header.source_cache_dir,
        "pipcachex_version": header.pipcachex_version,
        "pip_version": header.pip_version,
        "compression": header.compression,
        "layouts": list(header.layouts),
        "selection": None if header.selection is None else dict(header.selection),
        "entries": header.entries,
        "files": header.files,
        "size": header.size,
    }


def render_backup(output: Output, result: BackupResult) -> None:
    """Show the result of ``backup``."""
    header = result.header
    if output.json_mode:
        output.emit_json(
            {
                "archive": result.archive,
                "archive_size": result.archive_size,
                **_header_json(header),
                "projects": [dict(p) for p in header.projects],
                "skipped_busy": [entry_json(e) for e in result.skipped_busy],
                "skipped_outside_layout": [entry_json(e) for e in result.skipped_outside_layout],
            }
        )
        return
    output.out.print(result.archive, markup=False)
    output.info(
        f"Backed up {header.entries} entries ({header.files} files, "
        f"{format_size(header.size)}) from {header.source_cache_dir} into "
        f"{result.archive.rpartition('/')[2]} ({format_size(result.archive_size)}, "
        f"compression {result.compression.value})"
    )
    if result.skipped_busy:
        output.warn(f"skipped {len(result.skipped_busy)} entries a pip is writing right now")
    if result.skipped_outside_layout:
        output.warn(
            f"skipped {len(result.skipped_outside_layout)} entries outside pip's layout "
            "(files pip never writes; `pipcachex list --kind unknown` shows them)"
        )


def render_backups(output: Output, listing: BackupList) -> None:
    """Show the result of ``backups``: every archive in a location, oldest first."""
    if output.json_mode:
        output.emit_json(
            {
                "location": listing.location,
                "backups": [
                    {
                        "path": b.path,
                        "name": b.name,
                        "archive_size": b.size,
                        **(_header_json(b.header) if b.header else {}),
                        "problem": b.problem,
                    }
                    for b in listing.backups
                ],
                "partial": [{"name": p.name, "size": p.size} for p in listing.partial],
            }
        )
        return
    backups = listing.backups
    if output.row_format == "abspath":
        write_lines(output, (b.path for b in backups))
    elif output.row_format in ("tsv", "csv"):
        write_records(output, BACKUP_FIELDS, (_backup_record(b) for b in backups))
    else:
        write_table(output, BACKUP_COLUMNS, lambda: (_backup_cells(b) for b in backups))
    output.info(f"{count_noun(len(listing.backups), 'backup')} in {listing.location}")
    if listing.partial:
        output.warn(
            f"{len(listing.partial)} unfinished backup files (.partial) lie there, left by "
            "interrupted backups; `pipcachex backups prune` removes those older than a day"
        )


BACKUP_COLUMNS = (
    Column("File"),
    Column("Created"),
    Column("Size", right=True),
    Column("Entries", right=True),
    Column("Source / problem", flexible=True),
)
BACKUP_FIELDS = (
    "path",
    "created",
    "archive_size",
    "entries",
    "files",
    "size",
    "source_cache_dir",
    "problem",
)


def _backup_cells(backup: BackupInfo) -> tuple[str, ...]:
    h = backup.header
    return (
        backup.name,
        h.created if h else "-",
        format_size(backup.size),
        str(h.entries) if h else "-",
        h.source_cache_dir if h else f"unreadable: {backup.problem}",
    )


def _backup_record(backup: BackupInfo) -> tuple[object, ...]:
    h = backup.header
    return (
        backup.path,
        h.created if h else None,
        backup.size,
        h.entries if h else None,
        h.files if h else None,
        h.size if h else None,
        h.source_cache_dir if h else None,
        backup.problem,
    )


def render_prune(output: Output, result: PruneResult) -> None:
    """Show the result of ``backups prune`` (or of ``backups prune --dry-run``)."""
    plan = result.plan
    if output.json_mode:
        output.emit_json(
            {
                "location": plan.location,
                "dry_run": result.dry_run,
                "removed": list(result.removed),
                "kept": [b.name for b in plan.keep],
                "ignored": [b.name for b in plan.ignored],
                "failed": [{"name": n, "reason": r} for n, r in result.failed],
            }
        )
        return
    verb = "Would remove" if result.dry_run else "Removed"
    for name in result.removed:
        output.out.print(f"{verb.split()[-1].lower()}: {name}", markup=False)
    output.info(
        f"{verb} {len(result.removed)} backups from {plan.location}; kept {len(plan.keep)}"
        + (
            f", left {len(plan.ignored)} files that are not pipcachex backups"
            if plan.ignored
            else ""
        )
    )
    for name, reason in result.failed:
        output.error(f"{name}: {reason}")


def render_restore_plan(output: Output, plan: RestorePlan) -> None:
    """Before asking to confirm ``restore --replace``: say what will be removed and written."""
    removed = sum(e.size for e in plan.remove)
    output.err.print(
        f"Restoring {plan.archive.name} into {plan.root} will remove {len(plan.remove)} entries "
        f"({format_size(removed)}) and write {len(plan.add)} files "
        f"({format_size(plan.add.total_size())}).",
        markup=False,
    )


def render_restore(output: Output, result: RestoreResult) -> None:
    """Show the result of ``restore`` (or of ``restore --dry-run``)."""
    plan = result.plan
    if output.json_mode:
        output.emit_json(
            {
                "archive": plan.archive.label,
                "chosen": plan.archive.chosen,
                "cache_dir": str(plan.root),
                "mode": "replace" if plan.replace else "merge",
                "dry_run": result.dry_run,
                "backup": _header_json(plan.header),
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
    size = format_size(result.added_bytes)
    summary = f"{verb[0]} {len(result.added)} files ({size}) to {plan.root}"
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
