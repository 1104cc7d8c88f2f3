"""The ``pipcachex`` command line: parse options, call one service, render, pick the exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipcachex import __version__
from pipcachex.archive import Compression
from pipcachex.cache import Kind
from pipcachex.errors import (
    EXIT_FAILURE,
    EXIT_OK,
    Aborted,
    ConfirmationRefused,
    PipcachexError,
    PipError,
    UsageError,
)
from pipcachex.listing import SortKey
from pipcachex.options import (
    CacheDirOption,
    DryRunOption,
    JsonOption,
    KindOption,
    LargerThanOption,
    OlderThanOption,
    PythonOption,
    QuietOption,
    SpecsArgument,
    VerboseOption,
    YesOption,
)
from pipcachex.render.output import Output
from pipcachex.selection import Selection, build_selection
from pipcachex.target import CacheTarget, resolve_target
from pipcachex.units import parse_size

# Each command imports its own services and renderers when it runs, so that `--help`,
# `--version` and every command start without loading what only the others need.

app = typer.Typer(
    name="pipcachex",
    help="See, prune, back up, verify and re-check pip's cache.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Common:
    """The options every command takes."""

    cache_dir: Path | None
    python: str | None
    json_mode: bool
    quiet: bool
    verbose: bool

    def output(self) -> Output:
        """The Output these options ask for."""
        return Output(json_mode=self.json_mode, quiet=self.quiet, verbose=self.verbose)


def _run(common: Common, body: Callable[[Output], int]) -> None:
    """Run a command body; turn pipcachex errors into one message and their exit code."""
    output = common.output()
    try:
        code = body(output)
    except PipcachexError as exc:
        output.error(exc.message)
        if (isinstance(exc, PipError) and exc.details) or (exc.details and output.verbose):
            output.err.print(exc.details, markup=False, style="dim")
        if common.json_mode:
            output.emit_json({"error": {"message": exc.message, "exit_code": exc.exit_code}})
        code = exc.exit_code
    except KeyboardInterrupt:
        output.error("interrupted")
        code = 130
    raise typer.Exit(code)


def confirm_destructive(yes: bool, question: str) -> None:
    """Ask ``question`` on a terminal unless ``--yes``; with no terminal, refuse without --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfirmationRefused(
            "refusing to delete without confirmation: there is no terminal to ask on; "
            "add --yes (or use --dry-run to see what would go)"
        )
    if not typer.confirm(question, default=False, err=True):
        raise Aborted("nothing was changed")


def _selection(
    specs: list[str] | None,
    kinds: list[Kind] | None,
    older_than: str | None,
    larger_than: str | None,
) -> Selection:
    """The selectors list, purge and backup share, parsed (bad values are usage errors)."""
    return build_selection(specs or [], kinds or [], older_than, larger_than)


def _warn_if_reads_leave_no_trace(
    output: Output, target: CacheTarget, older_than: str | None
) -> None:
    from pipcachex.cache.fileio import reads_are_recorded

    if older_than is not None and target.exists and not reads_are_recorded(target.root):
        output.warn(
            f"{target.root} is on a noatime mount, where reading a file leaves no trace: "
            "--older-than selects the entries written before then, used or not"
        )


def _warn_if_not_a_cache(output: Output, target: CacheTarget) -> None:
    """One warning line when the directory to read is plainly not a pip cache."""
    from pipcachex.cache.directory import foreign_reason

    reason = foreign_reason(target.root) if target.exists else None
    if reason is not None:
        output.warn(f"{reason}; what it holds is shown as unknown entries")


def _target(common: Common, output: Output, *, may_be_new: bool = False) -> CacheTarget:
    return resolve_target(
        common.python, common.cache_dir, output.show_command, may_be_new=may_be_new
    )


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"pipcachex {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show pipcachex's version and exit.",
        ),
    ] = False,
) -> None:
    """See, prune, back up, verify and re-check pip's cache."""


