"""``info`` spread over walk worker processes: the same figures as one process walking alone.

On a large cache ``info`` hands parts of the walk to worker processes that tally them (see
``cache.walkers``). These tests force that on for a small cache (both layouts, written by real
pips, plus damaged entries), with the scanning process forbidden to walk any part itself, and
compare the ``--json`` document with one process's; they check that the memo the workers fill is
complete, then break the workers and check ``info`` still answers the same and no worker
outlives an interrupted tally.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke

from pipcachex.cache import CacheWalk, readers, scan, walkers


def _info(cache: Path, memo: Path) -> dict[str, Any]:
    result = invoke(
        ["info", "--json", "--cache-dir", str(cache)],
        env={"PIP_CONFIG_FILE": "/dev/null", "PIPCACHEX_MEMO_DIR": str(memo)},
    )
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = result.json
    return document


def _memo_files(memo: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in memo.iterdir()}


def _one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walkers, "_worth_spreading", lambda *args: False)


def _force_walkers(monkeypatch: pytest.MonkeyPatch, workers: int = 2) -> None:
    """From the first part on, every part goes to ``workers`` workers."""
    monkeypatch.setattr(walkers, "_worth_spreading", lambda *args: True)
    monkeypatch.setattr(walkers, "IN_FLIGHT", 1_000_000)
    monkeypatch.setattr(readers, "worker_count", lambda: workers)


def _patched_worker(directory: Path, name: str, patch: str) -> str:
    """A walk worker module named ``name`` that runs the code ``patch`` first."""
    prelude = "import os\nfrom pipcachex.cache import memo, scan, walkers\n"
    (directory / f"{name}.py").write_text(prelude + patch + "walkers.serve(scan.walk_worker)\n")
    return name


TALLY_PART = walkers._tally_part


def _no_walking_here(*args: object) -> int:
    raise AssertionError(f"a part walked in the scanning process: {args}")


def test_walk_workers_tally_exactly_as_one_process(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    started_workers: list[subprocess.Popen[bytes]],
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
    assert len(started_workers) == 2
    assert all(process.returncode == 0 for process in started_workers)
    # A second one finds them all in the memo the workers filled.
    assert _info(busy_cache, spread_memo) == alone
    assert len(started_workers) == 4

    # The memo the workers filled is complete: one process walking alone, forbidden to read
    # anything, still finds every entry.
    _one_process(monkeypatch)
    monkeypatch.setattr(walkers, "_tally_part", TALLY_PART)

    def no_reading_here(*args: object) -> object:
        raise AssertionError(f"read an entry the memo should know: {args}")

    monkeypatch.setattr(scan, "attribute", no_reading_here)
    assert _info(busy_cache, spread_memo) == alone


def test_info_walks_itself_what_broken_walk_workers_lost(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    started_workers: list[subprocess.Popen[bytes]],
    fake_worker: Callable[..., None],
) -> None:
    memo = tmp_path / "memo"
    _one_process(monkeypatch)
    alone = _info(busy_cache, memo)
    memo_before = _memo_files(memo)
    _force_walkers(monkeypatch)

    # A worker that takes its first message and dies without a word.
    fake_worker("dying_worker")
    assert _info(busy_cache, memo) == alone
    assert len(started_workers) == 2 and all(p.returncode == 0 for p in started_workers)

    # A worker that starts, answers its first part with nonsense, then waits for more.
    fake_worker("garbling_worker", True, ["many", "errors"])
    assert _info(busy_cache, memo) == alone

    # A real worker that dies after its first part, taking its tally and memo records along.
    short_lived = _patched_worker(
        tmp_path,
        "short_lived_worker",
        "answers = []\n"
        "real_part = walkers._tally_part\n"
        "def once(*args):\n"
        "    answers.append(1)\n"
        "    if len(answers) > 1:\n"
        "        os._exit(3)\n"
        "    return real_part(*args)\n"
        "walkers._tally_part = once\n",
    )
    monkeypatch.setattr(readers, "WORKER_MODULE", short_lived)
    fresh = tmp_path / "fresh-memo"
    assert _info(busy_cache, fresh) == alone
    # Records were lost with that worker, so no memo is written (a complete one would be).
    assert _memo_files(fresh) == {}

    # A real worker that dies when asked for its memo records, once every part is tallied.
    recordless = _patched_worker(
        tmp_path, "recordless_worker", "memo.AttributionMemo.records = lambda self: os._exit(3)\n"
    )
    monkeypatch.setattr(readers, "WORKER_MODULE", recordless)
    fresh = tmp_path / "fresh-memo-2"
    assert _info(busy_cache, fresh) == alone
    assert _memo_files(fresh) == {}

    # Workers that cannot run at all (no such module); --verbose says so, with their stderr.
    monkeypatch.setattr(readers, "WORKER_MODULE", "pipcachex.no_such_module")
    assert _info(busy_cache, memo) == alone
    told = _told(busy_cache, memo)
    assert told.count("a walk worker") == 2, told
    assert "stopped with exit code 1: " in told
    assert "No module named pipcachex.no_such_module" in told

    # And a machine where processes cannot be started.
    def cannot_start(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        raise OSError("no more processes")

    monkeypatch.setattr(readers, "start_worker", cannot_start)
    assert _info(busy_cache, memo) == alone
    assert _memo_files(memo) == memo_before
    assert "could not start a walk worker: no more processes" in _told(busy_cache, memo)


def _told(cache: Path, memo: Path) -> str:
    """What ``info --verbose`` says on stderr."""
    result = invoke(
        ["info", "-v", "--cache-dir", str(cache)],
        env={"PIP_CONFIG_FILE": "/dev/null", "PIPCACHEX_MEMO_DIR": str(memo)},
    )
    assert result.exit_code == 0, result.stderr
    return result.stderr


def test_no_walk_worker_outlives_an_interrupted_tally(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    started_workers: list[subprocess.Popen[bytes]],
) -> None:
    _force_walkers(monkeypatch)
    monkeypatch.setattr(walkers, "_PROGRESS_EVERY", 1)
    seen: list[int] = []

    def interrupt(count: int) -> None:
        seen.append(count)
        if len(seen) == 3:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a tally

    with pytest.raises(KeyboardInterrupt):
        CacheWalk(busy_cache, on_progress=interrupt).tally()
    assert len(started_workers) == 2
    assert all(process.returncode is not None for process in started_workers)


def test_a_small_cache_starts_no_walk_worker(
    busy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    started_workers: list[subprocess.Popen[bytes]],
) -> None:
    # Cores enough for workers, so only the estimate of the walk keeps them from starting.
    monkeypatch.setattr(readers, "worker_count", lambda: 3)
    assert _info(busy_cache, tmp_path / "memo")["total"]["entries"] > 60
    assert started_workers == []
