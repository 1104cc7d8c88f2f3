"""Run every pipcachex benchmark side by side with du, find, tar and pip; write the table.

Usage: ``python bench/run.py [--sizes 10000,50000,100000] [--repeat 3]``.

For each cache size a synthetic cache is generated (``bench/generate.py``, reused from
``--workdir`` when an identical one is already there), then every command is timed ``--repeat``
times in a fresh subprocess and the median kept. Each figure is also shown as a ratio to a
baseline tool timed in the same run on the same cache (``du -sb``, ``find -delete``,
``tar``, ``python -c pass``), so the ratios stay meaningful on another machine. Peak RSS comes
from ``os.wait4`` on each subprocess (children it waited for included).

"Cold" runs drop the page cache (``sync; echo 3 > /proc/sys/vm/drop_caches``, root only) before
every run; whether that works here is detected with ``fincore`` and stated in the report.
Commands pipcachex does not have yet (``purge``, ``backup``, ``restore``, ``verify``) are
detected from ``pipcachex COMMAND --help`` and reported as "not available yet".

The results go between the ``<!-- bench:results -->`` markers of ``docs/performance.md``
(the user page; the prose around them is kept) and, raw, into ``bench/results/`` (ignored by
git). What the figures mean and how they came about is written up by hand in ``bench/NOTES.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import generate
import s3

REPO_ROOT = Path(__file__).resolve().parent.parent
DOC = REPO_ROOT / "docs" / "performance.md"
RESULTS_DIR = REPO_ROOT / "bench" / "results"
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
VENV_BIN = Path(sys.executable).parent
PIPCACHEX = str(VENV_BIN / "pipcachex")
PYTHON = sys.executable


# -- running one command -------------------------------------------------------------------------


@dataclass
class Sample:
    """One timed run: wall seconds, peak RSS of the process tree in KiB, exit code."""

    seconds: float
    rss_kib: int
    code: int
    stderr: str = ""


#: Where pipcachex keeps its attribution memo during a run (set by ``main``), so the benchmark
#: neither reads nor pollutes the user's own.
MEMO_DIR: Path | None = None

#: The S3 server of the ``s3-*`` groups (started by the first of them that runs), and what
#: every command is told to reach it.
S3_SERVER: s3.MotoServer | None = None
S3_ENV: dict[str, str] = {}

#: Another pipcachex executable (``--before``, an earlier commit installed in its own venv),
#: timed beside this one in the scan-bound groups, so "before" and "after" share one run.
BEFORE: str | None = None


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every command runs in: pip isolated from the machine's configuration."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if MEMO_DIR is not None:
        env["PIPCACHEX_MEMO_DIR"] = str(MEMO_DIR)
    env.update(S3_ENV)
    env.update(extra or {})
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONDONTWRITEBYTECODE="1",
        COLUMNS="120",
        NO_COLOR="1",
        LC_ALL="C.UTF-8",
    )
    return env


TIME = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)


def run_once(
    argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Sample:
    """Run ``argv`` once, stdout discarded, and time it; also read its peak RSS.

    The RSS comes from GNU ``time -f %M`` when installed: a child forked straight from this
    (~40 MiB) Python process would otherwise report the parent's high-water mark, because Linux
    carries ``maxrss`` across ``exec``. Without ``time`` it falls back to ``os.wait4``.
    """
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss_file:
        command = list(argv)
        if TIME:
            command = [TIME, "-f", "%M", "-o", rss_file.name, "--", *command]
        start = time.perf_counter()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=cwd,
            env=bench_env(env),
        )
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            proc.kill()
            raise
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
        rss = int(usage.ru_maxrss)
        if TIME:
            lines = rss_file.read().split()
            rss = int(lines[-1]) if lines and lines[-1].isdigit() else rss
    return Sample(seconds, rss, proc.returncode, text[-2000:])


# -- page cache ----------------------------------------------------------------------------------


def drop_caches() -> bool:
    """Flush dirty pages and drop the page, dentry and inode caches; False if not allowed."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def _resident_pages(path: Path) -> int | None:
    fincore = shutil.which("fincore")
    if fincore is None:
        return None
    out = subprocess.run(
        [fincore, "--raw", "--noheadings", "--output", "PAGES", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return int(out.stdout.split()[0])
    except (IndexError, ValueError):
        return None


def detect_drop_caches(workdir: Path) -> str:
    """Say whether dropping the page cache works here (checked on a probe file)."""
    probe = workdir / "drop-caches-probe"
    probe.write_bytes(os.urandom(8 * 1024 * 1024))
    probe.read_bytes()
    before = _resident_pages(probe)
    allowed = drop_caches()
    after = _resident_pages(probe)
    probe.unlink()
    if not allowed:
        return "no: /proc/sys/vm/drop_caches is not writable (cold runs are really warm)"
    if before is None or after is None:
        return "written, but not verifiable (no fincore): cold figures may be warm"
    if after == 0 and before > 0:
        return f"yes: verified with fincore (probe file {before} pages resident, then 0)"
    return f"no effect: probe file still has {after} of {before} pages resident"


# -- what is benchmarked -------------------------------------------------------------------------


@dataclass
class Case:
    """One command of a benchmark group; ``prepare``/``cleanup`` run untimed around each run."""

    label: str
    argv: list[str] | None
    prepare: Callable[[], None] | None = None
    cleanup: Callable[[], None] | None = None
    ok_codes: tuple[int, ...] = (0,)
    missing: str | None = None
    check: Callable[[], str] | None = None
    env: dict[str, str] | None = None


@dataclass
class Row:
    """The measured outcome of one case at one cache size."""

    label: str
    command: str
    median: float | None = None
    ratio: float | None = None
    rss_mib: float | None = None
    runs: list[float] = field(default_factory=list)
    status: str = "ok"
    note: str = ""


@dataclass
class Group:
    """Commands compared with each other; ratios are to ``baseline`` (the first case)."""

    key: str
    title: str
    cases: list[Case]
    cold: bool = False
    after: Callable[[], None] | None = None
    warmup: bool = True


def help_text(command: str) -> str | None:
    """``pipcachex COMMAND --help`` output, or None when pipcachex has no such command."""
    result = subprocess.run(
        [PIPCACHEX, command, "--help"],
        capture_output=True,
        text=True,
        env=bench_env(),
        check=False,
    )
    return result.stdout if result.returncode == 0 else None


def _count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root)) if root.exists() else 0


