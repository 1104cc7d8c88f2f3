"""Backups in object storage: fsspec's ``memory://`` for fast unit tests, and a real S3 API.

The S3 tests run moto's server mode (``ThreadedMotoServer``) on 127.0.0.1, started by a
fixture, and talk to it through s3fs exactly as they would to AWS: the endpoint is given the
way a user would give it (fsspec's configuration), the credentials through the environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke
from conftest import require_free_space_reading
from test_backup_format import FILES, make_cache

from pipcachex import capabilities
from pipcachex.backup import (
    ArchiveError,
    BackupError,
    LocalCopy,
    StorageError,
    apply_restore,
    backup_entries,
    execute_prune,
    list_backups,
    plan_prune,
    plan_restore,
    resolve_archive,
)
from pipcachex.backup import location as location_module
from pipcachex.errors import UsageError

fsspec = pytest.importorskip("fsspec")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != ".pipcachex.lock"
    }


# -- memory:// ---------------------------------------------------------------------------------


@pytest.fixture
def memory(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh memory:// prefix; emptied afterwards."""
    prefix = f"memory://backups-{request.node.name.replace('[', '-').replace(']', '')}/"
    yield prefix
    fs = fsspec.filesystem("memory")
    if fs.exists(prefix[len("memory://") :]):
        fs.rm(prefix[len("memory://") :], recursive=True)


def test_memory_round_trip_and_newest(tmp_path: Path, memory: str) -> None:
    source = tmp_path / "source"
    entries = make_cache(source)
    first = backup_entries(source, entries[:1], memory, default_dir=tmp_path)
    time.sleep(0.002)  # newer by the millisecond names and headers keep (else it is a tie)
    second = backup_entries(source, entries, memory, default_dir=tmp_path)
    assert first.archive.startswith(memory) and first.archive != second.archive
    listing = list_backups(memory)
    assert [b.path for b in listing.backups] == [first.archive, second.archive]
    target = tmp_path / "target"
    ref = resolve_archive(memory, target)
    assert ref.label == second.archive and ref.chosen and "newest" in ref.chosen
    result = apply_restore(plan_restore(target, ref))
    assert result.ok and _tree(target) == FILES


@pytest.mark.parametrize(
    ("usage", "downloaded", "note"),
    [
        ((1 << 40, 1 << 41), True, None),
        ((1 << 20, 1 << 30), False, "has 1048576 bytes free, too few for a copy"),
        (None, False, "cannot tell the free space in"),
    ],
)
def test_memory_local_copy_when_there_is_room(
    tmp_path: Path,
    memory: str,
    monkeypatch: pytest.MonkeyPatch,
    usage: tuple[int, int] | None,
    downloaded: bool,
    note: str | None,
) -> None:
    """The archive is downloaded only where it fits; the restore is the same either way."""
    source = tmp_path / "source"
    made = backup_entries(source, make_cache(source), memory, default_dir=tmp_path)
    monkeypatch.setattr(capabilities, "disk_usage", lambda path: usage)
    temp = tmp_path / "temp"
    temp.mkdir()
    target = tmp_path / "target"
    progress: list[tuple[int, int]] = []
    with LocalCopy(resolve_archive(made.archive, target), str(temp)) as copy:
        assert copy.wanted is downloaded
        assert (copy.note is None) if note is None else (note in (copy.note or ""))
        ref = copy.fetch(lambda done, total: progress.append((done, total)))
        assert ref.label == made.archive and ref.name == made.archive.rpartition("/")[2]
        assert len(list(temp.iterdir())) == int(downloaded)
        assert (progress[-1] if progress else None) == ((copy.size,) * 2 if downloaded else None)
        result = apply_restore(plan_restore(target, ref))
    assert result.ok and _tree(target) == FILES
    assert list(temp.iterdir()) == []


