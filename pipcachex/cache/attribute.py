"""Reading what one HTTP cache entry is: its metadata record, then a peek into its body.

This is the part of a scan that opens files: the record's headers, then the end of a zip (its
central directory and ``WHEEL``), the first member of a tar, a metadata file or an index page
(see ``identify``). It runs in the scanning process, or in worker processes (see ``readers``)
when a scan has many entries the memo does not know.
"""

from __future__ import annotations

import io

from packaging.utils import canonicalize_name

from pipcachex.cache.fileio import open_untouched, read_untouched, window
from pipcachex.cache.httpmeta import HttpRecord, RecordError, parse_small_record, read_record
from pipcachex.cache.identify import Identity, identify
from pipcachex.cache.model import Kind, Problem, ProblemCode

SMALL_RECORD_BYTES = 64 * 1024
"""``http-v2/`` metadata up to this size is read whole and decoded in one call."""
SMALL_BODY_BYTES = 64 * 1024
"""``http-v2/`` bodies up to this size are read whole, in one call, and looked at in memory."""

#: What reading one entry needs: metadata path and size, body path (None: ``http/``) and size.
Task = tuple[str, int, "str | None", int]


def attribute(path: str, size: int, body_path: str | None, body_size: int) -> Identity:
    """What the HTTP entry whose metadata file is ``path`` holds (read without moving atimes).

    A legacy ``http/`` entry (``body_path`` None) holds its body after the record, read through
    a window on the same file. Nothing raises: a broken record is a damaged identity, and a
    file that cannot be read (or vanished meanwhile) an unknown one with its problem: what
    could not be read cannot be judged, so it is never called damaged.
    """
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
        return Identity(Kind.DAMAGED, problem=Problem(ProblemCode.BAD_METADATA, str(exc)))
    except FileNotFoundError:
        return Identity(Kind.UNKNOWN, problem=VANISHED)
    except OSError as exc:
        return Identity(Kind.UNKNOWN, problem=unreadable_problem(exc))


VANISHED = Problem(ProblemCode.VANISHED, "file vanished while being read")


def unreadable_problem(exc: OSError) -> Problem:
    """The problem of an entry whose file could not be read (permissions, an I/O error)."""
    return Problem(ProblemCode.UNREADABLE, f"cannot be read: {exc.strerror or exc}")


def _identify_body(record: HttpRecord, body_path: str, body_size: int) -> Identity:
    if body_size <= SMALL_BODY_BYTES:
        # zipfile and tarfile make a dozen small reads and seeks, each a system call on a file.
        data = read_untouched(body_path, body_size + 1)
        if len(data) == body_size:  # else it changed since it was listed: read it as a file
            return _damaged_if(identify(record, io.BytesIO(data), body_size))
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
        problem=Problem(
            ProblemCode.BODY_LENGTH,
            f"body has {body_size} bytes but Content-Length says {expected}",
        ),
    )


def _damaged_if(identity: Identity) -> Identity:
    if identity.problem is None or not identity.problem.code.is_damage:
        return identity
    return Identity(
        Kind.DAMAGED, identity.package, identity.version, identity.filename, identity.problem
    )
