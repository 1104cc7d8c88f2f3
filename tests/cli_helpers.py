"""Driving the pipcachex command line from tests, the way a user or a script would.

``invoke`` runs the real CLI in-process (typer's CliRunner), with stdout and stderr kept apart,
and parses stdout when ``--json`` was given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from typer.testing import CliRunner

from pipcachex.cli import app


@dataclass(frozen=True)
class CliResult:
    """What one pipcachex invocation did."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        """stdout parsed as the one JSON document ``--json`` promises."""
        return json.loads(self.stdout)


def invoke(
    args: Sequence[str], env: Mapping[str, str | None] | None = None, input: str | None = None
) -> CliResult:
    """Run ``pipcachex ARGS`` and return its exit code and separated output."""
    result = CliRunner().invoke(app, list(args), env=dict(env or {}), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)


def entries_by(document: Mapping[str, Any], **match: Any) -> list[dict[str, Any]]:
    """The entries of a ``list --json`` document whose fields equal ``match``."""
    return [e for e in document["entries"] if all(e.get(k) == v for k, v in match.items())]