def _rmtree(*paths: Path) -> None:
    for path in paths:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)


def _copy_cache(dest: Path, source: Path, target: Path) -> None:
    _rmtree(target)
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    generate.restore_times(dest, target)


#: Environment of the "(memo off)" cases: every scan attributes every entry afresh.
NO_MEMO = {"PIPCACHEX_MEMO_DIR": ""}


def with_before(case: Case) -> list[Case]:
    """``case``, then the same command run by ``--before``'s pipcachex when one was given.

    The earlier build keeps its own memo directory: memo formats may differ between commits,
    and neither build should warm the other's.
    """
    if BEFORE is None or case.argv is None or MEMO_DIR is None:
        return [case]
    env = dict(case.env or {})
    if env.get("PIPCACHEX_MEMO_DIR") != "":
        env["PIPCACHEX_MEMO_DIR"] = str(MEMO_DIR.with_name(MEMO_DIR.name + "-before"))
    label = case.label.replace("pipcachex", "pipcachex (before)", 1)
    before = replace(case, label=label, argv=[BEFORE, *case.argv[1:]], env=env)
    return [case, before]


def build_groups(dest: Path, scratch: Path, entries: int) -> list[Group]:
    """Every benchmark group for the cache generated in ``dest``."""
    cache = dest / generate.CACHE_DIR
    c = str(cache)
    pip = [PYTHON, "-m", "pip"]
    du = Case("du -sb", ["du", "-sb", c])
    python_walk = Case(
        "python walk (scandir + lstat)", [PYTHON, str(REPO_ROOT / "bench" / "python_walk.py"), c]
    )
    pip_info = Case("pip cache info", [*pip, "cache", "info", "--cache-dir", c])

    def retime() -> None:
        generate.restore_times(dest)

    groups = [
        Group(
            "startup",
            "Start-up",
            [
                Case("python -c pass", [PYTHON, "-c", "pass"]),
                Case('python -c "import typer"', [PYTHON, "-c", "import typer"]),
                Case("pipcachex --version", [PIPCACHEX, "--version"]),
                Case("pipcachex --help", [PIPCACHEX, "--help"]),
                Case("pip --version", [*pip, "--version"]),
            ],
        )
    ]
    for cold in (False, True):
        tag = "cold" if cold else "warm"
        groups.append(
            Group(
                f"info-{tag}",
                f"info ({tag})",
                [
                    du,
                    *with_before(Case("pipcachex info", [PIPCACHEX, "info", "--cache-dir", c])),
                    Case(
                        "pipcachex info (memo off)",
                        [PIPCACHEX, "info", "--cache-dir", c],
                        env=NO_MEMO,
                    ),
                    pip_info,
                    python_walk,
                ],
                cold=cold,
            )
        )
        groups.append(
            Group(
                f"list-{tag}",
                f"list ({tag})",
                [
                    du,
                    *with_before(
                        Case(
                            "pipcachex list --json",
                            [PIPCACHEX, "list", "--json", "--cache-dir", c],
                        )
                    ),
                    Case(
                        "pipcachex list --json (memo off)",
                        [PIPCACHEX, "list", "--json", "--cache-dir", c],
                        env=NO_MEMO,
                    ),
                    # A table on a terminal (rich is told stdout and stderr are one), and the
                    # aligned columns a pipe gets.
                    Case(
                        "pipcachex list (human)",
                        [PIPCACHEX, "list", "--cache-dir", c],
                        env={"TTY_COMPATIBLE": "1"},
                    ),
                    Case(
                        "pipcachex list --format plain",
                        [PIPCACHEX, "list", "--format", "plain", "--cache-dir", c],
                    ),
                ],
                cold=cold,
            )
        )

    verify = help_text("verify")
    groups.append(
        Group(
            "verify",
            "verify (warm)",
            [
                du,
                *with_before(
                    Case(
                        "pipcachex verify",
                        [PIPCACHEX, "verify", "--cache-dir", c] if verify is not None else None,
                        ok_codes=(0, 1),
                        missing=None if verify is not None else "not available yet",
                    )
                ),
            ],
            after=retime,
        )
    )

    tar_plain, tar_gz = scratch / "cache.tar", scratch / "cache.tar.gz"
    backup_help = help_text("backup")
    backup_out = scratch / "pipcachex-backup.tar"
    backup_gz = scratch / "pipcachex-backup.tar.gz"
    backup_zst = scratch / "pipcachex-backup.tar.zst"

    def backup_argv(out: Path) -> list[str] | None:
        if backup_help is None:
            return None
        for option in ("--to", "--output"):
            if option in backup_help:
                return [PIPCACHEX, "backup", "--cache-dir", c, option, str(out)]
        return None  # an interface this runner does not know yet

    def sized(path: Path) -> Callable[[], str]:
        return lambda: f"archive {path.stat().st_size / 1e6:.0f} MB" if path.exists() else ""

    missing_backup = "not available yet" if backup_help is None else "unknown interface"
    groups.append(
        Group(
            "backup",
            "backup (warm)",
            [
                Case(
                    "tar -czf",
                    ["tar", "-czf", str(tar_gz), "-C", c, "."],
                    prepare=lambda: _rmtree(tar_gz),
                    check=sized(tar_gz),
                ),
                Case(
                    "tar -cf",
                    ["tar", "-cf", str(tar_plain), "-C", c, "."],
                    prepare=lambda: _rmtree(tar_plain),
                    check=sized(tar_plain),
                ),
                Case(
                    # What the backup does besides copying: one more read, to hash every file.
                    "tar -cf; sha256sum",
                    [
                        "sh",
                        "-c",
                        'tar -cf "$0" -C "$1" . && '
                        'find "$1" -type f -exec sha256sum {} + >/dev/null',
                        str(tar_plain),
                        c,
                    ],
                    prepare=lambda: _rmtree(tar_plain),
                    check=sized(tar_plain),
                ),
                Case(
                    "pipcachex backup",
                    backup_argv(backup_out),
                    prepare=lambda: _rmtree(backup_out),
                    missing=missing_backup,
                    check=sized(backup_out),
                ),
                Case(
                    "pipcachex backup (.tar.gz)",
                    backup_argv(backup_gz),
                    prepare=lambda: _rmtree(backup_gz),
                    cleanup=lambda: _rmtree(backup_gz),
                    missing=missing_backup,
                    check=sized(backup_gz),
                ),
                Case(
                    "pipcachex backup (.tar.zst)",
                    backup_argv(backup_zst),
                    prepare=lambda: _rmtree(backup_zst),
                    cleanup=lambda: _rmtree(backup_zst),
                    missing=missing_backup,
                    check=sized(backup_zst),
                ),
            ],
            after=retime,
            warmup=False,
        )
    )

    restore_help = help_text("restore")
    restore_dir = scratch / "restored"
    restore_argv: list[str] | None = None
    if restore_help is not None and backup_argv(backup_out) is not None:
        restore_argv = [PIPCACHEX, "restore", "--cache-dir", str(restore_dir), str(backup_out)]
        if "--yes" in restore_help:
            restore_argv.append("--yes")

    # Earlier runs' trees are moved aside, not deleted, until the group ends: on this ext4
    # (no journal) a new inode in a slot freed moments ago waits on a recently-deleted check,
    # so deleting ~40,000 inodes right before a restore slowed whichever command came next.
    graveyard = scratch / "restored-earlier"

    def fresh_restore_dir() -> None:
        # With --only restore the backup group did not run: make the archives it would have.
        if not tar_plain.exists():
            subprocess.run(["tar", "-cf", str(tar_plain), "-C", c, "."], check=True)
        made = backup_argv(backup_out)
        if not backup_out.exists() and made is not None:
            subprocess.run(made, check=True, stdout=subprocess.DEVNULL, env=bench_env())
            retime()
        if restore_dir.exists():
            graveyard.mkdir(exist_ok=True)
            restore_dir.rename(graveyard / str(len(os.listdir(graveyard))))
        restore_dir.mkdir()

    def restored() -> str:
        return f"{_count_files(restore_dir)} files restored"

    groups.append(
        Group(
            "restore",
            "restore (warm)",
            [
                Case(
                    "tar -xf",
                    ["tar", "-xf", str(tar_plain), "-C", str(restore_dir)],
                    prepare=fresh_restore_dir,
                    check=restored,
                ),
                Case(
                    "tar -xf; sync",
                    ["sh", "-c", 'tar -xf "$0" -C "$1" && sync', str(tar_plain), str(restore_dir)],
                    prepare=fresh_restore_dir,
                    check=restored,
                ),
                Case(
                    "pipcachex restore",
                    restore_argv,
                    prepare=fresh_restore_dir,
                    missing=None if restore_argv else "not available yet",
                    check=restored,
                ),
            ],
            after=lambda: _rmtree(restore_dir, graveyard, tar_plain, tar_gz, backup_out),
            warmup=False,
        )
    )

    groups += s3_groups(dest, scratch, c)

    export_help = help_text("export")
    export_dir = scratch / "exported"
    copied_dir = scratch / "copied"
    missing_export = None if export_help is not None else "not available yet"

    def export_argv(*extra: str) -> list[str] | None:
        if export_help is None:
            return None
        return [PIPCACHEX, "export", str(export_dir), "--cache-dir", c, *extra]

    def exported() -> str:
        return f"{_count_files(export_dir)} files exported" if export_dir.exists() else ""

    def empty_copy_dir() -> None:
        _rmtree(copied_dir)
        copied_dir.mkdir()

    def export_done() -> None:
        _rmtree(export_dir, copied_dir)
        retime()

    # cp -r copies every file of the cache (a superset of the distributions an export writes)
    # and find lists them: the floors for an export that copies and one that links.
    layouts = [str(cache / name) for name in ("http", "http-v2", "wheels")]
    groups.append(
        Group(
            "export",
            "export (warm)",
            [
                Case(
                    "cp -r",
                    ["cp", "-r", *layouts, str(copied_dir)],
                    prepare=empty_copy_dir,
                    check=lambda: f"{_count_files(copied_dir)} files copied",
                ),
                Case(
                    "pipcachex export --copy",
                    export_argv("--copy"),
                    prepare=lambda: _rmtree(export_dir),
                    missing=missing_export,
                    ok_codes=(0, 1),
                    check=exported,
                ),
                Case("find -type f", ["find", c, "-type", "f"]),
                Case(
                    "pipcachex export (links)",
                    export_argv(),
                    prepare=lambda: _rmtree(export_dir),
                    missing=missing_export,
                    ok_codes=(0, 1),
                    check=exported,
                ),
            ],
            after=export_done,
            warmup=False,
        )
    )

    work = scratch / "purge-work"
    purge_help = help_text("purge")
    purge_argv: list[str] | None = None
    if purge_help is not None:
        purge_argv = [
            PIPCACHEX,
            "purge",
            "--cache-dir",
            str(work),
            "--older-than",
            f"{generate.SPLIT_DAYS}d",
        ]
        if "--yes" in purge_help:
            purge_argv.append("--yes")
    total_files = _count_files(cache)

    def removed() -> str:
        return f"{total_files - _count_files(work)} of {total_files} files removed"

    minutes = str(generate.SPLIT_DAYS * 24 * 60)
    find_argv = ["find", str(work), "-mindepth", "1", "-depth"]
    find_argv += ["(", "-type", "f", "-amin", f"+{minutes}", "-delete", ")"]
    find_argv += ["-o", "(", "-type", "d", "-empty", "-delete", ")"]
    groups.append(
        Group(
            "purge",
            f"purge --older-than {generate.SPLIT_DAYS}d (warm, removes half)",
            [
                Case(
                    "find -delete",
                    find_argv,
                    prepare=lambda: _copy_cache(dest, cache, work),
                    check=removed,
                ),
                *with_before(
                    Case(
                        "pipcachex purge",
                        purge_argv,
                        prepare=lambda: _copy_cache(dest, cache, work),
                        missing=None if purge_argv else "not available yet",
                        check=removed,
                    )
                ),
            ],
            after=lambda: _rmtree(work),
            warmup=False,
        )
    )
    return groups


