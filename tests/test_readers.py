"""Reading entries in worker processes: the same answers as reading them in the scan itself.

A scan hands the HTTP entries the memo does not know to worker processes once it has met
``readahead.WORKERS_FROM`` of them. These tests force that on for a small cache (both layouts,
written by real pips, plus damaged entries) and compare every field of every entry, in order,
with a scan that read everything itself; then they break the workers and check the scan still
answers the same, and that no worker outlives an interrupted scan.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke

from pipcachex.cache import CacheWalk, readahead, readers, scan

#: No user config, and no memo: every scan reads every entry again.
ENV = {"PIP_CONFIG_FILE": "/dev/null", "PIPCACHEX_MEMO_DIR": ""}


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
    monkeypatch.setattr(readers, "worker_count", lambda: workers)


def _no_reading_here(*args: object) -> object:
    raise AssertionError(f"read in the scanning process: {args}")


def test_workers_answer_exactly_as_the_scan_itself(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    started_workers: list[subprocess.Popen[bytes]],
) -> None:
    listing = ["list", "--json", "--cache-dir", str(busy_cache)]
    plan = ["purge", "--older-than", "30d", "--dry-run", "--json", "--cache-dir", str(busy_cache)]
    in_process = _document(listing)
    planned = _document(plan)
    kinds = {e["kind"] for e in in_process["entries"]}
    assert kinds >= {"distribution", "metadata", "index-page", "damaged", "built-wheel"}
    assert len(planned["removed"]) >= 30

    _force_workers(monkeypatch)
    # Every entry must now be read by a worker: reading in this process fails the test.
    monkeypatch.setattr(scan, "attribute", _no_reading_here)
    monkeypatch.setattr(readahead, "attribute", _no_reading_here)
    assert _document(listing) == in_process
    assert len(started_workers) == 3
    assert all(process.returncode == 0 for process in started_workers)
    assert _document(plan) == planned
    assert len(started_workers) == 6


def test_a_scan_reads_itself_what_broken_workers_do_not_answer(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    started_workers: list[subprocess.Popen[bytes]],
    fake_worker: Callable[..., None],
) -> None:
    listing = ["list", "--json", "--cache-dir", str(busy_cache)]
    in_process = _document(listing)
    _force_workers(monkeypatch)

    # A worker that takes its first batch and dies without a word.
    fake_worker("dying_worker")
    assert _document(listing) == in_process
    assert len(started_workers) == 3 and all(p.returncode == 0 for p in started_workers)

    # A worker that answers its first batch with one identity too few, then waits for more.
    fake_worker("miscounting_worker", [["distribution", "x", "1", None, None]])
    assert _document(listing) == in_process

    # Workers that cannot run at all (no such module); --verbose says so, with their stderr.
    monkeypatch.setattr(readers, "WORKER_MODULE", "pipcachex.no_such_module")
    assert _document(listing) == in_process
    told = invoke([*listing, "-v"], env=ENV).stderr
    assert told.count("a reading worker") == 3, told
    assert "stopped with exit code 1: " in told
    assert "No module named pipcachex.no_such_module" in told
    assert "worker" not in invoke(listing, env=ENV).stderr

    # And a machine where processes cannot be started.
    def cannot_start(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        raise OSError("no more processes")

    monkeypatch.setattr(readers, "start_worker", cannot_start)
    assert _document(listing) == in_process
    told = invoke([*listing, "-v"], env=ENV).stderr
    assert "could not start a reading worker: no more processes" in told


def test_no_worker_outlives_an_interrupted_scan(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    started_workers: list[subprocess.Popen[bytes]],
) -> None:
    _force_workers(monkeypatch, workers=2)
    monkeypatch.setenv("PIPCACHEX_MEMO_DIR", "")
    entries = CacheWalk(busy_cache).entries()
    assert isinstance(entries, Generator)
    first = [next(entries) for _ in range(10)]
    assert first and len(started_workers) == 2
    assert all(process.poll() is None for process in started_workers)  # still at work
    entries.close()  # what Ctrl-C or an error downstream does to the scan
    assert all(process.returncode is not None for process in started_workers)


def test_few_unknown_entries_start_no_worker(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    started_workers: list[subprocess.Popen[bytes]],
) -> None:
    # Cores enough for workers, so only the count of unknown entries keeps them from starting.
    monkeypatch.setattr(readers, "worker_count", lambda: 3)
    assert _document(["list", "--json", "--cache-dir", str(busy_cache)])["entries"]
    assert started_workers == []
