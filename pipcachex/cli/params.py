"""Converting command-line words to the few value types pipcachex's parameters have.

Typer (from 0.2x) converts every parameter's value through a pydantic ``TypeAdapter`` it builds
on first use, so any command that is given (or defaults) a non-flag option imports pydantic:
most of a command's start-up. pipcachex's parameters are all ``str``, ``Path``, ``bool`` or
``list[str]``, and pipcachex checks their values itself (``options.choice``, ``units``), so
``light_conversion`` gives each such parameter a converter that needs nothing. Parameters of
any other type, and typers without this machinery, are left as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipcachex.errors import UsageError

_SIMPLE: dict[Any, Any] = {str: str, Path: Path, bool: bool, list[str]: str}


class _Converter:
    """Stands in for typer's per-parameter runtime converter (its ``coerce`` method)."""

    def __init__(self, convert: Any) -> None:
        self._convert = convert

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        """Convert ``value`` (a word, a tuple of words, or None) as typer would."""
        many = getattr(param, "multiple", False) or getattr(param, "nargs", 1) != 1
        if value is None:
            return () if many else None
        if many:
            if isinstance(value, str):  # as typer: a multi-value parameter gets a sequence
                raise UsageError(f"invalid value for {param.name}: expected several values")
            return [self._convert(v) for v in value]
        return self._convert(value)


def light_conversion(params: list[Any]) -> list[Any]:
    """Give each parameter of a simple type the converter above (in place); return them."""
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", False) is not None:
            continue  # not typer's lazy converter, or one already built
        if getattr(descriptor, "file_annotation", None) is not None:
            continue
        convert = _SIMPLE.get(getattr(descriptor, "annotation", None))
        if convert is not None:
            param._runtime_param = _Converter(convert)
    return params