def s3_endpoint() -> str:
    """The S3 server's endpoint, starting the server on first use."""
    global S3_SERVER
    if S3_SERVER is None:
        S3_SERVER = s3.MotoServer()
        S3_ENV.update(s3.environment(S3_SERVER.endpoint))
    return S3_SERVER.endpoint


def s3_groups(dest: Path, scratch: Path, c: str) -> list[Group]:
    """``backup --to s3://`` and ``restore s3://`` against moto on loopback, with baselines."""
    missing = s3.available()
    backup_help = help_text("backup")
    if backup_help is None or "--to" not in backup_help:
        missing = missing or "not available yet"
    script = str(REPO_ROOT / "bench" / "s3.py")
    local = str(scratch / "s3-local.tar")
    # One object per cache: the server lives as long as the run, through every size.
    source = f"s3://{s3.BUCKET}/restore-source/{dest.name}.tar"
    target = scratch / "s3-restored"
    graveyard = scratch / "s3-restored-earlier"

    def case(label: str, argv: list[str], **kwargs: Any) -> Case:
        return Case(label, None if missing else argv, missing=missing, **kwargs)

    def clear(*prefixes: str) -> Callable[[], None]:
        def clear_prefixes() -> None:
            for prefix in prefixes:
                s3.clear(s3_endpoint(), prefix)

        return clear_prefixes

    def backup_done() -> None:
        clear("baseline", "backups")()
        generate.restore_times(dest)  # the backups read every file: atimes moved

    def uploaded() -> str:
        sizes = s3.filesystem(s3_endpoint()).du(f"{s3.BUCKET}/backups", total=True)
        return f"object {int(sizes) / 1e6:.0f} MB"

    def fresh_target() -> None:
        fs = s3.filesystem(s3_endpoint())
        if not fs.exists(source):  # once: the object both restores read
            made = [PIPCACHEX, "backup", "--cache-dir", c, "--to", source]
            subprocess.run(made, check=True, stdout=subprocess.DEVNULL, env=bench_env())
            generate.restore_times(dest)
        if target.exists():  # moved aside, not deleted: see the restore group
            graveyard.mkdir(exist_ok=True)
            target.rename(graveyard / str(len(os.listdir(graveyard))))
        target.mkdir()

    def restored() -> str:
        return f"{_count_files(target)} files restored"

    backup = [PIPCACHEX, "backup", "--cache-dir", c, "--to", f"s3://{s3.BUCKET}/backups/"]
    restore = [PIPCACHEX, "restore", "--cache-dir", str(target), "--yes", source]
    baseline_up = f"s3://{s3.BUCKET}/baseline/backup.tar"
    return [
        Group(
            "s3-backup",
            "backup to S3 (moto on loopback)",
            [
                case(
                    "pipcachex backup, then an s3fs upload",
                    [PYTHON, script, "backup-upload", PIPCACHEX, c, local, baseline_up],
                    prepare=clear("baseline"),
                ),
                case(
                    "pipcachex backup --to s3://",
                    backup,
                    prepare=clear("backups"),
                    check=uploaded,
                ),
            ],
            after=backup_done,
            warmup=False,
        ),
        Group(
            "s3-restore",
            "restore from S3 (moto on loopback)",
            [
                case(
                    "an s3fs download, then pipcachex restore",
                    [PYTHON, script, "download-restore", PIPCACHEX, source, local, str(target)],
                    prepare=fresh_target,
                    check=restored,
                ),
                case("pipcachex restore s3://", restore, prepare=fresh_target, check=restored),
            ],
            after=lambda: _rmtree(target, graveyard),
            warmup=False,
        ),
    ]


