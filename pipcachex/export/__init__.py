"""Exporting the cache as an offline wheelhouse and package index (``pipcachex export``).

``export_cache`` writes every selected distribution (wheels and sdists from both HTTP layouts,
locally built wheels) into a directory under its real file name, each proven whole first, so
that ``pip install --no-index --find-links DIR`` works; with ``index`` it also writes a PEP 503
simple index under ``DIR/simple``. See ``service`` for the steps.
"""

from pipcachex.export.model import (
    Clash,
    Conflict,
    Exported,
    ExportResult,
    IndexPages,
    SkipCode,
    Skipped,
)
from pipcachex.export.placing import Method
from pipcachex.export.service import ExportError, check_directory, export_cache

__all__ = [
    "Clash",
    "Conflict",
    "ExportError",
    "ExportResult",
    "Exported",
    "IndexPages",
    "Method",
    "SkipCode",
    "Skipped",
    "check_directory",
    "export_cache",
]
