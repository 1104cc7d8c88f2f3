"""Unit tests of the selector options declared once (``pipcachex.cli.selectors``)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from pipcachex.cli.selectors import Selectors, with_selector_options
from pipcachex.errors import UsageError

SELECTOR_NAMES = ["specs", "kind", "older_than", "newer_than", "larger_than", "layout"]


def test_the_options_come_after_required_arguments_and_before_the_others() -> None:
    def command(directory: Path, index: bool = False, *, selectors: Selectors) -> int:
        return 0

    names = list(inspect.signature(with_selector_options(command)).parameters)
    assert names == ["directory", *SELECTOR_NAMES, "index"]


def test_the_command_gets_the_values_as_one_selectors() -> None:
    seen: list[Selectors] = []

    def command(*, selectors: Selectors) -> int:
        seen.append(selectors)
        return 3

    wrapped = with_selector_options(command)
    code = wrapped(
        specs=["numpy<2"],
        kind=["built-wheel"],
        older_than="30d",
        newer_than=None,
        larger_than="1MB",
        layout=None,
    )
    assert code == 3
    assert seen == [
        Selectors(specs=("numpy<2",), kinds=("built-wheel",), older_than="30d", larger_than="1MB")
    ]


def test_a_command_without_the_selectors_parameter_is_a_programming_error() -> None:
    def command(*, other: int) -> int:
        return 0

    with pytest.raises(TypeError, match="selectors"):
        with_selector_options(command)


@pytest.mark.parametrize(
    ("selectors", "asked"),
    [
        (Selectors(), None),
        (
            Selectors(layouts=("http",)),
            {
                "specs": [],
                "kinds": [],
                "layouts": ["http"],
                "older_than": None,
                "newer_than": None,
                "larger_than": None,
            },
        ),
    ],
)
def test_what_a_backup_header_records(selectors: Selectors, asked: object) -> None:
    assert selectors.asked() == asked


@pytest.mark.parametrize(
    ("selectors", "bad"),
    [
        (Selectors(kinds=("wheel",)), "'wheel'"),
        (Selectors(layouts=("http-v3",)), "'http-v3'"),
        (Selectors(newer_than="soon"), "soon"),
    ],
)
def test_bad_values_are_usage_errors_naming_them(selectors: Selectors, bad: str) -> None:
    with pytest.raises(UsageError) as caught:
        selectors.selection()
    assert bad in str(caught.value)


def test_the_options_that_go_by_last_use() -> None:
    assert Selectors(older_than="1d", larger_than="1MB").by_last_use == {
        "older_than": "1d",
        "newer_than": None,
    }
