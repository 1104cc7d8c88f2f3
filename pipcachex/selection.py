"""Which entries a command acts on: project specs, kinds, layouts, age and size, with AND.

``list``, ``purge`` and ``backup`` share these selectors so that ``pipcachex list X`` shows exactly
what ``pipcachex purge X`` would remove.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pipcachex.cache import CacheEntry, Kind, Layout
from pipcachex.errors import UsageError
from pipcachex.units import parse_age, parse_size

_SPEC_SPLIT = re.compile(r"^([^<>=!~\s;\[]+)\s*(.*)$")
_NAME_CHARS = re.compile(r"^[A-Za-z0-9._*?\[\]!-]+$")


@dataclass(frozen=True)
class PackageSpec:
    """A project name or glob, optionally with a PEP 440 version specifier (``numpy<2``)."""

    text: str
    pattern: str
    specifier: SpecifierSet | None = None

    def matches(self, entry: CacheEntry) -> bool:
        """Whether the entry belongs to a matching project (and version, when one is given)."""
        if entry.package is None or not fnmatchcase(entry.package, self.pattern):
            return False
        if self.specifier is None:
            return True
        if entry.version is None:
            return False
        try:
            return self.specifier.contains(Version(entry.version), prereleases=True)
        except InvalidVersion:
            return False


def parse_spec(text: str) -> PackageSpec:
    """Parse ``Requests``, ``django-*`` or ``"numpy<2"``; a bad one is a usage error naming it."""
    match = _SPEC_SPLIT.match(text.strip())
    if not match or not _NAME_CHARS.match(match.group(1)):
        raise UsageError(f"invalid package spec: {text!r} (use a name, a glob or name<specifier>)")
    name, rest = match.groups()
    pattern = canonicalize_name(name)
    if not rest:
        return PackageSpec(text, pattern)
    try:
        return PackageSpec(text, pattern, SpecifierSet(rest))
    except InvalidSpecifier:
        raise UsageError(f"invalid version specifier in {text!r}: {rest!r}") from None


@dataclass(frozen=True)
class Selection:
    """Selectors combined with AND; an empty selection matches every entry.

    ``older_than`` and ``newer_than`` are POSIX timestamps: an entry last used before the first
    and at or after the second matches.
    """

    specs: tuple[PackageSpec, ...] = ()
    kinds: frozenset[Kind] = field(default_factory=frozenset)
    older_than: float | None = None
    larger_than: int | None = None
    newer_than: float | None = None
    layouts: frozenset[Layout] = field(default_factory=frozenset)

    @property
    def is_empty(self) -> bool:
        """Whether no selector was given at all."""
        return not (
            self.specs
            or self.kinds
            or self.layouts
            or self.older_than is not None
            or self.newer_than is not None
            or self.larger_than is not None
        )

    def matches(self, entry: CacheEntry) -> bool:
        """Whether ``entry`` passes every selector."""
        if self.specs and not any(spec.matches(entry) for spec in self.specs):
            return False
        if self.kinds and entry.kind not in self.kinds:
            return False
        if self.layouts and entry.layout not in self.layouts:
            return False
        if self.older_than is not None and entry.last_used >= self.older_than:
            return False
        if self.newer_than is not None and entry.last_used < self.newer_than:
            return False
        return self.larger_than is None or entry.size > self.larger_than


def build_selection(
    specs: Sequence[str],
    kinds: Iterable[Kind] = (),
    older_than: str | None = None,
    larger_than: str | None = None,
    *,
    newer_than: str | None = None,
    layouts: Iterable[Layout] = (),
    now: datetime | None = None,
) -> Selection:
    """Build a Selection from command-line values, parsing each (bad ones are usage errors).

    A value given is parsed even when empty: ``--older-than ""`` (an unset variable in a cron
    line) is bad input, never "no selector", which for a purge would mean everything.
    """
    now = now or datetime.now(timezone.utc)

    def moment(text: str | None, option: str) -> float | None:
        return None if text is None else parse_age(text, option=option, now=now).timestamp()

    return Selection(
        tuple(parse_spec(s) for s in specs),
        frozenset(kinds),
        moment(older_than, "--older-than"),
        None if larger_than is None else parse_size(larger_than, option="--larger-than"),
        moment(newer_than, "--newer-than"),
        frozenset(layouts),
    )


def least_recently_used(
    candidates: Sequence[CacheEntry], total_size: int, budget: int
) -> list[CacheEntry]:
    """Pick candidates, least recently used first, until ``total_size`` fits in ``budget``."""
    chosen: list[CacheEntry] = []
    excess = total_size - budget
    for entry in sorted(candidates, key=lambda e: (e.last_used, e.path)):
        if excess <= 0:
            break
        chosen.append(entry)
        excess -= entry.size
    return chosen
