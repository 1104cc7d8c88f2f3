"""What every command shares: the common options, the error handling, the cache target.

Typer has no built-in way to give several commands the same options, so ``with_common_options``
adds ``--cache-dir``, ``--python``, ``--json``, ``-q`` and ``-v`` to a command's signature, builds
the ``Common`` record from them, and runs the command inside the one place where a
``PipcachexError`` becomes a message and an exit code.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pipcachex.cli.options import (
    CacheDirOption,
    JsonOption,
    PythonOption,
    QuietOption,
    VerboseOption,
)
from pipcachex.errors import Aborted, ConfirmationRefused, PipcachexError, PipError

if TYPE_CHECKING:
    from pipcachex.cache import Kind
    from pipcachex.render.output import Output
    from pipcachex.selection import Selection
    from pipcachex.target import CacheTarget


@dataclass
class Common:
    """The options every command takes, and the Output they ask for."""

    cache_dir: Path | None
    python: str | None
    json_mode: bool
    quiet: bool
    verbose: bool
    _output: Output | None = field(default=None, repr=False)

    @property
    def output(self) -> Output:
        """The Output these options ask for (one per command run)."""
        if self._output is None:
            from pipcachex.render.output import Output

            self._output = Output(json_mode=self.json_mode, quiet=self.quiet, verbose=self.verbose)
        return self._output

    def target(self, *, may_be_new: bool = False) -> CacheTarget:
        """The cache these options name (``--cache-dir``, or what ``--python``'s pip says)."""
        from pipcachex.target import resolve_target

        return resolve_target(
            self.python, self.cache_dir, self.output.show_command, may_be_new=may_be_new
        )


# name -> (annotation, default) of each common option, in the order --help shows them.
_COMMON_PARAMETERS: dict[str, tuple[Any, Any]] = {
    "cache_dir": (CacheDirOption, None),
    "python": (PythonOption, None),
    "json_mode": (JsonOption, False),
    "quiet": (QuietOption, False),
    "verbose": (VerboseOption, False),
}
_CACHE_PARAMETERS = ("cache_dir", "python")


def with_common_options(
    *, cache: bool = True
) -> Callable[[Callable[..., int]], Callable[..., None]]:
    """Give a command the common options and run it with pipcachex's error handling.

    The decorated function takes its own parameters plus ``common: Common`` and returns its
    exit code. With ``cache=False`` the command does not get ``--cache-dir`` and ``--python``.
    """

    def decorate(command: Callable[..., int]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True)
        if "common" not in own.parameters:
            raise TypeError(f"{command.__name__} must take a `common: Common` parameter")
        names = [n for n in _COMMON_PARAMETERS if cache or n not in _CACHE_PARAMETERS]
        parameters = [p for p in own.parameters.values() if p.name != "common"]
        parameters += [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_COMMON_PARAMETERS[name][0],
                default=_COMMON_PARAMETERS[name][1],
            )
            for name in names
        ]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            values = {name: kwargs.pop(name) for name in names}
            common = Common(
                cache_dir=values.get("cache_dir"),
                python=values.get("python"),
                json_mode=values["json_mode"],
                quiet=values["quiet"],
                verbose=values["verbose"],
            )
            run(common, lambda: command(**kwargs, common=common))

        # Typer reads the parameters from the signature and resolves annotations through
        # ``__annotations__``: both must describe the wrapper, not the decorated function.
        wrapper.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=parameters, return_annotation=None
        )
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper

    return decorate


def run(common: Common, body: Callable[[], int]) -> None:
    """Run a command body; turn pipcachex errors into one message and their exit code."""
    output = common.output
    try:
        code = body()
    except Aborted as exc:
        # The user said no: what they asked for, so a message, not an error.
        output.info(exc.message)
        if common.json_mode:
            output.emit_json({"error": {"message": exc.message, "exit_code": exc.exit_code}})
        code = exc.exit_code
    except PipcachexError as exc:
        output.error(exc.message)
        if (isinstance(exc, PipError) and exc.details) or (exc.details and output.verbose):
            output.err.print(exc.details, markup=False, style="dim")
        if common.json_mode:
            output.emit_json({"error": {"message": exc.message, "exit_code": exc.exit_code}})
        code = exc.exit_code
    except KeyboardInterrupt:
        output.error("interrupted")
        code = 130
    raise typer.Exit(code)


def confirm_destructive(yes: bool, question: str) -> None:
    """Ask ``question`` on a terminal unless ``--yes``; with no terminal, refuse without --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfirmationRefused(
            "refusing to delete without confirmation: there is no terminal to ask on; "
            "add --yes (or use --dry-run to see what would go)"
        )
    if not typer.confirm(question, default=False, err=True):
        raise Aborted("nothing was changed")


def selection(
    specs: list[str] | None,
    kinds: list[Kind] | None,
    older_than: str | None,
    larger_than: str | None,
) -> Selection:
    """The selectors list, purge and backup share, parsed (bad values are usage errors)."""
    from pipcachex.selection import build_selection

    return build_selection(specs or [], kinds or [], older_than, larger_than)


def warn_if_reads_leave_no_trace(
    output: Output, target: CacheTarget, older_than: str | None
) -> None:
    """Warn that --older-than means "written before" on a mount that records no reads."""
    from pipcachex.cache.fileio import reads_are_recorded

    if older_than is not None and target.exists and not reads_are_recorded(target.root):
        output.warn(
            f"{target.root} is on a noatime mount, where reading a file leaves no trace: "
            "--older-than selects the entries written before then, used or not"
        )


def warn_if_not_a_cache(output: Output, target: CacheTarget) -> None:
    """One warning line when the directory to read is plainly not a pip cache."""
    from pipcachex.cache.directory import foreign_reason

    reason = foreign_reason(target.root) if target.exists else None
    if reason is not None:
        output.warn(f"{reason}; what it holds is shown as unknown entries")


def pip_version(target: CacheTarget) -> str | None:
    """The target pip's version, for a backup manifest; None when pip cannot say."""
    # Recorded in the manifest for information only: a backup must not fail for want of it.
    try:
        return str(target.pip.version())
    except PipcachexError:
        return None
