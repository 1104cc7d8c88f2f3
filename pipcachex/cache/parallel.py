"""Worker processes for a scan: one pool, answers waited for with a timeout, losses redone here.

Reading entries the memo does not know (``attribute``: CPU-bound Python, 190-470 µs an entry)
and walking a large cache for ``info`` leave every core but one idle in a single process. A
``Workers`` pool runs jobs on up to ``MAX_WORKERS`` processes started with ``spawn``: each is a
fresh interpreter, as on Windows and macOS, where it is the default, so the code path is the
same everywhere and nothing is inherited by forking a process that runs threads.

The caller submits jobs and asks for their results in its own order. A result that does not
come within ``TIMEOUT`` seconds, a worker that dies or cannot start, an answer that fails the
job's check: each gives the pool up (its workers are killed), says why in ``trouble`` (shown by
``--verbose``), and makes ``result`` return None, for this job and every later one, so the
caller does the work itself. Workers only read; the memo is written by the scanning process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

MAX_WORKERS = 4
#: Seconds a result may take. A batch takes well under one; a loaded machine is given plenty.
TIMEOUT = 30.0
_A = TypeVar("_A")
_R = TypeVar("_R")


def worker_count() -> int:
    """How many workers are worth starting here: one per usable core, at most ``MAX_WORKERS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return min(MAX_WORKERS, cores)


@dataclass(eq=False)
class Job(Generic[_R]):
    """A submitted job: its answer once a worker gives it (``future`` None: none will)."""

    future: Future[_R] | None
    check: Callable[[Any], bool]

    @property
    def done(self) -> bool:
        """Whether asking for the result would not wait."""
        return self.future is None or self.future.done()


class Workers:
    """A pool of up to ``count`` worker processes, started when the first job is submitted."""

    def __init__(self, count: int) -> None:
        #: What went wrong, one line per failure, for ``--verbose``.
        self.trouble: list[str] = []
        #: Every worker process started, by pid.
        self.processes: dict[int, BaseProcess] = {}
        self._count = count
        self._executor: ProcessPoolExecutor | None = None
        self._failed = False
        self._errors: str | None = None

    @property
    def working(self) -> bool:
        """Whether jobs still go to the workers (False once the pool was given up)."""
        return not self._failed

    def submit(
        self, run: Callable[[_A], _R], argument: _A, check: Callable[[Any], bool]
    ) -> Job[_R]:
        """Have a worker compute ``run(argument)``; ``check`` tells a sound answer from garbage.

        ``run`` must be a module-level function, ``argument`` plain data (they are pickled).
        """
        if self._failed:
            return Job(None, check)
        try:
            if self._executor is None:
                fd, self._errors = tempfile.mkstemp(prefix="pipcachex-workers-", suffix=".log")
                os.close(fd)
                self._executor = ProcessPoolExecutor(
                    self._count,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self._errors,),
                )
            future = self._executor.submit(run, argument)
        except BrokenProcessPool:  # a worker died before this job could be handed over
            self._track()
            self._fail(self._lost())
            return Job(None, check)
        except Exception as exc:  # OSError: no worker will answer
            self._track()
            self._fail(f"could not start a worker process: {exc}")
            return Job(None, check)
        self._track()
        return Job(future, check)

    def _track(self) -> None:
        """Remember every process the pool started (it starts them as jobs come), to kill."""
        if self._executor is not None:
            self.processes.update(getattr(self._executor, "_processes", None) or {})

    def result(self, job: Job[_R]) -> _R | None:
        """The answer to ``job``, or None when the caller must do it itself."""
        if job.future is None or self._failed:
            return None
        try:
            answer = job.future.result(timeout=TIMEOUT)
        except FutureTimeout:
            self._fail(f"{self._who()} did not answer within {TIMEOUT:g} s")
        except BrokenProcessPool:
            self._fail(self._lost())
        except Exception as exc:  # the job raised in the worker, or its answer did not unpickle
            self._fail(f"{self._who()} failed: {exc!r}")
        else:
            if job.check(answer):
                return answer
            self._fail(f"{self._who()} answered wrongly ({type(answer).__name__})")
        return None

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers: at once with ``kill`` (or once given up), else when they are idle."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        if kill or self._failed:
            self._kill()
        executor.shutdown(wait=True, cancel_futures=True)
        for process in self.processes.values():
            process.join(5)
        if self._errors is not None:
            with suppress(OSError):
                os.unlink(self._errors)

    def _fail(self, why: str) -> None:
        self._failed = True
        self.trouble.append(why + _last_line(self._errors))
        self._kill()

    def _kill(self) -> None:
        for process in self.processes.values():
            if process.exitcode is None:
                with suppress(OSError, ValueError, AttributeError):
                    process.kill()

    def _who(self) -> str:
        pids = ", ".join(str(pid) for pid in self.processes)
        return f"a worker process (pid {pids})" if pids else "a worker process"

    def _lost(self, wait: float = 5.0) -> str:
        """Which worker died, and how (the pool ends the others with SIGTERM).

        The pool's own thread reaps the workers while this one asks: a process it is reaping
        can show no exit code for a moment, so the codes are read again until every worker
        has one or ``wait`` seconds have passed.
        """
        deadline = time.monotonic() + wait
        while True:
            codes = {pid: process.exitcode for pid, process in self.processes.items()}
            for pid, code in codes.items():
                if code is not None and code not in (0, -signal.SIGTERM):
                    return f"a worker process (pid {pid}) stopped with exit code {code}"
            if None not in codes.values() or time.monotonic() >= deadline:
                return f"{self._who()} stopped abruptly"
            time.sleep(0.02)


def _start_worker(errors: str) -> None:
    """In each worker: its stderr to the pool's file (for ``trouble``), no cycle collector."""
    with suppress(OSError):
        fd = os.open(errors, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, 2)
        os.close(fd)
    # Nothing a worker makes is in a reference cycle (see scan._collector_paused).
    gc.disable()


def _last_line(errors: str | None, tail: int = 4096) -> str:
    """': ' and the last line the workers wrote to stderr, or '' when there is none."""
    if errors is None:
        return ""
    try:
        with open(errors, "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - tail))
            data = handle.read()
    except OSError:
        return ""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    return f": {last}" if last else ""
