"""Rendering of ``export``: the files written, what was skipped and why, clashes and conflicts."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from pipcachex.export import Clash, Conflict, Exported, ExportResult, Skipped
from pipcachex.render.output import Output
from pipcachex.render.tables import entry_json
from pipcachex.render.words import count_noun
from pipcachex.units import format_size


def exported_json(item: Exported) -> dict[str, Any]:
    """The JSON form of one exported file."""
    return {
        "filename": item.filename,
        "package": item.project,
        "version": item.version,
        "size": item.size,
        "sha256": item.sha256,
        "method": item.method.value if item.method is not None else None,
        "source": item.source,
        "layout": item.entry.layout.value,
        "requires_python": item.requires_python,
        "verified_by": item.verified_by,
    }


def skipped_json(item: Skipped) -> dict[str, Any]:
    """The JSON form of one distribution that was not exported."""
    return {
        "filename": item.filename,
        "path": item.path,
        "problem": item.problem,
        "code": item.code.value,
        "entry": entry_json(item.entry),
    }


def _clash_json(clash: Clash) -> dict[str, Any]:
    return {
        "filename": clash.filename,
        "written": exported_json(clash.written),
        "other": exported_json(clash.other),
    }


def _conflict_json(conflict: Conflict) -> dict[str, Any]:
    return {
        "filename": conflict.filename,
        "existing_sha256": conflict.existing_sha256,
        "wanted": exported_json(conflict.wanted),
    }


def render_export(output: Output, result: ExportResult) -> None:
    """Show what ``export`` did (or, on a dry run, would do)."""
    if output.json_mode:
        index = result.index
        output.emit_json(
            {
                "cache_dir": str(result.cache_dir),
                "directory": str(result.directory),
                "dry_run": result.dry_run,
                "written": [exported_json(i) for i in result.written],
                "present": [exported_json(i) for i in result.present],
                "skipped": [skipped_json(i) for i in result.skipped],
                "clashes": [_clash_json(c) for c in result.clashes],
                "conflicts": [_conflict_json(c) for c in result.conflicts],
                "index": None
                if index is None
                else {"root": str(index.root), "projects": list(index.projects)},
                "written_bytes": result.written_bytes,
            }
        )
        return
    if result.written and output.verbose:
        output.out.print(_files_table(result))
    # Each of these makes the exit code 1, so each is said even under --quiet.
    for item in result.skipped:
        output.error(f"not exported: {item.filename or item.path}: {item.problem} ({item.path})")
    for clash in result.clashes:
        output.error(
            f"two different files are named {clash.filename}: wrote the newer "
            f"({clash.written.source}, sha256 {clash.written.sha256[:16]}...), "
            f"left out {clash.other.source} (sha256 {clash.other.sha256[:16]}...)"
        )
    for conflict in result.conflicts:
        output.error(
            f"not replaced: {result.directory / conflict.filename} already holds other bytes "
            f"(sha256 {conflict.existing_sha256[:16]}..., the cache has "
            f"{conflict.wanted.sha256[:16]}...)"
        )
    if output.quiet:
        return
    verb = "Would write" if result.dry_run else "Wrote"
    methods = _methods(result.written)
    summary = (
        f"{verb} {count_noun(len(result.written), 'file', 'files')} "
        f"({format_size(result.written_bytes)}{methods}) into {result.directory}"
    )
    if result.present:
        summary += f"; {count_noun(len(result.present), 'file was', 'files were')} there already"
    if result.skipped or result.clashes or result.conflicts:
        left = len(result.skipped) + len(result.clashes) + len(result.conflicts)
        summary += f"; {count_noun(left, 'file', 'files')} not exported"
    output.out.print(summary + ".", markup=False)
    if result.index is not None:
        index_verb = "Would write" if result.dry_run else "Wrote"
        output.out.print(
            f"{index_verb} the simple index of "
            f"{count_noun(len(result.index.projects), 'project', 'projects')} in "
            f"{result.index.root} (pip install --index-url {result.index.root.as_uri()} ...).",
            markup=False,
        )


def _methods(items: tuple[Exported, ...]) -> str:
    counts: dict[str, int] = {}
    for item in items:
        if item.method is not None:
            counts[item.method.value] = counts.get(item.method.value, 0) + 1
    return "".join(f", {n} by {m}" for m, n in sorted(counts.items()))


def _files_table(result: ExportResult) -> Table:
    table = Table(show_edge=False, header_style="bold")
    for column in ("File", "Size", "How", "sha256 vouched by"):
        table.add_column(column, justify="right" if column == "Size" else "left")
    for item in result.written:
        how = item.method.value if item.method is not None else "-"
        table.add_row(item.filename, format_size(item.size), how, item.verified_by or "-")
    return table
