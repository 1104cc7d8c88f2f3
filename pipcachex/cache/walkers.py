"""Walking a large cache on every core for ``info``: worker processes tally parts of the tree.

A warm ``info`` reads nothing (the attribution memo knows every entry), and what is left is
CPU-bound Python in one process: listing some 180,000 directories of a 100,000-entry cache,
building an entry per file pair and looking it up in the memo. Threads cannot spread that (the
GIL), and shipping entries to the scanning process would cost it about as much as building
them. But ``info`` needs only totals, and totals add up (``CacheTally``).

So a tally walks the first parts of the walk (see ``Part``: 256 and more per HTTP layout) in
its own process, and once their pace (see ``_Pace``) says that the rest would take longer than
``SPREAD_FROM`` seconds, it starts a ``parallel.Workers`` pool of one worker fewer than there
are cores and hands it the remaining parts, ``CHUNK`` consecutive parts a job and at most
``IN_FLIGHT`` jobs per worker at a time; the parts that find the workers busy it walks itself.
A worker walks its parts exactly as the scanning process would, with a read-only copy of the
memo, and answers with their tally, what it could not read (per part), the memo keys it found
and the entries it had to read (``PartTally``). The scanning process merges the tallies and
writes the memo; a chunk whose worker was lost is walked there again.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

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
#: Parts per job: one answer and one tally to merge for several parts, not for each (a
#: 100,000-entry cache has 768 parts of some 130 entries).
CHUNK = 8
#: How much of the walk a ``_Pace`` measures before it estimates by parts, or by entries.
_PACE_PARTS = 8
_PACE_ENTRIES = 500
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
    """A worker's answer for a chunk of parts: their totals, and what the memo is to keep and
    learn; ``unreadable`` holds what could not be read, one list per part."""

    entries: int
    tally: CacheTally
    unreadable: list[list[str]]
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
    # This process walks too, whenever the workers have parts enough: one worker fewer than
    # there are cores keeps every core busy without two walkers taking turns on one.
    workers = parallel.worker_count() - 1
    pool: parallel.Workers | None = None
    flying: deque[tuple[list[tuple[Part, list[str]]], parallel.Job[PartTally]]] = deque()
    progress = _Progress(on_progress, tally)
    pace = _Pace(memo.known)
    finished = False

    def walk_here(part: Part, own: list[str]) -> None:
        walker.unreadable = own
        count = _tally_part(walker, part, tally)
        progress.add(count)
        pace.walked(count)

    def land() -> None:
        chunk, job = flying.popleft()
        assert pool is not None
        answer = pool.result(job)
        if answer is None or len(answer.unreadable) != len(chunk):
            for part, own in chunk:
                walk_here(part, own)
            return
        tally.merge(answer.tally)
        for (_, own), lines in zip(chunk, answer.unreadable, strict=True):
            own.extend(lines)
        memo.keep_known(answer.kept)
        for key, stamp, identity in answer.learnt:
            memo.record(key, stamp, identity)
        progress.add(answer.entries)

    try:
        index = 0
        while index < len(pieces):
            piece, trailing = pieces[index]
            index += 1
            own: list[str] = []
            slots += [own, trailing]
            if isinstance(piece, CacheEntry):
                tally.add(piece)
                progress.add(1)
                continue
            if pool is None and workers > 0 and _worth_spreading(pace.left(piece, parts)):
                pool = parallel.Workers(workers)
            if pool is not None and pool.working:
                while flying and flying[0][1].done:
                    land()
                # A part that finds the workers' queue full is walked here rather than waited
                # for: this process is as good a walker as any of them.
                if len(flying) < IN_FLIGHT * workers:
                    chunk = [(piece, own)]
                    while (
                        len(chunk) < CHUNK
                        and index < len(pieces)
                        and isinstance(pieces[index][0], Part)
                    ):
                        following, trailing = pieces[index]
                        index += 1
                        chunk.append((cast(Part, following), []))
                        slots += [chunk[-1][1], trailing]
                    job = pool.submit(
                        TALLY_JOB, (start, tuple(part for part, _ in chunk)), _is_part_tally
                    )
                    flying.append((chunk, job))
                    continue
            walk_here(piece, own)
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


def _worth_spreading(seconds_left: float) -> bool:
    """Whether the parts not walked yet would take long enough to start workers for them."""
    return seconds_left > SPREAD_FROM


class _Pace:
    """How long the parts not walked yet would take here, from what the walk took so far.

    Two estimates, the larger wins. By entries: the memo says how many entries the last scan
    found, and every entry costs about the same to walk, whatever its layout. By parts, for a
    cache the memo does not know: the layouts' parts differ in size (a cache holds a few legacy
    ``http/`` entries for many in ``http-v2/``, and the legacy layout is walked first), so
    their pace is measured afresh for each layout. Measured over the whole walk, the small
    legacy parts made a 100,000-entry ``info`` look too short to be worth any workers.
    """

    def __init__(self, expected_entries: int) -> None:
        self._expected = expected_entries
        self._started = self._since = time.perf_counter()
        self._layout: Layout | None = None
        self._in_layout = 0
        self._parts = 0
        self._entries = 0

    def left(self, part: Part, parts: int) -> float:
        """Seconds the ``parts`` of the walk not walked yet would take, ``part`` next."""
        now = time.perf_counter()
        if part.layout is not self._layout:
            self._layout, self._since, self._in_layout = part.layout, now, 0
        by_parts = by_entries = 0.0
        # Each needs a few parts' worth of measurement: the first parts walked, with little
        # in them, cost more than their share (the walk's code is still being warmed up).
        if self._in_layout >= _PACE_PARTS:
            by_parts = (now - self._since) / self._in_layout * (parts - self._parts)
        if self._entries >= _PACE_ENTRIES:
            left = max(0, self._expected - self._entries)
            by_entries = (now - self._started) / self._entries * left
        return max(by_parts, by_entries)

    def walked(self, entries: int) -> None:
        """One more part, of ``entries`` entries, was walked here."""
        self._in_layout += 1
        self._parts += 1
        self._entries += entries


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
        and type(answer.unreadable) is list
        and all(
            type(lines) is list and all(type(line) is str for line in lines)
            for lines in answer.unreadable
        )
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


def tally_parts(job: tuple[WalkStart, tuple[Part, ...]]) -> PartTally:
    """In a worker: walk a few parts as the scanning process would, and say what they held."""
    global _serving
    start, parts = job
    if _serving is None or _serving[0] != start:
        from pipcachex.cache.scan import walk_worker  # the walk lives there, and imports this

        _serving = (start, *walk_worker(start))
    _, walker, memo = _serving
    memo.report_to_parent()
    tally = CacheTally()
    count = 0
    unreadable: list[list[str]] = []
    for part in parts:
        walker.unreadable = []
        count += _tally_part(walker, part, tally)
        unreadable.append(walker.unreadable)
    kept, learnt = memo.take_report()
    return PartTally(count, tally, unreadable, kept, learnt)


#: The job the workers run on each chunk of parts (a module-level function: sent by name).
TALLY_JOB: Callable[[tuple[WalkStart, tuple[Part, ...]]], PartTally] = tally_parts
