"""Usage errors the framework finds (unknown option, bad choice, missing value) in our style.

Typer reports those in a boxed panel of its own. ``PipcachexGroup`` runs the command line
without typer's error display and reports each one as pipcachex reports its own bad values:
one ``error: …`` line on stderr naming the bad value (and the valid ones when there are few),
exit 2, and with ``--json`` the error document on stdout.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from pipcachex.cli.params import light_conversion
from pipcachex.errors import EXIT_FAILURE, EXIT_USAGE

try:  # typer 0.2x carries its own copy of click
    from typer._click import exceptions as framework
except ImportError:  # pragma: no cover - older typer, on click itself
    from click import exceptions as framework  # type: ignore[no-redef]


class PipcachexGroup(TyperGroup):
    """The top-level command group: typer's, with pipcachex's error style for usage errors."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The group's own options (``--version``, completion), converted without pydantic."""
        return light_conversion(super().get_params(ctx))

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; report usage errors in one line and exit (or return) 2."""
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except framework.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # `pipcachex` alone prints the help, as before
                code = exc.exit_code
            else:
                code = report_usage_error(usage_message(exc), argv)
        except typer.Abort:
            # EOF at a prompt: the user gave no answer, so nothing was changed.
            report_error("aborted: nothing was changed", argv, EXIT_FAILURE)
            code = EXIT_FAILURE
        if not standalone_mode:
            return code
        sys.exit(code or 0)


def usage_message(exc: Exception) -> str:
    """The one-line text for a usage error the framework raised (without ``error:``)."""
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, framework.NoSuchOption):
        text = f"no such option: {exc.option_name}"
        if exc.possibilities:
            return text + f" (did you mean {' or '.join(sorted(exc.possibilities))}?)"
        command = ctx.command_path if ctx is not None else "pipcachex"
        return text + f" (`{command} --help` lists the options)"
    if isinstance(exc, framework.BadOptionUsage) and "requires an argument" in exc.message:
        return f"{exc.option_name} needs a value"
    if isinstance(exc, framework.MissingParameter):
        return _sentence(exc.format_message())
    if isinstance(exc, framework.BadParameter):
        hint = _param_hint(exc)
        detail = _sentence(exc.message.removeprefix("Value error, "))
        return f"invalid value for {hint}: {detail}" if hint else _sentence(detail)
    text = _sentence(exc.format_message()) if isinstance(exc, framework.ClickException) else ""
    commands = getattr(getattr(ctx, "command", None), "commands", None)
    if text.startswith("no such command") and commands:
        text = text.replace(". Did you mean", " (did you mean") + (")" if "?" in text else "")
        text += "; the commands are " + ", ".join(commands)
    return text or str(exc)


def report_usage_error(message: str, argv: Sequence[str]) -> int:
    """Print a usage error our way; return the exit code (2)."""
    report_error(message, argv, EXIT_USAGE)
    return EXIT_USAGE


def report_error(message: str, argv: Sequence[str], exit_code: int) -> None:
    """One ``error:`` line on stderr, and the error document on stdout if JSON was asked for."""
    from pipcachex.render.output import Output

    output = Output(json_mode=wants_json(argv))
    output.error(message)
    if output.json_mode:
        output.emit_json({"error": {"message": message, "exit_code": exit_code}})


def wants_json(argv: Sequence[str]) -> bool:
    """Whether a command line asks for JSON output, judged from the words alone.

    Used when the command line could not be parsed, so it cannot rely on the parser.
    """
    words = list(argv)
    if "--" in words:
        words = words[: words.index("--")]
    for index, word in enumerate(words):
        if word == "--json" or word == "--format=json":
            return True
        if word == "--format" and index + 1 < len(words) and words[index + 1] == "json":
            return True
    return False


def _param_hint(exc: Any) -> str:
    hint = getattr(exc, "param_hint", None)
    if isinstance(hint, str):
        return hint.strip("'\"")
    if hint:
        return " / ".join(hint)
    param = getattr(exc, "param", None)
    if param is None:
        return ""
    opts = getattr(param, "opts", None) or []
    if getattr(param, "param_type_name", "") == "argument" or not opts:
        return str(param.human_readable_name)
    return str(max(opts, key=len))


def _sentence(text: str) -> str:
    """A framework message as a clause of our line: lower-case start, no final period."""
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text
