"""Walking a large cache on every core for ``info``: worker processes tally parts of the tree.

A warm ``info`` reads nothing (the attribution memo knows every entry), and what is left is
CPU-bound Python in one process: listing some 180,000 directories of a 100,000-entry cache,
building an entry per file pair and looking it up in the memo. Threads cannot spread that (the
GIL), and shipping entries to the scanning process would cost it about as much as building
them. But ``info`` needs only totals, and totals add up (``CacheTally``).

So a tally walks the first parts of the walk (see ``Part``: 256 and more per HTTP layout) in
its own process, and once those say that the rest would take longer than ``SPREAD_FROM``
seconds, it hands the remaining parts to a ``parallel.Workers`` pool, at most ``IN_FLIGHT`` per
worker at a time; until a worker has answered, it walks the parts that find no room itself. A
worker walks a part exactly as the scanning process would, with a read-only copy of the memo,
and answers with the part's tally, what it could not read, the memo keys it found and the
entries it had to read (``PartTally``). The scanning process merges the tallies and writes the
memo; a part whose worker was lost is walked there again.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipcachex.cache import parallel
from pipcachex.cache.identify import Identity
from pipcachex.cache.memo import AttributionMemo, Stamp
from pipcachex.cache.model import CacheEntry, Layout
from pipcachex.cache.tally import CacheTally

#: Seconds of walking left, estimated from the parts walked so far, from which a tally starts
#: workers: a ``spawn``ed one (a new interpreter that imports pipcachex, and the running
#: script's own imports again, then loads the memo) takes most of a second of a core to start,
#: which a warm 10,000-entry ``info`` (about 2 s alone) did not win back.
SPREAD_FROM = 2.0
IN_FLIGHT = 2
_PROGRESS_EVERY = 500


@dataclass(frozen=True)
class Part:
    """A piece of a walk that one process can take alone (see ``scan._Walker.parts``).

    An HTTP part is everything below ``path`` or, when ``whole`` is false, only the files
    directly in it; a wheels part is the built-wheel directories from ``path`` down, ``path``
    being ``depth`` levels below ``wheels/``.
    """

    path: str
    layout: Layout
    whole: bool = True
    depth: int = 0


class PartWalker(Protocol):
    """What a tally needs of a walk: its pieces, and each part's entries."""

    unreadable: list[str]
    #: What went wrong with worker processes that were lost (their parts were walked here).
    worker_trouble: list[str]

    def parts(self) -> Iterator[Part | CacheEntry]:
        """The walk in its order, cut into parts; entries that belong to no part come as such."""
        ...

    def part_entries(self, part: Part) -> Iterator[CacheEntry]:
        """The entries of one part, in walk order (what cannot be read goes to ``unreadable``)."""
        ...


@dataclass(frozen=True)
class WalkStart:
    """What a worker needs to walk like the scanning process: the same root, memo and now."""

    root: str
    memo_directory: str | None
    now: float


@dataclass
class PartTally:
    """A worker's answer for one part: its totals, and what the memo is to keep and learn."""

    entries: int
    tally: CacheTally
    unreadable: list[str]
    #: The memo keys the worker found still valid, concatenated (``memo.KEY_LENGTH`` each).
    kept: bytes
    learnt: list[tuple[bytes, Stamp, Identity]] = field(default_factory=list)


