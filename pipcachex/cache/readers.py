"""Worker processes that read HTTP entries for a scan, so reading uses every core.

Reading an entry (``attribute``) is CPU-bound Python, 190-470 µs per entry on the benchmark
machine, where listing it costs a tenth of that; a scan of many entries the memo does not know
(a first scan, a purge of a fresh copy) would otherwise leave all cores but one idle. A
``ReaderPool`` runs one worker per core and hands them batches of entries while the walk goes
on; each answer comes back as a ``Future``.

The workers are ``python -m pipcachex.cache.worker``, run by the running interpreter, fed
msgpack batches on stdin and answering each, in order, on stdout. Not ``multiprocessing``: its
``spawn`` re-runs the parent's ``__main__`` module in every worker, which for a script without a
main guard would run that script's top-level code again, and ``fork`` is unsafe next to the
walk's threads. Workers only read. If one cannot start or stops answering, the batches it held
fail with ``WorkerGone`` and the caller reads them itself; nothing outlives ``close()``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import IO, Any, TypeVar

import msgpack

import pipcachex
from pipcachex.cache.attribute import Task, attribute
from pipcachex.cache.identify import Identity
from pipcachex.cache.model import PROBLEM_CODES, Kind, Problem

WORKER_MODULE = "pipcachex.cache.worker"
MAX_WORKERS = 4
# Paths are bytes on disk: names that are not UTF-8 travel as surrogate escapes, as in os.
ENCODING_ERRORS = "surrogateescape"
_KINDS = {kind.value: kind for kind in Kind}
_T = TypeVar("_T")


class WorkerGone(Exception):
    """A worker stopped before answering a batch; the batch must be read elsewhere."""


def worker_count() -> int:
    """How many workers are worth starting here: one per usable core, at most ``MAX_WORKERS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return min(MAX_WORKERS, cores)


def start_worker(
    *args: str, stderr: IO[bytes] | int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """One worker process, waiting for messages on its stdin (see ``serve``).

    ``args`` go to the worker module: ``walk`` starts a walk worker (see ``cache.walkers``).
    """
    env = dict(os.environ)
    # The worker must import this very copy of pipcachex. Where the interpreter finds it on its
    # own (an install), nothing is added: PYTHONPATH goes before the standard library, and a
    # site-packages there would let a backport installed in it shadow a standard module. A copy
    # found some other way (a script's directory, a path added at run time) is pointed to.
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(pipcachex.__file__)))
    if package_parent not in sys.path[1:]:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", WORKER_MODULE, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        close_fds=True,
    )