def test_memory_interrupted_upload_leaves_nothing(tmp_path: Path, memory: str) -> None:
    source = tmp_path / "source"

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backup_entries(source, make_cache(source), memory, on_progress=interrupt)
    fs = fsspec.filesystem("memory")
    root = memory[len("memory://") :]
    assert not fs.exists(root) or fs.ls(root, detail=False) == []


def test_memory_never_overwrites_a_named_object(tmp_path: Path, memory: str) -> None:
    source = tmp_path / "source"
    entries = make_cache(source)
    backup_entries(source, entries, memory + "fixed.tar", default_dir=tmp_path)
    with pytest.raises(UsageError, match="already exists"):
        backup_entries(source, entries[:1], memory + "fixed.tar", default_dir=tmp_path)
    (only,) = list_backups(memory).backups
    assert only.header is not None and only.header.entries == len(entries)


def test_memory_prune_keeps_the_newest_and_leaves_other_objects(
    tmp_path: Path, memory: str
) -> None:
    source = tmp_path / "source"
    entries = make_cache(source)
    made = []
    for _ in range(3):
        # Names and headers tell the time to the millisecond: two backups made within one
        # millisecond are equally new, so each waits for the next one.
        time.sleep(0.002)
        made.append(backup_entries(source, entries, memory, default_dir=tmp_path))
    fs = fsspec.filesystem("memory")
    root = memory[len("memory://") :]
    fs.pipe(root + "notes.txt", b"not a backup")
    fs.pipe(root + "pipcachex-20200101T000000.000Z-abcdef.tar", b"named like one, is not one")
    named = backup_entries(source, entries, memory + "mine.tar", default_dir=tmp_path)
    plan = plan_prune(memory, keep=1)
    assert [b.path for b in plan.keep] == [made[-1].archive]
    dry = execute_prune(plan, dry_run=True)
    assert sorted(dry.removed) == sorted(m.archive for m in made[:2])
    assert len(fs.ls(root, detail=False)) == 6, "a dry run deletes nothing"
    result = execute_prune(plan)
    assert result.failed == ()
    left = sorted(p.rpartition("/")[2] for p in fs.ls(root, detail=False))
    assert left == sorted(
        [
            "notes.txt",
            "pipcachex-20200101T000000.000Z-abcdef.tar",
            named.archive.rpartition("/")[2],
            made[-1].archive.rpartition("/")[2],
        ]
    )


def test_prunes_beside_other_runs_take_no_lock_and_lose_nothing(
    tmp_path: Path, memory: str
) -> None:
    """Prune takes no lock (object stores have none), so what two runs at once do is tested.

    A second prune that finds its archive gone counts it removed; a backup written after the
    listing a prune planned from is never a candidate, whatever ``--keep`` says.
    """
    source = tmp_path / "source"
    entries = make_cache(source)
    made = []
    for _ in range(3):
        time.sleep(0.002)  # a millisecond apart: see the test above
        made.append(backup_entries(source, entries, memory, default_dir=tmp_path))
    first, second = plan_prune(memory, keep=1), plan_prune(memory, keep=1)
    time.sleep(0.002)
    late = backup_entries(source, entries, memory, default_dir=tmp_path)
    done = execute_prune(first)
    again = execute_prune(second)
    assert done.failed == () and again.failed == ()
    assert sorted(again.removed) == sorted(m.archive for m in made[:2])
    left = sorted(b.path for b in list_backups(memory).backups)
    assert left == sorted([made[-1].archive, late.archive])


