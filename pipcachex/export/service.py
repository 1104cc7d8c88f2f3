"""``export``: the selected distributions of a cache, proven whole, as a wheelhouse (and index).

The steps: pick the selected entries' distribution files (see ``sources``); read each one whole
(``whole``) and compare its sha256 with what the cached index pages and ``origin.json`` files say
(``knowledge``), which also gives each file its real name; keep one file per name (the same bytes
in both layouts are one file; different bytes under one name are a clash, and the newer wins);
then put each into the directory (``placing``) unless it is there already. A name the directory
holds with other bytes is a conflict and is left alone. Nothing in the cache is changed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pipcachex.atomic import fsync_directory
from pipcachex.cache import CacheScan, open_untouched, parse_distribution_filename
from pipcachex.errors import PipcachexError, UsageError
from pipcachex.export.knowledge import Knowledge, Link, gather_knowledge
from pipcachex.export.model import Clash, Conflict, Exported, ExportResult, SkipCode, Skipped
from pipcachex.export.placing import Placer
from pipcachex.export.simple import plan_index, record_files, write_index
from pipcachex.export.sources import Source, opened, sources_of
from pipcachex.export.whole import CHUNK, check_distribution
from pipcachex.selection import Selection

ProgressCallback = Callable[[int, int], None]


class ExportError(PipcachexError):
    """The export directory cannot be written: exit 1."""


@dataclass(frozen=True)
class _Candidate:
    exported: Exported
    source: Source
    mtime: float


def check_directory(directory: Path, cache_root: Path) -> Path:
    """The absolute export directory; one inside the cache (or the cache itself) is bad usage."""
    target = Path(os.path.realpath(directory))
    root = Path(os.path.realpath(cache_root))
    if target == root or root in target.parents:
        raise UsageError(f"invalid value for DIR: {str(directory)!r} is inside the cache {root}")
    if target.exists() and not target.is_dir():
        raise UsageError(f"invalid value for DIR: {str(directory)!r} is not a directory")
    return target


def export_cache(
    scan: CacheScan,
    directory: Path,
    selection: Selection,
    *,
    dry_run: bool = False,
    copy: bool = False,
    index: bool = False,
    on_progress: ProgressCallback | None = None,
) -> ExportResult:
    """Export the selected distributions of ``scan`` into ``directory`` (see the module doc)."""
    target = check_directory(directory, scan.root)
    sources: list[Source] = []
    skipped: list[Skipped] = []
    for entry in scan.entries:
        if not selection.matches(entry):
            continue
        found, unusable = sources_of(entry)
        sources += found
        if unusable is not None:
            skipped.append(
                Skipped(entry, unusable.path, unusable.filename, unusable.problem, unusable.code)
            )
    # Only the pages of the projects being exported are read (plus pages nobody could name).
    projects: set[str | None] = {source.entry.package for source in sources}
    knowledge = gather_knowledge(scan.entries, projects)
    candidates: list[_Candidate] = []
    for done, source in enumerate(sources, 1):
        checked = _check(source, knowledge)
        if isinstance(checked, Skipped):
            skipped.append(checked)
        else:
            candidates.append(checked)
        if on_progress is not None:
            on_progress(done, len(sources))
    chosen, clashes = _one_per_name(candidates)
    if not dry_run:
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"cannot create {directory}: {exc.strerror or exc}") from None
    written, present, conflicts = _place(chosen, target, dry_run=dry_run, copy=copy)
    pages = None
    if index:
        known = [*written, *present]
        pages = plan_index(target, known) if dry_run else write_index(target, known)
    elif not dry_run:
        record_files(target, [*written, *present])
    return ExportResult(
        scan.root,
        target,
        dry_run,
        tuple(written),
        tuple(present),
        tuple(skipped),
        tuple(clashes),
        tuple(conflicts),
        pages,
    )


def _check(source: Source, knowledge: Knowledge) -> _Candidate | Skipped:
    """Read one source whole and decide its name; a Skipped says why it cannot be exported."""
    entry = source.entry
    guess = source.name or ""
    try:
        with opened(source) as handle:
            sound = check_distribution(handle, guess)
            link = _link_for(source, knowledge, sound.sha256)
            if link is not None and link.filename != guess:
                # The page knows its real name: judge the bytes as what they really are.
                handle.seek(0)
                sound = check_distribution(handle, link.filename)
    except FileNotFoundError:
        return Skipped(
            entry,
            source.path,
            source.name,
            "vanished from the cache while exporting",
            SkipCode.UNREADABLE,
        )
    except OSError as exc:
        return Skipped(
            entry,
            source.path,
            source.name,
            f"cannot be read: {exc.strerror or exc}",
            SkipCode.UNREADABLE,
        )
    filename = link.filename if link is not None else guess
    if sound.problem is not None:
        code = SkipCode.NAME_MISMATCH if sound.misnamed else SkipCode.NOT_WHOLE
        return Skipped(entry, source.path, filename, sound.problem, code)
    if sound.size != source.length:
        return Skipped(
            entry,
            source.path,
            filename,
            "changed in the cache while being read",
            SkipCode.UNREADABLE,
        )
    problem = _mismatch(knowledge, link, filename, sound.sha256)
    if problem is not None:
        return Skipped(entry, source.path, filename, problem, SkipCode.HASH_MISMATCH)
    verified_by = link.known_from if link is not None and link.sha256 == sound.sha256 else None
    parsed = parse_distribution_filename(filename)
    if parsed is None:
        problem = f"{filename!r} is not a distribution name"
        return Skipped(entry, source.path, filename, problem, SkipCode.NAME_MISMATCH)
    header_problem = _header_mismatch(source, parsed)
    if header_problem is not None:
        return Skipped(entry, source.path, filename, header_problem, SkipCode.NAME_MISMATCH)
    exported = Exported(
        filename=filename,
        project=str(canonicalize_name(parsed[0])),
        version=parsed[1],
        size=sound.size,
        sha256=sound.sha256,
        entry=entry,
        source=source.path,
        method=None,
        requires_python=(link.requires_python if link else None) or sound.requires_python,
        yanked=link.yanked if link else None,
        verified_by=verified_by,
    )
    return _Candidate(exported, source, source.mtime)


def _link_for(source: Source, knowledge: Knowledge, sha256: str) -> Link | None:
    """The page link that describes this source: by its download URL, else by its bytes."""
    by_bytes = knowledge.by_sha256.get(sha256)
    key = source.key
    if key is not None and key in knowledge.by_key:
        by_url = knowledge.by_key[key]
        # An origin.json names the URL too, but a page with the same file says more about it.
        same = by_bytes is not None and by_bytes.filename == by_url.filename
        return by_bytes if same and by_url.sha256 == sha256 else by_url
    return by_bytes


def _mismatch(knowledge: Knowledge, link: Link | None, filename: str, sha256: str) -> str | None:
    """Say how the bytes disagree with the sha256 the cache knows for them, or None."""
    if link is not None and link.sha256 and link.sha256 != sha256:
        return (
            f"sha256 {sha256[:16]}... does not match the {link.sha256[:16]}... "
            f"the cached {link.known_from} gives for {link.filename}"
        )
    if link is not None:
        return None
    expected = knowledge.expected(filename)
    if expected and sha256 not in expected:
        known = ", ".join(sorted(e[:16] + "..." for e in expected))
        return (
            f"sha256 {sha256[:16]}... does not match what the cache knows for {filename} ({known})"
        )
    return None


def _header_mismatch(source: Source, parsed: tuple[str, str]) -> str | None:
    """PyPI's x-pypi-file-* headers name the file's project and version: they must agree."""
    if source.header_project and canonicalize_name(source.header_project) != parsed[0]:
        return f"x-pypi-file-project says {source.header_project!r}, the file {parsed[0]!r}"
    if source.header_version and source.header_version != parsed[1]:
        with suppress(InvalidVersion):
            if Version(source.header_version) == Version(parsed[1]):
                return None
        return f"x-pypi-file-version says {source.header_version!r}, the file {parsed[1]!r}"
    return None


def _one_per_name(candidates: list[_Candidate]) -> tuple[list[_Candidate], list[Clash]]:
    """One candidate per file name: the same bytes once (a linkable source first), else newest."""
    by_name: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        by_name.setdefault(candidate.exported.filename, []).append(candidate)
    chosen: list[_Candidate] = []
    clashes: list[Clash] = []
    for name in sorted(by_name):
        group = by_name[name]
        distinct: dict[str, _Candidate] = {}
        for candidate in sorted(group, key=lambda c: (not c.source.whole_file, -c.mtime)):
            distinct.setdefault(candidate.exported.sha256, candidate)
        ranked = sorted(distinct.values(), key=lambda c: -c.mtime)
        chosen.append(ranked[0])
        clashes += [Clash(name, ranked[0].exported, other.exported) for other in ranked[1:]]
    return chosen, clashes


def _place(
    chosen: list[_Candidate], target: Path, *, dry_run: bool, copy: bool
) -> tuple[list[Exported], list[Exported], list[Conflict]]:
    placer = Placer(target, copy_only=copy)
    written: list[Exported] = []
    present: list[Exported] = []
    conflicts: list[Conflict] = []
    wrote = False
    for candidate in chosen:
        item = candidate.exported
        existing = _existing_sha256(target / item.filename, candidate)
        if existing is None and not dry_run:
            try:
                item = replace(item, method=placer.place(candidate.source, item.filename))
            except FileExistsError:
                existing = _existing_sha256(target / item.filename, candidate)
            except OSError as exc:
                raise ExportError(
                    f"cannot write {target / item.filename}: {exc.strerror or exc}"
                ) from None
        if existing is None:
            written.append(item)
            wrote = wrote or not dry_run
        elif existing == item.sha256:
            present.append(item)
        else:
            conflicts.append(Conflict(item.filename, existing, item))
    if wrote:
        fsync_directory(target)  # the new names survive a crash, not only the bytes
    return written, present, conflicts


def _existing_sha256(path: Path, candidate: _Candidate) -> str | None:
    """The sha256 of what ``path`` holds already, or None when there is nothing."""
    source = candidate.source
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    try:
        if source.whole_file and os.path.samestat(info, os.stat(source.path)):
            return candidate.exported.sha256  # a link to the very file that was just read
        digest = hashlib.sha256()
        with open_untouched(path) as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from None
