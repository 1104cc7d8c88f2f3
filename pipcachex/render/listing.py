"""Rendering of ``list`` and ``info``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from pipcachex.cache import CacheEntry, Kind
from pipcachex.lastuse import LastUsed
from pipcachex.operations.listing import AgeBand, InfoResult, ListResult, PackageSummary, Totals
from pipcachex.pip_runner import ChosenPython
from pipcachex.render.output import Output
from pipcachex.render.rows import Column, write_lines, write_records, write_table
from pipcachex.render.tables import (
    entry_json,
    package_json,
    totals_json,
)
from pipcachex.render.words import count_noun
from pipcachex.units import format_age, format_size, iso_utc

ENTRY_COLUMNS = (
    Column("Package"),
    Column("Version"),
    Column("Kind"),
    Column("Layout"),
    Column("Size", right=True),
    Column("Last used", right=True),
    Column("File / problem", flexible=True),
)
ENTRY_FIELDS = (
    "package",
    "version",
    "filename",
    "kind",
    "layout",
    "size",
    "created",
    "last_used",
    "path",
    "problem",
    "busy",
)
PACKAGE_COLUMNS = (
    Column("Package"),
    Column("Entries", right=True),
    Column("Size", right=True),
    Column("Last used", right=True),
    Column("Versions", flexible=True),
)
PACKAGE_FIELDS = ("package", "entries", "size", "versions", "oldest_use", "newest_use")
# What to show for an entry that has no file name: its hashed path would tell a person nothing.
_DESCRIPTIONS = {
    Kind.INDEX_PAGE: "(project page)",
    Kind.METADATA: "(core metadata)",
    Kind.REDIRECT: "(redirect)",
}


def render_list(output: Output, result: ListResult) -> None:
    """Show the result of ``list`` in the format asked for; rows go out as they are made."""
    fmt = output.row_format
    if fmt == "json":
        document: dict[str, Any] = {
            "cache_dir": str(result.cache_dir),
            "entries": (entry_json(e) for e in result.entries),
        }
        if result.packages is not None:
            document["packages"] = [package_json(r) for r in result.packages]
        output.emit_json(document)
        return
    if fmt == "abspath":
        write_lines(output, (path for e in result.entries for path in e.paths))
    elif fmt in ("tsv", "csv"):
        if result.packages is not None:
            write_records(output, PACKAGE_FIELDS, map(package_record, result.packages))
        else:
            write_records(output, ENTRY_FIELDS, map(entry_record, result.entries))
    elif result.packages is not None:
        rows = result.packages
        cut = output.human
        write_table(
            output,
            PACKAGE_COLUMNS,
            lambda: (package_cells(r, result.scanned_at, cut) for r in rows),
        )
    else:
        entries = result.entries
        write_table(
            output, ENTRY_COLUMNS, lambda: (entry_cells(e, result.scanned_at) for e in entries)
        )
    total = sum(e.size for e in result.entries)
    output.info(
        f"{count_noun(len(result.entries), 'entry')}, {format_size(total)} in {result.cache_dir}"
    )


def entry_cells(entry: CacheEntry, now: float) -> tuple[str, ...]:
    """The cells of an entry's row in the aligned formats."""
    return (
        entry.package or "-",
        entry.version or "-",
        entry.kind.value,
        entry.layout.value,
        format_size(entry.size),
        format_age(entry.last_used, now=now) + " ago",
        (entry.problem and entry.problem.message)
        or entry.filename
        or _DESCRIPTIONS.get(entry.kind)
        or entry.name,
    )


def entry_record(entry: CacheEntry) -> tuple[object, ...]:
    """The values of an entry in TSV and CSV: as in its JSON, times in ISO 8601 UTC."""
    return (
        entry.package,
        entry.version,
        entry.filename,
        entry.kind.value,
        entry.layout.value,
        entry.size,
        iso_utc(entry.created),
        iso_utc(entry.last_used),
        entry.path,
        entry.problem and entry.problem.message,
        "true" if entry.busy else "false",
    )


def package_cells(row: PackageSummary, now: float, cut: bool) -> tuple[str, ...]:
    """The cells of a project's row; ``cut`` shows only its five newest versions."""
    shown = row.versions[-5:] if cut else row.versions
    versions = ", ".join(shown) + (" …" if len(shown) < len(row.versions) else "")
    return (
        row.package or "(unattributed)",
        str(row.entries),
        format_size(row.size),
        format_age(row.newest_use, now=now) + " ago",
        versions or "-",
    )


def package_record(row: PackageSummary) -> tuple[object, ...]:
    """The values of a project's row in TSV and CSV (versions separated by spaces)."""
    return (
        row.package,
        row.entries,
        row.size,
        " ".join(row.versions),
        iso_utc(row.oldest_use),
        iso_utc(row.newest_use),
    )


