"""Where a command speaks: stdout for results, stderr for messages, warnings and progress."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from pipcachex.render.progress import ProgressHandle, ScanHandle, Unit, draw

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
        listing 100,000 entries never holds them all as JSON at once. Strings that are not
        valid Unicode (file names that are not UTF-8) are escaped (``escape_undecodable``).
        """
        payload: dict[str, Any] = {"schema": SCHEMA_VERSION}
        for key, value in document.items():
            if isinstance(value, Iterator):
                payload[key] = value
            else:
                payload.update(escape_undecodable({key: value}))
        write = sys.stdout.write
        write("{")
        for index, (key, value) in enumerate(payload.items()):
            write(("\n" if index == 0 else ",\n") + f"  {json.dumps(key)}: ")
            if isinstance(value, Iterator):
                separator = "\n    "
                write("[")
                for item in value:
                    write(separator + _dumps_item(item))
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

    def _draws(self) -> bool:
        return not (self.quiet or self.json_mode or not self.err.is_terminal)

    @contextmanager
    def progress(
        self, description: str, total: int | None = None, *, unit: Unit = "items"
    ) -> Iterator[ProgressHandle]:
        """Progress of counted work on stderr when it is a terminal (not with -q or --json).

        ``unit`` is ``items`` (a bar, done of total, time left) or ``bytes`` (a bar when the
        total is known, sizes done and in all, rate, time left). The handle's ``update(done,
        total)`` is the ``on_progress`` callback services take.
        """
        if not self._draws():
            yield ProgressHandle(None, None)
            return
        with draw(self.err, description, total, unit) as (bar, task):
            yield ProgressHandle(bar, task)

    @contextmanager
    def scan_progress(self, description: str = "Scanning cache") -> Iterator[ScanHandle]:
        """Progress of a scan: a spinner, entries and bytes seen, and the rate (no bar)."""
        if not self._draws():
            yield ScanHandle(None, None)
            return
        with draw(self.err, description, None, "entries") as (bar, task):
            yield ScanHandle(bar, task)


def _dumps_item(item: Any) -> str:
    """One streamed item as JSON; the rare one holding undecodable text is escaped first."""
    text = json.dumps(item)
    # json.dumps writes a lone surrogate as \\udcXX; a character beyond the BMP is a pair,
    # which can contain \\udc too, so this only says where to look closer.
    return json.dumps(escape_undecodable(item)) if "\\udc" in text else text


def _undecodable(text: str) -> bool:
    """Whether ``text`` holds bytes a file name had that were not UTF-8 (lone surrogates)."""
    return not text.isascii() and any("\udc80" <= char <= "\udcff" for char in text)


def _readable(text: str) -> str:
    """``text`` with each undecodable byte replaced by U+FFFD, valid Unicode to any parser."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _raw_b64(text: str) -> str:
    """The exact bytes ``text`` stands for (a file name as the OS has it), base64."""
    return base64.b64encode(os.fsencode(text)).decode("ascii")


def escape_undecodable(value: Any) -> Any:
    """``value`` with every undecodable string made readable, and its exact bytes beside it.

    Python reads a file name that is not UTF-8 into a string with lone surrogates
    (``surrogateescape``), which is not Unicode and which strict JSON parsers reject. In a
    mapping, such a string under ``key`` becomes readable text (U+FFFD for each bad byte),
    and ``key_bytes_b64`` is added with the name's bytes in base64; a list of strings gets
    ``key_bytes_b64`` as a parallel list (null for the strings that needed nothing). See
    docs/json.md.
    """
    if isinstance(value, Mapping):
        escaped: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, str) and _undecodable(item):
                escaped[key] = _readable(item)
                escaped[f"{key}_bytes_b64"] = _raw_b64(item)
            elif isinstance(item, list) and any(
                isinstance(x, str) and _undecodable(x) for x in item
            ):
                escaped[key] = [_readable(x) if isinstance(x, str) else x for x in item]
                escaped[f"{key}_bytes_b64"] = [
                    _raw_b64(x) if isinstance(x, str) and _undecodable(x) else None for x in item
                ]
            else:
                escaped[key] = escape_undecodable(item)
        return escaped
    if isinstance(value, (list, tuple)):
        return [escape_undecodable(item) for item in value]
    if isinstance(value, str) and _undecodable(value):
        return _readable(value)
    return value
