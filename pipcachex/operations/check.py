"""The ``check`` service: prove, project by project, that pip fetches again and things still work.

For each project: what the cache still holds for it, whether the target pip downloads it from
the index or serves it from the cache (``pip download --no-deps``, read from pip's own output),
optionally a real install and import in a throwaway venv, and once for the whole target
environment ``pip check``. pip runs with the user's own configuration (environment variables and
config files pass through), so the index it reaches is the one the user's installs reach.
"""

from __future__ import annotations

import enum
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from pipcachex.cache import CacheEntry, Kind, scan_cache
from pipcachex.errors import PipError, UsageError
from pipcachex.pip_runner import PipRunner
from pipcachex.selection import PackageSpec, parse_spec
from pipcachex.target import CacheTarget

PIP_TIMEOUT = 900.0
_GLOB_CHARS = set("*?[]!")
_USING_CACHED = re.compile(r"^\s*Using cached (\S+)", re.MULTILINE)
# "Downloading link ... to <tmp>" is pip copying the file out of its session: not a fetch.
_DOWNLOADING = re.compile(r"^\s*Downloading (?!link )(\S+)", re.MULTILINE)
# What pip prints when the index cannot be reached at all, as opposed to a broken cache entry.
_NETWORK_MARKERS = re.compile(
    r"connection error|NewConnectionError|Connection refused|Max retries exceeded|"
    r"ConnectTimeoutError|ReadTimeoutError|Read timed out|Name or service not known|"
    r"Temporary failure in name resolution|nodename nor servname|Network is unreachable|"
    r"ProxyError|SSLError|HTTP error 5\d\d|\b5\d\d Server Error",
    re.IGNORECASE,
)
_CACHE_HINT = "if pip's error points at a cache entry, `pipcachex verify --fix` removes it"

# Run by the throwaway venv's interpreter: find the installed distribution, import its
# top-level modules (top_level.txt, else derived from RECORD) and print one JSON line.
_IMPORT_SCRIPT = r"""
import importlib, importlib.machinery, importlib.metadata as md, json, re, sys, traceback
norm = lambda n: re.sub(r"[-_.]+", "-", n or "").lower()
dist = next((d for d in md.distributions() if norm(d.metadata["Name"]) == norm(sys.argv[1])), None)
if dist is None:
    print(json.dumps({"error": "the distribution is not installed"})); sys.exit(0)
tops = (dist.read_text("top_level.txt") or "").split()
if not tops:
    suffixes = (".py", *importlib.machinery.EXTENSION_SUFFIXES)
    for f in dist.files or []:
        parts = f.parts
        if parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info", ".data")):
            continue
        if len(parts) == 1 and parts[0].endswith(suffixes):
            tops.append(parts[0].split(".")[0])
        elif len(parts) > 1 and parts[-1].endswith(suffixes):
            tops.append(parts[0])
tops = sorted({t for t in tops if t.isidentifier()})
results = []
for name in tops:
    try:
        importlib.import_module(name)
        results.append({"module": name, "error": None})
    except BaseException as exc:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        results.append({"module": name, "error": text})
print(json.dumps({"version": dist.version, "modules": results}))
"""


class Status(str, enum.Enum):
    """How one step ended."""

    PASSED = "passed"
    FAILED = "failed"
    NETWORK = "network-error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Step:
    """One step of a check: its name, how it ended, a one-line summary and pip's output."""

    name: str
    status: Status
    summary: str
    output: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the step passed (or was not asked for)."""
        return self.status in (Status.PASSED, Status.SKIPPED)


@dataclass(frozen=True)
class ProjectCheck:
    """Every step run for one project; ``source`` is ``index``, ``cache`` or None."""

    spec: str
    project: str
    cached: tuple[CacheEntry, ...]
    source: str | None
    steps: tuple[Step, ...]

    @property
    def ok(self) -> bool:
        """Whether every step for this project passed."""
        return all(s.ok for s in self.steps)


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found for the target interpreter, its pip and cache."""

    python: str
    pip_version: str
    cache_dir: Path
    projects: tuple[ProjectCheck, ...]
    environment: Step
    python_source: str = "option"

    @property
    def ok(self) -> bool:
        """Whether every step of every project and the environment check passed."""
        return self.environment.ok and all(p.ok for p in self.projects)


