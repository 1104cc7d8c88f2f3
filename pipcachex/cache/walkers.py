"""Walking a large cache on every core for ``info``: worker processes tally parts of the tree.

A warm ``info`` reads nothing (the attribution memo knows every entry), and what is left is
CPU-bound Python in one process: listing some 180,000 directories of a 100,000-entry cache,
building an entry per file pair and looking it up in the memo. Threads cannot spread that (the
GIL), and shipping entries to the scanning process would cost it about as much as building
them. But ``info`` needs only totals, and totals add up (``CacheTally``).

So a tally walks the first parts of the walk (see ``Part``: 256 and more per HTTP layout) in
its own process, and once those say that the rest would take longer than ``SPREAD_FROM``
seconds, it starts one walk worker per usable core (``python -m pipcachex.cache.worker walk``)
and hands them the remaining parts, at most ``IN_FLIGHT`` per worker. It walks parts itself
only until a worker is up. A worker walks a part exactly as the scanning process would, with
its own copy of the memo, adds the entries into its own tally, and answers with how many it
found and what it could not read. At the end each sends its tally and how many memo records it
kept or learnt; the scanning process merges the tallies and, only if the memo changed, asks each
worker for its records in turn and writes the one memo file.

A worker that dies or answers wrongly has every part it took walked again by the scanning
process, and the memo file is then left as it was (the records that worker kept are lost; only
time is). Nothing outlives the tally.

Messages are msgpack values, one answer per message, in order: ``[root, memo directory or
None, now]`` gets ``True``; a part ``[path, layout, whole, depth]`` gets ``[entries,
unreadable]``; ``None`` gets ``[tally, memo records kept, any new]``; and, only when the memo
file is to be replaced, ``"records"`` gets the worker's memo records.
"""

from __future__ import annotations

import gc
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack

from pipcachex.cache import readers
from pipcachex.cache.memo import AttributionMemo
from pipcachex.cache.model import CacheEntry, Layout
from pipcachex.cache.readers import ENCODING_ERRORS, Worker, WorkerGone, worker_trouble
from pipcachex.cache.tally import CacheTally

#: Seconds of walking left, estimated from the parts walked so far, from which a tally starts
#: workers: one (a new interpreter that imports pipcachex and loads the memo) takes some 0.15 s
#: of a core to start.
SPREAD_FROM = 0.5
IN_FLIGHT = 2
_PROGRESS_EVERY = 500
_LAYOUTS = {layout.value: layout for layout in Layout}


@dataclass(frozen=True, slots=True)
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
    #: What went wrong with walk workers that were lost (their parts were walked here instead).
    worker_trouble: list[str]

    def parts(self) -> Iterator[Part | CacheEntry]:
        """The walk in its order, cut into parts; entries that belong to no part come as such."""
        ...

    def part_entries(self, part: Part) -> Iterator[CacheEntry]:
        """The entries of one part, in walk order (what cannot be read goes to ``unreadable``)."""
        ...


@dataclass(frozen=True, slots=True)
class WalkStart:
    """What a walk worker needs to walk like the scanning process: the same root, memo and now."""

    root: str
    memo_directory: str | None
    now: float


PartAnswer = tuple[int, list[str]]
Ending = tuple[CacheTally, int, bool]


