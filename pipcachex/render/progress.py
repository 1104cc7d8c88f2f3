"""Progress on stderr that says something: counts, sizes, rates and what is left.

Three kinds, chosen by the unit of the work:

- ``entries``, work of unknown size (scanning a cache): a spinner, the entries and bytes seen
  so far and the rate, never a bar, since there is no total to fill it towards;
- ``bytes`` (backing up, verifying or restoring an archive): a bar when the total is known,
  the sizes done and in all, the rate and the time left;
- ``items`` (entries removed, projects checked): a bar, done of total, and the time left.

Nothing is drawn when stderr is not a terminal, or under ``-q`` or ``--json`` (``Output``
decides); the handles then cost one attribute check per call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pipcachex.units import format_size

Unit = Literal["items", "bytes", "entries"]
#: The most often progress is redrawn, in seconds.
REDRAW = 0.1


def _rate(task: Task) -> float | None:
    elapsed = task.elapsed
    if not elapsed or elapsed < 0.5 or not task.completed:
        return None  # too early for a rate worth reading
    return task.completed / elapsed


class _EntriesColumn(ProgressColumn):
    """``12,345 entries, 98.7 MB, 4,100 entries/s``."""

    def render(self, task: Task) -> Text:
        text = f"{int(task.completed):,} entries"
        size = task.fields.get("size")
        if size is not None:
            text += f", {format_size(int(size))}"
        rate = _rate(task)
        if rate is not None:
            text += f", {rate:,.0f} entries/s"
        return Text(text)


class _BytesColumn(ProgressColumn):
    """``45.2 MB / 213.8 MB, 12.3 MB/s`` (or ``45.2 MB`` while the total is unknown)."""

    def render(self, task: Task) -> Text:
        text = format_size(int(task.completed))
        if task.total is not None:
            text += f" / {format_size(int(task.total))}"
        rate = _rate(task)
        if rate is not None:
            text += f", {format_size(round(rate))}/s"
        return Text(text)


class _ItemsColumn(ProgressColumn):
    """``120/4,000`` (or ``120`` while the total is unknown)."""

    def render(self, task: Task) -> Text:
        done = f"{int(task.completed):,}"
        return Text(done if task.total is None else f"{done}/{int(task.total):,}")


def _columns(unit: Unit, total: int | None) -> list[ProgressColumn]:
    label = TextColumn("{task.description}")
    if unit == "entries":
        return [SpinnerColumn(), label, _EntriesColumn(), TimeElapsedColumn()]
    counted: ProgressColumn = _BytesColumn() if unit == "bytes" else _ItemsColumn()
    if total is None:
        return [SpinnerColumn(), label, counted, TimeElapsedColumn()]
    return [
        label,
        BarColumn(),
        counted,
        TimeRemainingColumn(compact=True, elapsed_when_finished=True),
    ]


@contextmanager
def draw(
    console: Console, description: str, total: int | None, unit: Unit
) -> Iterator[tuple[Progress, Any]]:
    """Draw progress of ``unit`` on ``console`` while the block runs; yield the bar and task."""
    with Progress(*_columns(unit, total), console=console, transient=True) as bar:
        yield bar, bar.add_task(description, total=total, size=None)


class ProgressHandle:
    """Lets a service report progress without knowing whether anyone is watching.

    ``update(done, total)`` is the callback services take (``on_progress``): units done so far
    and, when known, in all.
    """

    def __init__(self, bar: Progress | None, task: Any) -> None:
        self._bar = bar
        self._task = task
        self._last = 0.0

    def update(self, completed: int, total: int | None = None) -> None:
        """Record that ``completed`` units of work are done (redrawn at most 10 times a second)."""
        if self._bar is None:
            return
        now = time.monotonic()
        if now - self._last >= REDRAW or (total is not None and completed >= total):
            self._last = now
            self._bar.update(self._task, completed=completed, total=total)


class ScanHandle:
    """Progress of a scan: ``update(entries, size)``, entries seen and, if known, their bytes."""

    def __init__(self, bar: Progress | None, task: Any) -> None:
        self._bar = bar
        self._task = task
        self._last = 0.0

    def update(self, entries: int, size: int | None = None) -> None:
        """Record ``entries`` seen so far, holding ``size`` bytes when the scanner says."""
        if self._bar is None:
            return
        now = time.monotonic()
        if now - self._last >= REDRAW:
            self._last = now
            self._bar.update(self._task, completed=entries, size=size)
