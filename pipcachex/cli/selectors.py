"""The selector options of ``list``, ``purge``, ``backup`` and ``export``, declared once.

A command decorated with :func:`with_selector_options` takes a keyword-only
``selectors: Selectors`` parameter instead of the six selector parameters (the SPEC arguments,
``--kind``, ``--older-than``, ``--newer-than``, ``--larger-than`` and ``--layout``); the
decorator gives the command's signature those parameters, where typer reads them, and hands the
function their values as one :class:`Selectors`. Values are parsed when the command asks
(:meth:`Selectors.selection`), inside pipcachex's error handling, so a bad one is a usage error.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipcachex.cli.options import (
    KIND_CHOICES,
    LAYOUT_CHOICES,
    KindOption,
    LargerThanOption,
    LayoutOption,
    NewerThanOption,
    OlderThanOption,
    SpecsArgument,
    choice,
)

if TYPE_CHECKING:
    from pipcachex.selection import Selection

#: Each selector parameter, its typer annotation, in the order they appear in ``--help``.
_SELECTOR_PARAMETERS: dict[str, Any] = {
    "specs": SpecsArgument,
    "kind": KindOption,
    "older_than": OlderThanOption,
    "newer_than": NewerThanOption,
    "larger_than": LargerThanOption,
    "layout": LayoutOption,
}


@dataclass(frozen=True)
class Selectors:
    """The selector values a user gave, as typed (nothing parsed yet)."""

    specs: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    older_than: str | None = None
    newer_than: str | None = None
    larger_than: str | None = None
    layouts: tuple[str, ...] = ()

    def selection(self) -> Selection:
        """The selection these values describe (a bad value raises a usage error)."""
        from pipcachex.cache import Kind, Layout
        from pipcachex.selection import build_selection

        return build_selection(
            list(self.specs),
            [Kind(choice("--kind", k, KIND_CHOICES)) for k in self.kinds],
            self.older_than,
            self.larger_than,
            newer_than=self.newer_than,
            layouts=[Layout(choice("--layout", name, LAYOUT_CHOICES)) for name in self.layouts],
        )

    @property
    def by_last_use(self) -> dict[str, str | None]:
        """The options that select by last use, by parameter name, with their values."""
        return {"older_than": self.older_than, "newer_than": self.newer_than}

    def asked(self) -> dict[str, Any] | None:
        """What was asked for, as a backup header records it; None when nothing was."""
        given: dict[str, Any] = {
            "specs": list(self.specs),
            "kinds": list(self.kinds),
            "layouts": list(self.layouts),
            "older_than": self.older_than,
            "newer_than": self.newer_than,
            "larger_than": self.larger_than,
        }
        return given if any(given.values()) else None


def with_selector_options(command: Callable[..., int]) -> Callable[..., int]:
    """Give ``command`` the selector options; it receives them as ``selectors: Selectors``.

    The options come after the command's required arguments (``export DIR [SPEC]...``) and
    before its other options. Apply it below :func:`pipcachex.cli.common.with_common_options`.
    """
    own = inspect.signature(command, eval_str=True)
    if "selectors" not in own.parameters:
        raise TypeError(f"{command.__name__} must take a `selectors: Selectors` parameter")
    kept = [p for p in own.parameters.values() if p.name != "selectors"]
    at = next(
        (
            i
            for i, p in enumerate(kept)
            if p.default is not inspect.Parameter.empty or p.kind is inspect.Parameter.KEYWORD_ONLY
        ),
        len(kept),
    )
    added = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=a, default=None)
        for name, a in _SELECTOR_PARAMETERS.items()
    ]
    parameters = [*kept[:at], *added, *kept[at:]]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        values = {name: kwargs.pop(name, None) for name in _SELECTOR_PARAMETERS}
        selectors = Selectors(
            specs=tuple(values["specs"] or ()),
            kinds=tuple(values["kind"] or ()),
            older_than=values["older_than"],
            newer_than=values["newer_than"],
            larger_than=values["larger_than"],
            layouts=tuple(values["layout"] or ()),
        )
        return command(*args, **kwargs, selectors=selectors)

    # Typer (through with_common_options) reads the parameters from the signature.
    wrapper.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper
