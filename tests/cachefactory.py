"""Write pip cache entries in exactly pip's on-disk formats, without running pip.

Used for damaged and edge-case caches and by the benchmark generator. The formats were checked
against what pip 23.2.1 (``http/``) and pip 26.3 (``http-v2/``) really write (see
``tests/test_harness.py``, which compares factory output byte for byte with real entries):

- An HTTP entry is ``b"cc=4,"`` + a msgpack map (``use_bin_type=True``)
  ``{"response": {"body", "headers", "status", "version", "reason", ["strict",]
  "decode_content"}, "vary": {...}}`` in that key order; pip <= 23.2 (urllib3 1.x) also stores
  ``"strict": 0``. In ``http-v2/`` ``body`` is ``b""`` and the bytes are in ``<h>.body``.
- ``h`` is the sha224 hex of the cachecontrol-normalised URL (scheme and host lower-cased,
  fragment dropped) and the entry lives in ``<layout>/h[0]/h[1]/h[2]/h[3]/h[4]/h``.
- A locally built wheel lives in ``wheels/aa/bb/cc/<50 hex>/`` keyed by the sha224 of
  ``{"url", [<hash name>,] "interpreter_name", "interpreter_version"}`` as compact sorted JSON,
  next to an ``origin.json`` (PEP 610 ``direct_url`` data).
"""

from __future__ import annotations

import dataclasses
import email.utils
import gzip
import hashlib
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Mapping
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from typing import Any

import msgpack
from packaging.tags import interpreter_name, interpreter_version

SERDE_PREFIX = b"cc=4,"
V2_DIR = "http-v2"
LEGACY_DIR = "http"
WHEELS_DIR = "wheels"

#: The ``Accept`` header pip (23.2 and 26.3) sends for index pages.
PIP_PAGE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
#: The request headers that end up in the ``vary`` map of a cached index page.
PIP_PAGE_REQUEST_HEADERS: dict[str, str] = {
    "Accept": PIP_PAGE_ACCEPT,
    "Accept-Encoding": "gzip, deflate",
}
PAGE_CACHE_CONTROL = "max-age=600, public"
FILE_CACHE_CONTROL = "max-age=365000000, immutable, public"
JSON_PAGE_TYPE = "application/vnd.pypi.simple.v1+json"
#: How old a ``.tmp`` file must be before it counts as left behind by an interrupted write.
STALE_TMP_AGE = 2 * 3600


@dataclasses.dataclass(frozen=True)
class HttpEntry:
    """Paths of one HTTP cache entry; ``body`` is ``None`` in the legacy layout."""

    url: str
    key: str
    meta: Path
    body: Path | None


def normalise_url(url: str) -> str:
    """cachecontrol's cache key URL: scheme and host lower-cased, fragment dropped."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    request_uri = f"{path}?{parts.query}" if parts.query else path
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{request_uri}"


def http_key(url: str) -> str:
    """The 56-hex name of the HTTP cache entry of ``url``."""
    return hashlib.sha224(normalise_url(url).encode()).hexdigest()


def http_entry_path(cache: Path, url: str, layout: str = V2_DIR) -> Path:
    """Where the (metadata) file of ``url``'s entry lives in ``cache/<layout>``."""
    key = http_key(url)
    return cache.joinpath(layout, *key[:5], key)


def http_date(when: float | None = None) -> str:
    """An RFC 7231 ``Date`` header value (GMT) for ``when`` (default: now)."""
    return email.utils.formatdate(time.time() if when is None else when, usegmt=True)


def etag_for(body: bytes) -> str:
    """A quoted ETag derived from ``body``, as the test index computes it."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def file_headers(
    body: bytes,
    *,
    date: float | None = None,
    project: str | None = None,
    version: str | None = None,
) -> dict[str, str]:
    """Response headers of a distribution or metadata file, in the order the test index sends.

    ``project``/``version`` add PyPI's ``x-pypi-file-project``/``x-pypi-file-version``.
    """
    headers = {
        "Server": "pipcachex-test-index/1.0",
        "Date": http_date(date),
        "Content-Type": "application/octet-stream",
        "Content-Length": str(len(body)),
        "ETag": etag_for(body),
        "Cache-Control": FILE_CACHE_CONTROL,
    }
    if project is not None:
        headers["x-pypi-file-project"] = project
    if version is not None:
        headers["x-pypi-file-version"] = version
    return headers


def page_headers(
    body: bytes,
    *,
    content_type: str = JSON_PAGE_TYPE,
    gzipped: bool = False,
    date: float | None = None,
) -> dict[str, str]:
    """Response headers of an index page whose (already encoded) bytes are ``body``."""
    headers = {
        "Server": "pipcachex-test-index/1.0",
        "Date": http_date(date),
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "ETag": etag_for(body),
        "Cache-Control": PAGE_CACHE_CONTROL,
        "Vary": "Accept, Accept-Encoding",
    }
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return headers


def json_page(name: str, filenames: list[str], base: str = "../../files/") -> bytes:
    """A minimal PEP 691 page body for project ``name`` listing ``filenames``."""
    files = [{"filename": f, "url": base + f, "hashes": {}} for f in filenames]
    doc = {"meta": {"api-version": "1.1"}, "name": name, "files": files}
    return json.dumps(doc, sort_keys=True).encode()


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip of ``data`` (as a server would send a gzip-encoded page)."""
    return gzip.compress(data, mtime=0)


