"""``backup``, ``backups`` and ``restore``: archives of the cache and putting them back."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from pipcachex.cli.common import (
    Common,
    confirm_destructive,
    pip_version,
    selection,
    with_common_options,
)
from pipcachex.cli.options import (
    COMPRESSION_CHOICES,
    DryRunOption,
    KindOption,
    LargerThanOption,
    OlderThanOption,
    SpecsArgument,
    YesOption,
    choice,
    completer,
)
from pipcachex.errors import EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    from pipcachex.backup import BackupInfo


@with_common_options()
def backup_command(
    specs: SpecsArgument = None,
    kind: KindOption = None,
    older_than: OlderThanOption = None,
    larger_than: LargerThanOption = None,
    to: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--to",
            metavar="PATH",
            help="Directory to put the archive in, or the archive's file name. "
            "Default: the backups directory (see `pipcachex backups`).",
            show_default=False,
        ),
    ] = None,
    compression: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--compression",
            metavar="|".join(COMPRESSION_CHOICES),
            help="Compression of the tar archive. Default: none (wheels are compressed already), "
            "or what the --to file name's suffix says.",
            show_default=False,
            autocompletion=completer(COMPRESSION_CHOICES),
        ),
    ] = None,
    *,
    common: Common,
) -> int:
    """Write the selected entries (default: the whole cache) into one verified archive."""
    from pipcachex.archive import Compression
    from pipcachex.backup import backup_entries
    from pipcachex.cache import scan_cache
    from pipcachex.render.backup import render_backup

    output = common.output
    packing = None
    if compression is not None:
        packing = Compression(choice("--compression", compression, COMPRESSION_CHOICES))
    selected = selection(specs, kind, older_than, larger_than)
    target = common.target()
    with output.progress("Scanning cache") as bar:
        scan = scan_cache(target.root, on_progress=bar.update)
    output.details(scan.worker_trouble)
    entries = [e for e in scan.entries if selected.matches(e)]
    with output.progress("Backing up") as bar:
        result = backup_entries(
            target.root,
            entries,
            to,
            compression=packing,
            pip_version=pip_version(target),
            on_progress=bar.update,
        )
    render_backup(output, result)
    return EXIT_OK


@with_common_options(formats=("human", "plain", "tsv", "csv", "abspath", "json"))
def backups_command(
    directory: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(
            metavar="DIRECTORY",
            help="Directory to list (one you gave `backup --to`). Default: the backups directory.",
            show_default=False,
        ),
    ] = None,
    *,
    common: Common,
) -> int:
    """List the backups in a directory (default: $PIPCACHEX_BACKUP_DIR or the user data dir).

    With --cache-dir or --python, only the backups taken from that cache are listed.
    """
    from pipcachex.backup import list_backups
    from pipcachex.render.backup import render_backups

    listing = list_backups(directory)
    if common.cache_dir is not None or common.python is not None:
        root = common.target(may_be_new=True).root.resolve()
        mine = tuple(b for b in listing.backups if _taken_from(b, root))
        listing = dataclasses.replace(listing, backups=mine)
    render_backups(common.output, listing)
    return EXIT_OK


def _taken_from(backup: BackupInfo, root: Path) -> bool:
    source = backup.manifest.source_cache_dir if backup.manifest else None
    return source is not None and Path(source).resolve() == root


@with_common_options()
def restore_command(
    archive: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(
            metavar="ARCHIVE",
            help="Backup archive to restore. Default: the newest one in the backups directory.",
            show_default=False,
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Make the cache identical to the backup: remove what it does not hold and "
            "overwrite files that differ. Default: only add missing files.",
        ),
    ] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    *,
    common: Common,
) -> int:
    """Verify a backup completely, then restore it into the cache (merge, or --replace)."""
    from pipcachex.backup import resolve_archive
    from pipcachex.render.backup import render_restore, render_restore_plan
    from pipcachex.restore import apply_restore, dry_run_result, plan_restore

    output = common.output
    path = resolve_archive(archive)
    target = common.target(may_be_new=True)
    with output.progress("Verifying backup") as bar:
        plan = plan_restore(target.root, path, replace=replace, on_progress=bar.update)
    if dry_run:
        result = dry_run_result(plan)
    else:
        if replace and plan.remove:
            if not output.json_mode and not output.quiet:
                render_restore_plan(output, plan)
            confirm_destructive(yes, f"Make {plan.root} identical to {path.name}?")
        with output.progress("Restoring") as bar:
            result = apply_restore(plan, on_progress=bar.update)
    render_restore(output, result)
    return EXIT_OK if result.ok else EXIT_FAILURE
