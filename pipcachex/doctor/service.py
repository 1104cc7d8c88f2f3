"""The ``doctor`` service: gather the facts (pips, caches, file systems), run every check.

It changes nothing in any cache: pip is only asked (``pip cache dir``, ``pip config debug``,
its version), and the cache is read the way ``verify`` reads it, without moving atimes.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pipcachex.backup import default_backup_dir
from pipcachex.cache import Layout, ProblemCode, check_cache_dir, memo_directory, scan_cache
from pipcachex.doctor.checks_cache import (
    check_entries,
    check_filesystem,
    check_layouts,
    check_own_files,
    check_ownership,
)
from pipcachex.doctor.checks_pip import check_caching, check_pip_caches, check_stranded, same_path
from pipcachex.doctor.facts import (
    CacheFacts,
    Candidate,
    EntryProblem,
    LayoutUse,
    OwnFiles,
    PipFacts,
    default_locations,
    refused_directory,
)
from pipcachex.doctor.filesystem import filesystem_facts, ownership_facts, tree_size
from pipcachex.doctor.model import DoctorReport, Finding, PipSummary
from pipcachex.doctor.pipconfig import parse_config_debug
from pipcachex.errors import PipcachexError
from pipcachex.operations.verify import Found, verify_scan
from pipcachex.pip_runner import MINIMUM_PIP, PipRunner

CommandCallback = Callable[[Sequence[str]], None]
ProgressCallback = Callable[[int, int], None]
_LAYOUT_NAMES = ("http", "http-v2", "wheels")
_STALE = frozenset({ProblemCode.STALE_TEMP, ProblemCode.STALE_BUILD})


def default_pythons(path: str | None = None) -> list[str]:
    """The interpreter running pipcachex, then ``python3`` and ``python`` on PATH if different.

    Two names are one interpreter when they are the same file in the same directory (a venv's
    ``python`` and ``python3``); a venv's interpreter and the one it was made from are not,
    since their pips differ.
    """
    found = [sys.executable]
    keys = {_identity(sys.executable)}
    for name in ("python3", "python"):
        located = shutil.which(name, path=path)
        if located is not None and _identity(located) not in keys:
            keys.add(_identity(located))
            found.append(located)
    return found


def _identity(python: str) -> tuple[str, str]:
    return os.path.realpath(os.path.dirname(python)), os.path.realpath(python)


def gather_pip(runner: PipRunner) -> PipFacts:
    """Ask one interpreter's pip for its version, its cache and its configuration."""
    python = runner.python
    try:
        version = runner.version()
        if version < MINIMUM_PIP:
            return PipFacts(python, str(version), f"pip {version} has no `pip cache` (20.1+)")
        report = runner.cache_dir_report()
        config = parse_config_debug(runner.config_debug())
    except PipcachexError as exc:
        return PipFacts(python, problem=exc.message)
    return PipFacts(
        python,
        str(version),
        cache_dir=str(report.path) if report.path is not None else None,
        disabled=report.path is None,
        pip_message=report.stderr,
        refused_dir=refused_directory(report.stderr),
        http_v2=runner.writes_http_v2(),
        config=config,
    )


def gather_cache(root: str, on_progress: ProgressCallback | None = None) -> CacheFacts:
    """Scan one cache (verify's fast checks) and look at its owners and file system."""
    path = Path(root)
    if not path.is_dir():
        return CacheFacts(root, False)
    ownership = ownership_facts(path)
    filesystem = filesystem_facts(path)
    try:
        check_cache_dir(path, explicit=False)
        scan = scan_cache(path, on_progress=on_progress)
    except PipcachexError as exc:
        return CacheFacts(
            root,
            True,
            unreadable=(exc.message,),
            ownership=ownership,
            filesystem=filesystem,
        )
    result = verify_scan(scan)
    stale = [p for p in result.damaged if p.problem.code in _STALE]
    damaged = [p for p in result.damaged if p.problem.code not in _STALE]
    unreadable = [
        f"{p.path}: {p.problem}"
        for p in result.unreadable_entries
        if p.problem.code is ProblemCode.UNREADABLE
    ]
    layouts = tuple(
        LayoutUse(
            layout.value,
            sum(1 for e in scan.entries if e.layout is layout),
            sum(e.size for e in scan.entries if e.layout is layout),
        )
        for layout in (Layout.HTTP, Layout.HTTP_V2)
    )
    return CacheFacts(
        root,
        True,
        entries=len(scan.entries),
        total_size=scan.total_size,
        layouts=layouts,
        damaged=tuple(_entry_problem(p) for p in damaged),
        stale=tuple(_entry_problem(p) for p in stale),
        unreadable=(*scan.unreadable, *unreadable),
        ownership=ownership,
        filesystem=filesystem,
    )


