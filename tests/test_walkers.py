"""``info`` spread over worker processes: the same figures as one process walking alone.

On a large cache ``info`` hands parts of the walk to worker processes that tally them (see
``cache.walkers``). These tests force that on for a small cache (both layouts, written by real
pips, plus damaged entries), with the scanning process forbidden to walk any part itself, and
compare the ``--json`` document with one process's; they check that the memo is complete after
the workers' walk, then break the workers (see ``worker_faults``) and check ``info`` still
answers the same, with a complete memo, and that no worker outlives an interrupted tally.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest
import worker_faults
from cli_helpers import invoke

from pipcachex.cache import CacheEntry, CacheWalk, Kind, Layout, parallel, scan, scan_cache, walkers
from pipcachex.cache.memo import AttributionMemo
from pipcachex.cache.tally import CacheTally

TALLY_PART = walkers._tally_part


def _info(cache: Path, memo: Path, *options: str) -> dict[str, Any]:
    result = invoke(
        ["info", "--json", "--cache-dir", str(cache), *options],
        env={"PIP_CONFIG_FILE": os.devnull, "PIPCACHEX_MEMO_DIR": str(memo)},
    )
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = result.json
    return document


def _told(cache: Path, memo: Path) -> str:
    """What ``info --verbose`` says on stderr."""
    result = invoke(
        ["info", "-v", "--cache-dir", str(cache)],
        env={"PIP_CONFIG_FILE": os.devnull, "PIPCACHEX_MEMO_DIR": str(memo)},
    )
    assert result.exit_code == 0, result.stderr
    return result.stderr


def _one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walkers, "_worth_spreading", lambda *args: False)


def _force_walkers(monkeypatch: pytest.MonkeyPatch, workers: int = 2) -> None:
    """From the first part on, every part goes to ``workers`` workers."""
    monkeypatch.setattr(walkers, "_worth_spreading", lambda *args: True)
    monkeypatch.setattr(walkers, "IN_FLIGHT", 1_000_000)
    monkeypatch.setattr(parallel, "worker_count", lambda: workers)


def _no_walking_here(*args: object) -> int:
    raise AssertionError(f"a part walked in the scanning process: {args}")


def _memo_is_complete(cache: Path, memo: Path, alone: dict[str, Any], monkeypatch: Any) -> None:
    """One process walking alone, forbidden to read anything, still finds every entry."""
    with pytest.MonkeyPatch.context() as patch:
        _one_process(patch)

        def no_reading_here(*args: object) -> object:
            raise AssertionError(f"read an entry the memo should know: {args}")

        patch.setattr(scan, "attribute", no_reading_here)
        assert _info(cache, memo) == alone


def test_walk_workers_tally_exactly_as_one_process(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    started_workers: list[BaseProcess],
) -> None:
    alone_memo, spread_memo = tmp_path / "memo-alone", tmp_path / "memo-spread"
    _one_process(monkeypatch)
    alone = _info(busy_cache, alone_memo)
    assert alone["by_kind"].keys() >= {"distribution", "metadata", "index-page", "damaged"}
    assert alone["by_layout"].keys() >= {"http", "http-v2", "wheels"}
    assert alone["largest_projects"]

    _force_walkers(monkeypatch)
    monkeypatch.setattr(walkers, "_tally_part", _no_walking_here)
    # A first tally: every entry is read by a worker, and the memo learns them all from them.
    assert _info(busy_cache, spread_memo) == alone
    assert 1 <= len(started_workers) <= 2
    assert all(process.exitcode == 0 for process in started_workers)
    # A second one: the workers find them all in the memo.
    assert _info(busy_cache, spread_memo) == alone
    monkeypatch.setattr(walkers, "_tally_part", TALLY_PART)
    _memo_is_complete(busy_cache, spread_memo, alone, monkeypatch)


@pytest.mark.parametrize(
    ("fault", "told"),
    [
        (worker_faults.dies, "stopped with exit code 3"),
        (worker_faults.complains_and_dies, "the disk caught fire"),
        (worker_faults.dies_after_one_part, "stopped with exit code 3"),
        (worker_faults.garbles, "answered wrongly (list)"),
        (worker_faults.hangs, "did not answer within 1 s"),
    ],
)
def test_info_walks_itself_what_broken_walk_workers_lost(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    started_workers: list[BaseProcess],
    fault: Callable[[object], object],
    told: str,
) -> None:
    _one_process(monkeypatch)
    alone = _info(busy_cache, tmp_path / "alone")
    _force_walkers(monkeypatch)
    if fault is worker_faults.hangs:
        monkeypatch.setattr(parallel, "TIMEOUT", 1.0)  # else a loaded machine's start is slow
    monkeypatch.setattr(walkers, "TALLY_JOB", fault)
    memo = tmp_path / "memo"
    started = time.monotonic()
    assert _info(busy_cache, memo) == alone
    assert time.monotonic() - started < 20  # a hung worker costs its timeout, nothing more
    assert started_workers and all(p.exitcode is not None for p in started_workers)
    # What the lost workers did not answer was walked here, and the memo learnt it all.
    _memo_is_complete(busy_cache, memo, alone, monkeypatch)
    stderr = _told(busy_cache, tmp_path / "memo-told")
    assert told in stderr and stderr.count("worker process") == 1, stderr


def test_no_walk_worker_outlives_an_interrupted_tally(
    busy_cache: Path, monkeypatch: pytest.MonkeyPatch, started_workers: list[BaseProcess]
) -> None:
    _force_walkers(monkeypatch)
    monkeypatch.setattr(walkers, "_PROGRESS_EVERY", 1)
    seen: list[int] = []

    def interrupt(count: int, size: int) -> None:
        seen.append(count)
        if len(seen) == 3:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a tally

    with pytest.raises(KeyboardInterrupt):
        CacheWalk(busy_cache, on_progress=interrupt).tally()
    assert started_workers
    assert all(process.exitcode is not None for process in started_workers)


def test_a_small_cache_starts_no_walk_worker(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    started_workers: list[BaseProcess],
) -> None:
    # Cores enough for workers, so only the estimate of the walk keeps them from starting
    # (given some slack: on a machine loaded many times over, 70 entries take a while).
    monkeypatch.setattr(parallel, "worker_count", lambda: 3)
    monkeypatch.setattr(walkers, "SPREAD_FROM", 5.0)
    assert _info(busy_cache, tmp_path / "memo")["total"]["entries"] > 60
    assert started_workers == []


def test_scan_and_tally_progress_report_the_bytes_seen(busy_cache: Path) -> None:
    # The spinner shows entries and bytes: the last report is the whole scan's.
    scanned: list[tuple[int, int]] = []
    scan = scan_cache(busy_cache, on_progress=lambda count, size: scanned.append((count, size)))
    assert scanned[-1] == (len(scan.entries), sum(e.size for e in scan.entries))
    assert scanned[-1][1] > 0
    tallied: list[tuple[int, int]] = []
    walk = CacheWalk(busy_cache, on_progress=lambda count, size: tallied.append((count, size)))
    tally = walk.tally()
    assert tallied[-1] == scanned[-1]
    assert tally.total_size() == scanned[-1][1]


class _Clock:
    """``time.perf_counter`` for a ``_Pace``: moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


