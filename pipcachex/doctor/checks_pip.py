"""The checks about pip itself: which cache each pip uses, whether caching is on, stray caches.

Each check is a pure function from facts to findings, so every rule is tested without a pip.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from pipcachex.doctor.facts import Candidate, PipFacts
from pipcachex.doctor.model import Code, Evidence, Finding, Level
from pipcachex.doctor.pipconfig import unset_command
from pipcachex.units import format_size

PIP_V2_REQUIREMENT = "pip>=23.3"


def same_path(a: str, b: str) -> bool:
    """Whether two paths name the same directory (symlinks resolved, case as the OS compares)."""
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def cache_setting_source(pip: PipFacts) -> str:
    """Where the cache directory of ``pip`` was chosen: a variable, a config file or the default."""
    value = pip.config.variable("PIP_CACHE_DIR")
    if value is not None:
        return f"PIP_CACHE_DIR={value} (environment)"
    settings = pip.config.settings_of("cache-dir")
    chosen = next((s for s in settings if s.section == "global"), None) or next(
        iter(settings), None
    )
    if chosen is not None:
        return f"cache-dir = {chosen.value} in {chosen.file} [{chosen.section}]"
    return "the platform default"


def check_pip_caches(pips: Sequence[PipFacts]) -> list[Finding]:
    """1. The cache each pip uses (``pip cache dir``), and whether the pips share one."""
    findings: list[Finding] = []
    for pip in pips:
        if pip.problem is not None:
            findings.append(
                Finding(
                    Code.NO_PIP,
                    Level.WARN,
                    f"{pip.python} has no usable pip, so nothing about its cache can be checked.",
                    (Evidence("interpreter", pip.python), Evidence("problem", pip.problem)),
                    shlex.join([pip.python, "-m", "ensurepip", "--upgrade"]),
                )
            )
        elif pip.cache_dir is not None:
            layout = "http-v2/" if pip.http_v2 else "http/"
            findings.append(
                Finding(
                    Code.PIP_CACHE,
                    Level.OK,
                    f"pip {pip.version} of {pip.python} uses the cache {pip.cache_dir} "
                    f"and writes downloads to its {layout}.",
                    (
                        Evidence("cache directory", pip.cache_dir, cache_setting_source(pip)),
                        Evidence("pip version", pip.version or "?", pip.python),
                    ),
                    cache_dir=pip.cache_dir,
                )
            )
    located = [p for p in pips if p.cache_dir is not None]
    if len(located) < 2:
        return findings
    caches: list[str] = []
    for pip in located:
        assert pip.cache_dir is not None
        if not any(same_path(pip.cache_dir, seen) for seen in caches):
            caches.append(pip.cache_dir)
    evidence = tuple(
        Evidence("cache directory", p.cache_dir or "", f"pip {p.version} of {p.python}")
        for p in located
    )
    if len(caches) == 1:
        findings.append(
            Finding(
                Code.SHARED_CACHE,
                Level.OK,
                f"These {len(located)} pips share one cache: what one downloads or builds, "
                "the others can reuse.",
                evidence,
                cache_dir=caches[0],
            )
        )
    else:
        findings.append(
            Finding(
                Code.SEPARATE_CACHES,
                Level.OK,
                f"These pips use {len(caches)} different caches: a download by one is fetched "
                "again by the others.",
                evidence,
            )
        )
    return findings


def check_caching(pips: Sequence[PipFacts]) -> list[Finding]:
    """2. Caching switched off: ``PIP_NO_CACHE_DIR``, ``no-cache-dir`` in a config file, pip."""
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for pip in pips:
        if pip.problem is not None:
            continue
        explained = False
        said = _pip_said(pip)
        value = pip.config.variable("PIP_NO_CACHE_DIR")
        if value is not None:
            explained = True
            if ("env", "PIP_NO_CACHE_DIR") not in seen:
                seen.add(("env", "PIP_NO_CACHE_DIR"))
                findings.append(
                    Finding(
                        Code.CACHING_DISABLED,
                        Level.FAIL,
                        "PIP_NO_CACHE_DIR is set, so pip caches nothing: every install downloads "
                        "and builds again (any value, even 0 or false, turns the cache off).",
                        (Evidence("setting", f"PIP_NO_CACHE_DIR={value}", "environment"), *said),
                        "unset PIP_NO_CACHE_DIR",
                    )
                )
        for setting in pip.config.settings_of("no-cache-dir"):
            explained = explained or setting.section == "global"
            if (setting.file, setting.key) in seen:
                continue
            seen.add((setting.file, setting.key))
            scope = (
                "pip caches nothing"
                if setting.section == "global"
                else f"`pip {setting.section}` caches nothing"
            )
            findings.append(
                Finding(
                    Code.CACHING_DISABLED,
                    Level.FAIL,
                    f"A config file pip reads sets no-cache-dir, so {scope}.",
                    (
                        Evidence(
                            "setting",
                            f"{setting.key} = {setting.value}",
                            f"{setting.file} ({setting.variant} config file)",
                        ),
                        *said,
                    ),
                    unset_command(pip.python, pip.config, setting),
                )
            )
        if pip.disabled and not explained and pip.refused_dir is None:
            findings.append(
                Finding(
                    Code.CACHING_DISABLED,
                    Level.FAIL,
                    f"pip {pip.version} of {pip.python} reports its cache disabled.",
                    said,
                    shlex.join([pip.python, "-m", "pip", "config", "debug"]),
                )
            )
    if not findings and any(p.problem is None for p in pips):
        findings.append(
            Finding(
                Code.CACHING_ENABLED,
                Level.OK,
                "Caching is on for every pip checked: no PIP_NO_CACHE_DIR, no no-cache-dir "
                "in any config file pip reads.",
                tuple(
                    Evidence("config file", path, variant)
                    for path, variant in dict.fromkeys(
                        (f.path, f"{f.variant} config file")
                        for p in pips
                        for f in p.config.files
                        if f.exists
                    )
                ),
            )
        )
    return findings


def _pip_said(pip: PipFacts) -> tuple[Evidence, ...]:
    if not pip.disabled:
        return ()
    line = next(
        (t for t in pip.pip_message.splitlines() if "cache" in t),
        pip.pip_message.strip(),
    )
    return (Evidence("pip cache dir", line.strip(), f"pip {pip.version} of {pip.python}"),)


def check_stranded(candidates: Sequence[Candidate], in_use: Sequence[str]) -> list[Finding]:
    """5. A second cache where pip kept (or would keep) it by default, that no pip here uses."""
    findings: list[Finding] = []
    for candidate in candidates:
        path = candidate.location.path
        if any(same_path(path, used) for used in in_use) or not candidate.looks_like_cache:
            continue
        if candidate.files == 0:
            continue
        findings.append(
            Finding(
                Code.STRANDED_CACHE,
                Level.WARN,
                f"A second pip cache at {path} holds {format_size(candidate.size)} that none "
                "of the pips checked uses; a shell or pip with other settings may still fill it.",
                (
                    Evidence("path", path, candidate.location.reason),
                    Evidence("files", candidate.files),
                    Evidence("size", candidate.size),
                ),
                shlex.join(["pipcachex", "purge", "--cache-dir", path]),
                cache_dir=path,
            )
        )
    if not findings:
        findings.append(
            Finding(
                Code.NO_STRANDED_CACHE,
                Level.OK,
                "No second pip cache is left in pip's default locations.",
                tuple(Evidence("checked", c.location.path, _state(c, in_use)) for c in candidates),
            )
        )
    return findings


def _state(candidate: Candidate, in_use: Sequence[str]) -> str:
    if any(same_path(candidate.location.path, used) for used in in_use):
        return "the cache in use"
    if candidate.looks_like_cache:
        return "an empty pip cache"
    return "no pip cache there"


def legacy_pips(pips: Sequence[PipFacts], root: str) -> list[PipFacts]:
    """The pips using cache ``root`` that write the legacy ``http/`` layout (pip < 23.3)."""
    return [p for p in pips if uses(p, root) and p.http_v2 is False]


def uses(pip: PipFacts, root: str) -> bool:
    """Whether ``pip`` uses (or would use, but refuses) the cache ``root``."""
    location = pip.cache_location
    return location is not None and same_path(location, root)


def upgrade_command(python: str) -> str:
    """The command that gives ``python`` a pip writing ``http-v2/``."""
    return shlex.join([python, "-m", "pip", "install", "--upgrade", PIP_V2_REQUIREMENT])