def measure(group: Group, repeat: int, entries: int, log: Callable[[str], None]) -> list[Row]:
    """Run every case of ``group`` ``repeat`` times (interleaved) and summarise each."""
    rows = [Row(c.label, " ".join(c.argv) if c.argv else "") for c in group.cases]
    samples: list[list[Sample]] = [[] for _ in group.cases]
    for index, case in enumerate(group.cases):
        if case.argv is None:
            rows[index].status = case.missing or "not available"
        elif group.warmup and not group.cold:  # warm-up run, also checks the command works
            if case.prepare:
                case.prepare()
            first = run_once(case.argv, env=case.env)
            if first.code not in case.ok_codes:
                rows[index].status = f"failed (exit {first.code})"
                rows[index].note = (first.stderr.strip().splitlines() or [""])[-1][:200]
            if case.cleanup:
                case.cleanup()
    for _ in range(repeat):
        for index, case in enumerate(group.cases):
            if case.argv is None or rows[index].status != "ok":
                continue
            if case.prepare:
                case.prepare()
            if group.cold:
                drop_caches()
            sample = run_once(case.argv, env=case.env)
            if sample.code not in case.ok_codes:
                rows[index].status = f"failed (exit {sample.code})"
                rows[index].note = (sample.stderr.strip().splitlines() or [""])[-1][:200]
                continue
            samples[index].append(sample)
            note = case.check() if case.check else ""
            rows[index].note = f"exit {sample.code}; {note}" if sample.code else note
            if case.cleanup:
                case.cleanup()
            log(f"    {case.label}: {sample.seconds:.3f}s {sample.rss_kib / 1024:.0f} MiB")
    for row, taken in zip(rows, samples, strict=True):
        if taken and row.status == "ok":
            row.runs = [s.seconds for s in taken]
            row.median = statistics.median(row.runs)
            row.rss_mib = max(s.rss_kib for s in taken) / 1024
    base = rows[0].median
    for row in rows:
        if row.median is not None and base:
            row.ratio = row.median / base
    if group.after:
        group.after()
    return rows


