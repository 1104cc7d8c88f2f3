"""Attribution: which project and version a cached HTTP response belongs to, without its URL.

pip does not store URLs, so the evidence is the response itself, cheapest first: PyPI's
``x-pypi-file-*`` headers, then the body's own structure (a zip's central directory, a tar's first
member, a metadata file's header lines, an index page's title or ``name``). Nothing here reads
more of a body than that evidence needs.
"""

from __future__ import annotations

import json
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion

from pipcachex.cache.archives import is_compressed_tar
from pipcachex.cache.httpmeta import HttpRecord
from pipcachex.cache.model import Kind, Problem, ProblemCode

_REDIRECTS = {301, 302, 303, 307, 308}
_PAGE_LIMIT = 8 * 1024 * 1024
_TITLE_RE = re.compile(r"<title>\s*Links for\s+([^<]+?)\s*</title>", re.IGNORECASE)
_HEADING_RE = re.compile(r"<h1>\s*Links for\s+([^<]+?)\s*</h1>", re.IGNORECASE)
_ANCHOR_RE = re.compile(r"<a\s[^>]*>\s*([^<]+?)\s*</a>", re.IGNORECASE)
_JSON_NAME_RE = re.compile(r'"name"\s*:\s*"([^"\\]+)"')
_JSON_FILENAME_RE = re.compile(r'"filename"\s*:\s*"([^"\\]+)"')
_SIMPLE_PATH_RE = re.compile(r"/simple/([^/?#]+)/?(?:[?#].*)?$")


@dataclass(frozen=True)
class Identity:
    """What an HTTP entry turned out to be; ``problem`` is set when it is damaged or unreadable."""

    kind: Kind
    package: str | None = None
    version: str | None = None
    filename: str | None = None
    problem: Problem | None = None


def page_problem(message: str) -> Problem:
    """A damaged index page: pip crashes on it until it is removed."""
    return Problem(ProblemCode.BAD_PAGE, message)


def body_problem(message: str) -> Problem:
    """A damaged distribution body: a hash mismatch, or a download again."""
    return Problem(ProblemCode.BAD_BODY, message)


