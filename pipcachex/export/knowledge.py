"""What the cache knows about its distribution files besides their bytes: names and sha256s.

pip stores no URLs, but the cached index pages list every file of a project with its file name,
its URL, usually its sha256 (``#sha256=`` in PEP 503 HTML, ``hashes`` in PEP 691 JSON) and its
``Requires-Python``. A link with an absolute URL names the very cache entry its download went to
(the entry is the sha224 of that URL); any link names the file whose bytes have its sha256.
``origin.json`` beside a built wheel gives the URL and sha256 of the sdist it was built from.
PyPI's ``x-pypi-file-*`` headers carry project, version, package type and Python tag, but no
digest: they can only confirm a name.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import urllib.parse
from collections import defaultdict
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name

from pipcachex.cache import (
    CacheEntry,
    Kind,
    Layout,
    RecordError,
    decoded_page,
    open_untouched,
    parse_distribution_filename,
    read_record,
    window,
)

_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")
_PAGE_LIMIT = 256 * 1024 * 1024
"""Pages are read whole; the largest project pages on PyPI are tens of MB of JSON."""


@dataclass(frozen=True)
class Link:
    """One file a cached index page lists."""

    filename: str
    url: str
    sha256: str | None = None
    requires_python: str | None = None
    yanked: str | None = None
    """None when not yanked, else the reason (possibly empty)."""
    known_from: str = "index page"
    """Where the link was read: ``index page`` or ``origin.json``."""


@dataclass(frozen=True)
class Knowledge:
    """Everything the cached pages and ``origin.json`` files say about distribution files."""

    by_key: dict[str, Link] = field(default_factory=dict)
    """Links whose absolute URL is the cache key (sha224 of the URL) of an HTTP entry."""
    by_sha256: dict[str, Link] = field(default_factory=dict)
    by_filename: dict[str, list[Link]] = field(default_factory=dict)

    def expected(self, filename: str) -> set[str]:
        """Every sha256 some page or origin.json gives for a file of this name."""
        return {link.sha256 for link in self.by_filename.get(filename, ()) if link.sha256}


def cache_key(url: str) -> str | None:
    """The HTTP cache entry name pip would store a download of ``url`` under, or None.

    cachecontrol keys on the URL with scheme and host lower-cased and the fragment dropped.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path or "/"
    request_uri = f"{path}?{parts.query}" if parts.query else path
    normalised = f"{parts.scheme.lower()}://{parts.netloc.lower()}{request_uri}"
    return hashlib.sha224(normalised.encode()).hexdigest()


def gather_knowledge(
    entries: Iterable[CacheEntry], projects: Container[str | None] | None = None
) -> Knowledge:
    """Read every index page and ``origin.json`` among ``entries`` (unreadable ones are skipped).

    With ``projects``, only the pages and built wheels of those projects (and of none known).
    """
    by_key: dict[str, Link] = {}
    by_sha256: dict[str, Link] = {}
    by_filename: dict[str, list[Link]] = defaultdict(list)
    pages: list[Link] = []
    origins: list[Link] = []
    for entry in entries:
        if projects is not None and entry.package is not None and entry.package not in projects:
            continue
        if entry.kind is Kind.INDEX_PAGE and entry.problem is None:
            pages += page_links(entry)
        elif entry.kind is Kind.BUILT_WHEEL:
            origins += origin_links(entry)
    # Pages first: they also give Requires-Python and yanked, which origin.json does not.
    for link in [*pages, *origins]:
        key = cache_key(link.url)
        if key is not None:
            by_key.setdefault(key, link)
        if link.sha256:
            by_sha256.setdefault(link.sha256, link)
        by_filename[link.filename].append(link)
    return Knowledge(by_key, by_sha256, dict(by_filename))