# -- targets -------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """One target from issue 6 and whether the largest run met it."""

    target: str
    measured: str
    met: bool | None


def _row(results: dict[str, list[Row]], group: str, label: str) -> Row | None:
    return next((r for r in results.get(group, []) if r.label == label), None)


def _largest_with(by_size: dict[int, dict[str, list[Row]]], group: str, label: str) -> int:
    """The largest size at which ``label`` of ``group`` has a measurement (else the largest)."""
    measured = [n for n in by_size if (row := _row(by_size[n], group, label)) and row.median]
    return max(measured or by_size)


def _ratio_target(
    by_size: dict[int, dict[str, list[Row]]], group: str, label: str, limit: float, text: str
) -> Verdict:
    size = _largest_with(by_size, group, label)
    row = _row(by_size[size], group, label)
    if row is None or row.ratio is None:
        return Verdict(text, row.status if row else "not run", None)
    return Verdict(text, f"{row.ratio:.2f}x ({row.median:.2f} s) at {size:,}", row.ratio <= limit)


def _relative_target(
    by_size: dict[int, dict[str, list[Row]]],
    group: str,
    label: str,
    base: str,
    limit: float,
    text: str,
) -> Verdict:
    """Whether ``label`` took at most ``limit`` times as long as ``base`` in the same run."""
    size = _largest_with(by_size, group, label)
    row, ref = _row(by_size[size], group, label), _row(by_size[size], group, base)
    if row is None or ref is None or row.median is None or not ref.median:
        return Verdict(text, row.status if row else "not run", None)
    ratio = row.median / ref.median
    measured = f"{ratio:.2f}x ({row.median:.2f} s vs {ref.median:.2f} s) at {size:,}"
    return Verdict(text, measured, ratio <= limit)


