"""Handing a walk's unread HTTP entries to worker processes, and putting its entries back in order.

A scan yields entries in walk order. Once it has met ``WORKERS_FROM`` entries the memo does not
know, and more than one core is usable, it stops reading them itself: it yields an ``Unread``
placeholder instead, which ``ReadAhead`` gathers into batches for the workers of a
``readers.ReaderPool`` while the walk goes on. Entries come out in the walk's order all the
same, each once its batch is answered. Memory stays bounded: at most ``IN_FLIGHT_PER_WORKER``
batches per worker are out, and at most ``MAX_WAITING`` entries wait behind an unanswered one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from pipcachex.cache import readers
from pipcachex.cache.attribute import Task, attribute
from pipcachex.cache.identify import Identity
from pipcachex.cache.memo import Stamp
from pipcachex.cache.model import CacheEntry, CacheFile, Layout

#: Entries the walk reads itself before it starts workers: starting one (a new interpreter that
#: imports pipcachex) costs about as much as reading a few hundred entries.
WORKERS_FROM = 1000
BATCH = 256
IN_FLIGHT_PER_WORKER = 2
MAX_WAITING = 4096


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
_Batch = tuple[list[Unread], "Future[list[Identity]]"]


class ReadAhead:
    """One scan's hand-over to the workers; ``finish`` turns an answer into the entry."""

    def __init__(self, finish: Finish, workers: int | None = None) -> None:
        """``workers``: how many may be started (default: ``readers.worker_count()``)."""
        #: What went wrong with workers that were lost (their entries were read here instead).
        self.worker_trouble: list[str] = []
        self._finish = finish
        self._unknown = 0
        self._workers = readers.worker_count() if workers is None else workers
        self._pool: readers.ReaderPool | None = None
        self._batch: list[Unread] = []
        self._flying: deque[_Batch] = deque()

    @property
    def may_hand_over(self) -> bool:
        """Whether any entry may go to the workers (with fewer than two cores, none does)."""
        return self._workers > 1

    def hand_over(self) -> bool:
        """Whether the next entry the memo does not know goes to the workers (else: read it)."""
        self._unknown += 1
        return self.may_hand_over and self._unknown > WORKERS_FROM

    def in_order(self, items: Iterator[CacheEntry | Unread]) -> Iterator[CacheEntry]:
        """The walk's entries in its order, the unread ones read by the workers meanwhile."""
        waiting: deque[CacheEntry | Unread] = deque()
        finished = False
        try:
            for item in items:
                if not waiting and type(item) is CacheEntry:
                    yield item
                    continue
                waiting.append(item)
                if type(item) is Unread:
                    self._batch.append(item)
                    if len(self._batch) >= BATCH:
                        self._send()
                self._collect(block=False)
                if len(waiting) > MAX_WAITING:
                    self._wait_for(waiting[0])
                yield from _ready(waiting)
            while waiting:
                self._wait_for(waiting[0])
                yield from _ready(waiting)
            finished = True
        finally:
            if self._pool is not None:
                # Interrupted (Ctrl-C, an error downstream): the workers go at once.
                self.worker_trouble += self._pool.close(kill=not finished)
                self._pool = None

    def _send(self) -> None:
        batch, self._batch = self._batch, []
        if self._pool is None:
            self._pool = readers.ReaderPool(self._workers)
        while len(self._flying) >= IN_FLIGHT_PER_WORKER * max(1, self._pool.size):
            self._collect(block=True)
        self._flying.append((batch, self._pool.submit([unread.task for unread in batch])))

    def _wait_for(self, head: CacheEntry | Unread) -> None:
        if not isinstance(head, Unread):
            return
        if head.entry is None and not self._flying:
            self._send()  # the head is in the batch still being filled
        while head.entry is None:
            self._collect(block=True)

    def _collect(self, *, block: bool) -> None:
        """Finish the oldest batches that are answered (with ``block``, at least one)."""
        while self._flying and (block or self._flying[0][1].done()):
            batch, future = self._flying.popleft()
            try:
                identities = future.result()
            except readers.WorkerGone:
                identities = [attribute(*unread.task) for unread in batch]
            for unread, identity in zip(batch, identities, strict=True):
                unread.entry = self._finish(unread, identity)
            block = False


def _ready(waiting: deque[CacheEntry | Unread]) -> Iterator[CacheEntry]:
    """Take the entries at the head of ``waiting`` that are complete."""
    while waiting:
        head = waiting[0]
        if isinstance(head, Unread):
            if head.entry is None:
                return
            waiting.popleft()
            yield head.entry
        else:
            waiting.popleft()
            yield head
