"""Which entries a command acts on: project specs, kinds, age and size, combined with AND.

``list``, ``purge`` and ``backup`` share these selectors so that ``pipcachex list X`` shows exactly
what ``pipcachex purge X`` would remove.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pipcachex.cache import CacheEntry, Kind
from pipcachex.errors import UsageError

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
    """Selectors combined with AND; an empty selection matches every entry."""

    specs: tuple[PackageSpec, ...] = ()
    kinds: frozenset[Kind] = field(default_factory=frozenset)
    older_than: float | None = None
    larger_than: int | None = None

    @property
    def is_empty(self) -> bool:
        """Whether no selector was given at all."""
        return not (
            self.specs or self.kinds or self.older_than is not None or self.larger_than is not None
        )

    def matches(self, entry: CacheEntry) -> bool:
        """Whether ``entry`` passes every selector."""
        if self.specs and not any(spec.matches(entry) for spec in self.specs):
            return False
        if self.kinds and entry.kind not in self.kinds:
            return False
        if self.older_than is not None and entry.last_used >= self.older_than:
            return False
        return self.larger_than is None or entry.size > self.larger_than


def build_selection(
    specs: Sequence[str],
    kinds: Iterable[Kind] = (),
    older_than: float | None = None,
    larger_than: int | None = None,
) -> Selection:
    """Build a Selection from command-line values, parsing each spec."""
    return Selection(tuple(parse_spec(s) for s in specs), frozenset(kinds), older_than, larger_than)


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