def render_info(output: Output, result: InfoResult) -> None:
    """Show the result of ``info``."""
    figures = result.pip_figures
    if output.json_mode:
        output.emit_json(
            {
                "cache_dir": str(result.cache_dir),
                "exists": result.exists,
                "python": result.python,
                "python_source": result.python_source,
                "pip_version": result.pip_version,
                "pip_writes_layout": result.pip_layout,
                "total": totals_json(result.total),
                "by_kind": {k: totals_json(v) for k, v in result.by_kind.items()},
                "by_layout": {k: totals_json(v) for k, v in result.by_layout.items()},
                "reclaimable_damaged": totals_json(result.damaged),
                "largest_projects": [package_json(r) for r in result.largest_projects],
                "age_profile": [
                    {
                        "last_used": band.label,
                        "up_to_days": band.up_to_days,
                        "entries": band.entries,
                        "size": band.size,
                    }
                    for band in result.age_profile
                ],
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
    if output.row_format in ("tsv", "csv"):
        write_records(output, ("group", "name", "entries", "size"), info_records(result))
    else:
        _info_text(output, result)
    for problem in result.unreadable:
        output.warn(f"could not read {problem}")


AGE_COLUMNS = (
    Column("Last used"),
    Column("Entries", right=True),
    Column("Size", right=True),
    Column("Share of size"),
)
#: The width of the longest bar of the age profile (the band holding the most bytes).
BAR_WIDTH = 24
KIND_COLUMNS = (Column("Kind"), Column("Entries", right=True), Column("Size", right=True))
LAYOUT_COLUMNS = (Column("Layout"), Column("Entries", right=True), Column("Size", right=True))


def _info_text(output: Output, result: InfoResult) -> None:
    """``info`` for people: a few lines, then its tables (aligned, as ``list``'s)."""
    figures = result.pip_figures
    lines = [
        f"Cache directory: {result.cache_dir}" + ("" if result.exists else " (not created yet)")
    ]
    if result.python and result.python_source:
        lines.append(f"Python: {ChosenPython(result.python, result.python_source).describe()}")
    if result.pip_version:
        lines.append(f"pip: {result.pip_version} (writes {result.pip_layout}/)")
    lines.append(
        f"Total: {count_noun(result.total.entries, 'entry')}, {format_size(result.total.size)}"
    )
    lines.append(
        f"HTTP files: {figures.http_files} ({format_size(figures.http_size)}); "
        f"locally built wheels: {figures.wheels} ({format_size(figures.wheels_size)})"
    )
    if result.damaged.entries:
        lines.append(
            f"Damaged: {count_noun(result.damaged.entries, 'entry')}, "
            f"{format_size(result.damaged.size)} reclaimable (pipcachex verify --fix)"
        )
    for line in lines:
        output.out.print(line, markup=False, highlight=False)
    if result.total.entries:
        output.out.print()
        write_table(output, KIND_COLUMNS, lambda: _totals_cells(result.by_kind, str))
        output.out.print()
        write_table(output, LAYOUT_COLUMNS, lambda: _totals_cells(result.by_layout, _layout_name))
    if result.total.entries and result.age_profile:
        output.out.print()
        columns = AGE_COLUMNS if output.human else AGE_COLUMNS[:-1]
        bands = result.age_profile
        write_table(output, columns, lambda: _age_cells(bands, with_bars=output.human))
        older = [b for b in bands if b.up_to_days is None or b.up_to_days > 90]
        entries, size = sum(b.entries for b in older), sum(b.size for b in older)
        output.out.print(
            f"Unused for over 3 months: {count_noun(entries, 'entry')}, {format_size(size)} "
            "(pipcachex purge --older-than 90d)",
            markup=False,
            highlight=False,
        )
    if result.largest_projects:
        output.out.print()
        output.out.print("Largest projects:")
        rows = result.largest_projects
        cut = output.human
        now = time.time()
        write_table(output, PACKAGE_COLUMNS, lambda: (package_cells(r, now, cut) for r in rows))
    if result.last_used is not None:
        output.out.print()
        output.out.print(
            f"Last used: {_last_used_line(result.last_used)}", markup=False, highlight=False
        )


def _totals_cells(
    totals: dict[str, Totals], name: Callable[[str], str]
) -> list[tuple[str, str, str]]:
    return [(name(k), str(t.entries), format_size(t.size)) for k, t in totals.items()]


def _age_cells(bands: Sequence[AgeBand], *, with_bars: bool) -> list[tuple[str, ...]]:
    """Rows of the age profile; on a terminal each with a bar as long as its share of bytes."""
    total = sum(b.size for b in bands) or 1
    widest = max((b.size for b in bands), default=0) or 1
    rows = []
    for band in bands:
        cells: tuple[str, ...] = (band.label, str(band.entries), format_size(band.size))
        if with_bars:
            bar = "█" * round(BAR_WIDTH * band.size / widest)
            cells += (f"{bar} {100 * band.size / total:.0f}%".strip(),)
        rows.append(cells)
    return rows


def _layout_name(layout: str) -> str:
    return f"{layout}/" if layout != "other" else "elsewhere in the cache"


def info_records(result: InfoResult) -> list[tuple[object, ...]]:
    """``info`` as records of (group, name, entries, size), for TSV and CSV."""
    records: list[tuple[object, ...]] = [
        ("total", "", result.total.entries, result.total.size),
        ("damaged", "", result.damaged.entries, result.damaged.size),
    ]
    records += [("kind", k, t.entries, t.size) for k, t in result.by_kind.items()]
    records += [("layout", k, t.entries, t.size) for k, t in result.by_layout.items()]
    records += [("project", r.package, r.entries, r.size) for r in result.largest_projects]
    records += [("last-used", b.label, b.entries, b.size) for b in result.age_profile]
    return records


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
