"""Handing a walk's unread HTTP entries to worker processes, and putting its entries back in order.

A scan yields entries in walk order. Once it has met ``WORKERS_FROM`` entries the memo does not
know, and more than one core is usable, it stops reading them itself: it yields an ``Unread``
placeholder instead, which ``ReadAhead`` gathers into batches of ``BATCH`` for the workers of a
``parallel.Workers`` pool while the walk goes on. Entries come out in the walk's order all the
same, each once its batch is answered (or, if the workers were lost, read here). Memory stays
bounded: at most ``IN_FLIGHT`` batches per worker are out, each with at most ``MAX_WAITING``
entries waiting behind it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pipcachex.cache import parallel
from pipcachex.cache.attribute import Task, attribute, attribute_all
from pipcachex.cache.identify import Identity
from pipcachex.cache.memo import Stamp
from pipcachex.cache.model import CacheEntry, CacheFile, Layout

#: Entries the walk reads itself before it starts workers: starting one (a new interpreter that
#: imports pipcachex) costs about as much as reading a few hundred entries.
WORKERS_FROM = 1000
BATCH = 256
IN_FLIGHT = 2
MAX_WAITING = 4096
#: The job the workers run on each batch (a module-level function: it is sent by name).
READ_JOB: Callable[[list[Task]], list[Identity]] = attribute_all


@dataclass(slots=True, eq=False)
class Unread:
    """An HTTP entry the walk found and left for a worker to read; ``entry`` once it is read."""

    path: str
    layout: Layout
    files: tuple[CacheFile, ...]
    key: bytes
    stamp: Stamp
    task: Task
    entry: CacheEntry | None = None


Finish = Callable[[Unread, Identity], CacheEntry]
_Batch = tuple[list["CacheEntry | Unread"], list[Unread], "parallel.Job[list[Identity]] | None"]


class ReadAhead:
    """One scan's hand-over to the workers; ``finish`` turns an answer into the entry."""

    def __init__(self, finish: Finish, workers: int | None = None) -> None:
        """``workers``: how many may be started (default: ``parallel.worker_count()``)."""
        #: What went wrong with workers that were lost (their entries were read here instead).
        self.worker_trouble: list[str] = []
        self._finish = finish
        self._unknown = 0
        self._workers = parallel.worker_count() if workers is None else workers
        self._pool: parallel.Workers | None = None

    @property
    def may_hand_over(self) -> bool:
        """Whether any entry may go to the workers (with fewer than two cores, none does)."""
        return self._workers > 1

    def hand_over(self) -> bool:
        """Whether the next entry the memo does not know goes to the workers (else: read it)."""
        self._unknown += 1
        working = self._pool is None or self._pool.working
        return self.may_hand_over and working and self._unknown > WORKERS_FROM

    def in_order(self, items: Iterator[CacheEntry | Unread]) -> Iterator[CacheEntry]:
        """The walk's entries in its order, the unread ones read by the workers meanwhile."""
        waiting: list[CacheEntry | Unread] = []
        unread: list[Unread] = []
        flying: deque[_Batch] = deque()
        finished = False
        try:
            for item in items:
                if not waiting and not flying and type(item) is CacheEntry:
                    yield item
                    continue
                waiting.append(item)
                if type(item) is Unread:
                    unread.append(item)
                if len(unread) >= BATCH or len(waiting) >= MAX_WAITING:
                    flying.append(self._send(waiting, unread))
                    waiting, unread = [], []
                while flying and (len(flying) > self._room() or _answered(flying[0])):
                    yield from self._land(flying.popleft())
            if waiting:
                flying.append(self._send(waiting, unread))
            while flying:
                yield from self._land(flying.popleft())
            finished = True
        finally:
            if self._pool is not None:
                # Interrupted (Ctrl-C, an error downstream): the workers go at once.
                self._pool.close(kill=not finished)
                self.worker_trouble += self._pool.trouble
                self._pool = None

    def _room(self) -> int:
        return IN_FLIGHT * max(1, self._workers)

    def _send(self, waiting: list[CacheEntry | Unread], unread: list[Unread]) -> _Batch:
        if not unread:
            return waiting, unread, None
        if self._pool is None:
            self._pool = parallel.Workers(self._workers)
        count = len(unread)
        job = self._pool.submit(
            READ_JOB, [item.task for item in unread], lambda answer: _sound(answer, count)
        )
        return waiting, unread, job

    def _land(self, batch: _Batch) -> Iterator[CacheEntry]:
        waiting, unread, job = batch
        identities = None
        if job is not None and self._pool is not None:
            identities = self._pool.result(job)
        if identities is None:
            identities = [attribute(*item.task) for item in unread]
        for one, identity in zip(unread, identities, strict=True):
            one.entry = self._finish(one, identity)
        for item in waiting:
            if isinstance(item, Unread):
                assert item.entry is not None
                yield item.entry
            else:
                yield item


def _answered(batch: _Batch) -> bool:
    job = batch[2]
    return job is None or job.done


def _sound(answer: Any, count: int) -> bool:
    """Whether a worker's answer is ``count`` identities."""
    return (
        type(answer) is list
        and len(answer) == count
        and all(type(item) is Identity for item in answer)
    )