HTTP_PART = walkers.Part("/c/http/0/1", Layout.HTTP)
V2_PART = walkers.Part("/c/http-v2/0/1", Layout.HTTP_V2)


@pytest.mark.parametrize(
    ("known", "walks", "expected"),
    [
        # Nothing walked yet, or too little to go by: no estimate.
        (90_000, [], 0.0),
        (90_000, [(HTTP_PART, 0.001, 60)] * 7, 0.0),
        # By entries: 500 entries in 0.5 s, 89,500 left of what the memo knew.
        (90_000, [(HTTP_PART, 0.05, 50)] * 10, 89.5),
        # A memo that knows nothing: by the parts left (768 - 10), at the layout's pace.
        (0, [(HTTP_PART, 0.01, 50)] * 10, 7.58),
        # The small legacy parts come first; the pace starts over with http-v2's big ones:
        # 8 parts at 0.1 s each, 750 parts left, not the whole walk's average.
        (0, [(HTTP_PART, 0.001, 5)] * 10 + [(V2_PART, 0.1, 40)] * 8, 75.0),
    ],
)
def test_the_pace_of_a_walk_estimates_what_is_left(
    known: int,
    walks: list[tuple[walkers.Part, float, int]],
    expected: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _Clock()
    monkeypatch.setattr(time, "perf_counter", clock)
    pace = walkers._Pace(known)
    for part, seconds, entries in walks:
        pace.left(part, 768)
        clock.now += seconds
        pace.walked(entries)
    following = walks[-1][0] if walks else HTTP_PART
    assert pace.left(following, 768) == pytest.approx(expected, rel=1e-6)


class _ListingWalker:
    """A ``PartWalker`` of ``count`` parts of one entry each, with something unreadable met
    inside each part and while listing the next one: the order a walk reports them in."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.unreadable: list[str] = []
        self.worker_trouble: list[str] = []

    def parts(self) -> Iterator[walkers.Part | CacheEntry]:
        self.unreadable.append("top: listed")
        for index in range(self.count):
            yield walkers.Part(f"/c/http/{index:02}", Layout.HTTP)
            self.unreadable.append(f"after {index:02}: listed")

    def part_entries(self, part: walkers.Part) -> Iterator[CacheEntry]:
        self.unreadable.append(f"{part.path[-2:]}: inside")
        yield CacheEntry(f"{part.path}/e", Kind.UNKNOWN, Layout.HTTP, ())


def _tally_in_a_worker(job: tuple[walkers.WalkStart, tuple[walkers.Part, ...]]) -> Any:
    walker = _ListingWalker(0)
    tally = CacheTally()
    unreadable = []
    for part in job[1]:
        walker.unreadable = []
        for entry in walker.part_entries(part):
            tally.add(entry)
        unreadable.append(walker.unreadable)
    return walkers.PartTally(len(job[1]), tally, unreadable, b"")


class _LazyPool:
    """A pool whose answers are worked out only when asked for (never ``done`` before):
    the scanning process walks every part that finds the queue full."""

    def __init__(self, count: int) -> None:
        self.trouble: list[str] = []
        self.working = True
        self.jobs = 0

    def submit(self, run: Any, argument: Any, check: Any) -> Any:
        self.jobs += 1
        future: Future[Any] = Future()
        job = parallel.Job(future, check)
        job.run = lambda: future.set_result(run(argument))  # type: ignore[attr-defined]
        return job

    def result(self, job: Any) -> Any:
        job.run()
        answer = job.future.result()
        return answer if job.check(answer) else None

    def close(self, *, kill: bool = False) -> None:
        pass


@pytest.mark.parametrize("job", [_tally_in_a_worker, worker_faults.garbles])
def test_parts_sent_in_chunks_report_what_was_unreadable_in_walk_order(
    job: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The first chunk (8 parts) goes to the pool, the rest is walked here while it "works";
    # whoever walked a part, the lines come out as one process walking alone lists them.
    alone = _ListingWalker(12)
    alone_entries = [entry for part in alone.parts() for entry in alone.part_entries(part)]  # type: ignore[arg-type]
    monkeypatch.setattr(walkers, "_worth_spreading", lambda seconds_left: True)
    monkeypatch.setattr(walkers, "IN_FLIGHT", 1)
    monkeypatch.setattr(parallel, "worker_count", lambda: 2)
    monkeypatch.setattr(parallel, "Workers", _LazyPool)
    monkeypatch.setattr(walkers, "TALLY_JOB", job)
    spread = _ListingWalker(12)
    memo = AttributionMemo(tmp_path, None)
    start = walkers.WalkStart(str(tmp_path), None, 0.0)
    tally = walkers.spread_tally(spread, memo, start)
    assert spread.unreadable == alone.unreadable
    assert spread.unreadable[:3] == ["top: listed", "00: inside", "after 00: listed"]
    assert tally.buckets[Kind.UNKNOWN, Layout.HTTP][0] == len(alone_entries) == 12