def spread_tally(
    walker: PartWalker,
    memo: AttributionMemo,
    start: WalkStart,
    on_progress: Callable[[int], None] | None = None,
) -> CacheTally:
    """Walk everything ``walker`` has into one tally, on worker processes once it is worth it.

    Call it inside ``memo.recording()``: the workers' memo records are added to it.
    ``walker.unreadable`` ends up listing what could not be read, in walk order.
    """
    tally = CacheTally()
    destination = walker.unreadable
    # Messages in walk order: those met before the first piece, then per piece its own and
    # those met while finding the next one.
    slots, pieces = _planned(walker)
    parts = sum(1 for piece, _ in pieces if isinstance(piece, Part))
    given: dict[int, tuple[Part, list[str]]] = {}
    pool: _Walkers | None = None
    progress = _Progress(on_progress)
    started = time.perf_counter()
    walked = 0
    finished = False
    try:
        for index, (piece, trailing) in enumerate(pieces):
            own: list[str] = []
            slots += [own, trailing]
            if isinstance(piece, CacheEntry):
                tally.add(piece)
                progress.add(1)
                continue
            if pool is None and _worth_spreading(time.perf_counter() - started, walked, parts):
                pool = _Walkers(readers.worker_count(), start)
            if pool is not None and pool.offer(index, piece):
                given[index] = (piece, own)
            else:
                walker.unreadable = own
                progress.add(_tally_part(walker, piece, tally))
                walked += 1
            if pool is not None:
                _take_answers(pool, given, progress)
        if pool is not None:
            endings, lost = pool.finish()
            _take_answers(pool, given, progress)
            for index in lost:
                part, own = given[index]
                own.clear()
                walker.unreadable = own
                progress.add(_tally_part(walker, part, tally))
            for worker_tally, kept, dirty in endings:
                tally.merge(worker_tally)
                memo.adopt(kept, dirty)
            # Records lost with a worker, or not handed over, leave the memo file as it was.
            if lost or (memo.will_replace() and not pool.hand_records(memo.add_records)):
                memo.abandon()
        progress.done()
        finished = True
    finally:
        if pool is not None:
            walker.worker_trouble += pool.close(kill=not finished)
        destination.extend(itertools.chain.from_iterable(slots))
        walker.unreadable = destination
    return tally


Piece = tuple[Part | CacheEntry, list[str]]


def _planned(walker: PartWalker) -> tuple[list[list[str]], list[Piece]]:
    """The walk's pieces, each with what could not be read while finding the next one."""
    before: list[str] = []
    walker.unreadable = before
    pieces: list[Piece] = []
    for piece in walker.parts():
        trailing: list[str] = []
        walker.unreadable = trailing
        pieces.append((piece, trailing))
    return [before], pieces


def _worth_spreading(elapsed: float, walked: int, parts: int) -> bool:
    """Whether the parts not walked yet would take long enough to start workers for them."""
    if walked == 0 or readers.worker_count() < 2:
        return False
    return elapsed / walked * (parts - walked) > SPREAD_FROM


def _tally_part(walker: PartWalker, part: Part, tally: CacheTally) -> int:
    count = 0
    for entry in walker.part_entries(part):
        tally.add(entry)
        count += 1
    return count


def _take_answers(
    pool: _Walkers, given: dict[int, tuple[Part, list[str]]], progress: _Progress
) -> None:
    for index, (count, unreadable) in pool.answered():
        given[index][1].extend(unreadable)
        progress.add(count)


class _Progress:
    """Entries counted so far, reported every ``_PROGRESS_EVERY``."""

    def __init__(self, callback: Callable[[int], None] | None) -> None:
        self._callback = callback
        self._count = 0
        self._reported = 0

    def add(self, count: int) -> None:
        self._count += count
        if self._callback is not None and self._count - self._reported >= _PROGRESS_EVERY:
            self._reported = self._count
            self._callback(self._count)

    def done(self) -> None:
        if self._callback is not None:
            self._callback(self._count)


