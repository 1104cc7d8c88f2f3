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
from collections.abc import Callable, Sequence
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
    choice,
    format_option,
)
from pipcachex.errors import (
    EXIT_FAILURE,
    Aborted,
    ConfirmationRefused,
    PipcachexError,
    UsageError,
)

if TYPE_CHECKING:
    from pipcachex.render.output import Output
    from pipcachex.target import CacheTarget


@dataclass
class Common:
    """The options every command takes, and the Output they ask for."""

    cache_dir: Path | None
    python: str | None
    json_mode: bool
    quiet: bool
    verbose: bool
    output_format: str | None = None
    formats: Sequence[str] = ()
    _output: Output | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.output_format == "json":
            self.json_mode = True

    @property
    def output(self) -> Output:
        """The Output these options ask for (one per command run)."""
        if self._output is None:
            from pipcachex.render.output import Output

            asked = self.output_format if self.output_format in self.formats else "human"
            self._output = Output(
                json_mode=self.json_mode,
                quiet=self.quiet,
                verbose=self.verbose,
                output_format="json" if self.json_mode else asked or "human",
            )
        return self._output

    def check_format(self) -> None:
        """Refuse a --format value the command does not write, or one --json contradicts."""
        if self.output_format is None:
            return
        choice("--format", self.output_format, self.formats)
        if self.json_mode and self.output_format != "json":
            raise UsageError(f"--json contradicts --format {self.output_format}: give one of them")

    def target(self, *, may_be_new: bool = False) -> CacheTarget:
        """The cache these options name (``--cache-dir``, or what ``--python``'s pip says)."""
        from pipcachex.target import resolve_target

        output = self.output
        return resolve_target(
            self.python,
            self.cache_dir,
            output.show_command,
            may_be_new=may_be_new,
            on_python=lambda chosen: output.details([f"python: {chosen.describe()}"]),
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
    *, cache: bool = True, formats: Sequence[str] = ()
) -> Callable[[Callable[..., int]], Callable[..., None]]:
    """Give a command the common options and run it with pipcachex's error handling.

    The decorated function takes its own parameters plus ``common: Common`` and returns its
    exit code. With ``cache=False`` the command does not get ``--cache-dir`` and ``--python``;
    with ``formats`` it gets ``--format`` taking those values (``--json`` is ``--format json``).
    """

    def decorate(command: Callable[..., int]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True)
        if "common" not in own.parameters:
            raise TypeError(f"{command.__name__} must take a `common: Common` parameter")
        names = [n for n in _COMMON_PARAMETERS if cache or n not in _CACHE_PARAMETERS]
        if formats:
            names.insert(names.index("json_mode"), "output_format")
        parameters = [p for p in own.parameters.values() if p.name != "common"]
        parameters += [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=format_option(formats) if name == "output_format" else annotation,
                default=default,
            )
            for name in names
            for annotation, default in [_COMMON_PARAMETERS.get(name, (None, None))]
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
                output_format=values.get("output_format"),
                formats=formats,
            )

            def body() -> int:
                common.check_format()
                return command(**kwargs, common=common)

            run(common, body)

        # Typer reads the parameters from the signature and resolves annotations through
        # ``__annotations__``: both must describe the wrapper, not the decorated function.
        wrapper.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=parameters, return_annotation=None
        )
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper

    return decorate


def run(common: Common, body: Callable[[], int]) -> None:
    """Run a command body; turn every error into one message and its exit code.

    What went on behind an error (a child pip's stderr, a traceback) is shown with -v only.
    """
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
        code = _report(common, exc.message, exc.exit_code, exc.details)
    except KeyboardInterrupt:
        output.error("interrupted")
        code = 130
    except typer.Exit:
        raise
    except BrokenPipeError:
        # The reader went away (`pipcachex list | head`): stop quietly, as other tools do.
        _silence_stdout()
        code = EXIT_FAILURE
    except typer.Abort:  # end of input at a question: no answer, so nothing was done
        code = _report(common, "aborted: nothing was changed", EXIT_FAILURE, None)
    except OSError as exc:
        # An operating-system failure nothing below foresaw (a disk error, a vanished mount).
        where = f": {exc.filename}" if exc.filename else ""
        code = _report(common, f"{exc.strerror or exc}{where}", EXIT_FAILURE, _traceback())
    except Exception as exc:
        message = f"unexpected {type(exc).__name__}: {exc} (a bug in pipcachex; -v shows where)"
        code = _report(common, message, EXIT_FAILURE, _traceback())
    raise typer.Exit(code)


def _report(common: Common, message: str, exit_code: int, details: str | None) -> int:
    output = common.output
    output.error(message)
    if details and output.verbose:
        output.err.print(details, markup=False, style="dim")
    if common.json_mode:
        output.emit_json({"error": {"message": message, "exit_code": exit_code}})
    return exit_code


def _silence_stdout() -> None:
    import os

    # Python flushes stdout at exit; pointed at the closed pipe, that would fail once more.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is no real file (a test runner's buffer): nothing will flush to a pipe
    finally:
        os.close(devnull)


def _traceback() -> str:
    import traceback

    return traceback.format_exc().rstrip()


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


def warn_if_reads_leave_no_trace(
    output: Output, target: CacheTarget, **by_last_use: str | None
) -> None:
    """Warn where selecting by last use cannot mean "not read since": what "last used" is there.

    ``by_last_use`` maps each option that selects by last use (``older_than``, ``newer_than``,
    ``max_size``) to its value; only the options given are named in the warning.
    """
    from pipcachex.lastuse import last_used_warning

    given = ["--" + name.replace("_", "-") for name, value in by_last_use.items() if value]
    warning = last_used_warning(target.root, given) if given and target.exists else None
    if warning:
        output.warn(warning)


def warn_if_not_a_cache(output: Output, target: CacheTarget) -> None:
    """One warning line when the directory to read is plainly not a pip cache."""
    from pipcachex.deletion.rules import foreign_reason

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
