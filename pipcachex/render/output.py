"""Where a command speaks: stdout for results, stderr for messages, warnings and progress."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

SCHEMA_VERSION = 1


@dataclass
class Output:
    """Where and how a command speaks: JSON or tables, and how much to say on stderr.

    ``output_format`` is what ``--format`` asked for (``json`` whenever ``json_mode``);
    ``row_format`` is what to write, ``human`` becoming ``plain`` when stdout is no terminal.
    """

    json_mode: bool = False
    quiet: bool = False
    verbose: bool = False
    output_format: str = "human"
    out: Console = field(default_factory=lambda: Console(soft_wrap=True, highlight=False))
    err: Console = field(
        default_factory=lambda: Console(stderr=True, soft_wrap=True, highlight=False)
    )

    @property
    def row_format(self) -> str:
        """The format rows are written in: ``--format``, with ``human`` only on a terminal."""
        if self.json_mode:
            return "json"
        if self.output_format == "human" and not self.out.is_terminal:
            return "plain"
        return self.output_format

    @property
    def human(self) -> bool:
        """Whether output is for a person at a terminal (tables may be drawn and cut)."""
        return self.row_format == "human"

    def emit_json(self, document: Mapping[str, Any]) -> None:
        """Print one JSON document with the schema version on stdout.

        A top-level value that is an iterator (not a list) is streamed, one item a line, so
        listing 100,000 entries never holds them all as JSON at once.
        """
        payload = {"schema": SCHEMA_VERSION, **document}
        write = sys.stdout.write
        write("{")
        for index, (key, value) in enumerate(payload.items()):
            write(("\n" if index == 0 else ",\n") + f"  {json.dumps(key)}: ")
            if isinstance(value, Iterator):
                separator = "\n    "
                write("[")
                for item in value:
                    write(separator + json.dumps(item))
                    separator = ",\n    "
                write("\n  ]" if separator != "\n    " else "]")
            else:
                write(json.dumps(value, indent=2).replace("\n", "\n  "))
        write("\n}\n")
        sys.stdout.flush()

    def info(self, text: str) -> None:
        """A progress or status message for people (stderr; hidden by --quiet)."""
        if not self.quiet:
            self.err.print(text, markup=False)

    def warn(self, text: str) -> None:
        """A warning (stderr; hidden by --quiet)."""
        if not self.quiet:
            self.err.print(f"warning: {text}", markup=False, style="yellow")

    def error(self, text: str) -> None:
        """An error message; always shown."""
        self.err.print(f"error: {text}", markup=False, style="red")

    def details(self, lines: Sequence[str]) -> None:
        """With --verbose, what went on behind a result (stderr): e.g. a worker that was lost."""
        if self.verbose:
            for line in lines:
                self.err.print(line, markup=False, style="dim")

    def show_command(self, command: Sequence[str]) -> None:
        """With --verbose, show each pip command before it runs, quoted for pasting in a shell."""
        if self.verbose:
            from pipcachex.pip_runner import format_command

            self.err.print("$ " + format_command(command), markup=False, style="dim")

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[ProgressHandle]:
        """A progress bar on stderr when it is a terminal; silent otherwise and under --json."""
        if self.quiet or self.json_mode or not self.err.is_terminal:
            yield ProgressHandle(None, None)
            return
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"))
        with Progress(*columns, TimeElapsedColumn(), console=self.err, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield ProgressHandle(bar, task)


class ProgressHandle:
    """Lets a service report progress without knowing whether anyone is watching."""

    def __init__(self, bar: Progress | None, task: Any) -> None:
        self._bar = bar
        self._task = task
        self._last = 0.0

    def update(self, completed: int, total: int | None = None) -> None:
        """Record that ``completed`` units of work are done (redrawn at most 10 times a second)."""
        if self._bar is None:
            return
        now = time.monotonic()
        if now - self._last >= 0.1 or (total is not None and completed >= total):
            self._last = now
            self._bar.update(self._task, completed=completed, total=total)