def page_links(entry: CacheEntry) -> list[Link]:
    """The distribution links of a cached index page entry ([] when it cannot be read)."""
    meta = next((f for f in entry.files if f.path == entry.path), None)
    body = next((f for f in entry.files if f.path.endswith(".body")), None)
    if meta is None:
        return []
    try:
        with open_untouched(meta.path) as handle:
            record = read_record(handle, meta.size)
            if entry.layout is Layout.HTTP:
                text, complete = decoded_page(
                    record, window(handle, record.body.offset, record.body.length), _PAGE_LIMIT
                )
            elif body is not None:
                with open_untouched(body.path) as body_handle:
                    text, complete = decoded_page(record, body_handle, _PAGE_LIMIT)
            else:
                return []
    except (OSError, RecordError, ValueError):
        return []
    if not complete:
        return []
    content_type = (record.header("content-type") or "").lower()
    links = _json_links(text) if "json" in content_type else _html_links(text)
    return [link for link in links if link.filename.endswith(_SUFFIXES)]


def _json_links(text: str) -> list[Link]:
    try:
        document = json.loads(text)
    except ValueError:
        return []
    files = document.get("files") if isinstance(document, dict) else None
    links: list[Link] = []
    for item in files if isinstance(files, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
            continue
        hashes = item.get("hashes")
        sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
        requires = item.get("requires-python")
        yanked = item.get("yanked")
        links.append(
            Link(
                filename=item["filename"],
                url=str(item.get("url") or ""),
                sha256=sha256.lower() if isinstance(sha256, str) else None,
                requires_python=requires if isinstance(requires, str) and requires else None,
                yanked=_yank_reason(yanked),
            )
        )
    return links


def _yank_reason(value: Any) -> str | None:
    if value is True:
        return ""
    if isinstance(value, str) and value:
        return value
    return None


_ANCHOR = re.compile(r"<a\s([^>]*)>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_ATTRIBUTE = re.compile(
    r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?"""
)


def _attributes(text: str) -> dict[str, str]:
    """An anchor's attributes, names lower-cased and values unescaped (``&gt;`` is ``>``)."""
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(text):
        value = next((v for v in match.groups()[1:] if v is not None), "")
        found.setdefault(match.group(1).lower(), html.unescape(value))
    return found


def _html_links(text: str) -> list[Link]:
    # A regular expression rather than html.parser: pages of popular projects hold thousands
    # of anchors, and PEP 503 pages are machine-written, one flat anchor per file.
    links: list[Link] = []
    for match in _ANCHOR.finditer(text):
        attrs = _attributes(match.group(1))
        label = html.unescape(re.sub(r"<[^>]*>", "", match.group(2))).strip()
        href = attrs.get("href") or ""
        url, _, fragment = href.partition("#")
        filename = urllib.parse.unquote(url.rstrip("/").rsplit("/", 1)[-1]) or label
        fragments = urllib.parse.parse_qs(fragment)
        sha256 = fragments.get("sha256", [None])[0]
        links.append(
            Link(
                filename=filename,
                url=url,
                sha256=sha256.lower() if sha256 else None,
                requires_python=attrs.get("data-requires-python") or None,
                yanked=attrs.get("data-yanked"),
            )
        )
    return links


def origin_links(entry: CacheEntry) -> list[Link]:
    """The source archive a built wheel's ``origin.json`` names, with its sha256 ([] if none)."""
    origin = next((f for f in entry.files if f.name == "origin.json"), None)
    if origin is None or origin.directory != entry.path:
        return []
    try:
        with open_untouched(origin.path) as handle:
            document = json.loads(handle.read(1024 * 1024).decode("utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(document, dict) or not isinstance(document.get("url"), str):
        return []
    url: str = document["url"]
    info = document.get("archive_info")
    hashes = info.get("hashes") if isinstance(info, dict) else None
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    filename = urllib.parse.unquote(os.path.basename(urllib.parse.urlsplit(url).path))
    if parse_distribution_filename(filename) is None:
        return []
    sha = sha256.lower() if isinstance(sha256, str) else None
    return [Link(filename, url, sha, known_from="origin.json")]


def project_of(filename: str) -> str | None:
    """The canonical project a distribution file name belongs to, or None."""
    parsed = parse_distribution_filename(filename)
    return None if parsed is None else str(canonicalize_name(parsed[0]))