def verdicts(by_size: dict[int, dict[str, list[Row]]]) -> list[Verdict]:
    """Judge every target of issue 6 at the largest size it was measured at."""
    largest, smallest = max(by_size), min(by_size)
    res = by_size[largest]
    found = [
        _ratio_target(
            by_size, "info-warm", "pipcachex info", 1.5, "info warm within 1.5x of du -sb"
        ),
        _ratio_target(by_size, "info-cold", "pipcachex info", 4.0, "info cold within 4x of du -sb"),
    ]
    for tag in ("warm", "cold"):
        size = _largest_with(by_size, f"info-{tag}", "pipcachex info")
        ours = _row(by_size[size], f"info-{tag}", "pipcachex info")
        pips = _row(by_size[size], f"info-{tag}", "pip cache info")
        text = f"info {tag} faster than pip cache info"
        if ours and pips and ours.median is not None and pips.median is not None:
            found.append(
                Verdict(
                    text,
                    f"{ours.median:.2f} s vs {pips.median:.2f} s at {size:,}",
                    ours.median < pips.median,
                )
            )
        else:
            found.append(Verdict(text, "not measured", None))
    found += [
        _ratio_target(by_size, "purge", "pipcachex purge", 2.0, "purge within 2x of find -delete"),
        _ratio_target(by_size, "backup", "pipcachex backup", 1.0, "backup no slower than tar -czf"),
        _ratio_target(by_size, "restore", "pipcachex restore", 2.0, "restore within 2x of tar -xf"),
        _relative_target(
            by_size,
            "list-warm",
            "pipcachex list (human)",
            "pipcachex list --json",
            1.3,
            "list as a table within 1.3x of list --json",
        ),
        _relative_target(
            by_size,
            "list-warm",
            "pipcachex list --format plain",
            "pipcachex list --json",
            1.3,
            "list --format plain within 1.3x of list --json",
        ),
        _relative_target(
            by_size,
            "startup",
            "pipcachex --version",
            'python -c "import typer"',
            1.5,
            "--version within 1.5x of import typer",
        ),
        _relative_target(
            by_size,
            "startup",
            "pipcachex --help",
            'python -c "import typer"',
            2.0,
            "--help within 2x of import typer",
        ),
    ]
    found.append(
        _ratio_target(
            by_size, "export", "pipcachex export --copy", 1.5, "export --copy within 1.5x of cp -r"
        )
    )
    size = _largest_with(by_size, "export", "pipcachex export (links)")
    linked = _row(by_size[size], "export", "pipcachex export (links)")
    listed = _row(by_size[size], "export", "find -type f")
    text = "export (links) within 2x of find"
    if linked and listed and linked.median and listed.median:
        ratio = linked.median / listed.median
        found.append(Verdict(text, f"{ratio:.2f}x ({linked.median:.2f} s) at {size:,}", ratio <= 2))
    else:
        found.append(Verdict(text, "not measured", None))
    # The targets are this build's: an earlier build timed beside it (--before) is not judged.
    with_rss = [
        r
        for g in res.values()
        for r in g
        if r.label.startswith("pipcachex") and "(before)" not in r.label and r.rss_mib
    ]
    if with_rss:
        peak = max(with_rss, key=lambda r: r.rss_mib or 0.0)
        found.append(
            Verdict(
                "peak RSS < 150 MB",
                f"{peak.rss_mib:.0f} MiB ({peak.label})",
                (peak.rss_mib or 0) * 1.048576 < 150,
            )
        )
    if largest != smallest:
        factor = largest / smallest
        start = _row(by_size[largest], "startup", "pipcachex --version")
        floor = start.rss_mib if start and start.rss_mib else 0.0
        worst: tuple[float, str] | None = None
        for group in ("info-warm", "list-warm"):
            label = "pipcachex info" if group == "info-warm" else "pipcachex list --json"
            big, small = _row(by_size[largest], group, label), _row(by_size[smallest], group, label)
            if big and small and big.rss_mib and small.rss_mib:
                growth = (big.rss_mib - floor) / max(small.rss_mib - floor, 1.0)
                if worst is None or growth > worst[0]:
                    worst = (growth, f"{label}: {small.rss_mib:.0f} -> {big.rss_mib:.0f} MiB")
        if worst:
            found.append(
                Verdict(
                    f"RSS above start-up grows less than linearly ({factor:.0f}x entries)",
                    f"{worst[0]:.1f}x ({worst[1]})",
                    worst[0] < factor,
                )
            )
        flat: list[str] = []
        ok = True
        for group in ("info-warm", "list-warm", "info-cold"):
            label = "pipcachex info" if group.startswith("info") else "pipcachex list --json"
            big, small = _row(by_size[largest], group, label), _row(by_size[smallest], group, label)
            if big and small and big.median and small.median:
                per_big, per_small = big.median / largest, small.median / smallest
                change = per_big / per_small
                ok = ok and change <= 1.25
                flat.append(f"{group} {per_small * 1e6:.0f} -> {per_big * 1e6:.0f} us")
        if flat:
            found.append(Verdict("time per entry flat (within 25%)", "; ".join(flat), ok))
    return found


# -- report --------------------------------------------------------------------------------------