def parse_distribution_filename(filename: str) -> tuple[str, str] | None:
    """Return (canonical project, version) for a wheel or sdist file name, or None."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return name, str(version)
        name, version = parse_sdist_filename(filename)
        return name, str(version)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def classify_content_type(record: HttpRecord) -> Kind | None:
    """Say from status and Content-Type alone whether a response is a redirect or an index page."""
    if record.status in _REDIRECTS:
        return Kind.REDIRECT
    content_type = (record.header("content-type") or "").split(";")[0].strip().lower()
    if content_type in ("application/vnd.pypi.simple.v1+json", "application/json"):
        return Kind.INDEX_PAGE if record.status == 200 else None
    if content_type in ("text/html", "application/vnd.pypi.simple.v1+html"):
        return Kind.INDEX_PAGE if record.status == 200 else None
    return None


def identify(record: HttpRecord, body: BinaryIO, body_size: int) -> Identity:
    """Attribute one cached response whose body is readable from ``body`` (``body_size`` bytes)."""
    kind = classify_content_type(record)
    if kind is Kind.REDIRECT:
        location = record.header("location") or ""
        match = _SIMPLE_PATH_RE.search(location)
        return Identity(Kind.REDIRECT, package=canonicalize_name(match.group(1)) if match else None)
    if record.status != 200:
        return Identity(Kind.UNKNOWN)
    if kind is Kind.INDEX_PAGE:
        return _identify_page(record, body, body_size)
    return _identify_file(record, body, body_size)


def page_encoding(record: HttpRecord) -> str:
    """The ``Content-Encoding`` an index page was stored with, lower-cased (``identity``)."""
    return (record.header("content-encoding") or "identity").strip().lower() or "identity"


def page_decoder(encoding: str, body: BinaryIO) -> Any:
    """A zlib decompressor for a gzip or deflate page, or None for ``identity``.

    ``deflate`` is zlib-wrapped per the HTTP spec but raw in some servers: the first two bytes
    tell which. Raises ``ValueError`` for an encoding pip would not have asked for.
    """
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=31)
    if encoding == "deflate":
        first = body.read(2)
        body.seek(0)
        wrapped = (
            len(first) == 2 and (first[0] & 0x0F) == 8 and int.from_bytes(first, "big") % 31 == 0
        )
        return zlib.decompressobj(wbits=15 if wrapped else -15)
    if encoding == "identity":
        return None
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


def decoded_page(record: HttpRecord, body: BinaryIO, limit: int = _PAGE_LIMIT) -> tuple[str, bool]:
    """Return an index page's text (decoded from gzip/deflate) and whether it is complete.

    Raises ``ValueError`` when the encoded body does not decode.
    """
    encoding = page_encoding(record)
    decoder = page_decoder(encoding, body)
    if decoder is None:
        raw = body.read(limit + 1)
        return raw[:limit].decode("utf-8", "replace"), len(raw) <= limit
    pieces: list[bytes] = []
    produced = 0
    try:
        while produced <= limit:
            chunk = body.read(64 * 1024)
            if not chunk:
                break
            piece = decoder.decompress(chunk, limit + 1 - produced)
            pieces.append(piece)
            produced += len(piece)
        complete = produced <= limit
        if complete:
            pieces.append(decoder.flush())
            if not decoder.eof:
                raise ValueError(f"{encoding} stream ends early")
    except zlib.error as exc:
        raise ValueError(f"{encoding} body does not decode: {exc}") from None
    return b"".join(pieces)[:limit].decode("utf-8", "replace"), complete


def _identify_page(record: HttpRecord, body: BinaryIO, body_size: int) -> Identity:
    if body_size == 0:
        return Identity(Kind.INDEX_PAGE, problem=page_problem("index page body is empty"))
    try:
        text, complete = decoded_page(record, body)
    except ValueError as exc:
        return Identity(Kind.INDEX_PAGE, problem=page_problem(f"index page {exc}"))
    content_type = (record.header("content-type") or "").lower()
    name: str | None = None
    if "json" in content_type:
        if complete:
            try:
                document = json.loads(text)
            except ValueError:
                return Identity(
                    Kind.INDEX_PAGE, problem=page_problem("index page is not valid JSON")
                )
            if isinstance(document, dict) and isinstance(document.get("name"), str):
                name = document["name"]
        else:
            found = _JSON_NAME_RE.search(text)
            name = found.group(1) if found else None
        if name is None:
            name = _project_of_first(_JSON_FILENAME_RE.findall(text))
    else:
        found = _TITLE_RE.search(text) or _HEADING_RE.search(text)
        name = found.group(1) if found else _project_of_first(_ANCHOR_RE.findall(text))
    return Identity(Kind.INDEX_PAGE, package=canonicalize_name(name) if name else None)


def _project_of_first(filenames: list[str]) -> str | None:
    for filename in filenames:
        parsed = parse_distribution_filename(filename)
        if parsed:
            return parsed[0]
    return None


def _identify_file(record: HttpRecord, body: BinaryIO, body_size: int) -> Identity:
    header_project = record.header("x-pypi-file-project")
    header_version = record.header("x-pypi-file-version")
    magic = body.read(len(b"Metadata-Version:"))
    body.seek(0)
    found: Identity
    if magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        found = _identify_zip(body)
    elif is_compressed_tar(magic) and not record.header("content-encoding"):
        found = _identify_tar(body)
    elif magic.startswith(b"Metadata-Version:"):
        found = _identify_metadata(body)
    elif body_size == 0:
        found = Identity(Kind.DAMAGED, problem=body_problem("body is empty"))
    else:
        found = Identity(Kind.UNKNOWN)
    if header_project:
        package = canonicalize_name(header_project)
        kind = found.kind if found.kind is not Kind.UNKNOWN else Kind.DISTRIBUTION
        return Identity(
            kind, package, header_version or found.version, found.filename, found.problem
        )
    return found


def _identify_zip(body: BinaryIO) -> Identity:
    try:
        with zipfile.ZipFile(body) as archive:
            names = archive.namelist()
            dist_info = {
                n.split("/")[0]
                for n in names
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            }
            if len(dist_info) == 1:
                stem = dist_info.pop()[: -len(".dist-info")]
                tags = _wheel_tags(archive, stem)
                filename = f"{stem}-{tags}.whl"
                parsed = parse_distribution_filename(filename)
                if parsed:
                    return Identity(Kind.DISTRIBUTION, parsed[0], parsed[1], filename)
            tops = {n.split("/")[0] for n in names}
            if len(tops) == 1:
                top = tops.pop()
                if f"{top}/PKG-INFO" in names:
                    parsed = parse_distribution_filename(f"{top}.zip")
                    if parsed:
                        return Identity(Kind.DISTRIBUTION, parsed[0], parsed[1], f"{top}.zip")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        return Identity(
            Kind.DAMAGED, problem=body_problem(f"body is not a readable zip archive ({exc})")
        )
    return Identity(Kind.UNKNOWN)


def _wheel_tags(archive: zipfile.ZipFile, stem: str) -> str:
    try:
        text = archive.read(f"{stem}.dist-info/WHEEL").decode("utf-8", "replace")
    except KeyError:
        return "py3-none-any"
    build = ""
    pythons: list[str] = []
    abis: list[str] = []
    platforms: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "build" and value.strip():
            build = value.strip() + "-"
        elif key.strip().lower() == "tag" and value.count("-") == 2:
            python, abi, platform = value.strip().split("-")
            for bucket, item in ((pythons, python), (abis, abi), (platforms, platform)):
                if item not in bucket:
                    bucket.append(item)
    if not pythons:
        return build + "py3-none-any"
    return build + "-".join(".".join(part) for part in (pythons, abis, platforms))


def _identify_tar(body: BinaryIO) -> Identity:
    try:
        with tarfile.open(fileobj=body, mode="r|*") as archive:
            member = archive.next()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        return Identity(
            Kind.DAMAGED, problem=body_problem(f"body is not a readable tar archive ({exc})")
        )
    if member is None:
        return Identity(Kind.DAMAGED, problem=body_problem("body is an empty tar archive"))
    top = member.name.lstrip("./").split("/")[0]
    parsed = parse_distribution_filename(f"{top}.tar.gz")
    if parsed:
        return Identity(Kind.DISTRIBUTION, parsed[0], parsed[1], f"{top}.tar.gz")
    return Identity(Kind.UNKNOWN)


def _identify_metadata(body: BinaryIO) -> Identity:
    head = body.read(64 * 1024).decode("utf-8", "replace")
    fields: dict[str, str] = {}
    for line in head.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("name", "version") and key.strip().lower() not in fields:
            fields[key.strip().lower()] = value.strip()
    if "name" not in fields:
        return Identity(Kind.UNKNOWN)
    return Identity(Kind.METADATA, canonicalize_name(fields["name"]), fields.get("version"))
