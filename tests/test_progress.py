"""Progress: what each kind of work shows, and that nothing is drawn where no one watches."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console
from rich.progress import Progress

from pipcachex.render.output import Output
from pipcachex.render.progress import _BytesColumn, _columns, _EntriesColumn, _ItemsColumn


def _task(completed: int, total: int | None, seconds: float, **fields: Any) -> Any:
    # A frozen clock: the rate must not depend on how long the test itself took to run.
    now = 1_000.0
    progress = Progress(
        console=Console(file=io.StringIO()), auto_refresh=False, get_time=lambda: now
    )
    task_id = progress.add_task("x", total=total, **fields)
    progress.update(task_id, completed=completed)
    task = progress.tasks[0]
    task.start_time = now - seconds
    return task


@pytest.mark.parametrize(
    ("column", "completed", "total", "fields", "text"),
    [
        (_EntriesColumn(), 12345, None, {"size": None}, "12,345 entries, 6,172 entries/s"),
        (_EntriesColumn(), 500, None, {"size": 98_700_000}, "500 entries, 98.7 MB, 250 entries/s"),
        (_BytesColumn(), 45_200_000, 213_800_000, {}, "45.2 MB / 213.8 MB, 22.6 MB/s"),
        (_BytesColumn(), 1_000, None, {}, "1.0 kB, 500 bytes/s"),
        (_ItemsColumn(), 120, 4000, {}, "120/4,000"),
        (_ItemsColumn(), 7, None, {}, "7"),
    ],
)
def test_what_progress_says(
    column: Any, completed: int, total: int | None, fields: dict[str, Any], text: str
) -> None:
    task = _task(completed, total, 2.0, **fields)
    assert str(column.render(task)) == text


def test_no_rate_in_the_first_half_second() -> None:
    assert str(_EntriesColumn().render(_task(10, None, 0.1, size=None))) == "10 entries"


def test_a_scan_spins_and_work_with_a_total_has_a_bar() -> None:
    scan = [type(c).__name__ for c in _columns("entries", None)]
    assert "SpinnerColumn" in scan and "BarColumn" not in scan
    sized = [type(c).__name__ for c in _columns("bytes", 1000)]
    assert "BarColumn" in sized and "TimeRemainingColumn" in sized
    unsized = [type(c).__name__ for c in _columns("bytes", None)]
    assert "BarColumn" not in unsized


@pytest.mark.parametrize(
    ("terminal", "quiet", "json_mode", "drawn"),
    [
        (True, False, False, True),
        (False, False, False, False),
        (True, True, False, False),
        (True, False, True, False),
    ],
)
def test_progress_is_drawn_only_on_a_terminal(
    terminal: bool, quiet: bool, json_mode: bool, drawn: bool
) -> None:
    stream = io.StringIO()
    err = Console(file=stream, force_terminal=terminal, width=100)
    output = Output(quiet=quiet, json_mode=json_mode, err=err)
    with output.scan_progress() as scan:
        scan.update(1000, 5_000_000)
    with output.progress("Backing up", 10_000, unit="bytes") as bar:
        bar.update(5_000, 10_000)
    assert bool(stream.getvalue()) is drawn
