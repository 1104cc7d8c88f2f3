"""Rendering of ``backup``, ``backups`` and ``restore``."""

from __future__ import annotations

from typing import Any

from pipcachex.archive import Manifest
from pipcachex.backup import BackupInfo, BackupList, BackupResult
from pipcachex.render.output import Output
from pipcachex.render.rows import Column, write_lines, write_records, write_table
from pipcachex.render.tables import (
    entry_json,
)
from pipcachex.render.words import count_noun
from pipcachex.restore import RestorePlan, RestoreResult
from pipcachex.units import format_size


def _manifest_json(manifest: Manifest) -> dict[str, Any]:
    return {
        "created": manifest.created,
        "source_cache_dir": manifest.source_cache_dir,
        "pipcachex_version": manifest.pipcachex_version,
        "pip_version": manifest.pip_version,
        "compression": manifest.compression,
        "entries": manifest.entries,
        "files": manifest.file_count,
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
        f"Backed up {manifest.entries} entries ({manifest.file_count} files, "
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
    backups = listing.backups
    if output.row_format == "abspath":
        write_lines(output, (str(b.path) for b in backups))
    elif output.row_format in ("tsv", "csv"):
        write_records(output, BACKUP_FIELDS, (_backup_record(b) for b in backups))
    else:
        write_table(output, BACKUP_COLUMNS, lambda: (_backup_cells(b) for b in backups))
    output.info(f"{count_noun(len(listing.backups), 'backup')} in {listing.directory}")


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
    m = backup.manifest
    return (
        backup.path.name,
        m.created if m else "-",
        format_size(backup.size),
        str(m.entries) if m else "-",
        m.source_cache_dir if m else f"unreadable: {backup.problem}",
    )


def _backup_record(backup: BackupInfo) -> tuple[object, ...]:
    m = backup.manifest
    return (
        str(backup.path),
        m.created if m else None,
        backup.size,
        m.entries if m else None,
        m.file_count if m else None,
        m.size if m else None,
        m.source_cache_dir if m else None,
        backup.problem,
    )


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
