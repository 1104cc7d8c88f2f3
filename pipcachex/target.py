"""Finding the cache a command works on: ``--cache-dir`` or what the chosen pip reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipcachex.cache import check_cache_dir
from pipcachex.pip_runner import ChosenPython, PipRunner, default_python


@dataclass(frozen=True)
class CacheTarget:
    """The cache directory to work on, and the pip that is consulted about it."""

    root: Path
    explicit: bool
    exists: bool
    pip: PipRunner
    python: ChosenPython


def resolve_target(
    python: str | None,
    cache_dir: Path | None,
    on_command: Callable[[Sequence[str]], None] | None = None,
    *,
    may_be_new: bool = False,
    on_python: Callable[[ChosenPython], None] | None = None,
) -> CacheTarget:
    """Resolve the cache directory: ``cache_dir`` when given, else ``<python> -m pip cache dir``.

    Without ``python``, the interpreter is the user's own (``default_python``). A ``cache_dir``
    that does not exist is bad input, except with ``may_be_new`` (a restore may create the
    cache it restores into). ``on_python`` hears which interpreter was chosen, before any of
    its pip commands runs.
    """
    chosen = ChosenPython(python, "option") if python is not None else default_python()
    absolute = cache_dir.absolute() if cache_dir else None
    runner = PipRunner(python=chosen.path, cache_dir=absolute, on_command=on_command)
    chosen = ChosenPython(runner.python, chosen.source)  # as resolved on PATH
    if on_python is not None:
        on_python(chosen)
    root = runner.cache_dir if runner.cache_dir is not None else runner.cache_dir_path()
    exists = check_cache_dir(root, explicit=cache_dir is not None and not may_be_new)
    return CacheTarget(
        root=root, explicit=cache_dir is not None, exists=exists, pip=runner, python=chosen
    )
