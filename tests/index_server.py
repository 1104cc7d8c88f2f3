"""A small loopback package index that behaves like PyPI as far as pip's HTTP cache cares.

Serves, from a directory of built distributions:

- ``/simple/`` : the project list (PEP 503 HTML).
- ``/simple/<name>/`` : a project page, PEP 691 JSON when the ``Accept`` header asks for
  ``application/vnd.pypi.simple.v1+json``, else PEP 503 HTML titled ``Links for <name>``.
  Non-normalised names (and a missing trailing slash) get a 301 to the normalised URL.
- ``/files/<filename>`` : the distribution files, and ``/files/<wheel>.metadata`` (PEP 658/714).

Headers follow PyPI: ``Cache-Control: max-age=600, public`` on pages,
``max-age=365000000, immutable, public`` on files, an ``ETag`` (``If-None-Match`` gives 304) and
a ``Content-Length`` everywhere. Pages are gzip-encoded when the client accepts gzip (pip does),
and files can carry PyPI's ``x-pypi-file-project``/``x-pypi-file-version`` headers; both are
options per server and per project (:class:`ServeOptions`).

Only ever binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import html
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html"
PAGE_CACHE_CONTROL = "max-age=600, public"
FILE_CACHE_CONTROL = "max-age=365000000, immutable, public"
FILE_TYPE = "application/octet-stream"


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """How the index serves one project (or, as the server default, every project).

    - ``gzip_pages``: gzip-encode project pages when the request accepts gzip.
    - ``pypi_file_headers``: send ``x-pypi-file-project``/``x-pypi-file-version`` on files.
    - ``json_pages``: answer PEP 691 JSON when asked; ``False`` serves HTML only (an old index).
    - ``pep658``: advertise and serve ``<wheel>.metadata`` files.
    """

    gzip_pages: bool = True
    pypi_file_headers: bool = False
    json_pages: bool = True
    pep658: bool = True


@dataclasses.dataclass(frozen=True)
class IndexFile:
    """One distribution file the index serves."""

    filename: str
    project: str
    version: str
    data: bytes

    @property
    def sha256(self) -> str:
        """Hex sha256 of the file."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def is_wheel(self) -> bool:
        """Whether this file is a wheel (and so has PEP 658 metadata)."""
        return self.filename.endswith(".whl")


def _parse_filename(filename: str) -> tuple[str, str]:
    """Return the (canonical name, version) a distribution file name declares."""
    if filename.endswith(".whl"):
        name, version, _, _ = parse_wheel_filename(filename)
    else:
        name, version = parse_sdist_filename(filename)
    return str(name), str(version)


