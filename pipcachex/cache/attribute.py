"""Reading what an HTTP cache entry is: one entry at a time, or many in worker processes.

Reading an entry (its metadata record, then its body's zip central directory and ``WHEEL``
member, tar header, metadata or index page) is CPU-bound Python: 190-470 µs per entry on the
benchmark machine, where listing it costs a tenth of that. A purge by age or size reads only the
entries it removes, after its walk; when those are many and the memo does not know them, the
second core would sit idle, so ``attribute_many`` shares them out to worker processes.

The workers are ``python -m pipcachex.cache.worker`` run by the running interpreter, given their
tasks on stdin and answering on stdout (msgpack). Not ``multiprocessing``: its ``spawn`` re-runs
the parent's ``__main__`` module in every worker, which for a script without a main guard would
run that script's top-level code again. Workers only read; if one cannot be started or does not
answer in full, the caller reads those entries itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgpack
from packaging.utils import canonicalize_name

from pipcachex.cache.fileio import open_untouched, read_untouched, window
from pipcachex.cache.httpmeta import HttpRecord, RecordError, parse_small_record, read_record
from pipcachex.cache.identify import Identity, identify
from pipcachex.cache.model import Kind

SMALL_RECORD_BYTES = 64 * 1024
"""``http-v2/`` metadata up to this size is read whole and decoded in one call."""

#: Fewer entries than this are read in-process: starting a worker (a new interpreter that
#: imports this package) costs about as much as reading a thousand entries.
WORKERS_FROM = 2000
_MAX_WORKERS = 4
WORKER_MODULE = "pipcachex.cache.worker"

#: What reading one entry needs: metadata path and size, body path (None: ``http/``) and size.
Task = tuple[str, int, "str | None", int]


def attribute(path: str, size: int, body_path: str | None, body_size: int) -> Identity:
    """What the HTTP entry whose metadata file is ``path`` holds (read without moving atimes)."""
    try:
        if body_path is not None and size <= SMALL_RECORD_BYTES:
            record = parse_small_record(read_untouched(path, size))
            return _length_mismatch(record, body_size) or _identify_body(
                record, body_path, body_size
            )
        with open_untouched(path) as meta:
            record = read_record(meta, size)
            if body_path is not None:
                return _length_mismatch(record, body_size) or _identify_body(
                    record, body_path, body_size
                )
            body_size = record.body.length
            return _length_mismatch(record, body_size) or _damaged_if(
                identify(record, window(meta, record.body.offset, body_size), body_size)
            )
    except RecordError as exc:
        return Identity(Kind.DAMAGED, problem=str(exc))
    except FileNotFoundError:
        return Identity(Kind.DAMAGED, problem="file vanished while being read")
    except OSError as exc:
        return Identity(Kind.DAMAGED, problem=f"cannot be read: {exc.strerror}")


def attribute_many(tasks: Sequence[Task]) -> Iterator[Identity]:
    """``attribute`` of each task, in order; by worker processes when there are many."""
    workers = min(_MAX_WORKERS, os.cpu_count() or 1)
    if len(tasks) >= WORKERS_FROM and workers > 1:
        # Contiguous shares keep the order (and a directory's entries with one worker).
        step = -(-len(tasks) // workers)
        answers = _in_workers([tasks[start : start + step] for start in range(0, len(tasks), step)])
        if answers is not None:
            for answer in answers:
                yield from answer
            return
    for task in tasks:
        yield attribute(*task)


def start_worker() -> subprocess.Popen[bytes]:
    """A worker process, reading the tasks it is sent on stdin (see ``serve``)."""
    return subprocess.Popen(
        [sys.executable, "-m", WORKER_MODULE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def serve() -> None:
    """A worker's whole life: tasks from stdin, their identities (in order) to stdout."""
    tasks = msgpack.unpackb(sys.stdin.buffer.read())
    answer = [_fields(attribute(*task)) for task in tasks]
    sys.stdout.buffer.write(msgpack.packb(answer))
    sys.stdout.buffer.flush()


def _in_workers(shares: list[Sequence[Task]]) -> list[list[Identity]] | None:
    """Each share's identities, one worker process per share; None if any worker fails."""
    started: list[subprocess.Popen[bytes]] = []

    def ask(worker: subprocess.Popen[bytes], share: Sequence[Task]) -> list[Identity] | None:
        output, _ = worker.communicate(msgpack.packb(list(share)))
        if worker.returncode != 0:
            return None
        answer = [_identity(fields) for fields in msgpack.unpackb(output)]
        return answer if len(answer) == len(share) else None

    try:
        started += [start_worker() for _ in shares]
        with ThreadPoolExecutor(len(shares)) as pool:
            answers = list(pool.map(ask, started, shares))
    except (OSError, ValueError, TypeError, msgpack.UnpackException):
        return None
    finally:
        # Whatever happened (Ctrl-C included), no worker outlives the call.
        for worker in started:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    complete = [answer for answer in answers if answer is not None]
    return complete if len(complete) == len(answers) else None


def _fields(identity: Identity) -> list[Any]:
    return [
        identity.kind.value,
        identity.package,
        identity.version,
        identity.filename,
        identity.problem,
    ]


def _identity(fields: Any) -> Identity:
    kind, package, version, filename, problem = fields
    return Identity(Kind(kind), package, version, filename, problem)


def _identify_body(record: HttpRecord, body_path: str, body_size: int) -> Identity:
    with open_untouched(body_path) as body:
        return _damaged_if(identify(record, body, body_size))


def _length_mismatch(record: HttpRecord, body_size: int) -> Identity | None:
    """A damaged identity when a complete response's body is not as long as it said."""
    expected = record.content_length
    if expected is None or expected == body_size or record.status != 200:
        return None
    header = record.header("x-pypi-file-project")
    return Identity(
        Kind.DAMAGED,
        package=canonicalize_name(header) if header else None,
        version=record.header("x-pypi-file-version") if header else None,
        problem=f"body has {body_size} bytes but Content-Length says {expected}",
    )


def _damaged_if(identity: Identity) -> Identity:
    if identity.problem is None:
        return identity
    return Identity(
        Kind.DAMAGED, identity.package, identity.version, identity.filename, identity.problem
    )
