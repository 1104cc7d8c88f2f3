"""Reading ``manifest.json`` as it streams out of the archive, one file record at a time.

A 100,000-entry backup's manifest is ~45 MB. Read whole, it was in memory several times over
(the bytes, their decoded text, the parsed document) on top of the records it yields, which made
the manifest most of a restore's peak memory. Here the text is decoded and parsed a piece at a
time and each file record goes straight into a ``FileTable``.

This is the fast path only. It accepts exactly what ``json.loads`` accepts and builds what
``Manifest.from_bytes`` builds, with the same decoder for every value; whatever it does not
expect (another encoding, a syntax error, a record that fails validation) makes it give up
rather than decide, and the caller then reads the manifest whole with ``Manifest.from_bytes``,
whose error messages (positions included) stay the reference.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pipcachex.archive import Manifest, file_record
from pipcachex.records import FileTable, ManifestFile

#: What ``json`` counts as whitespace between tokens (the pattern always matches).
_skip_whitespace = re.compile(r"[ \t\n\r]*").match
#: Between two records: a comma, with any whitespace around it.
_separator = re.compile(r"[ \t\n\r]*,[ \t\n\r]*").match
#: What may still follow the part of a number read so far (``1.`` or ``2e`` stop short).
_number_goes_on = re.compile(r"[0-9.eE+\-]*\Z").match


class _GiveUp(Exception):
    """The fast path does not decide this manifest: read it whole instead."""


class ManifestText:
    """The manifest's bytes as text, a piece at a time, hashed as they pass.

    Errors reading the archive are kept in ``failure``: they are the archive's fault, not the
    manifest's, and must not be mistaken for a reason to give up parsing.
    """

    def __init__(self, chunks: Iterable[bytes | memoryview], hasher: Any) -> None:
        self._chunks = iter(chunks)
        self._hasher = hasher
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
        self._first = True
        self.failure: BaseException | None = None

    def __iter__(self) -> Iterator[str]:
        while True:
            try:
                chunk = next(self._chunks, None)
            except BaseException as exc:
                self.failure = exc
                raise
            if chunk is None:
                yield self._decoder.decode(b"", final=True)
                return
            self._hasher.update(chunk)
            if self._first:
                self._first = False
                # json.loads also reads UTF-16, UTF-32 and a UTF-8 BOM: left to it.
                if len(chunk) < 4 or json.detect_encoding(bytes(chunk[:4])) != "utf-8":
                    raise _GiveUp
            yield self._decoder.decode(chunk)

    def drain(self) -> None:
        """Hash what is left of the manifest (after the parse stopped early)."""
        for chunk in self._chunks:
            self._hasher.update(chunk)


def parse_manifest(text: ManifestText) -> Manifest | None:
    """The manifest the text holds, or None where ``Manifest.from_bytes`` must decide.

    Reads ``text`` to its end when it can; errors reading the archive propagate.
    """
    pieces = iter(text)
    manifest: Manifest | None
    try:
        document = _Parser(pieces).document()
        manifest = Manifest.from_json(document)
    except Exception:
        if text.failure is not None:
            raise text.failure from None
        manifest = None
    # A parse that gave up early still has the rest of the manifest to hash.
    text.drain()
    return manifest


class _Parser:
    """A pull parser for one JSON object whose ``files`` array is read element by element."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self._text = ""
        self._at = 0
        # The decoder json.loads(..., object_hook=file_record) uses, so values come out alike.
        decoder = json.JSONDecoder(object_hook=file_record)
        self._decode = decoder.raw_decode
        # raw_decode's own scanner, called without its Python wrapper (typeshed lacks it).
        scan: Callable[[str, int], tuple[Any, int]] = decoder.scan_once  # type: ignore[attr-defined]
        self._scan = scan

    def _more(self) -> bool:
        """Append the next piece of text; False at the end."""
        for piece in self._pieces:
            if piece:
                self._text = self._text[self._at :] + piece
                self._at = 0
                return True
        return False

    def _peek(self) -> str:
        """The next character that is not whitespace ("" at the end), not consumed."""
        while True:
            match = _skip_whitespace(self._text, self._at)
            assert match is not None
            self._at = match.end()
            if self._at < len(self._text):
                return self._text[self._at]
            if not self._more():
                return ""

    def _expect(self, allowed: str) -> str:
        char = self._peek()
        if not char or char not in allowed:
            raise _GiveUp
        self._at += 1
        return char

    def _value(self) -> Any:
        """The next JSON value, however many pieces it spans."""
        self._peek()
        while True:
            try:
                value, end = self._decode(self._text, self._at)
            except ValueError:
                # Cut off by the end of the piece, most likely; at the end, a real error.
                if self._more():
                    continue
                raise
            # A number at the end of the text so far may go on in the next piece.
            at_end = end == len(self._text)
            if isinstance(value, (int, float)) and _number_goes_on(self._text, end):
                at_end = True
            if at_end and self._more():
                continue
            self._at = end
            return value

    def document(self) -> dict[str, Any]:
        """The whole document, its ``files`` as a FileTable (or as parsed, if not an array)."""
        self._expect("{")
        document: dict[str, Any] = {}
        if self._peek() == "}":
            self._at += 1
        else:
            while True:
                if self._peek() != '"':
                    raise _GiveUp
                key = self._value()
                self._expect(":")
                document[key] = self._files() if key == "files" else self._value()
                if self._expect(",}") == "}":
                    break
        if self._peek():
            raise _GiveUp  # "Extra data" after the object
        if not isinstance(file_record(document), dict):
            raise _GiveUp  # json.loads would have made the document itself a record
        return document

    def _files(self) -> Any:
        if self._peek() != "[":
            return self._value()
        self._at += 1
        table = FileTable()
        if self._peek() == "]":
            self._at += 1
            return table
        scan, separator, append = self._scan, _separator, table.append
        text, at = self._text, self._at
        while True:
            # The common case in a few C calls: a whole record, then a comma and the next "{".
            try:
                item, at = scan(text, at)
            except (StopIteration, ValueError):
                self._at = at
                item = self._value()  # cut off by the end of the piece, or an error
                text, at = self._text, self._at
            append(item if isinstance(item, ManifestFile) else file_record(dict(item), strict=True))
            match = separator(text, at)
            if match is not None and match.end() < len(text):
                at = match.end()
                continue
            self._at = at
            if self._expect(",]") == "]":
                return table
            self._peek()
            text, at = self._text, self._at