def _entry_problem(found: Found) -> EntryProblem:
    return EntryProblem(found.path, found.problem.message, found.entry.size)


def gather_candidates(environ: Mapping[str, str], exclude: Sequence[str]) -> list[Candidate]:
    """Every default cache location; those not in ``exclude`` are measured on disk."""
    found: list[Candidate] = []
    for location in default_locations(environ):
        path = Path(location.path)
        if any(same_path(location.path, used) for used in exclude) or not path.is_dir():
            found.append(Candidate(location, False, 0, 0))
            continue
        looks = any((path / name).is_dir() for name in _LAYOUT_NAMES)
        files, size = tree_size(path) if looks else (0, 0)
        found.append(Candidate(location, looks, files, size))
    return found


def gather_own_files() -> OwnFiles:
    """The sizes of pipcachex's memo and backups directories (measured before any scan)."""
    memo = memo_directory()
    memo_files, memo_size = tree_size(memo) if memo is not None else (0, 0)
    backups = default_backup_dir()
    backup_files, backup_size = tree_size(backups)
    return OwnFiles(
        str(memo) if memo is not None else None,
        memo_files,
        memo_size,
        str(backups),
        backup_files,
        backup_size,
    )


def run_doctor(
    pythons: Sequence[str] = (),
    cache_dir: Path | None = None,
    *,
    on_command: CommandCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> DoctorReport:
    """Check the pips of ``pythons`` (default: ``default_pythons()``) and the caches they use.

    With ``cache_dir`` that directory is the one examined, whichever the pips use.
    A ``python`` that is not an interpreter is a usage error (``PipRunner``).
    """
    runners: list[PipRunner] = []
    for python in pythons or default_pythons():
        runner = PipRunner(python=python, on_command=on_command)
        if all(_identity(runner.python) != _identity(r.python) for r in runners):
            runners.append(runner)  # the same interpreter given twice is checked once
    own = gather_own_files()
    pips = [gather_pip(runner) for runner in runners]
    roots: list[str] = []
    wanted = (
        [str(cache_dir.absolute())]
        if cache_dir is not None
        else [p.cache_location for p in pips if p.cache_location is not None]
    )
    for root in wanted:
        if not any(same_path(root, seen) for seen in roots):
            roots.append(root)
    caches = [gather_cache(root, on_progress) for root in roots]
    in_use = [*roots, *(p.cache_location for p in pips if p.cache_location is not None)]
    candidates = gather_candidates(os.environ, in_use)

    findings: list[Finding] = [*check_pip_caches(pips), *check_caching(pips)]
    for cache in caches:
        findings += check_ownership(cache, pips)
    for cache in caches:
        findings += check_layouts(cache, pips)
    findings += check_stranded(candidates, in_use)
    for cache in caches:
        findings += check_filesystem(cache)
    for cache in caches:
        findings += check_entries(cache)
    findings += check_own_files(own)
    summaries = tuple(
        PipSummary(
            p.python,
            p.version,
            p.cache_dir,
            None if p.http_v2 is None else ("http-v2" if p.http_v2 else "http"),
        )
        for p in pips
    )
    return DoctorReport(summaries, tuple(roots), tuple(findings))