def spread_tally(
    walker: PartWalker,
    memo: AttributionMemo,
    start: WalkStart,
    on_progress: Callable[[int, int], None] | None = None,
) -> CacheTally:
    """Walk everything ``walker`` has into one tally, on worker processes once it is worth it.

    Call it inside ``memo.recording()``. ``walker.unreadable`` ends up listing what could not
    be read, in walk order.
    """
    tally = CacheTally()
    destination = walker.unreadable
    # What could not be read, in walk order: before the first piece, then per piece its own
    # and what was met while finding the next one.
    before: list[str] = []
    walker.unreadable = before
    pieces: list[tuple[Part | CacheEntry, list[str]]] = []
    for piece in walker.parts():
        walker.unreadable = []
        pieces.append((piece, walker.unreadable))
    slots = [before]
    parts = sum(1 for piece, _ in pieces if isinstance(piece, Part))
    workers = parallel.worker_count()
    pool: parallel.Workers | None = None
    flying: deque[tuple[Part, list[str], parallel.Job[PartTally]]] = deque()
    progress = _Progress(on_progress, tally)
    started = time.perf_counter()
    walked = 0
    answered = False
    finished = False

    def land() -> None:
        nonlocal answered
        part, own, job = flying.popleft()
        assert pool is not None
        answer = pool.result(job)
        answered = True
        if answer is None:
            walker.unreadable = own
            progress.add(_tally_part(walker, part, tally))
            return
        tally.merge(answer.tally)
        own.extend(answer.unreadable)
        memo.keep_known(answer.kept)
        for key, stamp, identity in answer.learnt:
            memo.record(key, stamp, identity)
        progress.add(answer.entries)

    try:
        for piece, trailing in pieces:
            own: list[str] = []
            slots += [own, trailing]
            if isinstance(piece, CacheEntry):
                tally.add(piece)
                progress.add(1)
                continue
            elapsed = time.perf_counter() - started
            if pool is None and workers > 1 and _worth_spreading(elapsed, walked, parts):
                pool = parallel.Workers(workers)
            if pool is not None and pool.working:
                while flying and flying[0][2].done:
                    land()
                # Until a worker has answered (starting one takes a while), a part that finds
                # the workers' queue full is walked here rather than waited for.
                if len(flying) >= IN_FLIGHT * workers and answered:
                    land()
                if len(flying) < IN_FLIGHT * workers:
                    job = pool.submit(TALLY_JOB, (start, piece), _is_part_tally)
                    flying.append((piece, own, job))
                    continue
            walker.unreadable = own
            progress.add(_tally_part(walker, piece, tally))
            walked += 1
        while flying:
            land()
        progress.done()
        finished = True
    finally:
        if pool is not None:
            pool.close(kill=not finished)
            walker.worker_trouble += pool.trouble
        destination.extend(itertools.chain.from_iterable(slots))
        walker.unreadable = destination
    return tally


def _worth_spreading(elapsed: float, walked: int, parts: int) -> bool:
    """Whether the parts not walked yet would take long enough to start workers for them."""
    return walked > 0 and elapsed / walked * (parts - walked) > SPREAD_FROM


def _tally_part(walker: PartWalker, part: Part, tally: CacheTally) -> int:
    count = 0
    for entry in walker.part_entries(part):
        tally.add(entry)
        count += 1
    return count


def _is_part_tally(answer: Any) -> bool:
    return (
        type(answer) is PartTally
        and type(answer.tally) is CacheTally
        and type(answer.kept) is bytes
        and all(type(line) is str for line in answer.unreadable)
    )


class _Progress:
    """Entries and bytes counted so far, reported every ``_PROGRESS_EVERY`` entries."""

    def __init__(self, callback: Callable[[int, int], None] | None, tally: CacheTally) -> None:
        self._callback = callback
        self._tally = tally
        self._count = 0
        self._reported = 0

    def add(self, count: int) -> None:
        self._count += count
        if self._callback is not None and self._count - self._reported >= _PROGRESS_EVERY:
            self._reported = self._count
            self._callback(self._count, self._tally.total_size())

    def done(self) -> None:
        if self._callback is not None:
            self._callback(self._count, self._tally.total_size())


#: In a worker: the walk it serves (one per scan; a pool serves one scan).
_serving: tuple[WalkStart, PartWalker, AttributionMemo] | None = None


def tally_part(job: tuple[WalkStart, Part]) -> PartTally:
    """In a worker: walk one part as the scanning process would, and say what it found."""
    global _serving
    start, part = job
    if _serving is None or _serving[0] != start:
        from pipcachex.cache.scan import walk_worker  # the walk lives there, and imports this

        _serving = (start, *walk_worker(start))
    _, walker, memo = _serving
    memo.report_to_parent()
    walker.unreadable = []
    tally = CacheTally()
    count = _tally_part(walker, part, tally)
    kept, learnt = memo.take_report()
    return PartTally(count, tally, walker.unreadable, kept, learnt)


#: The job the workers run on each part (a module-level function: it is sent by name).
TALLY_JOB: Callable[[tuple[WalkStart, Part]], PartTally] = tally_part
