"""Reading entries in worker processes: the same answers as reading them in the scan itself.

A scan hands the HTTP entries the memo does not know to worker processes once it has met
``readahead.WORKERS_FROM`` of them. These tests force that on for a small cache (both layouts,
written by real pips, plus damaged entries) and compare every field of every entry, in order,
with a scan that read everything itself; then they break the workers (see ``worker_faults``)
and check the scan still answers the same, says why with ``--verbose``, never hangs, and that
no worker outlives an interrupted scan.
"""

from __future__ import annotations

import multiprocessing.process
import os
import time
from collections.abc import Callable, Generator
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest
import worker_faults
from cli_helpers import invoke

from pipcachex.cache import CacheWalk, parallel, readahead, scan

#: No user config, and no memo: every scan reads every entry again.
ENV = {"PIP_CONFIG_FILE": os.devnull, "PIPCACHEX_MEMO_DIR": ""}


def _document(args: list[str]) -> dict[str, Any]:
    result = invoke(args, env=ENV)
    assert result.exit_code in (0, 1), result.stderr
    document: dict[str, Any] = result.json
    return document


def _force_workers(monkeypatch: pytest.MonkeyPatch, workers: int = 3) -> None:
    """Every unknown entry goes to ``workers`` workers, three entries a batch."""
    monkeypatch.setattr(readahead, "WORKERS_FROM", 0)
    monkeypatch.setattr(readahead, "BATCH", 3)
    monkeypatch.setattr(readahead, "MAX_WAITING", 5)
    monkeypatch.setattr(parallel, "worker_count", lambda: workers)


def _no_reading_here(*args: object) -> object:
    raise AssertionError(f"read in the scanning process: {args}")


def test_workers_answer_exactly_as_the_scan_itself(
    busy_cache: Path, monkeypatch: pytest.MonkeyPatch, started_workers: list[BaseProcess]
) -> None:
    listing = ["list", "--json", "--cache-dir", str(busy_cache)]
    plan = ["purge", "--older-than", "30d", "--dry-run", "--json", "--cache-dir", str(busy_cache)]
    in_process = _document(listing)
    planned = _document(plan)
    kinds = {e["kind"] for e in in_process["entries"]}
    assert kinds >= {"distribution", "metadata", "index-page", "damaged", "built-wheel"}
    assert len(planned["removed"]) >= 30
    assert started_workers == []

    _force_workers(monkeypatch)
    # Every entry must now be read by a worker: reading in this process fails the test.
    monkeypatch.setattr(scan, "attribute", _no_reading_here)
    monkeypatch.setattr(readahead, "attribute", _no_reading_here)
    assert _document(listing) == in_process
    assert 1 <= len(started_workers) <= 3
    assert all(process.exitcode == 0 for process in started_workers)
    assert _document(plan) == planned


@pytest.mark.parametrize(
    ("fault", "told"),
    [
        (worker_faults.dies, "stopped with exit code 3"),
        (worker_faults.complains_and_dies, "the disk caught fire"),
        (worker_faults.garbles, "answered wrongly (list)"),
        (worker_faults.raises, "RuntimeError('a bug in the worker')"),
        (worker_faults.hangs, "did not answer within 1 s"),
    ],
)
def test_a_scan_reads_itself_what_broken_workers_do_not_answer(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    started_workers: list[BaseProcess],
    fault: Callable[[object], object],
    told: str,
) -> None:
    listing = ["list", "--json", "--cache-dir", str(busy_cache)]
    in_process = _document(listing)
    _force_workers(monkeypatch)
    if fault is worker_faults.hangs:
        monkeypatch.setattr(parallel, "TIMEOUT", 1.0)  # else a loaded machine's start is slow
    monkeypatch.setattr(readahead, "READ_JOB", fault)
    started = time.monotonic()
    assert _document(listing) == in_process
    assert time.monotonic() - started < 20  # a hung worker costs its timeout, nothing more
    assert started_workers and all(p.exitcode is not None for p in started_workers)
    stderr = invoke([*listing, "-v"], env=ENV).stderr
    assert told in stderr and stderr.count("worker process") == 1, stderr
    assert "worker" not in invoke(listing, env=ENV).stderr


def test_a_scan_reads_everything_itself_where_no_process_can_start(
    busy_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = ["list", "--json", "--cache-dir", str(busy_cache)]
    in_process = _document(listing)
    _force_workers(monkeypatch)

    def cannot_start(self: BaseProcess) -> None:
        raise OSError("no more processes")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", cannot_start)
    assert _document(listing) == in_process
    told = invoke([*listing, "-v"], env=ENV).stderr
    assert "could not start a worker process: no more processes" in told


def test_no_worker_outlives_an_interrupted_scan(
    busy_cache: Path, monkeypatch: pytest.MonkeyPatch, started_workers: list[BaseProcess]
) -> None:
    _force_workers(monkeypatch, workers=2)
    monkeypatch.setenv("PIPCACHEX_MEMO_DIR", "")
    entries = CacheWalk(busy_cache).entries()
    assert isinstance(entries, Generator)
    first = [next(entries) for _ in range(10)]
    assert first and started_workers
    assert all(process.exitcode is None for process in started_workers)  # still at work
    entries.close()  # what Ctrl-C or an error downstream does to the scan
    assert all(process.exitcode is not None for process in started_workers)


def test_few_unknown_entries_start_no_worker(
    busy_cache: Path, monkeypatch: pytest.MonkeyPatch, started_workers: list[BaseProcess]
) -> None:
    # Cores enough for workers, so only the count of unknown entries keeps them from starting.
    monkeypatch.setattr(parallel, "worker_count", lambda: 3)
    assert _document(["list", "--json", "--cache-dir", str(busy_cache)])["entries"]
    assert started_workers == []
