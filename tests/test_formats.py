"""`--format`: every format of `list`, `info` and `backups`, and the renderers behind them."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke
from rich.console import Console

from pipcachex.cache import CacheEntry, CacheFile, Kind, Layout
from pipcachex.render.output import Output
from pipcachex.render.rows import Column, write_records, write_table
from pipcachex.render.words import count_noun, plural

# -- the renderers, without a cache ----------------------------------------------------------


def _output(fmt: str, *, terminal: bool = False, width: int = 80) -> tuple[Output, io.StringIO]:
    stream = io.StringIO()
    console = Console(file=stream, width=width, force_terminal=terminal, color_system=None)
    return Output(output_format=fmt, json_mode=fmt == "json", out=console), stream


@pytest.mark.parametrize(
    ("asked", "terminal", "written"),
    [
        ("human", True, "human"),
        ("human", False, "plain"),
        ("plain", True, "plain"),
        ("tsv", True, "tsv"),
        ("csv", False, "csv"),
        ("abspath", True, "abspath"),
        ("json", True, "json"),
    ],
)
def test_human_is_plain_when_stdout_is_no_terminal(
    asked: str, terminal: bool, written: str
) -> None:
    output, _ = _output(asked, terminal=terminal)
    assert output.row_format == written


COLUMNS = (Column("Name"), Column("Size", right=True), Column("Detail", flexible=True))
ROWS = [
    ("alpha", "1.2 kB", "a-very-long-file-name-that-does-not-fit-" * 3),
    ("b", "300 bytes", "short"),
]


def test_plain_aligns_and_cuts_nothing() -> None:
    output, stream = _output("plain", width=40)
    write_table(output, COLUMNS, lambda: iter(ROWS))
    lines = stream.getvalue().splitlines()
    assert lines[0].split() == ["Name", "Size", "Detail"]
    assert lines[1] == f"alpha     1.2 kB  {ROWS[0][2]}"
    assert lines[2] == "b      300 bytes  short"
    assert "…" not in stream.getvalue()


def test_human_on_a_terminal_cuts_the_flexible_column_to_fit() -> None:
    output, stream = _output("human", terminal=True, width=40)
    write_table(output, COLUMNS, lambda: iter(ROWS))
    lines = stream.getvalue().splitlines()
    assert all(len(line) <= 40 for line in lines), lines
    assert lines[1].startswith("alpha     1.2 kB  a-very") and lines[1].endswith("…")
    assert lines[2] == "b      300 bytes  short"


def test_an_empty_table_writes_nothing() -> None:
    output, stream = _output("plain")
    write_table(output, COLUMNS, lambda: iter(()))
    assert stream.getvalue() == ""


def test_tsv_and_csv_keep_every_value() -> None:
    records = [("a,b", 1, None, "tab\there"), ("line\nbreak", 2, "x", 'say "hi"')]
    output, stream = _output("csv")
    write_records(output, ("w", "n", "maybe", "text"), records)
    parsed = list(csv.reader(io.StringIO(stream.getvalue())))
    assert parsed == [
        ["w", "n", "maybe", "text"],
        ["a,b", "1", "", "tab\there"],
        ["line\nbreak", "2", "x", 'say "hi"'],
    ]
    output, stream = _output("tsv")
    write_records(output, ("w", "n", "maybe", "text"), records)
    assert stream.getvalue().splitlines() == [
        "w\tn\tmaybe\ttext",
        "a,b\t1\t\ttab here",
        'line break\t2\tx\tsay "hi"',
    ]


@pytest.mark.parametrize(
    ("number", "one", "expected"),
    [
        (0, "entry", "0 entries"),
        (1, "entry", "1 entry"),
        (2, "entry", "2 entries"),
        (1, "backup", "1 backup"),
        (3, "backup", "3 backups"),
        (2, "day", "2 days"),
        (2, "match", "2 matches"),
    ],
)
def test_count_noun(number: int, one: str, expected: str) -> None:
    assert count_noun(number, one) == expected
    assert plural(one) == expected.split(" ", 1)[1] or number == 1


def test_list_rows_of_synthetic_entries_in_every_format(tmp_path: Path) -> None:
    from pipcachex.operations.listing import ListResult
    from pipcachex.render.listing import ENTRY_FIELDS, render_list

    base = str(tmp_path / "http-v2" / "a" / "b" / "c" / "d" / "e" / "abc")
    entry = CacheEntry(
        path=base,
        kind=Kind.DISTRIBUTION,
        layout=Layout.HTTP_V2,
        files=(CacheFile(base, 100, 1.0e9, 1.0e9), CacheFile(base, 900, 1.0e9, 1.0e9, ".body")),
        package="zope-interface",
        version="6.0",
        filename="zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl",
    )
    result = ListResult(tmp_path, (entry,), None, 1.0e9 + 86400)
    written: dict[str, str] = {}
    for fmt in ("plain", "tsv", "csv", "abspath"):
        output, stream = _output(fmt, width=40)
        render_list(output, result)
        written[fmt] = stream.getvalue()
    assert entry.filename is not None and entry.filename in written["plain"]
    assert written["plain"].splitlines()[1].split()[:6] == [
        "zope-interface",
        "6.0",
        "distribution",
        "http-v2",
        "1.0",
        "kB",
    ]
    tsv = [line.split("\t") for line in written["tsv"].splitlines()]
    assert tsv[0] == list(ENTRY_FIELDS)
    assert dict(zip(tsv[0], tsv[1], strict=True))["size"] == "1000"
    rows = list(csv.DictReader(io.StringIO(written["csv"])))
    assert rows[0]["last_used"] == "2001-09-09T01:46:40Z" and rows[0]["problem"] == ""
    assert written["abspath"].splitlines() == [base, base + ".body"]


# -- through the command line, on a cache a real pip wrote --------------------------------------


def _entries(cache: Path) -> list[dict[str, Any]]:
    result = invoke(["list", "--json", "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.stderr
    entries: list[dict[str, Any]] = result.json["entries"]
    return entries


def test_list_in_every_format_holds_the_same_entries(filled_cache_v2: Path) -> None:
    entries = _entries(filled_cache_v2)
    assert entries
    cache = ["--cache-dir", str(filled_cache_v2)]

    same_as_json = invoke(["list", "--format", "json", *cache])
    assert same_as_json.exit_code == 0 and same_as_json.json["entries"] == entries

    tsv = invoke(["list", "--format", "tsv", *cache])
    assert tsv.exit_code == 0, tsv.stderr
    lines = [line.split("\t") for line in tsv.stdout.splitlines()]
    assert [dict(zip(lines[0], line, strict=True))["path"] for line in lines[1:]] == [
        e["path"] for e in entries
    ]

    table = list(csv.DictReader(io.StringIO(invoke(["list", "--format", "csv", *cache]).stdout)))
    assert [int(r["size"]) for r in table] == [e["size"] for e in entries]
    assert [r["filename"] or None for r in table] == [e["filename"] for e in entries]

    paths = invoke(["list", "--format", "abspath", *cache]).stdout.splitlines()
    assert paths == [p for e in entries for p in e["paths"]]
    assert all(os.path.isabs(p) and os.path.exists(p) for p in paths)

    # Not a terminal: the default is plain, with every file name whole and no box drawing.
    plain = invoke(["list", *cache], env={"COLUMNS": "40"})
    assert plain.exit_code == 0
    for e in entries:
        if e["filename"]:
            assert e["filename"] in plain.stdout
    assert "…" not in plain.stdout and "│" not in plain.stdout
    asked = invoke(["list", "--format", "plain", *cache]).stdout
    assert asked.splitlines()[0] == plain.stdout.splitlines()[0].rstrip() != ""


def test_list_on_a_terminal_fits_the_screen(filled_cache_v2: Path) -> None:
    result = invoke(
        ["list", "-q", "--cache-dir", str(filled_cache_v2)],
        env={"TTY_COMPATIBLE": "1", "COLUMNS": "90", "NO_COLOR": "1"},
    )
    assert result.exit_code == 0, result.stderr
    lines = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout).splitlines()
    assert len(lines) == len(_entries(filled_cache_v2)) + 1
    assert all(len(line) <= 90 for line in lines), max(lines, key=len)
    assert "…" in result.stdout


def test_packages_in_tsv(filled_cache_v2: Path) -> None:
    result = invoke(["list", "--packages", "--format", "tsv", "--cache-dir", str(filled_cache_v2)])
    assert result.exit_code == 0, result.stderr
    header, *rows = (line.split("\t") for line in result.stdout.splitlines())
    assert header == ["package", "entries", "size", "versions", "oldest_use", "newest_use"]
    alpha = next(r for r in rows if r[0] == "alpha-pkg")
    assert alpha[3].split() == ["1.0", "2.0"]


def test_info_as_csv_and_plain(filled_cache_v2: Path) -> None:
    cache = ["--cache-dir", str(filled_cache_v2)]
    document = invoke(["info", "--json", *cache]).json
    rows = list(csv.DictReader(io.StringIO(invoke(["info", "--format", "csv", *cache]).stdout)))
    kinds = {r["name"]: int(r["entries"]) for r in rows if r["group"] == "kind"}
    assert kinds == {k: v["entries"] for k, v in document["by_kind"].items()}
    total = next(r for r in rows if r["group"] == "total")
    assert int(total["size"]) == document["total"]["size"]
    plain = invoke(["info", "--format", "plain", *cache]).stdout
    assert "│" not in plain and "─" not in plain and "Largest projects:" in plain


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--format", "yaml"], "invalid value for --format: 'yaml' (choose from human,"),
        (["info", "--format", "abspath"], "--format: 'abspath' (choose from human, plain, tsv,"),
        (["list", "--json", "--format", "csv"], "--json contradicts --format csv"),
    ],
)
def test_bad_formats_are_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    result = invoke([*args, "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_backups_in_every_format(cache_v2: Path, tmp_path: Path) -> None:
    env = {"PIPCACHEX_BACKUP_DIR": str(tmp_path / "backups")}
    made = invoke(["backup", "--json", "--cache-dir", str(cache_v2)], env=env)
    assert made.exit_code == 0, made.stderr
    archive = made.json["archive"]
    paths = invoke(["backups", "--format", "abspath"], env=env)
    assert paths.exit_code == 0 and paths.stdout.splitlines() == [archive]
    rows = list(csv.DictReader(io.StringIO(invoke(["backups", "--format", "csv"], env=env).stdout)))
    assert [r["path"] for r in rows] == [archive]
    assert rows[0]["source_cache_dir"] == str(cache_v2)
    plain = invoke(["backups"], env={**env, "COLUMNS": "30"})
    assert Path(archive).name in plain.stdout and str(cache_v2) in plain.stdout
    assert plain.stderr == f"1 backup in {tmp_path / 'backups'}\n"


def test_one_entry_is_one_entry(tmp_path: Path) -> None:
    import cachefactory
    import packages

    body = packages.build_dist_bytes(packages.by_filename("gamma-1.2.3.tar.gz"))
    url = "http://127.0.0.1/files/gamma-1.2.3.tar.gz"
    cachefactory.write_http_v2_entry(tmp_path, url, body, cachefactory.file_headers(body))
    result = invoke(["list", "--format", "abspath", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("1 entry, ") and len(result.stdout.splitlines()) == 2
    info = invoke(["info", "--format", "plain", "--cache-dir", str(tmp_path)])
    assert "Total: 1 entry, " in info.stdout
