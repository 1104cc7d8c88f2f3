"""Rendering of ``list`` and ``info``."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table

from pipcachex.lastuse import LastUsed
from pipcachex.listing import InfoResult, ListResult
from pipcachex.render.output import Output
from pipcachex.render.tables import (
    entries_table,
    entry_json,
    package_json,
    packages_table,
    totals_json,
)
from pipcachex.units import format_size


def render_list(output: Output, result: ListResult) -> None:
    """Show the result of ``list``."""
    if output.json_mode:
        document: dict[str, Any] = {
            "cache_dir": str(result.cache_dir),
            "entries": (entry_json(e) for e in result.entries),
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
                "total": totals_json(result.total),
                "by_kind": {k: totals_json(v) for k, v in result.by_kind.items()},
                "by_layout": {k: totals_json(v) for k, v in result.by_layout.items()},
                "reclaimable_damaged": totals_json(result.damaged),
                "largest_projects": [package_json(r) for r in result.largest_projects],
                "pip_cache_info": {
                    "http_files": figures.http_files,
                    "http_size": figures.http_size,
                    "wheels": figures.wheels,
                    "wheels_size": figures.wheels_size,
                },
                "unreadable": list(result.unreadable),
                "last_used": _last_used_json(result.last_used),
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
    grid.add_column("Kind / layout")
    grid.add_column("Entries", justify="right")
    grid.add_column("Size", justify="right")
    for name, totals in result.by_kind.items():
        grid.add_row(name, str(totals.entries), format_size(totals.size))
    grid.add_section()
    for name, totals in result.by_layout.items():
        grid.add_row(
            f"{name}/" if name != "other" else "elsewhere in the cache",
            str(totals.entries),
            format_size(totals.size),
        )
    if result.total.entries:
        out.print(grid)
    if result.largest_projects:
        out.print("Largest projects:")
        out.print(packages_table(result.largest_projects, time.time()))
    if result.last_used is not None:
        out.print(f"Last used: {_last_used_line(result.last_used)}", markup=False)
    for problem in result.unreadable:
        output.warn(f"could not read {problem}")


def _last_used_json(found: LastUsed | None) -> dict[str, object] | None:
    if found is None:
        return None
    return {
        "policy": found.policy,
        "records_reads": found.records_reads,
        "meaning": found.meaning,
        "file_system": found.file_system,
        "mount_point": found.mount_point,
        "source": found.source,
    }


def _last_used_line(found: LastUsed) -> str:
    """``relatime (ext4, mounted at /): a read updates it ...``."""
    where = ", ".join(
        part
        for part in (
            found.file_system,
            f"mounted at {found.mount_point}" if found.mount_point else None,
        )
        if part
    )
    return f"{found.policy}" + (f" ({where})" if where else "") + f": {found.meaning}"
