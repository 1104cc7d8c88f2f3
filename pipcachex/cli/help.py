"""How ``--help`` reads: no type column for flags and arguments, and examples under each command.

Typer's help shows a "type" beside every parameter (``<bool>`` beside a flag, ``<list[str]>``
beside ``SPEC``), as if flags took values. Here only options that take a value show one: their
metavar (``PATH``, ``SIZE``, ``name|size|age``).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand


def _no_type(ctx: Any) -> None:
    return None


def strip_type_column(params: list[Any]) -> list[Any]:
    """Hide the type of every flag and argument in ``params`` (in place); return them."""
    for param in params:
        if getattr(param, "param_type_name", "") == "argument" or getattr(param, "is_flag", False):
            # An attribute of this parameter object only, built for this one help screen.
            param.display_type_rich = _no_type
    return params


class PipcachexCommand(TyperCommand):
    """A pipcachex command: typer's, with the help described above."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The command's parameters (``--help`` included), flags and arguments untyped."""
        return strip_type_column(super().get_params(ctx))


def examples(*lines: str) -> str:
    """The "Examples" section at the end of a command's help: one command line each."""
    return "Examples:\n" + "\n".join(f"  {line}" for line in lines)