def parse_check_specs(texts: Sequence[str]) -> list[PackageSpec]:
    """Parse ``check``'s specs: project names with optional version specifiers, no globs."""
    specs = [parse_spec(text) for text in texts]
    for spec in specs:
        if _GLOB_CHARS & set(spec.pattern):
            raise UsageError(f"check needs project names, not patterns: {spec.text!r}")
    return specs


def check_projects(
    target: CacheTarget,
    specs: Sequence[PackageSpec],
    *,
    reinstall: bool = False,
    on_project: Callable[[int, int], None] | None = None,
) -> CheckResult:
    """Run every check step for ``specs`` (see the module docstring) and ``pip check``."""
    pip = target.pip
    version = pip.require_supported()
    entries = scan_cache(target.root).entries if target.root.is_dir() else ()
    results = []
    for done, spec in enumerate(specs, start=1):
        results.append(_check_one(pip, spec, entries, reinstall))
        if on_project is not None:
            on_project(done, len(specs))
    return CheckResult(
        python=pip.python,
        pip_version=str(version),
        cache_dir=target.root,
        projects=tuple(results),
        environment=_environment_step(pip),
        python_source=target.python.source,
    )


def check_after_purge(
    target: CacheTarget,
    removed: Iterable[CacheEntry],
    *,
    reinstall: bool = False,
    on_project: Callable[[int, int], None] | None = None,
) -> CheckResult:
    """``check`` on every project that had entries among ``removed`` (for ``purge --check``)."""
    names = sorted({e.package for e in removed if e.package is not None})
    return check_projects(
        target, [parse_spec(name) for name in names], reinstall=reinstall, on_project=on_project
    )


def _check_one(
    pip: PipRunner, spec: PackageSpec, entries: Sequence[CacheEntry], reinstall: bool
) -> ProjectCheck:
    project = canonicalize_name(spec.pattern)
    cached = tuple(e for e in entries if spec.matches(e))
    steps = [_cache_step(cached)]
    requirement = spec.text.strip()
    source, fetch = _fetch_step(pip, requirement)
    steps.append(fetch)
    if reinstall:
        if fetch.ok:
            steps += _reinstall_steps(pip, requirement, project)
        else:
            reason = "skipped: the fetch failed"
            steps += [Step(name, Status.SKIPPED, reason) for name in ("venv", "install", "import")]
    return ProjectCheck(spec.text, project, cached, source, tuple(steps))


def _cache_step(cached: Sequence[CacheEntry]) -> Step:
    damaged = [e for e in cached if e.kind is Kind.DAMAGED]
    if damaged:
        names = "; ".join(f"{e.name}: {e.problem}" for e in damaged)
        return Step("cache", Status.FAILED, f"damaged entries in the cache ({names})")
    if not cached:
        return Step("cache", Status.PASSED, "no entries in the cache")
    shown = ", ".join(sorted({e.filename or e.kind.value for e in cached}))
    return Step(
        "cache",
        Status.PASSED,
        f"{len(cached)} {'entry' if len(cached) == 1 else 'entries'} still cached: {shown}",
    )


def _pip_failure(name: str, what: str, result_text: str, stderr: str) -> Step:
    """A failed pip step: a network failure when pip's output says so, otherwise a failure."""
    output = stderr.strip() or _tail(result_text)
    network = [ln.strip() for ln in result_text.splitlines() if _NETWORK_MARKERS.search(ln)]
    if network:
        # pip logs why it could not connect only at debug level: put that line first.
        output = network[0] + "\n" + output
        return Step(name, Status.NETWORK, f"{what}: the index could not be reached", output)
    errors = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith("ERROR")]
    reason = errors[-1] if errors else _tail(stderr or result_text, 1) or "pip failed"
    if "No matching distribution found" in stderr:
        return Step(name, Status.FAILED, f"{what}: not found on the index ({reason})", output)
    return Step(name, Status.FAILED, f"{what}: {reason} ({_CACHE_HINT})", output)


