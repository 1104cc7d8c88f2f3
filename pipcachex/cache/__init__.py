"""Reading pip's cache directory: the only code that walks the cache tree.

``scan_cache`` turns a cache directory into ``CacheEntry`` records, each one logical thing pip
stored (an HTTP response, a built-wheel directory, pip's own state, or a damaged/unknown file),
with its project, version, size and times. ``CacheWalk`` tallies a cache without keeping its
entries (``info``).

This package's public surface is what it exports here; code outside ``pipcachex/cache/``
imports from ``pipcachex.cache`` only, never from its modules (a test holds the package to it).
What it offers, by purpose:

- **Entries and scans:** ``scan_cache``, ``CacheScan``, ``CacheWalk``, ``CacheEntry``,
  ``CacheFile``, ``Kind``, ``Layout``, ``Problem``, ``ProblemCode``; the tally's
  ``ProjectTally`` and ``AGE_RESOLUTION`` (the hour its ages are counted by).
- **Is this a pip cache:** ``check_cache_dir``; pip's names: ``LAYOUT_DIRS``,
  ``PIP_STATE_NAMES``, ``is_pip_path``, ``is_litter``, ``foreign_at_root``; ``STALE_SECONDS``
  (when a temporary file pip left is abandoned).
- **Damage:** ``find_damage`` and its ``Finding``; what archives look like (``ZIP_MAGIC``,
  ``TAR_MAGIC``), how a tar is decompressed (``decompressing``), what a broken one raises
  (``ARCHIVE_ERRORS``).
- **Reading cache files without marking them used** (no atime moves, symlinks never followed):
  ``open_untouched``, ``read_untouched``, ``untouched_descriptor``, ``scandir_untouched``,
  ``window``, and ``reads_are_recorded`` (whether the file system records reads at all).
- **pip's file formats:** the HTTP metadata record (``read_record``, ``parse_small_record``,
  ``HttpRecord``, ``RecordError``, ``SMALL_RECORD_BYTES``), file names and index pages
  (``parse_distribution_filename``, ``classify_content_type``, ``decoded_page``).
- **pipcachex's own memo of what it learnt:** ``memo_directory``.

Names are loaded on first use, so importing the package costs nothing until then: a command
that only needs ``Kind`` does not load the scanner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Each public name and the module of this package that defines it.
_WHERE = {
    "AGE_RESOLUTION": "tally",
    "ARCHIVE_ERRORS": "archives",
    "TAR_MAGIC": "archives",
    "ZIP_MAGIC": "archives",
    "decompressing": "archives",
    "CacheEntry": "model",
    "CacheFile": "model",
    "CacheScan": "scan",
    "CacheWalk": "scan",
    "Finding": "integrity",
    "HttpRecord": "httpmeta",
    "Kind": "model",
    "LAYOUT_DIRS": "layout_names",
    "Layout": "model",
    "PIP_STATE_NAMES": "layout_names",
    "Problem": "model",
    "ProblemCode": "model",
    "ProjectTally": "tally",
    "RecordError": "httpmeta",
    "SMALL_RECORD_BYTES": "attribute",
    "STALE_SECONDS": "directory",
    "check_cache_dir": "directory",
    "classify_content_type": "identify",
    "decoded_page": "identify",
    "find_damage": "integrity",
    "foreign_at_root": "layout_names",
    "is_litter": "layout_names",
    "is_pip_path": "layout_names",
    "memo_directory": "memo",
    "open_untouched": "fileio",
    "parse_distribution_filename": "identify",
    "parse_small_record": "httpmeta",
    "read_record": "httpmeta",
    "read_untouched": "fileio",
    "reads_are_recorded": "fileio",
    "scan_cache": "scan",
    "scandir_untouched": "fileio",
    "untouched_descriptor": "fileio",
    "window": "fileio",
}
# Spelt out (not computed from _WHERE) so that type checkers and linters read it.
__all__ = [
    "AGE_RESOLUTION",
    "ARCHIVE_ERRORS",
    "LAYOUT_DIRS",
    "PIP_STATE_NAMES",
    "SMALL_RECORD_BYTES",
    "STALE_SECONDS",
    "TAR_MAGIC",
    "ZIP_MAGIC",
    "CacheEntry",
    "CacheFile",
    "CacheScan",
    "CacheWalk",
    "Finding",
    "HttpRecord",
    "Kind",
    "Layout",
    "Problem",
    "ProblemCode",
    "ProjectTally",
    "RecordError",
    "check_cache_dir",
    "classify_content_type",
    "decoded_page",
    "decompressing",
    "find_damage",
    "foreign_at_root",
    "is_litter",
    "is_pip_path",
    "memo_directory",
    "open_untouched",
    "parse_distribution_filename",
    "parse_small_record",
    "read_record",
    "read_untouched",
    "reads_are_recorded",
    "scan_cache",
    "scandir_untouched",
    "untouched_descriptor",
    "window",
]

if TYPE_CHECKING:
    from pipcachex.cache.archives import ARCHIVE_ERRORS, TAR_MAGIC, ZIP_MAGIC, decompressing
    from pipcachex.cache.attribute import SMALL_RECORD_BYTES
    from pipcachex.cache.directory import STALE_SECONDS, check_cache_dir
    from pipcachex.cache.fileio import (
        open_untouched,
        read_untouched,
        reads_are_recorded,
        scandir_untouched,
        untouched_descriptor,
        window,
    )
    from pipcachex.cache.httpmeta import HttpRecord, RecordError, parse_small_record, read_record
    from pipcachex.cache.identify import (
        classify_content_type,
        decoded_page,
        parse_distribution_filename,
    )
    from pipcachex.cache.integrity import Finding, find_damage
    from pipcachex.cache.layout_names import (
        LAYOUT_DIRS,
        PIP_STATE_NAMES,
        foreign_at_root,
        is_litter,
        is_pip_path,
    )
    from pipcachex.cache.memo import memo_directory
    from pipcachex.cache.model import CacheEntry, CacheFile, Kind, Layout, Problem, ProblemCode
    from pipcachex.cache.scan import CacheScan, CacheWalk, scan_cache
    from pipcachex.cache.tally import AGE_RESOLUTION, ProjectTally
else:

    def __getattr__(name: str) -> Any:
        """Load a public name from its module on first use (PEP 562)."""
        module = _WHERE.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        """The public names, as for a module that imported them all."""
        return sorted({*globals(), *_WHERE})
