"""Rows of a listing in every ``--format`` but JSON: human, plain, tsv, csv and abspath.

Rows are written as they are made, straight to stdout: a rich table of 10,000 rows took longer
to lay out than the scan that found them. ``plain`` aligns its columns over all rows and cuts
nothing; ``human`` (only on a terminal) also makes the header bold and shortens the one
flexible column, with "…", so that each row fits the terminal; ``tsv`` and ``csv`` write the
values a program wants (bytes, ISO times, absolute paths) under a header of field names.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO

from pipcachex.render.output import Output

#: Every value ``--format`` takes, in the order ``--help`` lists them.
FORMATS = ("human", "plain", "tsv", "csv", "abspath", "json")
#: Column gap of the aligned formats.
GAP = "  "
#: The narrowest a flexible column is cut to, however narrow the terminal.
MIN_FLEXIBLE = 12


@dataclass(frozen=True)
class Column:
    """A column of an aligned table: its title, alignment, and whether it may be shortened."""

    title: str
    right: bool = False
    flexible: bool = False


def write_table(
    output: Output,
    columns: Sequence[Column],
    rows: Callable[[], Iterable[Sequence[str]]],
) -> None:
    """Write ``rows`` as aligned columns under a header (the ``human`` and ``plain`` formats).

    ``rows`` is called twice, once to measure the columns and once to write, so that a long
    listing is never held as text all at once.
    """
    widths = [len(c.title) for c in columns]
    count = 0
    for row in rows():
        count += 1
        for index, cell in enumerate(row):
            if len(cell) > widths[index]:
                widths[index] = len(cell)
    if not count:
        return
    fit = output.row_format == "human"
    if fit:
        widths = _fit(columns, widths, output.out.width)
    header = _line(columns, widths, [c.title for c in columns], fit=False)
    if fit:
        output.out.print(header, style="bold", markup=False, highlight=False, soft_wrap=True)
    else:
        output.out.file.write(header + "\n")
    write = output.out.file.write
    for row in rows():
        write(_line(columns, widths, row, fit=fit) + "\n")
    output.out.file.flush()


def _fit(columns: Sequence[Column], widths: list[int], terminal: int) -> list[int]:
    """Shrink the flexible column so that a row is no wider than the terminal."""
    total = sum(widths) + len(GAP) * (len(widths) - 1)
    flexible = [i for i, c in enumerate(columns) if c.flexible]
    if total <= terminal or not flexible:
        return widths
    index = flexible[0]
    fitted = list(widths)
    fitted[index] = max(MIN_FLEXIBLE, widths[index] - (total - terminal), len(columns[index].title))
    return fitted


def _line(
    columns: Sequence[Column], widths: Sequence[int], row: Sequence[str], *, fit: bool
) -> str:
    cells = []
    last = len(columns) - 1
    for index, (column, cell) in enumerate(zip(columns, row, strict=True)):
        width = widths[index]
        if fit and len(cell) > width:
            cell = cell[: width - 1] + "…"
        if column.right:
            cell = cell.rjust(width)
        elif index != last:
            cell = cell.ljust(width)
        cells.append(cell)
    return GAP.join(cells).rstrip()


def write_records(
    output: Output, fields: Sequence[str], records: Iterable[Sequence[object]]
) -> None:
    """Write ``records`` as TSV or CSV (``output.row_format``) under a header of ``fields``.

    A missing value is an empty field. TSV has no quoting, so a tab or a line break inside a
    value becomes a space; CSV quotes as spreadsheets expect.
    """
    stream: IO[str] = output.out.file
    if output.row_format == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(fields)
        writer.writerows(["" if v is None else v for v in record] for record in records)
    else:
        stream.write("\t".join(fields) + "\n")
        for record in records:
            stream.write("\t".join(_tsv_field(value) for value in record) + "\n")
    stream.flush()


def _tsv_field(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return text


def write_lines(output: Output, lines: Iterable[str]) -> None:
    """Write one value a line (the ``abspath`` format), nothing else."""
    write = output.out.file.write
    for line in lines:
        write(line + "\n")
    output.out.file.flush()
