"""Turning service results into what the user sees: rich tables for people, JSON for scripts.

Results and tables go to stdout; messages, warnings and progress go to stderr, so that
``--json`` output on stdout is always exactly one JSON document. One module per command family;
``tables`` holds the shapes they share.
"""

from pipcachex.render.backup import (
    render_backup,
    render_backups,
    render_restore,
    render_restore_plan,
)
from pipcachex.render.check import render_check
from pipcachex.render.listing import render_info, render_list
from pipcachex.render.output import SCHEMA_VERSION, Output, ProgressHandle
from pipcachex.render.purge import render_purge_plan, render_purge_result
from pipcachex.render.tables import entry_json, package_json
from pipcachex.render.verify import problem_json, render_verify

__all__ = [
    "SCHEMA_VERSION",
    "Output",
    "ProgressHandle",
    "entry_json",
    "package_json",
    "problem_json",
    "render_backup",
    "render_backups",
    "render_check",
    "render_info",
    "render_list",
    "render_purge_plan",
    "render_purge_result",
    "render_restore",
    "render_restore_plan",
    "render_verify",
]