def test_cli_lists_and_prunes_a_url(tmp_path: Path, memory: str) -> None:
    source = tmp_path / "source"
    entries = make_cache(source)
    for _ in range(2):
        backup_entries(source, entries, memory, default_dir=tmp_path)
    listed = invoke(["backups", memory, "--json"])
    assert listed.exit_code == 0, listed.stderr
    assert listed.json["location"] == memory and len(listed.json["backups"]) == 2
    refused = invoke(["backups", "prune", memory, "--keep", "1"])
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    pruned = invoke(["backups", "prune", memory, "--keep", "1", "--yes", "--json"])
    assert pruned.exit_code == 0, pruned.stderr
    assert len(pruned.json["removed"]) == 1 and len(pruned.json["kept"]) == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gs://bucket/p/", "pipcachex[gcs]"),
        ("az://container/p/", "pipcachex[azure]"),
        ("nosuchscheme://x/", "unknown URL scheme nosuchscheme://"),
    ],
)
def test_a_missing_backend_names_the_extra(url: str, message: str) -> None:
    backend = {"gs": "gcsfs", "az": "adlfs"}.get(url.partition(":")[0])
    if backend is not None and _installed(backend):
        pytest.skip(f"{backend} is installed")
    result = invoke(["backups", url])
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_credentials_in_a_url_never_show(tmp_path: Path) -> None:
    result = invoke(["backups", "memory://AKIDSECRET:hunter2@place/x/", "--json"])
    assert "hunter2" not in result.stdout + result.stderr
    assert "AKIDSECRET" not in result.stdout + result.stderr


# -- S3 through moto's server on loopback ------------------------------------------------------

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing-key",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


class S3:
    """A moto server on 127.0.0.1 and the endpoint fsspec is configured with."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.server.stop()

    def filesystem(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(
            endpoint_url=self.endpoint, skip_instance_cache=True, use_listings_cache=False
        )


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    import s3fs

    # s3fs retries a failed request five times with growing pauses: right against AWS, only
    # slow against a server a test has just stopped.
    monkeypatch.setattr(s3fs.S3FileSystem, "retries", 1)
    monkeypatch.setattr(s3fs.core.S3File, "retries", 1, raising=False)
    server = S3()
    conf = fsspec.config.conf
    monkeypatch.setitem(
        conf,
        "s3",
        {
            "endpoint_url": server.endpoint,
            "skip_instance_cache": True,
            "use_listings_cache": False,
            "config_kwargs": {"retries": {"max_attempts": 2}, "connect_timeout": 5},
        },
    )
    # moto keeps its buckets per process, not per server: start every test from nothing.
    urllib.request.urlopen(
        urllib.request.Request(server.endpoint + "/moto-api/reset", method="POST"), timeout=10
    ).close()
    server.filesystem().mkdir("fleet")
    yield server
    server.stop()


@pytest.mark.slow
def test_s3_round_trip_whole_and_selective(tmp_path: Path, s3: S3) -> None:
    source = tmp_path / "source"
    entries = make_cache(source)
    whole = backup_entries(source, entries, "s3://fleet/pip/", default_dir=tmp_path)
    part = backup_entries(source, entries[:2], "s3://fleet/pip/part.tar.gz", default_dir=tmp_path)
    assert part.archive == "s3://fleet/pip/part.tar.gz"
    for result, expected in ((whole, FILES), (part, dict(list(FILES.items())[:2]))):
        target = tmp_path / f"target-{len(expected)}"
        applied = apply_restore(plan_restore(target, resolve_archive(result.archive, target)))
        assert applied.ok and _tree(target) == expected
    names = sorted(k.rpartition("/")[2] for k in s3.filesystem().ls("fleet/pip"))
    assert names == sorted(["part.tar.gz", whole.archive.rpartition("/")[2]])


@pytest.mark.slow
def test_s3_cli_backup_restore_newest_and_prune(tmp_path: Path, s3: S3) -> None:
    source = tmp_path / "source"
    make_cache(source)
    for _ in range(3):
        time.sleep(0.002)  # the newest must be newer by the millisecond names and headers keep
        made = invoke(["backup", "--cache-dir", str(source), "--to", "s3://fleet/ci/", "--json"])
        assert made.exit_code == 0, made.stderr
    newest = made.json["archive"]
    target = tmp_path / "runner-cache"
    restored = invoke(["restore", "s3://fleet/ci/", "--cache-dir", str(target), "--json"])
    assert restored.exit_code == 0, restored.stderr
    assert restored.json["archive"] == newest and _tree(target) == FILES
    racing = plan_prune("s3://fleet/ci/", keep=2)  # a second job planned from the same listing
    pruned = invoke(["backups", "prune", "s3://fleet/ci/", "--keep", "2", "--yes", "--json"])
    assert pruned.exit_code == 0, pruned.stderr
    assert len(pruned.json["removed"]) == 1
    assert len(s3.filesystem().ls("fleet/ci", refresh=True)) == 2
    late = execute_prune(racing)  # its object is gone: removed, not failed
    assert late.failed == () and list(late.removed) == pruned.json["removed"]


@pytest.mark.slow
def test_s3_generated_names_are_uploaded_in_place_chosen_names_moved(
    tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket shows an upload only once complete: a generated name needs no temp and no copy.

    A name given with ``--to`` still goes through a hidden temporary object and a move, which
    is what checks, last thing, that nobody took the name meanwhile.
    """
    import s3fs

    source = tmp_path / "source"
    entries = make_cache(source)
    moved: list[tuple[str, str]] = []
    real_mv = s3fs.S3FileSystem.mv

    def mv(fs: Any, path1: str, path2: str, **kwargs: Any) -> Any:
        moved.append((path1, path2))
        return real_mv(fs, path1, path2, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "mv", mv)
    made = backup_entries(source, entries, "s3://fleet/direct/")
    assert moved == []
    chosen = backup_entries(source, entries, "s3://fleet/direct/mine.tar")
    assert [b.rpartition("/")[2] for _, b in moved] == ["mine.tar"]
    names = sorted(k.rpartition("/")[2] for k in s3.filesystem().ls("fleet/direct", refresh=True))
    assert names == sorted([made.archive.rpartition("/")[2], "mine.tar"])
    assert chosen.archive.endswith("/mine.tar")