class _Walkers:
    """The walk workers of one tally, and the parts each one holds or has walked."""

    def __init__(self, count: int, start: WalkStart) -> None:
        self._workers: list[Worker] = []
        self._started: dict[Worker, Future[None]] = {}
        self._taken: dict[Worker, list[int]] = {}
        self._flying: list[tuple[Worker, int, Future[PartAnswer]]] = []
        self._trouble: list[str] = []
        hello = [start.root, start.memo_directory, start.now]
        try:
            for _ in range(count):
                worker = Worker.start("walk")
                self._workers.append(worker)
                self._started[worker] = worker.send(hello, _started)
                self._taken[worker] = []
        except OSError as exc:
            # Fewer workers, or none: the tally walks the parts itself.
            self._trouble.append(f"could not start a walk worker: {exc}")

    def offer(self, index: int, part: Part) -> bool:
        """Give ``part`` to the least busy worker, False if the caller had better walk it.

        Until a worker has started, a part goes to one with room or back to the caller, which
        walks it meanwhile. From then on the caller waits for room: one more process walking
        on the same cores only adds switching between them.
        """
        while True:
            alive = [worker for worker in self._workers if not worker.gone]
            holding = {worker: 0 for worker in alive}
            for worker, _, future in self._flying:
                if worker in holding and not future.done():
                    holding[worker] += 1
            free = [worker for worker in alive if holding[worker] < IN_FLIGHT]
            if free:
                worker = min(free, key=holding.__getitem__)
                message = [part.path, part.layout.value, part.whole, part.depth]
                self._flying.append((worker, index, worker.send(message, _part_answer)))
                self._taken[worker].append(index)
                return True
            if not any(_succeeded(self._started[worker]) for worker in alive):
                return False
            busy = [future for worker, _, future in self._flying if worker in holding]
            wait(busy, return_when=FIRST_COMPLETED)

    def answered(self) -> list[tuple[int, PartAnswer]]:
        """The parts answered since the last call (a part whose worker died is not answered)."""
        # done() is asked once per part: a reader thread may finish one meanwhile.
        done = [(item, item[2].done()) for item in self._flying]
        self._flying = [item for item, finished in done if not finished]
        return [
            (index, future.result())
            for (_, index, future), finished in done
            if finished and future.exception() is None
        ]

    def finish(self) -> tuple[list[Ending], list[int]]:
        """Every worker's tally and memo share, and the parts of the workers that were lost."""
        endings = [(worker, worker.send(None, _ending)) for worker in self._workers]
        done: list[Ending] = []
        lost: list[int] = []
        for worker, future in endings:
            try:
                done.append(future.result())
            except WorkerGone:
                lost += self._taken[worker]
        # A lost worker's parts are walked again, so their answers are dropped (the progress
        # count may run ahead by what it had answered; no figure of the tally does).
        lost_set = set(lost)
        self._flying = [item for item in self._flying if item[1] not in lost_set]
        return done, sorted(lost)

    def hand_records(self, write: Callable[[bytes], None]) -> bool:
        """Pass each worker's memo records to ``write``, one worker at a time; False if lost."""
        for worker in self._workers:
            try:
                write(worker.send("records", _records).result())
            except WorkerGone:
                return False
        return True

    def close(self, *, kill: bool) -> list[str]:
        """Stop every worker (at once with ``kill``); say what went wrong with lost ones."""
        for worker in self._workers:
            worker.stop(kill=kill)
        workers, self._workers = self._workers, []
        return self._trouble + worker_trouble(workers, "walk")


def _succeeded(future: Future[None]) -> bool:
    return future.done() and future.exception() is None


def _started(answer: Any) -> None:
    if answer is not True:
        raise ValueError("a walk worker did not start")


def _part_answer(answer: Any) -> PartAnswer:
    count, unreadable = answer
    if type(count) is not int or not all(type(item) is str for item in unreadable):
        raise ValueError("a walk worker answered a part wrongly")
    return count, list(unreadable)


def _ending(answer: Any) -> Ending:
    wire, kept, dirty = answer
    if type(kept) is not int or type(dirty) is not bool:
        raise ValueError("a walk worker ended wrongly")
    return CacheTally.from_wire(wire), kept, dirty


def _records(answer: Any) -> bytes:
    if type(answer) is not bytes:
        raise ValueError("a walk worker sent no memo records")
    return answer


WalkerFactory = Callable[[WalkStart], tuple[PartWalker, AttributionMemo]]


def serve(make_walker: WalkerFactory) -> None:
    """A walk worker's whole life: parts from stdin, tallied; answers to stdout."""
    unpacker = msgpack.Unpacker(use_list=False, unicode_errors=ENCODING_ERRORS)
    packer = msgpack.Packer(unicode_errors=ENCODING_ERRORS)
    out = sys.stdout.buffer
    walker: PartWalker | None = None
    memo: AttributionMemo | None = None
    tally = CacheTally()
    # Nothing a worker makes is in a reference cycle, and the collector's passes over the memo
    # and the tally are wasted: the process ends with the tally (see scan._collector_paused).
    gc.disable()
    while chunk := os.read(sys.stdin.fileno(), 1 << 16):
        unpacker.feed(chunk)
        for message in unpacker:
            answer: object
            if walker is None or memo is None:
                root, memo_directory, now = message
                walker, memo = make_walker(WalkStart(root, memo_directory, now))
                memo.record_in_memory()
                answer = True
            elif message is None:
                answer = [tally.to_wire(), *memo.counts()]
            elif message == "records":
                answer = memo.records()
            else:
                path, layout, whole, depth = message
                walker.unreadable = []
                count = _tally_part(walker, Part(path, _LAYOUTS[layout], whole, depth), tally)
                answer = [count, walker.unreadable]
            out.write(packer.pack(answer))
            out.flush()