class Worker:
    """One worker process, the requests it holds (oldest first) and the thread reading answers.

    Each request is one msgpack value and gets one answer, in order. A worker that dies, or
    answers something its request's ``decode`` rejects, fails every request it holds with
    ``WorkerGone`` and takes no more; ``trouble`` then says what happened, with the last line
    the worker wrote to its stderr (kept in a temporary file), for ``--verbose``.
    """

    def __init__(self, process: subprocess.Popen[bytes], errors: IO[bytes] | None = None) -> None:
        self.process = process
        self.waiting: deque[tuple[Future[Any], Callable[[Any], Any]]] = deque()
        self.lock = threading.Lock()
        self.gone = False
        self.trouble: str | None = None
        self._errors = errors
        self._stopping = False
        self.reader = threading.Thread(
            target=self._read_answers, name="pipcachex-reader", daemon=True
        )
        self.reader.start()

    @classmethod
    def start(cls, *args: str) -> Worker:
        """Start a worker (``args`` as for ``start_worker``), keeping its stderr for ``trouble``."""
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - the worker's own, closed by stop()
        try:
            return cls(start_worker(*args, stderr=errors), errors)
        except BaseException:
            errors.close()
            raise

    def send(self, message: object, decode: Callable[[Any], _T]) -> Future[_T]:
        """Send ``message``; the future gets ``decode`` of its answer (``ValueError``: gone)."""
        future: Future[_T] = Future()
        packed = msgpack.packb(message, unicode_errors=ENCODING_ERRORS)
        with self.lock:
            if self.gone:
                future.set_exception(WorkerGone())
                return future
            self.waiting.append((future, decode))
        stdin = self.process.stdin
        assert stdin is not None
        # If the worker died, its reader thread sees its output end and fails this batch.
        with contextlib.suppress(OSError, ValueError):
            stdin.write(packed)
            stdin.flush()
        return future

    def _read_answers(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        unpacker = msgpack.Unpacker(use_list=False, unicode_errors=ENCODING_ERRORS)
        wrong: str | None = None
        try:
            while chunk := os.read(stdout.fileno(), 1 << 16):
                unpacker.feed(chunk)
                for answer in unpacker:
                    with self.lock:
                        future, decode = self.waiting.popleft()
                    try:
                        result = decode(answer)
                    except BaseException:
                        future.set_exception(WorkerGone())
                        raise
                    future.set_result(result)
        except (
            OSError,
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            msgpack.UnpackException,
        ) as exc:
            wrong = f"answered wrongly ({exc})"
        finally:
            with self.lock:
                self.gone = True
                lost, self.waiting = list(self.waiting), deque()
            if lost or wrong or not self._stopping:
                self.trouble = self._describe(wrong)
            for future, _ in lost:
                future.set_exception(WorkerGone())

    def _describe(self, wrong: str | None) -> str:
        """What became of the worker, for ``trouble``."""
        what = wrong
        if what is None:
            try:
                code = self.process.wait(timeout=1)
                what = f"stopped with exit code {code}"
            except subprocess.TimeoutExpired:
                what = "closed its output"
        last = _last_line(self._errors)
        return f"worker (pid {self.process.pid}) {what}" + (f": {last}" if last else "")

    def stop(self, *, kill: bool) -> None:
        """End the worker: close its input (it ends once it has answered), or kill it."""
        self._stopping = True
        process = self.process
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        if kill and process.poll() is None:
            process.kill()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self.reader.join()
        if process.stdout is not None:
            process.stdout.close()
        if self._errors is not None:
            self._errors.close()


def _last_line(errors: IO[bytes] | None, tail: int = 4096) -> str:
    """The last non-empty line in the end of a worker's stderr file ('' when there is none)."""
    if errors is None:
        return ""
    try:
        size = os.fstat(errors.fileno()).st_size
        # pread leaves the offset the worker shares with this descriptor alone.
        data = os.pread(errors.fileno(), tail, max(0, size - tail))
    except OSError:
        return ""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    return next((line for line in reversed(lines) if line), "")


class ReaderPool:
    """Worker processes reading batches of entries; ``submit`` goes to the least busy one."""

    def __init__(self, workers: int) -> None:
        self._workers: list[Worker] = []
        self._trouble: list[str] = []
        try:
            for _ in range(workers):
                self._workers.append(Worker.start())
        except OSError as exc:
            # Fewer workers (or none: every batch then fails over to the caller).
            self._trouble.append(f"could not start a reading worker: {exc}")

    @property
    def size(self) -> int:
        """How many workers started."""
        return len(self._workers)

    def submit(self, tasks: list[Task]) -> Future[list[Identity]]:
        """The identities of ``tasks``, in order, once a worker has read them.

        The future fails with ``WorkerGone`` when no worker can read them.
        """
        alive = [worker for worker in self._workers if not worker.gone]
        if not alive:
            future: Future[list[Identity]] = Future()
            future.set_exception(WorkerGone())
            return future
        worker = min(alive, key=lambda worker: len(worker.waiting))
        return worker.send(tasks, lambda answer: _identities(answer, len(tasks)))

    def close(self, *, kill: bool = False) -> list[str]:
        """Stop every worker (at once with ``kill``, else once it has answered what it holds).

        Returns what went wrong with workers that were lost (see ``Worker.trouble``).
        """
        for worker in self._workers:
            worker.stop(kill=kill)
        workers, self._workers = self._workers, []
        return self._trouble + worker_trouble(workers, "reading")


def worker_trouble(workers: list[Worker], role: str) -> list[str]:
    """One line per lost worker among ``workers``: its ``trouble``, said of a ``role`` worker."""
    return [f"a {role} {worker.trouble}" for worker in workers if worker.trouble]


def serve() -> None:
    """A worker's whole life: batches of tasks from stdin, their identities to stdout."""
    unpacker = msgpack.Unpacker(use_list=False, unicode_errors=ENCODING_ERRORS)
    packer = msgpack.Packer(unicode_errors=ENCODING_ERRORS)
    out = sys.stdout.buffer
    while chunk := os.read(sys.stdin.fileno(), 1 << 16):
        unpacker.feed(chunk)
        for tasks in unpacker:
            answer = [_fields(attribute(*task)) for task in tasks]
            out.write(packer.pack(answer))
            out.flush()


def _fields(identity: Identity) -> list[Any]:
    problem = identity.problem
    return [
        identity.kind.value,
        identity.package,
        identity.version,
        identity.filename,
        None if problem is None else problem.code.value,
        None if problem is None else problem.message,
    ]


def _identities(answer: Any, count: int) -> list[Identity]:
    identities = [_identity(fields) for fields in answer]
    if len(identities) != count:
        raise ValueError("a worker answered a batch with the wrong count")
    return identities


def _identity(fields: Any) -> Identity:
    kind, package, version, filename, code, message = fields
    problem = None if code is None else Problem(PROBLEM_CODES[code], message)
    return Identity(_KINDS[kind], package, version, filename, problem)
