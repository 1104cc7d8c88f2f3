"""Jobs for worker processes that misbehave, for the tests of ``cache.parallel``.

Worker processes are fresh interpreters: a test cannot patch them, so it hands the pool one of
these instead of the real job (``readahead.READ_JOB``, ``walkers.TALLY_JOB``); the pool sends
it by name and the worker imports this module to run it.
"""

from __future__ import annotations

import os
import sys
import time

from pipcachex.cache import walkers

_calls = 0


def dies(argument: object) -> object:
    """Die at once, without a word."""
    os._exit(3)


def complains_and_dies(argument: object) -> object:
    """Write a line to stderr (as a crashing worker would), then die."""
    print("worker trouble: the disk caught fire", file=sys.stderr, flush=True)
    os._exit(3)


def garbles(argument: object) -> object:
    """Answer nonsense."""
    return ["many", "errors"]


def hangs(argument: object) -> object:
    """Never answer."""
    time.sleep(3600)
    return None


def raises(argument: object) -> object:
    """Fail the way a bug in the worker would."""
    raise RuntimeError("a bug in the worker")


def dies_after_one_part(
    argument: tuple[walkers.WalkStart, tuple[walkers.Part, ...]],
) -> walkers.PartTally:
    """Tally one chunk of parts for real, then die on the next."""
    global _calls
    _calls += 1
    if _calls > 1:
        os._exit(3)
    return walkers.tally_parts(argument)
