"""Finding the cache a command works on: ``--cache-dir`` or what the chosen pip reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipcachex.cache import check_cache_dir
from pipcachex.pip_runner import PipRunner


@dataclass(frozen=True)
class CacheTarget:
    """The cache directory to work on, and the pip that is consulted about it."""

    root: Path
    explicit: bool
    exists: bool
    pip: PipRunner


def resolve_target(
    python: str | None,
    cache_dir: Path | None,
    on_command: Callable[[Sequence[str]], None] | None = None,
    *,
    may_be_new: bool = False,
) -> CacheTarget:
    """Resolve the cache directory: ``cache_dir`` when given, else ``<python> -m pip cache dir``.

    A ``cache_dir`` that does not exist is bad input, except with ``may_be_new`` (a restore may
    create the cache it restores into).
    """
    runner = PipRunner(cache_dir=cache_dir.absolute() if cache_dir else None, on_command=on_command)
    if python is not None:
        runner = PipRunner(python=python, cache_dir=runner.cache_dir, on_command=on_command)
    root = runner.cache_dir if runner.cache_dir is not None else runner.cache_dir_path()
    exists = check_cache_dir(root, explicit=cache_dir is not None and not may_be_new)
    return CacheTarget(root=root, explicit=cache_dir is not None, exists=exists, pip=runner)