def _wheel_metadata(data: bytes) -> bytes:
    """Extract ``*.dist-info/METADATA`` from wheel bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for member in zf.namelist():
            parts = member.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                return zf.read(member)
    raise ValueError("wheel has no METADATA")


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


class IndexServer:
    """A threaded HTTP index on 127.0.0.1 (port chosen by the OS, kept across restarts).

    Use as a context manager, or call :meth:`start` and :meth:`close`.
    """

    def __init__(
        self,
        files_dir: Path,
        options: ServeOptions | None = None,
        project_options: dict[str, ServeOptions] | None = None,
    ) -> None:
        """Index every wheel/sdist in ``files_dir``; ``project_options`` keys are any spelling."""
        self.files_dir = files_dir
        self.options = options or ServeOptions()
        self.project_options = {
            str(canonicalize_name(k)): v for k, v in (project_options or {}).items()
        }
        self._files: dict[str, IndexFile] = {}
        self._log: list[tuple[str, str]] = []
        self._responses: list[tuple[str, str, int]] = []
        self._log_lock = threading.Lock()
        self._files_unavailable = False
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.reload()

    # -- content -------------------------------------------------------------------------------

    def reload(self) -> None:
        """(Re)scan ``files_dir``; files that are not distributions are ignored."""
        files: dict[str, IndexFile] = {}
        for path in sorted(self.files_dir.iterdir()):
            try:
                name, version = _parse_filename(path.name)
            except (InvalidWheelFilename, InvalidSdistFilename):
                continue
            files[path.name] = IndexFile(path.name, name, version, path.read_bytes())
        self._files = files

    def projects(self) -> list[str]:
        """Canonical names of every project served."""
        return sorted({f.project for f in self._files.values()})

    def files_for(self, project: str) -> list[IndexFile]:
        """Files of ``project`` (any spelling)."""
        canonical = canonicalize_name(project)
        return [f for f in self._files.values() if f.project == canonical]

    def options_for(self, project: str) -> ServeOptions:
        """Effective :class:`ServeOptions` of ``project`` (any spelling)."""
        return self.project_options.get(str(canonicalize_name(project)), self.options)

    # -- addresses -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The index URL to give pip: ``http://127.0.0.1:PORT/simple/``."""
        return f"{self.base_url}/simple/"

    def page_url(self, project: str) -> str:
        """The normalised project page URL pip requests for ``project``."""
        return f"{self.url}{canonicalize_name(project)}/"

    def file_url(self, filename: str) -> str:
        """The URL of a distribution file (without the hash fragment)."""
        return f"{self.base_url}/files/{filename}"

    def metadata_url(self, filename: str) -> str:
        """The PEP 658 metadata URL of a wheel."""
        return self.file_url(filename) + ".metadata"

    # -- request log ---------------------------------------------------------------------------

    def _record(self, method: str, path: str) -> None:
        with self._log_lock:
            self._log.append((method, path))

    def _record_response(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self._responses.append((method, path, status))

    def responses(self) -> list[tuple[str, str, int]]:
        """A copy of the response log: ``(method, path, status)`` in the order answered."""
        with self._log_lock:
            return list(self._responses)

    def requests(self) -> list[tuple[str, str]]:
        """A copy of the request log: ``(method, path)`` in arrival order."""
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget every logged request and response."""
        with self._log_lock:
            self._log.clear()
            self._responses.clear()

    def file_requests(self) -> list[str]:
        """Paths of logged requests under ``/files/`` (distributions and metadata)."""
        return [path for _, path in self.requests() if path.startswith("/files/")]

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._httpd is not None

    def start(self) -> IndexServer:
        """Start serving (on the previous port after a stop, so cached URLs stay valid)."""
        if self._httpd is not None:
            return self
        httpd = _Server(("127.0.0.1", self.port), _Handler)
        httpd.index = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: connections are refused until :meth:`start`."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join()
        self._httpd = self._thread = None

    close = stop

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Context manager: the index refuses connections inside, and serves again after.

        pip revalidates index pages on every run (it sends ``Cache-Control: max-age=0``), so a
        resolve against a stopped index fails; use :meth:`files_unavailable` to prove that the
        distributions themselves come from the cache.
        """
        was_running = self.running
        self.stop()
        try:
            yield
        finally:
            if was_running:
                self.start()

    @contextlib.contextmanager
    def files_unavailable(self) -> Iterator[None]:
        """Context manager: pages are served but every ``/files/`` request gets a 503."""
        self._files_unavailable = True
        try:
            yield
        finally:
            self._files_unavailable = False

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- rendering -----------------------------------------------------------------------------

    def render_json(self, project: str) -> bytes:
        """The PEP 691 (api 1.1) JSON page of ``project``."""
        opts = self.options_for(project)
        files: list[dict[str, Any]] = []
        for f in self.files_for(project):
            entry: dict[str, Any] = {
                "filename": f.filename,
                "url": f"../../files/{f.filename}",
                "hashes": {"sha256": f.sha256},
                "size": len(f.data),
            }
            if opts.pep658 and f.is_wheel:
                meta_hash = {"sha256": hashlib.sha256(_wheel_metadata(f.data)).hexdigest()}
                entry["core-metadata"] = meta_hash
                entry["dist-info-metadata"] = meta_hash
            files.append(entry)
        doc = {
            "meta": {"api-version": "1.1"},
            "name": str(canonicalize_name(project)),
            "files": files,
            "versions": sorted({f.version for f in self.files_for(project)}),
        }
        return json.dumps(doc, sort_keys=True).encode()

    def render_html(self, project: str) -> bytes:
        """The PEP 503 HTML page of ``project``, titled ``Links for <normalised name>``."""
        opts = self.options_for(project)
        name = html.escape(str(canonicalize_name(project)))
        lines = [
            "<!DOCTYPE html>",
            "<html>",
            "  <head>",
            '    <meta name="pypi:repository-version" content="1.1">',
            f"    <title>Links for {name}</title>",
            "  </head>",
            "  <body>",
            f"    <h1>Links for {name}</h1>",
        ]
        for f in self.files_for(project):
            attrs = f'href="../../files/{f.filename}#sha256={f.sha256}"'
            if opts.pep658 and f.is_wheel:
                meta = "sha256=" + hashlib.sha256(_wheel_metadata(f.data)).hexdigest()
                attrs += f' data-dist-info-metadata="{meta}" data-core-metadata="{meta}"'
            lines.append(f"    <a {attrs}>{html.escape(f.filename)}</a><br />")
        lines += ["  </body>", "</html>", ""]
        return "\n".join(lines).encode()

    def render_root(self) -> bytes:
        """The PEP 503 project list."""
        links = [f'    <a href="{p}/">{p}</a>' for p in self.projects()]
        body = ["<!DOCTYPE html>", "<html>", "  <body>", *links, "  </body>", "</html>", ""]
        return "\n".join(body).encode()


class _Server(ThreadingHTTPServer):
    """Joins its handler threads on close, so no socket outlives the server."""

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    index: IndexServer


class _Handler(BaseHTTPRequestHandler):
    """Request handler: routes to the project pages and files of ``server.index``."""

    protocol_version = "HTTP/1.1"
    server_version = "pipcachex-test-index/1.0"
    timeout = 10  # an idle keep-alive connection must not block server_close() for long
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep quiet: the request log is :meth:`IndexServer.requests`."""

    def send_response(self, code: int, message: str | None = None) -> None:
        """Send the status line, and log it in :meth:`IndexServer.responses`."""
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        self.server.index._record_response(self.command, path, int(code))
        super().send_response(code, message)

    def do_HEAD(self) -> None:
        """Answer HEAD like GET, without the body."""
        self._dispatch(send_body=False)

    def do_GET(self) -> None:
        """Answer GET."""
        self._dispatch(send_body=True)

    def _dispatch(self, send_body: bool) -> None:
        index = self.server.index
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        index._record(self.command, path)
        if path == "/simple/":
            self._send(HTTPStatus.OK, index.render_root(), HTML_TYPE, PAGE_CACHE_CONTROL, send_body)
            return
        if path.startswith("/simple/"):
            self._project(path[len("/simple/") :], send_body)
            return
        if path.startswith("/files/"):
            self._file(path[len("/files/") :], send_body)
            return
        self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", None, send_body)

    def _project(self, rest: str, send_body: bool) -> None:
        index = self.server.index
        name = rest.rstrip("/")
        if "/" in name or not index.files_for(name):
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", None, send_body)
            return
        canonical = str(canonicalize_name(name))
        if rest != canonical + "/":
            self._redirect(f"/simple/{canonical}/", send_body)
            return
        opts = index.options_for(canonical)
        accept = self.headers.get("Accept", "")
        wants_json = opts.json_pages and JSON_TYPE in accept
        if wants_json:
            body, ctype = index.render_json(canonical), JSON_TYPE
        else:
            body, ctype = index.render_html(canonical), HTML_TYPE
        extra = {"Vary": "Accept, Accept-Encoding"}
        encoding = self.headers.get("Accept-Encoding", "")
        if opts.gzip_pages and "gzip" in encoding:
            body = gzip.compress(body, mtime=0)
            extra["Content-Encoding"] = "gzip"
        self._send(HTTPStatus.OK, body, ctype, PAGE_CACHE_CONTROL, send_body, extra)

    def _file(self, filename: str, send_body: bool) -> None:
        index = self.server.index
        if index._files_unavailable:
            unavailable = HTTPStatus.SERVICE_UNAVAILABLE
            self._send(unavailable, b"files unavailable\n", "text/plain", None, send_body)
            return
        is_metadata = filename.endswith(".metadata")
        dist = index._files.get(filename.removesuffix(".metadata"))
        if dist is None or (is_metadata and not dist.is_wheel):
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", None, send_body)
            return
        opts = index.options_for(dist.project)
        if is_metadata and not opts.pep658:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", None, send_body)
            return
        body = _wheel_metadata(dist.data) if is_metadata else dist.data
        extra: dict[str, str] = {}
        if opts.pypi_file_headers:
            extra["x-pypi-file-project"] = dist.project
            extra["x-pypi-file-version"] = dist.version
            extra["x-pypi-file-package-type"] = "bdist_wheel" if dist.is_wheel else "sdist"
        self._send(HTTPStatus.OK, body, FILE_TYPE, FILE_CACHE_CONTROL, send_body, extra)

    def _redirect(self, location: str, send_body: bool) -> None:
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", location)
        self.send_header("Cache-Control", PAGE_CACHE_CONTROL)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        cache_control: str | None,
        send_body: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        etag = _etag(body)
        if status == HTTPStatus.OK and self.headers.get("If-None-Match") == etag:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            if cache_control:
                self.send_header("Cache-Control", cache_control)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == HTTPStatus.OK:
            self.send_header("ETag", etag)
            if cache_control:
                self.send_header("Cache-Control", cache_control)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)
