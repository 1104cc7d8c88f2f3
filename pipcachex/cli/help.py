"""How ``--help`` reads: plain text like pip's, and examples under each command.

Help is click's plain layout (``rich_markup_mode=None``): no boxes, and no import of rich, so
``--help`` starts about as fast as ``--version``. Typer still writes a type beside each
argument (``SPEC <list[str]>``) and, in its rich layout, beside each flag (``<bool>``, as if it
took a value); ``PipcachexCommand`` leaves only the metavar of options that take a value
(``PATH``, ``SIZE``, ``FORMAT``).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand

from pipcachex.cli.params import light_conversion


def _no_type(ctx: Any) -> None:
    return None


def strip_type_column(params: list[Any]) -> list[Any]:
    """Hide the type of every flag and argument in ``params`` (in place); return them."""
    for param in params:
        if getattr(param, "param_type_name", "") == "argument" or getattr(param, "is_flag", False):
            # An attribute of this parameter object only, which typer asks for its type label.
            param.display_type_rich = _no_type
    return params


class PipcachexCommand(TyperCommand):
    """A pipcachex command: typer's, with the help described above."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The command's parameters (``--help`` included), flags and arguments untyped."""
        return light_conversion(strip_type_column(super().get_params(ctx)))


def examples(*lines: str) -> str:
    """The "Examples" section at the end of a command's help: one command line each."""
    # "\b" asks click to keep the paragraph's line breaks instead of rewrapping it.
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
