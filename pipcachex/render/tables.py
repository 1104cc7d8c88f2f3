"""Pieces every renderer shares: the JSON shape of an entry or a project row, and their tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from pipcachex.cache import CacheEntry, Kind
from pipcachex.operations.listing import PackageSummary, Totals
from pipcachex.render.words import count_noun
from pipcachex.units import format_age, format_size, iso_utc

__all__ = ["count_noun", "entries_table", "entry_json", "package_json", "packages_table"]


def entry_json(entry: CacheEntry) -> dict[str, Any]:
    """The JSON form of one entry, shared by every command that reports entries."""
    problem = entry.problem
    # ``_value_`` is the member's value as ``.value`` gives it, without the descriptor call
    # that made reading it a tenth of rendering a 100,000-entry ``list --json``.
    return {
        "package": entry.package,
        "version": entry.version,
        "filename": entry.filename,
        "kind": entry.kind._value_,
        "layout": entry.layout._value_,
        "size": entry.size,
        "created": iso_utc(entry.created),
        "last_used": iso_utc(entry.last_used),
        "path": entry.path,
        "paths": [member.path for member in entry.files],
        "problem": None if problem is None else problem.message,
        "problem_code": None if problem is None else problem.code._value_,
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


def totals_json(totals: Totals) -> dict[str, int]:
    """The JSON form of a count of entries and their bytes."""
    return {"entries": totals.entries, "size": totals.size}


# What to show for an entry that has no file name: its hashed path would tell a person nothing.
_DESCRIPTIONS = {
    Kind.INDEX_PAGE: "(project page)",
    Kind.METADATA: "(core metadata)",
    Kind.REDIRECT: "(redirect)",
}


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
        detail = (
            (e.problem and e.problem.message) or e.filename or _DESCRIPTIONS.get(e.kind) or e.name
        )
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


def packages_table(rows: Sequence[PackageSummary], now: float, limit: int | None = None) -> Table:
    """A table of per-project totals; past ``limit`` rows, the largest and one row for the rest.

    A purge of a big cache touches thousands of projects: a table that long buries the totals
    and the prompt (and took rich seconds to lay out). ``--json`` and ``-v`` still list all.
    """
    table = Table(show_edge=False, header_style="bold")
    for name in ("Package", "Entries", "Size", "Versions", "Last used"):
        table.add_column(name, justify="right" if name in ("Entries", "Size") else "left")
    rest: Sequence[PackageSummary] = ()
    if limit is not None and len(rows) > limit:
        by_size = sorted(rows, key=lambda r: (-r.size, r.package or ""))
        rows, rest = by_size[:limit], by_size[limit:]
    for row in rows:
        versions = ", ".join(row.versions[-5:]) + (" …" if len(row.versions) > 5 else "")
        table.add_row(
            row.package or "(unattributed)",
            str(row.entries),
            format_size(row.size),
            versions or "-",
            format_age(row.newest_use, now=now) + " ago",
        )
    if rest:
        table.add_row(
            f"… {count_noun(len(rest), 'more project', 'more projects')}",
            str(sum(r.entries for r in rest)),
            format_size(sum(r.size for r in rest)),
            "",
            format_age(max(r.newest_use for r in rest), now=now) + " ago",
        )
    return table
