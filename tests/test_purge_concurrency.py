"""purge beside other runs and when things go wrong: the cache lock, files already gone, a
read-only cache, and a pip that breaks off a full purge part-way.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import cachefactory
import pytest
from cli_helpers import CliResult, invoke
from conftest import PipName, venv_python

from pipcachex.cache import scan_cache
from pipcachex.deletion import delete_entries
from pipcachex.lock import LOCK_NAME, cache_lock

ENV = {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


def run(command: str, cache: Path, *args: str) -> CliResult:
    """``pipcachex COMMAND --cache-dir CACHE ARGS`` in-process, stdin not a terminal."""
    return invoke([command, "--cache-dir", str(cache), *args], env=ENV)


def contents(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (but the lock file) with its bytes."""
    return {
        str(p): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != LOCK_NAME
    }


def test_purge_and_verify_fix_refuse_while_another_pipcachex_holds_the_cache(
    busy_cache: Path,
) -> None:
    """The lock holder is named, exit 1, and not a file is removed."""
    before = contents(busy_cache)
    with cache_lock(busy_cache, command="restore"):
        for command, args in (
            ("purge", ["--older-than", "0s", "--yes"]),
            ("purge", ["--yes"]),
            ("purge", ["alpha-pkg", "--yes", "--backup"]),
            ("verify", ["--fix", "--yes"]),
        ):
            result = run(command, busy_cache, *args)
            assert result.exit_code == 1, (command, args, result.stderr)
            assert f"another pipcachex (pid {os.getpid()}, `restore`)" in result.stderr
            assert "nothing was changed" in result.stderr
            assert contents(busy_cache) == before
    fixed = run("verify", busy_cache, "--fix", "--yes")
    assert fixed.exit_code == 0, fixed.stderr


def test_a_file_already_gone_is_not_a_failure(tmp_path: Path) -> None:
    """What another purge (or a pip) removed meanwhile is what was wanted: no failure."""
    cache = tmp_path / "cache"
    entries = [
        cachefactory.write_http_v2_entry(
            cache, f"https://example.invalid/p{i}-1.0.tar.gz", b"p" * 10, {}
        )
        for i in range(3)
    ]
    scan = scan_cache(cache)
    entries[0].meta.unlink()  # another purge got there first, half-way through this entry
    body = entries[1].body
    assert body is not None
    body.unlink()

    report = delete_entries(cache, scan.entries, allow_unknown=True)

    assert report.failed == ()
    assert len(report.removed) == 3
    assert list(cache.rglob("*.body")) == [] and not any(e.meta.exists() for e in entries)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs that can be made read-only; skips where mounting is not allowed (needs root)."""
    mount_point = tmp_path / "ro"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mount(8) of a tmpfs failed: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_purge_of_a_read_only_cache_says_so(read_only_dir: Path) -> None:
    """Not "pip's cache is disabled ... pass --cache-dir": --cache-dir was given."""
    cache = read_only_dir / "cache"
    for i in range(3):
        body = f"Metadata-Version: 2.1\nName: p{i}\nVersion: 1.0\n\n".encode()
        url = f"https://files.invalid/p{i}-1.0-py3-none-any.whl.metadata"
        cachefactory.write_http_v2_entry(cache, url, body, cachefactory.file_headers(body))
    before = contents(cache)
    remounted = subprocess.run(
        ["mount", "-o", "remount,ro", str(read_only_dir)], capture_output=True, check=False
    )
    if remounted.returncode != 0:
        pytest.skip(f"cannot remount read-only: {remounted.stderr!r}")

    result = run("purge", cache, "--yes", "--json")

    assert result.exit_code == 1, result.stderr
    message = result.json["error"]["message"]
    assert message == (
        f"cannot purge {cache}: the directory is not writable (a read-only file system, or not "
        "yours); nothing was removed"
    )
    assert "disabled" not in result.stderr and "pass --cache-dir" not in result.stderr
    assert contents(cache) == before


def _last_file_pip_unlinks(layout: Path) -> Path:
    """The file ``pip cache purge`` reaches last in ``layout``: its own walk, in its order."""
    found = [Path(top, name) for top, _, names in os.walk(layout) for name in names]
    return found[-1]


def test_pip_breaking_off_a_full_purge_reports_what_was_removed(
    cache_v2: Path, venv_with_pip: Callable[[PipName], Path]
) -> None:
    """pip cannot unlink one file and stops: the error says what it had removed by then."""
    python = str(venv_python(venv_with_pip("current")))  # a pip that purges http-v2/
    stuck = _last_file_pip_unlinks(cache_v2 / "http-v2")
    before = {e.path for e in scan_cache(cache_v2).entries}
    made = subprocess.run(["chattr", "+i", str(stuck)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a file undeletable here: {made.stderr!r}")
    try:
        result = run("purge", cache_v2, "--python", python, "--yes", "--json")
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)

    assert result.exit_code == 1, result.stderr
    error = result.json["error"]
    removed = error["removed"]
    assert error["removed_entries"] == len(removed) > 0
    assert error["freed_bytes"] == sum(e["size"] for e in removed)
    assert f"it had removed {len(removed)} of the " in error["message"]
    assert "run the purge again to finish" in error["message"]
    assert all(not os.path.lexists(p) for e in removed for p in e["paths"])
    # The stuck file's entry lost what pip removed of it: it is what is left of that entry.
    left = {e.path for e in scan_cache(cache_v2).entries} - {str(stuck)}
    stuck_entry = str(stuck).removesuffix(".body")
    assert left == before - {e["path"] for e in removed} - {stuck_entry}

    again = run("purge", cache_v2, "--python", python, "--yes", "--json")
    assert again.exit_code == 0, again.stderr


def _all_strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_all_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _all_strings(v)]
    return []


def test_json_carries_a_file_name_that_is_not_utf8_as_text_and_exact_bytes(
    tmp_path: Path,
) -> None:
    """Valid Unicode for any parser, and the name's bytes in ``*_bytes_b64`` to act on."""
    import base64

    cache = tmp_path / "cache"
    cachefactory.write_http_v2_entry(cache, "https://example.invalid/a-1.0.tar.gz", b"a", {})
    raw = os.fsencode(cache / "http-v2") + b"/caf\xe9-\xff.bin"
    with open(raw, "wb") as handle:
        handle.write(b"not pip's\n")

    for command, args in (("list", ["--kind", "unknown"]), ("purge", ["--kind", "unknown"])):
        result = run(command, cache, *args, "--yes", "--json") if command == "purge" else None
        result = result or run(command, cache, *args, "--json")
        assert result.exit_code == 0, result.stderr
        document = result.json
        for text in _all_strings(document):
            text.encode("utf-8")  # no lone surrogate anywhere
        entries = document["entries" if command == "list" else "removed"]
        (entry,) = [e for e in entries if "caf" in e["path"]]
        assert entry["path"] == f"{cache}/http-v2/caf\ufffd-\ufffd.bin"
        assert base64.b64decode(entry["path_bytes_b64"]) == raw
        assert [base64.b64decode(b) for b in entry["paths_bytes_b64"]] == [raw]
        assert "cache_dir_bytes_b64" not in document
    assert not os.path.lexists(raw)