@app.command("dir")
def dir_command(
    cache_dir: CacheDirOption = None,
    python: PythonOption = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Print the cache directory (delegated to `pip cache dir`)."""
    common = Common(cache_dir, python, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        target = _target(common, output)
        if json_mode:
            output.emit_json({"cache_dir": str(target.root), "exists": target.exists})
        else:
            output.out.print(str(target.root), markup=False)
        return EXIT_OK

    _run(common, body)


@app.command("list")
def list_command(
    specs: SpecsArgument = None,
    kind: KindOption = None,
    older_than: OlderThanOption = None,
    larger_than: LargerThanOption = None,
    sort: Annotated[
        SortKey, typer.Option("--sort", help="Order rows by name, size (largest first) or age.")
    ] = SortKey.NAME,
    packages: Annotated[
        bool, typer.Option("--packages", help="One row per project instead of one per entry.")
    ] = False,
    cache_dir: CacheDirOption = None,
    python: PythonOption = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List every cache entry (HTTP downloads, index pages, built wheels) with its project."""
    common = Common(cache_dir, python, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        from pipcachex.cache import scan_cache
        from pipcachex.listing import list_entries
        from pipcachex.render.listing import render_list

        selection = _selection(specs, kind, older_than, larger_than)
        target = _target(common, output)
        _warn_if_not_a_cache(output, target)
        _warn_if_reads_leave_no_trace(output, target, older_than)
        with output.progress("Scanning cache") as bar:
            scan = scan_cache(target.root, on_progress=bar.update)
        output.details(scan.worker_trouble)
        render_list(output, list_entries(scan, selection, sort, packages))
        return EXIT_OK

    _run(common, body)


@app.command("info")
def info_command(
    cache_dir: CacheDirOption = None,
    python: PythonOption = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Summarise the cache: size by kind and layout, damaged entries, largest projects."""
    common = Common(cache_dir, python, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        from pipcachex.cache import CacheWalk
        from pipcachex.listing import cache_info
        from pipcachex.render.listing import render_info

        target = _target(common, output)
        _warn_if_not_a_cache(output, target)
        with output.progress("Scanning cache") as bar:
            walk = CacheWalk(target.root, on_progress=bar.update)
            info = cache_info(target, walk)
        output.details(walk.worker_trouble)
        render_info(output, info)
        return EXIT_OK

    _run(common, body)


@app.command("purge")
def purge_command(
    specs: SpecsArgument = None,
    kind: KindOption = None,
    older_than: OlderThanOption = None,
    larger_than: LargerThanOption = None,
    max_size: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--max-size",
            metavar="SIZE",
            help="Evict the least recently used (selected) entries until the cache fits in SIZE.",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    backup: Annotated[
        bool,
        typer.Option(
            "--backup",
            help="First write what will be removed into a verified archive in the backups "
            "directory (see `pipcachex backups`); if that fails, nothing is removed.",
        ),
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Afterwards, run `pipcachex check` on the purged projects: prove pip fetches "
            "them from the index again and the environment still works.",
        ),
    ] = False,
    force: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--force",
            metavar="PATH",
            help="Purge the cache at PATH (the cache's own path, spelt out) although it holds "
            "things pip never writes.",
            show_default=False,
        ),
    ] = None,
    cache_dir: CacheDirOption = None,
    python: PythonOption = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Remove selected entries; with no selector, everything (`pip cache purge` and leftovers)."""
    common = Common(cache_dir, python, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        from pipcachex.backup import backup_entries
        from pipcachex.check import check_after_purge
        from pipcachex.purge import execute_purge, plan_purge, preview_purge
        from pipcachex.render.purge import render_purge_plan, render_purge_result
        from pipcachex.units import format_size

        selection = _selection(specs, kind, older_than, larger_than)
        budget = parse_size(max_size, option="--max-size") if max_size is not None else None
        target = _target(common, output)
        forced = force is not None and _forced(force, target.root)
        _warn_if_reads_leave_no_trace(output, target, older_than)
        with output.progress("Scanning cache") as bar:
            plan = plan_purge(
                target.root, selection, max_size=budget, force=forced, on_progress=bar.update
            )
        output.details(plan.worker_trouble)
        render_purge_plan(output, plan, dry_run=dry_run)
        if dry_run or not plan.remove:
            render_purge_result(output, preview_purge(plan) if dry_run else execute_purge(plan))
            return EXIT_OK
        question = f"Remove {len(plan.remove)} entries ({format_size(plan.freed_bytes)})?"
        confirm_destructive(yes, question)
        archive = None
        if backup:
            # A BackupError ends the command here, before anything is deleted.
            with output.progress("Backing up") as bar:
                archive = backup_entries(
                    plan.root, plan.remove, pip_version=_pip_version(target), on_progress=bar.update
                ).archive
        with output.progress("Removing entries", total=len(plan.remove)) as bar:
            result = execute_purge(plan, target.pip, on_progress=bar.update)
        checked = None
        if check:
            with output.progress("Checking purged projects") as bar:
                checked = check_after_purge(target, result.removed, on_project=bar.update)
        render_purge_result(output, result, backup=archive, check=checked)
        failed = bool(result.failed) or (checked is not None and not checked.ok)
        return EXIT_FAILURE if failed else EXIT_OK

    _run(common, body)


@app.command("verify")
def verify_command(
    fix: Annotated[
        bool, typer.Option("--fix", help="Remove the damaged entries (pip fetches them again).")
    ] = False,
    deep: Annotated[
        bool,
        typer.Option("--deep", help="Also test every zip member's CRC and every tar member."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --fix: show what would be removed only.")
    ] = False,
    yes: YesOption = False,
    cache_dir: CacheDirOption = None,
    python: PythonOption = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Find damaged cache entries and say what is wrong; exit 1 if any (fixed: 0)."""
    common = Common(cache_dir, python, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        from pipcachex.cache import scan_cache
        from pipcachex.render.verify import render_verify
        from pipcachex.verify import fix_problems, verify_scan

        target = _target(common, output)
        with output.progress("Scanning cache") as bar:
            scan = scan_cache(target.root, on_progress=bar.update)
        output.details(scan.worker_trouble)
        with output.progress("Verifying entries", total=len(scan.entries)) as bar:
            result = verify_scan(scan, deep=deep, on_progress=bar.update)
        fixing = fix and not dry_run and bool(result.problems)
        if fixing:
            if not json_mode:
                render_verify(output, result, fixing=False)
            confirm_destructive(
                yes, f"Remove {len(result.problems)} damaged entries from {result.cache_dir}?"
            )
            with output.progress("Removing entries", total=len(result.problems)) as bar:
                result = fix_problems(result, on_progress=bar.update)
        # The rows were shown before the question: afterwards only what could not be fixed.
        render_verify(output, result, fixing=fixing, table=not fixing)
        return EXIT_OK if result.all_fixed and (fixing or not result.problems) else EXIT_FAILURE

    _run(common, body)


@app.command("check")
def check_command(
    specs: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(
            metavar="SPEC",
            help='Project names, optionally with a version specifier such as "numpy<2".',
            show_default=False,
        ),
    ] = None,
    reinstall: Annotated[
        bool,
        typer.Option(
            "--reinstall", help="Also install each project in a throwaway venv and import it."
        ),
    ] = False,
    cache_dir: CacheDirOption = None,
    python: PythonOption = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Check that pip fetches each project again (index or cache) and the environment works."""
    common = Common(cache_dir, python, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        from pipcachex.check import check_projects, parse_check_specs
        from pipcachex.render.check import render_check

        parsed = parse_check_specs(specs or [])
        target = _target(common, output)
        with output.progress("Checking projects", total=len(parsed)) as bar:
            result = check_projects(target, parsed, reinstall=reinstall, on_project=bar.update)
        render_check(output, result)
        return EXIT_OK if result.ok else EXIT_FAILURE

    _run(common, body)


@app.command("backup")
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
        Optional[Compression],  # noqa: UP045
        typer.Option(
            "--compression",
            help="Compression of the tar archive. Default: none (wheels are compressed already), "
            "or what the --to file name's suffix says.",
            show_default=False,
        ),
    ] = None,
    cache_dir: CacheDirOption = None,
    python: PythonOption = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Write the selected entries (default: the whole cache) into one verified archive."""
    common = Common(cache_dir, python, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        from pipcachex.backup import backup_entries
        from pipcachex.cache import scan_cache
        from pipcachex.render.backup import render_backup

        selection = _selection(specs, kind, older_than, larger_than)
        target = _target(common, output)
        with output.progress("Scanning cache") as bar:
            scan = scan_cache(target.root, on_progress=bar.update)
        output.details(scan.worker_trouble)
        entries = [e for e in scan.entries if selection.matches(e)]
        with output.progress("Backing up") as bar:
            result = backup_entries(
                target.root,
                entries,
                to,
                compression=compression,
                pip_version=_pip_version(target),
                on_progress=bar.update,
            )
        render_backup(output, result)
        return EXIT_OK

    _run(common, body)


def _forced(force: Path, root: Path) -> bool:
    """Whether ``--force PATH`` names the cache being purged; another path is bad input."""
    if os.path.realpath(force) != os.path.realpath(root):
        raise UsageError(
            f"invalid value for --force: {str(force)!r} is not the cache directory {root}"
        )
    return True


def _pip_version(target: CacheTarget) -> str | None:
    # Recorded in the manifest for information only: a backup must not fail for want of it.
    try:
        return str(target.pip.version())
    except PipcachexError:
        return None


@app.command("backups")
def backups_command(
    directory: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(
            metavar="DIRECTORY",
            help="Directory to list (one you gave `backup --to`). Default: the backups directory.",
            show_default=False,
        ),
    ] = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List the backups in a directory (default: $PIPCACHEX_BACKUP_DIR or the user data dir)."""
    common = Common(None, None, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        from pipcachex.backup import list_backups
        from pipcachex.render.backup import render_backups

        render_backups(output, list_backups(directory))
        return EXIT_OK

    _run(common, body)


@app.command("restore")
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
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Verify and show what would change; change nothing.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (--replace).")
    ] = False,
    cache_dir: CacheDirOption = None,
    python: PythonOption = None,
    json_mode: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Verify a backup completely, then restore it into the cache (merge, or --replace)."""
    common = Common(cache_dir, python, json_mode, quiet, verbose)

    def body(output: Output) -> int:
        from pipcachex.backup import resolve_archive
        from pipcachex.render.backup import render_restore, render_restore_plan
        from pipcachex.restore import apply_restore, dry_run_result, plan_restore

        path = resolve_archive(archive)
        target = _target(common, output, may_be_new=True)
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

    _run(common, body)


def main() -> None:
    """Console-script entry point."""
    app()