def _fetch_step(pip: PipRunner, requirement: str) -> tuple[str | None, Step]:
    with tempfile.TemporaryDirectory(prefix="pipcachex-fetch-") as work:
        try:
            result = pip.download_no_deps(requirement, Path(work), timeout=PIP_TIMEOUT)
        except PipError as exc:
            return None, Step("fetch", Status.FAILED, exc.message, exc.stderr or None)
    text = result.stdout + "\n" + result.stderr
    if result.returncode != 0:
        return None, _pip_failure("fetch", "pip download failed", text, result.stderr)
    fetched = [u for u in _DOWNLOADING.findall(text) if not u.endswith(".metadata")]
    reused = [u for u in _USING_CACHED.findall(text) if not u.endswith(".metadata")]
    if fetched:
        name = fetched[-1].rsplit("/", 1)[-1]
        return "index", Step("fetch", Status.PASSED, f"downloaded from the index ({name})")
    if reused:
        name = reused[-1].rsplit("/", 1)[-1]
        return "cache", Step("fetch", Status.PASSED, f"served from the cache ({name})")
    return None, Step(
        "fetch", Status.PASSED, "pip succeeded but did not say where the file came from"
    )


def _reinstall_steps(pip: PipRunner, requirement: str, project: str) -> list[Step]:
    with tempfile.TemporaryDirectory(prefix="pipcachex-venv-") as work:
        venv = Path(work) / "venv"
        try:
            pip.create_venv(venv, timeout=PIP_TIMEOUT)
        except PipError as exc:
            skipped = Step("install", Status.SKIPPED, "skipped: no venv")
            return [
                Step("venv", Status.FAILED, exc.message, exc.stderr or None),
                skipped,
                Step("import", Status.SKIPPED, "skipped: no venv"),
            ]
        steps = [Step("venv", Status.PASSED, "created a throwaway venv (removed afterwards)")]
        python = venv / "bin" / "python"
        if not python.exists():
            python = venv / "Scripts" / "python.exe"  # Windows venv layout
        try:
            result = pip.install_into(python, requirement, timeout=PIP_TIMEOUT)
        except PipError as exc:
            result = None
            steps.append(Step("install", Status.FAILED, exc.message, exc.stderr or None))
        if result is not None and result.returncode != 0:
            text = result.stdout + "\n" + result.stderr
            steps.append(_pip_failure("install", "pip install failed", text, result.stderr))
        elif result is not None:
            steps.append(Step("install", Status.PASSED, f"installed {requirement}"))
        if not steps[-1].ok:
            steps.append(Step("import", Status.SKIPPED, "skipped: the install failed"))
            return steps
        steps.append(_import_step(pip, python, project))
        return steps


def _import_step(pip: PipRunner, python: Path, project: str) -> Step:
    result = pip.run_python(python, ["-c", _IMPORT_SCRIPT, project], timeout=PIP_TIMEOUT)
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("{")]
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        return Step("import", Status.FAILED, "the import check did not run", _tail(result.stderr))
    if "error" in report:
        return Step("import", Status.FAILED, report["error"])
    modules = report["modules"]
    broken = [m for m in modules if m["error"]]
    if broken:
        detail = "; ".join(f"{m['module']}: {m['error'].splitlines()[-1]}" for m in broken)
        output = "\n".join(f"import {m['module']}\n{m['error']}" for m in broken)
        return Step("import", Status.FAILED, f"import failed ({detail})", output)
    if not modules:
        return Step("import", Status.PASSED, "installed; it has no top-level modules to import")
    names = ", ".join(m["module"] for m in modules)
    return Step("import", Status.PASSED, f"imported {names}")


def _environment_step(pip: PipRunner) -> Step:
    try:
        result = pip.check_environment(timeout=PIP_TIMEOUT)
    except PipError as exc:
        return Step("pip-check", Status.FAILED, exc.message, exc.stderr or None)
    output = (result.stdout + result.stderr).strip()
    if result.returncode == 0:
        return Step("pip-check", Status.PASSED, "no broken requirements", output or None)
    first = output.splitlines()[0] if output else f"exit code {result.returncode}"
    return Step("pip-check", Status.FAILED, f"pip check: {first}", output)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