@pytest.mark.slow
def test_s3_an_object_that_takes_the_name_meanwhile_is_never_replaced(
    tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipcachex.backup import writer

    name = "pipcachex-20260101T000000.000Z-abcdef.tar"
    monkeypatch.setattr(writer, "generated_name", lambda now, compression: name)
    source = tmp_path / "source"
    entries = make_cache(source)
    fs = s3.filesystem()

    def someone_else_meanwhile(done: int, total: int) -> None:
        if not fs.exists(f"fleet/taken/{name}"):
            fs.pipe(f"fleet/taken/{name}", b"someone else's")

    with pytest.raises(BackupError, match="appeared while it was uploaded; nothing was replaced"):
        backup_entries(source, entries, "s3://fleet/taken/", on_progress=someone_else_meanwhile)
    assert fs.cat(f"fleet/taken/{name}") == b"someone else's"
    assert fs.ls("fleet/taken", refresh=True) == [f"fleet/taken/{name}"]


@pytest.mark.slow
def test_s3_upload_interrupted_by_the_server_going_down(
    tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stops mid-upload (parts already sent): no object looks like a backup."""
    monkeypatch.setattr(location_module, "REMOTE_BLOCK", 5 << 20)
    source = tmp_path / "source"
    big = {f"http-v2/b/{i:02d}.body": os.urandom(1 << 20) for i in range(14)}
    entries = make_cache(source, big)
    witness = S3()  # a second endpoint on the same store, to look at it afterwards
    try:

        def stop_late(done: int, total: int) -> None:
            if done > total * 0.8:
                s3.stop()

        with pytest.raises(BackupError, match=r"cannot write s3://fleet/down/.*no backup written"):
            backup_entries(source, entries, "s3://fleet/down/", on_progress=stop_late)
        fs = witness.filesystem()
        left = fs.ls("fleet/down") if fs.exists("fleet/down") else []
        assert [k for k in left if not k.rpartition("/")[2].startswith(".")] == []
    finally:
        witness.stop()


@pytest.mark.slow
def test_s3_download_interrupted_changes_nothing(
    tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server goes away while the archive streams in: an error, and the cache untouched."""
    monkeypatch.setattr(location_module, "READ_BLOCK", 64 << 10)
    source = tmp_path / "source"
    big = {f"http-v2/d/{i}.body": os.urandom(1 << 20) for i in range(4)}
    result = backup_entries(source, make_cache(source, big), "s3://fleet/dl/", default_dir=tmp_path)
    target = tmp_path / "target"
    ref = resolve_archive(result.archive, target)

    def stop_midway(done: int, total: int) -> None:
        if done >= 200 << 10:
            s3.stop()

    with pytest.raises(ArchiveError, match="cannot read s3://fleet/dl/"):
        plan_restore(target, ref, on_progress=stop_midway)
    assert not target.exists()


class _Reads:
    """Counts how a remote archive is read: streamed opens and whole downloads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opens: list[str] = []
        self.downloads: list[str] = []
        real_open, real_download = (
            location_module.RemoteStore.open,
            location_module.RemoteStore.download,
        )

        def spy_open(store: Any, name: str) -> Any:
            self.opens.append(name)
            return real_open(store, name)

        def spy_download(store: Any, name: str, path: str, on_progress: Any = None) -> None:
            self.downloads.append(name)
            real_download(store, name, path, on_progress)

        monkeypatch.setattr(location_module.RemoteStore, "open", spy_open)
        monkeypatch.setattr(location_module.RemoteStore, "download", spy_download)


@pytest.mark.slow
def test_s3_restore_downloads_the_archive_once(
    tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both passes of a restore read one local copy, which is gone afterwards."""
    require_free_space_reading(tmp_path)  # a copy is made only where it is known to fit
    source = tmp_path / "source"
    result = backup_entries(source, make_cache(source), "s3://fleet/once/", default_dir=tmp_path)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    reads = _Reads(monkeypatch)
    target = tmp_path / "target"
    restored = invoke(["restore", result.archive, "--cache-dir", str(target), "--json"])
    assert restored.exit_code == 0, restored.stderr
    assert restored.json["archive"] == result.archive and _tree(target) == FILES
    name = result.archive.rpartition("/")[2]
    assert (reads.downloads, reads.opens) == ([name], [])
    assert list(temp.iterdir()) == []


@pytest.mark.slow
def test_s3_restore_without_room_for_a_copy_streams_twice(
    tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source"
    result = backup_entries(source, make_cache(source), "s3://fleet/tight/", default_dir=tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(capabilities, "disk_usage", lambda path: (1 << 20, 1 << 30))
    reads = _Reads(monkeypatch)
    target = tmp_path / "target"
    restored = invoke(["restore", result.archive, "--cache-dir", str(target), "--json"])
    assert restored.exit_code == 0, restored.stderr
    assert _tree(target) == FILES
    assert f"{tmp_path} has 1048576 bytes free" in restored.stderr
    assert "set TMPDIR" in restored.stderr
    name = result.archive.rpartition("/")[2]
    assert (reads.downloads, reads.opens) == ([], [name, name])


class _ServerProcess:
    """moto's S3 server in a process of its own, which a test can kill in the middle of a
    response (a server thread stopped in-process finishes the responses under way)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1).close()
                return
            except OSError:
                assert self.process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.mark.slow
def test_s3_restore_download_interrupted_leaves_nothing(
    tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server dies mid-download: a StorageError, no local copy left, cache untouched."""
    require_free_space_reading(tmp_path)  # a copy is made only where it is known to fit
    server = _ServerProcess()
    try:
        monkeypatch.setitem(
            fsspec.config.conf, "s3", {**fsspec.config.conf["s3"], "endpoint_url": server.endpoint}
        )
        server_fs = fsspec.filesystem("s3")
        server_fs.mkdir("fleet")
        source = tmp_path / "source"
        big = {f"http-v2/d/{i}.body": os.urandom(1 << 20) for i in range(32)}
        made = backup_entries(
            source, make_cache(source, big), "s3://fleet/dl2/", default_dir=tmp_path
        )
        temp = tmp_path / "temp"
        temp.mkdir()
        target = tmp_path / "target"
        seen: list[int] = []

        def kill_midway(done: int, total: int) -> None:
            seen.append(total)
            if done >= 1 << 20 and server.process.poll() is None:
                server.kill()

        with LocalCopy(resolve_archive(made.archive, target), str(temp)) as copy:
            assert copy.wanted and copy.size > 32 << 20
            with pytest.raises(StorageError, match="cannot read s3://fleet/dl2/"):
                copy.fetch(kill_midway)
        assert seen and max(seen) == copy.size
        assert list(temp.iterdir()) == [] and not target.exists()
    finally:
        server.kill()


@pytest.mark.slow
def test_s3_corrupted_and_foreign_objects_are_refused(tmp_path: Path, s3: S3) -> None:
    source = tmp_path / "source"
    result = backup_entries(source, make_cache(source), "s3://fleet/bad/", default_dir=tmp_path)
    fs = s3.filesystem()
    key = result.archive[len("s3://") :]
    data = bytearray(fs.cat(key))
    data[data.index(bytes(range(256))) + 3] ^= 0xFF
    fs.pipe("fleet/bad/pipcachex-20990101T000000.000Z-abcdef.tar", bytes(data))
    fs.pipe("fleet/bad/other.tar", b"just some bytes")
    target = tmp_path / "target"
    for name, message in (
        ("pipcachex-20990101T000000.000Z-abcdef.tar", "does not match its recorded"),
        ("other.tar", "not a backup"),
    ):
        with pytest.raises(ArchiveError, match=message):
            plan_restore(target, resolve_archive(f"s3://fleet/bad/{name}", target))
    assert not target.exists()
    listing = {b.name: b.problem for b in list_backups("s3://fleet/bad/").backups}
    assert listing["other.tar"] and "not a backup" in listing["other.tar"]


@pytest.mark.slow
def test_s3_missing_credentials_and_missing_bucket(
    tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source"
    entries = make_cache(source)
    with pytest.raises(StorageError, match="s3://nowhere does not exist"):
        list_backups("s3://nowhere/x/")
    with pytest.raises(BackupError, match="cannot write s3://nowhere/x/"):
        backup_entries(source, entries, "s3://nowhere/x/", default_dir=tmp_path)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    result = invoke(["backups", "s3://fleet/pip/", "--json"])
    assert result.exit_code == 1, result.stdout
    message = result.json["error"]["message"]
    assert "s3://fleet/pip/" in message and "testing-secret" not in message


def _peak_rss_of_backup(source: Path, to: str, s3: S3) -> int:
    """Run ``pipcachex backup`` in a process of its own; return its peak RSS in KiB."""
    script = (
        "import resource, sys\n"
        "from pipcachex.cli import app\n"
        "try:\n"
        "    app(sys.argv[1:])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        # ru_maxrss is in KiB on Linux, in bytes on macOS.
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(peak // 1024 if sys.platform == 'darwin' else peak)\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSPEC_"))},
        **S3_ENV,
        "FSSPEC_S3_ENDPOINT_URL": s3.endpoint,
    }
    done = subprocess.run(
        [sys.executable, "-c", script, "backup", "-q", "--cache-dir", str(source), "--to", to],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_s3_upload_streams_in_bounded_memory(tmp_path: Path, s3: S3) -> None:
    """Ten times the data costs no more memory: the archive is streamed, never held."""
    small, large = tmp_path / "small", tmp_path / "large"
    make_cache(small, {f"http-v2/s/{i}.body": os.urandom(1 << 20) for i in range(6)})
    make_cache(large, {f"http-v2/l/{i}.body": os.urandom(1 << 20) for i in range(40)})
    base = _peak_rss_of_backup(small, "s3://fleet/rss/", s3)
    peak = _peak_rss_of_backup(large, "s3://fleet/rss/", s3)
    assert peak - base < 24 << 10, (base, peak)
    assert len(s3.filesystem().ls("fleet/rss", refresh=True)) == 2
