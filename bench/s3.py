"""An S3 API on loopback for the benchmark, and the baselines a remote backup is judged by.

``python bench/run.py --only s3-backup,s3-restore`` times ``backup --to s3://`` and ``restore
s3://`` against what a user could do without them: a local backup followed by an s3fs upload
of the archive, and an s3fs download followed by a local restore. Both sides talk to the same
moto server (``moto[server]``, in a process of its own on 127.0.0.1), so neither pays for
a network the other does not.

The baselines are this file's commands, so each is one timed process like any other case:

- ``python bench/s3.py backup-upload PIPCACHEX CACHE_DIR LOCAL_ARCHIVE URL``
- ``python bench/s3.py download-restore PIPCACHEX URL LOCAL_ARCHIVE TARGET_CACHE``

Every process finds the server through fsspec's environment configuration
(``FSSPEC_S3_ENDPOINT_URL``) and moto's dummy credentials, as ``environment()`` gives them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

BUCKET = "bench"
#: moto accepts any credentials; these keep botocore from looking for real ones.
_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def available() -> str | None:
    """None when s3fs and moto's server are installed, else what is missing."""
    try:
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError as exc:
        return f"needs {exc.name} (pip install -e '.[test]')"
    return None


def environment(endpoint: str) -> dict[str, str]:
    """What a process needs to reach the server: endpoint (fsspec's config) and credentials."""
    return {**_CREDENTIALS, "FSSPEC_S3_ENDPOINT_URL": endpoint}


class MotoServer:
    """moto's S3 server in a subprocess on 127.0.0.1, with the benchmark's bucket made."""

    def __init__(self) -> None:
        with socket.socket() as probe:  # a free port; moto's own choice is not reported back
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
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.2)
        filesystem(self.endpoint).mkdir(BUCKET)

    def stop(self) -> None:
        """Stop the server (its objects go with it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def filesystem(endpoint: str) -> Any:
    """An s3fs file system on the server, with no cached listings (objects come and go)."""
    import s3fs

    os.environ.update(_CREDENTIALS)
    return s3fs.S3FileSystem(
        endpoint_url=endpoint, skip_instance_cache=True, use_listings_cache=False
    )


def clear(endpoint: str, prefix: str) -> None:
    """Delete every object under ``s3://bench/<prefix>``."""
    fs = filesystem(endpoint)
    path = f"{BUCKET}/{prefix.strip('/')}"
    if fs.exists(path):
        fs.rm(path, recursive=True)


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def backup_then_upload(pipcachex: str, cache: str, local: str, url: str) -> None:
    """The baseline of ``backup --to s3://``: a local backup, then one s3fs upload of it."""
    Path(local).unlink(missing_ok=True)
    _run([pipcachex, "backup", "--cache-dir", cache, "--to", local])
    try:
        filesystem(os.environ["FSSPEC_S3_ENDPOINT_URL"]).put_file(local, url)
    finally:
        Path(local).unlink(missing_ok=True)


def download_then_restore(pipcachex: str, url: str, local: str, target: str) -> None:
    """The baseline of ``restore s3://``: one s3fs download, then a local restore of it."""
    filesystem(os.environ["FSSPEC_S3_ENDPOINT_URL"]).get_file(url, local)
    try:
        _run([pipcachex, "restore", "--cache-dir", target, "--yes", local])
    finally:
        Path(local).unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    """Run one baseline (see the module's docstring)."""
    commands = {"backup-upload": backup_then_upload, "download-restore": download_then_restore}
    if len(argv) != 5 or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    commands[argv[0]](*argv[1:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
