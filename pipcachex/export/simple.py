"""The simple index of an export directory (PEP 503 HTML and PEP 691 JSON), and its record.

``DIR/simple/<project>/index.html`` lists every distribution file in ``DIR`` with its
``#sha256=`` and, where known, ``data-requires-python`` and ``data-yanked``; ``index.json`` beside
it says the same in PEP 691's JSON for tools and servers that ask for it. pip reads
``index.html`` from a ``file://`` index. The pages cover every file in ``DIR``, from this export
or an earlier one, so that an incremental export keeps a complete index: ``DIR/.pipcachex-
export.json`` records each exported file's sha256 and Requires-Python (by size and mtime), so
files already there are not read again and keep what the cache said about them when it did.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import urllib.parse
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipcachex.atomic import atomic_output
from pipcachex.cache import open_untouched
from pipcachex.export.knowledge import project_of
from pipcachex.export.model import Exported, IndexPages
from pipcachex.export.placing import publishable
from pipcachex.export.whole import CHUNK

RECORD_NAME = ".pipcachex-export.json"
SIMPLE = "simple"
_API_VERSION = "1.0"


@dataclass(frozen=True)
class IndexedFile:
    """One distribution file an index page lists."""

    filename: str
    project: str
    sha256: str
    requires_python: str | None = None
    yanked: str | None = None


def _read_record(directory: Path) -> dict[str, dict[str, Any]]:
    try:
        document = json.loads((directory / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = document.get("files") if isinstance(document, dict) else None
    return (
        {k: v for k, v in files.items() if isinstance(v, dict)} if isinstance(files, dict) else {}
    )


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def record_files(directory: Path, items: Iterable[Exported]) -> dict[str, dict[str, Any]]:
    """Add ``items`` to the directory's record (atomically) and return the whole record.

    Rows of files that are gone from the directory are dropped.
    """
    files = _read_record(directory)
    for item in items:
        stamp = _stamp(directory / item.filename)
        if stamp is None:
            continue
        before = files.get(item.filename, {})
        # The same file exported again after its index page left the cache: keep what the
        # page said about it then.
        same = before.get("sha256") == item.sha256
        files[item.filename] = {
            "sha256": item.sha256,
            "size": stamp[0],
            "mtime_ns": stamp[1],
            "requires_python": item.requires_python
            or (before.get("requires_python") if same else None),
            "yanked": item.yanked if item.yanked is not None or not same else before.get("yanked"),
        }
    files = {name: row for name, row in files.items() if (directory / name).is_file()}
    document = {"schema": 1, "files": dict(sorted(files.items()))}
    _write(directory / RECORD_NAME, json.dumps(document, indent=1) + "\n")
    return files


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open_untouched(path) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def indexed_files(
    directory: Path, record: dict[str, dict[str, Any]], items: Iterable[Exported] = ()
) -> list[IndexedFile]:
    """Every distribution file in ``directory`` (plus ``items`` a dry run would add)."""
    extra = {item.filename: item for item in items}
    found: list[IndexedFile] = []
    names = set(extra)
    if directory.is_dir():
        names |= {e.name for e in os.scandir(directory) if e.is_file(follow_symlinks=False)}
    for name in sorted(names):
        project = project_of(name)
        if project is None or name.startswith("."):
            continue
        item = extra.get(name)
        row = record.get(name)
        stamp = _stamp(directory / name)
        if row is not None and stamp == (row.get("size"), row.get("mtime_ns")):
            sha256, requires, yanked = row["sha256"], row.get("requires_python"), row.get("yanked")
        elif stamp is None and item is not None:
            sha256, requires, yanked = item.sha256, item.requires_python, item.yanked
        elif stamp is not None:
            sha256, requires, yanked = _hash_file(directory / name), None, None
        else:
            continue
        found.append(IndexedFile(name, project, str(sha256), requires, yanked))
    return found


def _projects(files: list[IndexedFile]) -> dict[str, list[IndexedFile]]:
    grouped: dict[str, list[IndexedFile]] = {}
    for item in files:
        grouped.setdefault(item.project, []).append(item)
    return dict(sorted(grouped.items()))


def plan_index(directory: Path, items: Iterable[Exported]) -> IndexPages:
    """What ``write_index`` would write, written nowhere (for a dry run)."""
    files = indexed_files(directory, _read_record(directory), items)
    return IndexPages(directory / SIMPLE, tuple(_projects(files)), len(files))


def write_index(directory: Path, items: Iterable[Exported]) -> IndexPages:
    """Record ``items`` and (re)write the simple index of every distribution in ``directory``."""
    record = record_files(directory, items)
    files = indexed_files(directory, record)
    projects = _projects(files)
    root = directory / SIMPLE
    for project, members in projects.items():
        page_dir = root / project
        page_dir.mkdir(parents=True, exist_ok=True)
        _write(page_dir / "index.html", project_html(project, members))
        _write(page_dir / "index.json", project_json(project, members))
    _write(root / "index.html", root_html(list(projects)))
    _write(root / "index.json", root_json(list(projects)))
    _remove_stale_pages(root, set(projects))
    return IndexPages(root, tuple(projects), len(files))


def _write(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return  # an unchanged page is left as it is (and keeps its mtime)
    except OSError:
        pass
    with atomic_output(path) as handle:
        publishable(handle.fileno())
        handle.write(data)


def _remove_stale_pages(root: Path, projects: set[str]) -> None:
    """Pages of projects whose files are all gone from the directory: only what we wrote."""
    for item in os.scandir(root):
        if item.is_dir(follow_symlinks=False) and item.name not in projects:
            for name in ("index.html", "index.json"):
                (Path(item.path) / name).unlink(missing_ok=True)
            with suppress(OSError):  # something else is in there: not ours to remove
                os.rmdir(item.path)


def _href(filename: str) -> str:
    return "../../" + urllib.parse.quote(filename)


def project_html(project: str, files: list[IndexedFile]) -> str:
    """The PEP 503 page of one project, links relative to the export directory."""
    name = html.escape(project)
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{_API_VERSION}">',
        f"    <title>Links for {name}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>Links for {name}</h1>",
    ]
    for item in sorted(files, key=lambda f: f.filename):
        attrs = f'href="{html.escape(_href(item.filename))}#sha256={item.sha256}"'
        if item.requires_python:
            attrs += f' data-requires-python="{html.escape(item.requires_python)}"'
        if item.yanked is not None:
            attrs += f' data-yanked="{html.escape(item.yanked)}"'
        lines.append(f"    <a {attrs}>{html.escape(item.filename)}</a><br />")
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines)


def project_json(project: str, files: list[IndexedFile]) -> str:
    """The PEP 691 JSON page of one project."""
    rows: list[dict[str, Any]] = []
    for item in sorted(files, key=lambda f: f.filename):
        row: dict[str, Any] = {
            "filename": item.filename,
            "url": _href(item.filename),
            "hashes": {"sha256": item.sha256},
        }
        if item.requires_python:
            row["requires-python"] = item.requires_python
        if item.yanked is not None:
            row["yanked"] = item.yanked or True
        rows.append(row)
    document = {"meta": {"api-version": _API_VERSION}, "name": project, "files": rows}
    return json.dumps(document, indent=1) + "\n"


def root_html(projects: list[str]) -> str:
    """The PEP 503 project list."""
    links = [f'    <a href="{html.escape(p)}/">{html.escape(p)}</a><br />' for p in projects]
    head = ["<!DOCTYPE html>", "<html>", "  <head>", "    <title>Simple index</title>"]
    return "\n".join([*head, "  </head>", "  <body>", *links, "  </body>", "</html>", ""])


def root_json(projects: list[str]) -> str:
    """The PEP 691 JSON project list."""
    document = {"meta": {"api-version": _API_VERSION}, "projects": [{"name": p} for p in projects]}
    return json.dumps(document, indent=1) + "\n"