def machine(drop_status: str) -> list[str]:
    """Lines describing where the figures were measured."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    fs = subprocess.run(
        ["findmnt", "-no", "FSTYPE,OPTIONS", "-T", tempfile.gettempdir()],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    pip_version = venv_pip_version()
    pcx = subprocess.run([PIPCACHEX, "--version"], capture_output=True, text=True, check=False)
    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return [
        f"- Machine: {cores} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}; cache on {' '.join(fs.split()) or 'unknown fs'}",
        f"- Python {platform.python_version()}, pip {pip_version or '?'}, "
        f"{pcx.stdout.strip()} (commit {commit or '?'})",
        f"- Dropping the page cache for cold runs: {drop_status}",
        *([f'- The "(before)" rows ran `{BEFORE}`'] if BEFORE else []),
    ]


def venv_pip_version() -> str | None:
    """The version of the pip beside this benchmark's Python (the one ``pip cache info`` runs)."""
    found = subprocess.run(
        [PYTHON, "-m", "pip", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()[1:2]
    return found[0] if found else None


def legacy_only_pip() -> str | None:
    """The version of the venv's pip when it predates ``http-v2/`` (pip 23.3), else None."""
    from packaging.version import InvalidVersion, Version

    from pipcachex.pip_runner import HTTP_V2_SINCE

    found = venv_pip_version()
    try:
        return found if found and Version(found) < HTTP_V2_SINCE else None
    except InvalidVersion:
        return None


def _cell(row: Row | None) -> str:
    if row is None:
        return ""
    if row.median is None:
        return row.status
    ratio = f" ({row.ratio:.2f}x)" if row.ratio is not None else ""
    return f"{row.median:.3f} s{ratio}"


def _code_line(manifests: dict[int, dict[str, object]], sizes: list[int]) -> str:
    """Which pipcachex commit each size's groups were measured at."""
    parts = []
    for n in sizes:
        commits = manifests[n].get("commit")
        if not isinstance(commits, dict) or not commits:
            continue
        by_commit: dict[str, list[str]] = {}
        repeats = manifests[n].get("repeats")
        for group, commit in commits.items():
            runs = repeats.get(group) if isinstance(repeats, dict) else None
            by_commit.setdefault(str(commit), []).append(f"{group} x{runs}" if runs else group)
        parts.append(
            f"{n:,}: " + ", ".join(f"`{c}` ({', '.join(g)})" for c, g in sorted(by_commit.items()))
        )
    return "- pipcachex commit measured and timed runs per group, by size: " + (
        "; ".join(parts) or "unknown"
    )


def render(
    by_size: dict[int, dict[str, list[Row]]],
    titles: dict[str, str],
    manifests: dict[int, dict[str, object]],
    env_lines: list[str],
    repeat: int,
) -> str:
    """The markdown that goes between the markers of ``docs/performance.md``."""
    sizes = sorted(by_size)
    largest = sizes[-1]
    lines = [
        "Generated by `python bench/run.py` on "
        + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        + " (merged with earlier sizes' stored results where a size was not re-run).",
        "",
        *env_lines,
        "- Caches: "
        + "; ".join(
            f"{n:,} entries = {int(str(manifests[n]['bytes'])) / 1e6:.0f} MB of files"
            for n in sizes
        ),
        _code_line(manifests, sizes),
        "",
        "Median of the runs; in brackets the ratio to the first command of the group, "
        "timed in the same run on the same cache. Peak RSS is the largest of the runs at the "
        f"largest size ({largest:,}), or at the largest size the command was run at.",
        "",
        "| Benchmark | Command | " + " | ".join(f"{n:,} entries" for n in sizes) + " | Peak RSS |",
        "|---|---|" + "---:|" * len(sizes) + "---:|",
    ]
    for key, title in titles.items():
        labels = list(dict.fromkeys(r.label for n in sizes for r in by_size[n].get(key, [])))
        for label in labels:
            cells = [_cell(_row(by_size[n], key, label)) for n in sizes]
            big = _row(by_size[largest], key, label)
            if big is None or not big.rss_mib:  # not run at the largest size: the largest it was
                big = next(
                    (
                        r
                        for n in reversed(sizes)
                        if (r := _row(by_size[n], key, label)) and r.rss_mib
                    ),
                    None,
                )
            rss = f"{big.rss_mib:.0f} MiB" if big and big.rss_mib else ""
            lines.append(f"| {title} | `{label}` | " + " | ".join(cells) + f" | {rss} |")
    notes = [
        (n, key, r) for n in sizes for key in titles for r in by_size[n].get(key, []) if r.note
    ]
    if notes:
        lines += ["", "Notes from the runs:", ""]
        lines += [f"- {n:,} entries, {titles[k]}, `{r.label}`: {r.note}" for n, k, r in notes]
    per_entry = ["", "Time per entry (warm, median) and peak RSS by size:", ""]
    per_entry += ["| Command | " + " | ".join(f"{n:,}" for n in sizes) + " |"]
    per_entry += ["|---|" + "---:|" * len(sizes)]
    for key, label in (
        ("info-warm", "pipcachex info"),
        ("info-warm", "pipcachex info (memo off)"),
        ("info-cold", "pipcachex info"),
        ("info-cold", "pipcachex info (memo off)"),
        ("list-warm", "pipcachex list --json"),
        ("list-warm", "pipcachex list --json (memo off)"),
        ("verify", "pipcachex verify"),
        ("purge", "pipcachex purge"),
        ("backup", "pipcachex backup"),
        ("restore", "pipcachex restore"),
    ):
        if key not in titles:
            continue
        cells = []
        for n in sizes:
            row = _row(by_size[n], key, label)
            if row is None or row.median is None:
                cells.append(row.status if row else "")
            else:
                cells.append(f"{row.median / n * 1e6:.0f} us, {row.rss_mib:.0f} MiB")
        per_entry.append(f"| `{label}` ({titles[key]}) | " + " | ".join(cells) + " |")
    lines += per_entry
    lines += ["", "Targets (issue 6), each judged at the largest size it was measured at:", ""]
    lines += ["| Target | Measured | Met? |", "|---|---|---|"]
    for verdict in verdicts(by_size):
        mark = {True: "met", False: "**missed**", None: "not measured"}[verdict.met]
        lines.append(f"| {verdict.target} | {verdict.measured} | {mark} |")
    return "\n".join(lines) + "\n"


DOC_TEMPLATE = f"""# Performance

How fast pipcachex is on big caches, measured side by side with `du`, `find`, `tar` and `pip`.
Re-run with `python bench/run.py` (see `bench/run.py` for options); the section between the
markers below is rewritten by it, the rest is prose.

{BEGIN}
{END}
"""


def write_doc(section: str, doc: Path = DOC) -> None:
    """Replace the results section of ``doc`` (creating the file from a template if needed)."""
    text = doc.read_text() if doc.exists() else DOC_TEMPLATE
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + "\n\n" + BEGIN + "\n" + END + "\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{section}{END}{tail}")


# -- main ----------------------------------------------------------------------------------------


def code_version() -> str:
    """The commit pipcachex is at, with ``+dirty`` when ``pipcachex/`` has uncommitted changes."""
    git = ["git", "-C", str(REPO_ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "pipcachex"], capture_output=True, text=True
    )
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def save_size(
    entries: int,
    rows: dict[str, list[Row]],
    titles: dict[str, str],
    manifest: dict[str, object],
    repeat: int,
    commits: dict[str, str],
) -> None:
    """Store one size's results in ``bench/results/latest-N.json`` (for ``--merge``).

    Groups run now replace the stored ones; the others are kept (``--only`` re-runs a group).
    """
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"latest-{entries}.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    same = ("entries", "seed", "generator_version")
    if {k: stored.get("manifest", {}).get(k) for k in same} != {k: manifest.get(k) for k in same}:
        stored = {}  # results of another kind of cache: start afresh
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    raw = {
        "entries": entries,
        "repeat": repeat,
        "titles": {**stored.get("titles", {}), **{k: titles[k] for k in rows}},
        "when": {**stored.get("when", {}), **dict.fromkeys(rows, stamp)},
        "commit": {**stored.get("commit", {}), **commits},
        "repeats": {**stored.get("repeats", {}), **dict.fromkeys(rows, repeat)},
        "manifest": manifest,
        "results": {
            **stored.get("results", {}),
            **{k: [asdict(r) for r in group] for k, group in rows.items()},
        },
    }
    path.write_text(json.dumps(raw, indent=2) + "\n")


def load_sizes() -> dict[int, tuple[dict[str, list[Row]], dict[str, str], dict[str, object]]]:
    """The stored results of every size in ``bench/results/latest-*.json``."""
    found = {}
    for path in sorted(RESULTS_DIR.glob("latest-*.json")):
        raw = json.loads(path.read_text())
        rows = {k: [Row(**r) for r in group] for k, group in raw["results"].items()}
        manifest = {
            **raw["manifest"],
            "commit": raw.get("commit", {}),
            "repeats": raw.get("repeats", {}),
        }
        found[int(raw["entries"])] = (rows, raw["titles"], manifest)
    return found


def ensure_cache(workdir: Path, entries: int, seed: int, log: Callable[[str], None]) -> Path:
    """Return a directory holding a generated cache of ``entries``, building it if needed."""
    dest = workdir / f"cache-{entries}-seed{seed}-v{generate.GENERATOR_VERSION}"
    manifest = dest / generate.MANIFEST_FILE
    if manifest.exists():
        log(f"reusing {dest}")
        generate.restore_times(dest)
        return dest
    _rmtree(dest)
    log(f"generating {entries:,} entries in {dest} ...")
    made = generate.generate(dest, entries, seed)
    log(f"  done in {made['seconds']} s, {int(str(made['bytes'])) / 1e6:.0f} MB")
    return dest


def main(argv: list[str] | None = None) -> int:
    """Generate the caches, run every benchmark, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000", help="comma-separated entries")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per command")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "pipcachex-bench",
        help="where caches are generated and kept for the next run",
    )
    parser.add_argument("--only", default="", help="comma-separated group keys to run")
    parser.add_argument(
        "--before",
        type=Path,
        help="an earlier build's pipcachex executable, timed beside this one (info, list, "
        "verify, purge)",
    )
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the doc")
    parser.add_argument("--clean", action="store_true", help="delete the caches afterwards")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="run nothing: rewrite the doc from the stored results (implies --merge)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="also report the last stored results of sizes not run now (bench/results/)",
    )
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s})
    if args.render_only:
        sizes, args.merge = [], True
    only = {s for s in args.only.split(",") if s}
    args.workdir.mkdir(parents=True, exist_ok=True)
    global MEMO_DIR, BEFORE
    MEMO_DIR = args.workdir / "memo"
    BEFORE = str(args.before) if args.before else None

    def log(message: str) -> None:
        print(message, flush=True)

    drop_status = detect_drop_caches(args.workdir)
    log(f"drop caches: {drop_status}")
    old_pip = legacy_only_pip()
    if old_pip:
        log(
            f"warning: pip {old_pip} of this venv knows only the legacy http/ layout, so the "
            "'pip cache info' rows count a seventh of the cache (python -m pip install -U pip)"
        )
    by_size: dict[int, dict[str, list[Row]]] = {}
    titles: dict[str, str] = {}
    manifests: dict[int, dict[str, object]] = {}
    for entries in sizes:
        dest = ensure_cache(args.workdir, entries, args.seed, log)
        manifests[entries] = json.loads((dest / generate.MANIFEST_FILE).read_text())
        scratch = args.workdir / "scratch"
        _rmtree(scratch)
        scratch.mkdir()
        by_size[entries] = {}
        commits: dict[str, str] = {}
        for group in build_groups(dest, scratch, entries):
            if only and group.key not in only:
                continue
            titles[group.key] = group.title
            log(f"[{entries:,}] {group.title}")
            commits[group.key] = code_version()  # the code the group's commands will run
            by_size[entries][group.key] = measure(group, args.repeat, entries, log)
            for row in by_size[entries][group.key]:
                log(f"  {row.label:24} {_cell(row):>24} {row.note}")
        _rmtree(scratch)
        if args.clean:
            _rmtree(dest)
        save_size(entries, by_size[entries], titles, manifests[entries], args.repeat, commits)
    if args.merge:
        for entries, (rows, stored_titles, manifest) in load_sizes().items():
            by_size[entries], manifests[entries] = rows, manifest
            titles.update({k: v for k, v in stored_titles.items() if k not in titles})
    if S3_SERVER is not None:
        S3_SERVER.stop()
    section = render(by_size, titles, manifests, machine(drop_status), args.repeat)
    print(section)
    if not args.no_doc:
        write_doc(section)
        log(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