def vary_map(
    headers: Mapping[str, str], request_headers: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """The ``vary`` map cachecontrol stores: each ``Vary`` header name -> the request's value."""
    request_headers = PIP_PAGE_REQUEST_HEADERS if request_headers is None else request_headers
    lowered = {k.lower(): v for k, v in headers.items()}
    request_lowered = {k.lower(): v for k, v in request_headers.items()}
    result: dict[str, str | None] = {}
    if "vary" in lowered:
        for name in lowered["vary"].split(","):
            name = name.strip()
            result[name] = request_lowered.get(name.lower())
    return result


def response_map(
    body: bytes,
    headers: Mapping[str, str],
    status: int = 200,
    *,
    legacy: bool = False,
    vary: Mapping[str, str | None] | None = None,
    version: int = 11,
    reason: str | None = None,
) -> dict[str, Any]:
    """The msgpack map pip stores, with the key order pip uses.

    ``body`` goes into the map as given (pass ``b""`` for ``http-v2``). ``vary=None`` derives the
    map from the ``Vary`` header and pip's page request headers.
    """
    response: dict[str, Any] = {
        "body": body,
        "headers": {str(k): str(v) for k, v in headers.items()},
        "status": status,
        "version": version,
        "reason": HTTPStatus(status).phrase if reason is None else reason,
    }
    if legacy:
        response["strict"] = 0
    response["decode_content"] = False
    return {"response": response, "vary": dict(vary_map(headers) if vary is None else vary)}


def serialize(data: Mapping[str, Any]) -> bytes:
    """``cc=4,`` + msgpack, exactly as cachecontrol's serializer writes it."""
    packed: bytes = msgpack.packb(data, use_bin_type=True)
    return SERDE_PREFIX + packed


def read_entry(meta: Path) -> dict[str, Any]:
    """Parse a metadata file (either layout) back into its map; raises ``ValueError`` if bad."""
    raw = meta.read_bytes()
    if not raw.startswith(SERDE_PREFIX):
        raise ValueError(f"{meta}: no {SERDE_PREFIX!r} prefix")
    data = msgpack.unpackb(raw[len(SERDE_PREFIX) :], raw=False)
    if not isinstance(data, dict):
        raise ValueError(f"{meta}: not a map")
    return data


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_http_v2_entry(
    cache: Path,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    status: int = 200,
    *,
    vary: Mapping[str, str | None] | None = None,
) -> HttpEntry:
    """Write an ``http-v2/`` entry (metadata with empty body + ``<h>.body``) like pip >= 23.3."""
    meta = http_entry_path(cache, url, V2_DIR)
    _write(meta, serialize(response_map(b"", headers, status, vary=vary)))
    body_path = _write(meta.with_name(meta.name + ".body"), body)
    return HttpEntry(url, meta.name, meta, body_path)


def write_legacy_http_entry(
    cache: Path,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    status: int = 200,
    *,
    vary: Mapping[str, str | None] | None = None,
) -> HttpEntry:
    """Write an ``http/`` entry (body inside the map, ``strict`` key) like pip <= 23.2."""
    meta = http_entry_path(cache, url, LEGACY_DIR)
    _write(meta, serialize(response_map(body, headers, status, legacy=True, vary=vary)))
    return HttpEntry(url, meta.name, meta, None)


def write_redirect_entry(
    cache: Path, url: str, location: str, *, status: int = 301, legacy: bool = False
) -> HttpEntry:
    """Write a cached permanent redirect (empty body), as pip stores a 301/308."""
    headers = {
        "Server": "pipcachex-test-index/1.0",
        "Date": http_date(),
        "Location": location,
        "Cache-Control": PAGE_CACHE_CONTROL,
        "Content-Length": "0",
    }
    writer = write_legacy_http_entry if legacy else write_http_v2_entry
    return writer(cache, url, b"", headers, status, vary={})


def wheel_cache_dir(cache: Path, link: str) -> Path:
    """pip's ``wheels/`` directory for the source ``link`` (hash fragment included in the key)."""
    url, _, fragment = link.partition("#")
    key_parts: dict[str, str] = {"url": url}
    fragments = urllib.parse.parse_qs(fragment)
    for name in ("sha512", "sha384", "sha256", "sha224", "sha1", "md5"):
        if name in fragments:
            key_parts[name] = fragments[name][0]
            break
    if "subdirectory" in fragments:
        key_parts["subdirectory"] = fragments["subdirectory"][0]
    key_parts["interpreter_name"] = interpreter_name()
    key_parts["interpreter_version"] = interpreter_version()
    text = json.dumps(key_parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    hashed = hashlib.sha224(text.encode("ascii")).hexdigest()
    return cache / WHEELS_DIR / hashed[:2] / hashed[2:4] / hashed[4:6] / hashed[6:]


def origin_json(url: str, sha256: str | None = None) -> dict[str, Any]:
    """The ``origin.json`` pip writes for an archive downloaded from ``url``."""
    archive_info: dict[str, Any] = {}
    if sha256 is not None:
        archive_info = {"hash": f"sha256={sha256}", "hashes": {"sha256": sha256}}
    return {"archive_info": archive_info, "url": url}


def write_wheel_entry(
    cache: Path,
    link: str,
    wheel_bytes: bytes,
    filename: str,
    origin: Mapping[str, Any] | None = None,
) -> Path:
    """Write a locally built wheel under ``wheels/`` for source ``link``; return its path.

    ``origin`` is written as ``origin.json`` (``json.dumps(..., sort_keys=True)`` like pip);
    ``None`` writes none, as pips before 22.2 did.
    """
    directory = wheel_cache_dir(cache, link)
    wheel = _write(directory / filename, wheel_bytes)
    if origin is not None:
        _write(directory / "origin.json", json.dumps(dict(origin), sort_keys=True).encode())
    return wheel


def write_selfcheck(
    cache: Path,
    *,
    key: str | None = None,
    pypi_version: str = "26.3",
    last_check: datetime | None = None,
    legacy_json: bool = False,
) -> Path:
    """Write pip's version-check state: ``selfcheck/<sha224(key)>`` or old ``selfcheck.json``."""
    key = sys.prefix if key is None else key
    when = (last_check or datetime.now(timezone.utc)).isoformat()
    if legacy_json:
        state: dict[str, Any] = {key: {"last_check": when, "pypi_version": pypi_version}}
        return _write(cache / "selfcheck.json", json.dumps(state).encode())
    state = {"key": key, "last_check": when, "pypi_version": pypi_version}
    name = hashlib.sha224(key.encode()).hexdigest()
    text = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return _write(cache / "selfcheck" / name, text.encode())


# -- damage ------------------------------------------------------------------------------------


def set_age(path: Path, seconds: float) -> None:
    """Set ``path``'s atime and mtime to ``seconds`` ago."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def truncate(path: Path, keep: int | None = None) -> Path:
    """Cut ``path`` to ``keep`` bytes (default: half its size), keeping its times."""
    st = path.stat()
    size = st.st_size // 2 if keep is None else keep
    with path.open("r+b") as f:
        f.truncate(size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return path


def truncate_body(entry: HttpEntry, keep: int | None = None) -> Path:
    """Truncate an entry's body: the ``.body`` file, or the legacy metadata file itself."""
    return truncate(entry.body or entry.meta, keep)


def garble_metadata(meta: Path, *, keep_prefix: bool = True) -> Path:
    """Replace a metadata file with bytes that do not deserialise (``cc=4,`` kept by default)."""
    junk = b"\xc1\xc1 this is not msgpack \xff\x00"
    return _write(meta, (SERDE_PREFIX if keep_prefix else b"") + junk)


def orphan_body(entry: HttpEntry) -> Path:
    """Delete an ``http-v2`` entry's metadata file, leaving the ``.body``; return the body."""
    if entry.body is None:
        raise ValueError("legacy entries have no separate body")
    entry.meta.unlink()
    return entry.body


def orphan_metadata(entry: HttpEntry) -> Path:
    """Delete an ``http-v2`` entry's ``.body``, leaving the metadata file; return it."""
    if entry.body is None:
        raise ValueError("legacy entries have no separate body")
    entry.body.unlink()
    return entry.meta


def write_stale_tmp(
    target: Path, *, suffix: str = "abcd1234", age: float = STALE_TMP_AGE, size: int = 64
) -> Path:
    """Create the ``<name><random>.tmp`` file an interrupted pip write leaves next to ``target``.

    ``target`` is the entry file name it belongs to (e.g. the metadata or ``.body`` path; it need
    not exist). The file gets ``size`` bytes and is aged ``age`` seconds (default 2 h).
    """
    tmp = _write(target.with_name(f"{target.name}{suffix}.tmp"), b"\0" * size)
    set_age(tmp, age)
    return tmp


def zero_byte(path: Path) -> Path:
    """Make ``path`` an empty file (created if missing)."""
    return _write(path, b"")


@dataclasses.dataclass(frozen=True)
class DamagedEntries:
    """The paths a scan should report as damaged after ``write_damaged_http_v2_entries``."""

    truncated: Path
    garbage: Path
    orphan: Path
    stale: Path


def write_damaged_http_v2_entries(cache: Path, url: str, body: bytes) -> DamagedEntries:
    """Write four damaged ``http-v2/`` entries for variants of ``url``.

    A truncated body, garbage metadata, a body without its metadata and a stale temp file.
    """
    truncated = write_http_v2_entry(cache, url, body, {"Content-Length": str(len(body))})
    truncate_body(truncated)
    garbage = write_http_v2_entry(cache, url + "?g", b"x", {})
    garble_metadata(garbage.meta, keep_prefix=False)
    orphan = orphan_body(write_http_v2_entry(cache, url + "?o", body, {}))
    stale = write_stale_tmp(truncated.meta)
    return DamagedEntries(truncated.meta, garbage.meta, orphan, stale)
