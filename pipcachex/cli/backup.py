"""``backup``, ``backups`` (and ``backups prune``) and ``restore``: archives of the cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from pipcachex.cli.common import (
    Common,
    confirm_destructive,
    pip_version,
    warn_if_reads_leave_no_trace,
    with_common_options,
)
from pipcachex.cli.help import PipcachexCommand, strip_type_column
from pipcachex.cli.options import (
    COMPRESSION_CHOICES,
    DryRunOption,
    YesOption,
    choice,
    completer,
)
from pipcachex.cli.params import light_conversion
from pipcachex.cli.selectors import Selectors, with_selector_options
from pipcachex.errors import EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    from pipcachex.backup import BackupInfo

LocationArgument = Annotated[
    Optional[str],  # noqa: UP045
    typer.Argument(
        metavar="LOCATION",
        help="A directory (one you gave `backup --to`) or a URL prefix such as "
        "s3://bucket/prefix/. Default: the backups directory.",
        show_default=False,
    ),
]


@with_common_options()
@with_selector_options
def backup_command(
    to: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--to",
            metavar="PATH|URL",
            help="Directory or URL prefix (ending in /) to put the archive in, or the "
            "archive's file or object name. Default: the backups directory.",
            show_default=False,
        ),
    ] = None,
    compression: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--compression",
            metavar="|".join(COMPRESSION_CHOICES),
            help="Compression of the tar archive. Default: none (wheels are compressed already), "
            "or what the --to name's suffix says.",
            show_default=False,
            autocompletion=completer(COMPRESSION_CHOICES),
        ),
    ] = None,
    *,
    selectors: Selectors,
    common: Common,
) -> int:
    """Write the selected entries (default: the whole cache) into one verified archive."""
    from pipcachex.backup import Compression, backup_entries
    from pipcachex.cache import scan_cache
    from pipcachex.render.backup import render_backup

    output = common.output
    packing = None
    if compression is not None:
        packing = Compression(choice("--compression", compression, COMPRESSION_CHOICES))
    selected = selectors.selection()
    target = common.target()
    warn_if_reads_leave_no_trace(output, target, **selectors.by_last_use)
    with output.scan_progress() as bar:
        scan = scan_cache(target.root, on_progress=bar.update)
    output.details(scan.worker_trouble)
    entries = [e for e in scan.entries if selected.matches(e)]
    # The header records a selection only when one was asked for: a whole-cache backup has none.
    asked = selectors.asked()
    with output.progress("Backing up", unit="bytes") as bar:
        result = backup_entries(
            target.root,
            entries,
            to,
            compression=packing,
            pip_version=pip_version(target),
            selection=asked,
            on_progress=bar.update,
        )
    render_backup(output, result)
    return EXIT_OK


class _ListByDefault(TyperGroup):
    """``backups [LOCATION]`` lists; ``backups prune [LOCATION]`` prunes."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["list", *args]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return ["[OPTIONS] [LOCATION]"]

    def get_params(self, ctx: Any) -> list[Any]:
        return light_conversion(strip_type_column(super().get_params(ctx)))


backups_app = typer.Typer(
    cls=_ListByDefault,
    help="List the backups in a location (`backups [LOCATION]`, the same as `backups list`), "
    "or remove old ones (`backups prune`). `backups list --help` and `backups prune --help` "
    "show their options.",
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@backups_app.command("list", cls=PipcachexCommand)
@with_common_options(formats=("human", "plain", "tsv", "csv", "abspath", "json"))
def backups_command(
    location: LocationArgument = None,
    *,
    common: Common,
) -> int:
    """List the backups in a location (default: $PIPCACHEX_BACKUP_DIR or the user data dir).

    With --cache-dir or --python, only the backups taken from that cache are listed.
    """
    from pipcachex.backup import list_backups
    from pipcachex.render.backup import render_backups

    listing = list_backups(location)
    if common.cache_dir is not None or common.python is not None:
        root = common.target(may_be_new=True).root.resolve()
        mine = tuple(b for b in listing.backups if _taken_from(b, root))
        listing = dataclasses.replace(listing, backups=mine)
    render_backups(common.output, listing)
    return EXIT_OK


def _taken_from(backup: BackupInfo, root: Path) -> bool:
    source = backup.header.source_cache_dir if backup.header else None
    return source is not None and Path(source).resolve() == root


@backups_app.command("prune", cls=PipcachexCommand)
@with_common_options(cache=False)
def prune_command(
    location: LocationArgument = None,
    keep: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--keep", metavar="N", help="Keep the N newest backups.", show_default=False),
    ] = None,
    older_than: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Remove backups created before AGE ago (30d, 2w, or an ISO date); with "
            "--keep, only those beyond the N newest.",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    *,
    common: Common,
) -> int:
    """Remove old backups: only archives pipcachex named and whose header it can read."""
    from pipcachex.backup import execute_prune, plan_prune
    from pipcachex.render.backup import render_prune
    from pipcachex.units import parse_age

    cutoff = parse_age(older_than, option="--older-than") if older_than is not None else None
    plan = plan_prune(location, keep=keep, older_than=cutoff)
    if not dry_run and (plan.remove or plan.stale_partial):
        count = len(plan.remove) + len(plan.stale_partial)
        confirm_destructive(yes, f"Remove {count} files from {plan.location}?")
    result = execute_prune(plan, dry_run=dry_run)
    render_prune(common.output, result)
    return EXIT_FAILURE if result.failed else EXIT_OK


@with_common_options()
def restore_command(
    archive: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            metavar="ARCHIVE",
            help="Backup to restore: a file, a name in the backups directory, a URL, or a "
            "directory or URL prefix (its newest backup). Default: the newest backup of this "
            "cache in the backups directory.",
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
    from pipcachex.backup import (
        LocalCopy,
        apply_restore,
        dry_run_result,
        plan_restore,
        resolve_archive,
    )
    from pipcachex.render.backup import render_restore, render_restore_plan

    output = common.output
    target = common.target(may_be_new=True)
    ref = resolve_archive(archive, target.root)
    if ref.chosen is not None:
        output.info(f"Restoring {ref.label}: {ref.chosen}")
    with LocalCopy(ref) as copy:
        if copy.note:
            output.info(copy.note)
        if copy.wanted:
            with output.progress("Downloading backup", unit="bytes") as bar:
                ref = copy.fetch(on_progress=bar.update)
        with output.progress("Verifying backup", unit="bytes") as bar:
            plan = plan_restore(target.root, ref, replace=replace, on_progress=bar.update)
        if dry_run:
            result = dry_run_result(plan)
        else:
            if replace and plan.remove:
                if not output.json_mode and not output.quiet:
                    render_restore_plan(output, plan)
                confirm_destructive(yes, f"Make {plan.root} identical to {ref.name}?")
            with output.progress("Restoring", unit="bytes") as bar:
                result = apply_restore(plan, on_progress=bar.update)
    render_restore(output, result)
    return EXIT_OK if result.ok else EXIT_FAILURE
