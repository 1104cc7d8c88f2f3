"""The one place pipcachex runs pip: builds the command line, scrubs the environment, reads output.

Everything pip already does well (``cache dir``, ``cache info``, ``cache purge``, downloads,
``pip check``) is delegated here, to ``<python> -m pip --no-input ...`` of the interpreter the user
chose, so pip's own configuration (``PIP_CACHE_DIR``, config files) applies exactly as for pip.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from pipcachex.errors import CacheError, PipError, UsageError

MINIMUM_PIP = Version("20.1")
HTTP_V2_SINCE = Version("23.3")
PYTHON_OPTION_SINCE = Version("22.3")
_CACHE_DISABLED = "cache is disabled"
_VERSION_SNIPPET = "import pip, sys; sys.stdout.write(pip.__version__)"
_PURELIB_SNIPPET = "import sysconfig; print(sysconfig.get_path('purelib'))"


def format_command(command: Sequence[str]) -> str:
    """A command line quoted so it can be pasted into this system's shell."""
    if os.name == "nt":
        return subprocess.list2cmdline(list(command))
    return shlex.join(command)


def pip_error_line(stderr: str) -> str | None:
    """The last ``ERROR:`` line pip wrote (what pip says went wrong), without the prefix."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("ERROR:"):
            return line.removeprefix("ERROR:").strip() or None
    return None


def pip_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment pip runs in: the user's, minus PYTHONPATH, quiet and UTF-8."""
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONPATH", None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@dataclass(frozen=True)
class PipPurgeResult:
    """What ``pip cache purge`` reported: files (and, from pip 26.0, directories) removed."""

    files_removed: int
    directories_removed: int
    output: str


@dataclass(frozen=True)
class PipCacheDir:
    """What ``pip cache dir`` said: the directory, or None when pip's cache is disabled."""

    path: Path | None
    stderr: str


@dataclass
class PipRunner:
    """Runs one interpreter's pip, optionally pointed at an explicit cache directory.

    ``on_command`` is called with each command line before it runs (``--verbose`` shows them).
    """

    python: str = field(default_factory=lambda: sys.executable)
    cache_dir: Path | None = None
    on_command: Callable[[Sequence[str]], None] | None = None
    _version: Version | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.python == sys.executable:
            return  # the interpreter running us exists, even where its path is not ours to stat
        resolved = shutil.which(self.python) if os.sep not in self.python else self.python
        if resolved is None or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
            raise UsageError(f"invalid value for --python: {self.python!r} is not an interpreter")
        self.python = resolved

    def command(self, args: Sequence[str], *, with_cache_dir: bool = True) -> list[str]:
        """Build ``<python> -m pip --no-input [--cache-dir DIR] ARGS``."""
        cmd = [self.python, "-m", "pip", "--no-input"]
        if with_cache_dir and self.cache_dir is not None:
            cmd += ["--cache-dir", str(self.cache_dir)]
        return cmd + list(args)

    def run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        with_cache_dir: bool = True,
        cwd: Path | None = None,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run pip with ``args``; unless ``check`` is false, raise PipError when it fails."""
        self.require_supported()
        return self._execute(self.command(args, with_cache_dir=with_cache_dir), check, cwd, timeout)

    def _execute(
        self, cmd: list[str], check: bool, cwd: Path | None, timeout: float | None
    ) -> subprocess.CompletedProcess[str]:
        if self.on_command is not None:
            self.on_command(cmd)
        try:
            result = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=pip_environment(),
                cwd=cwd,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise UsageError(
                f"invalid value for --python: {self.python!r} ({exc.strerror})"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise PipError(
                f"pip did not finish within {timeout:g}s: {format_command(cmd)}",
                command=cmd,
                returncode=-1,
                stderr=str(exc.stderr or ""),
            ) from exc
        if check and result.returncode != 0:
            if _CACHE_DISABLED in result.stderr:
                raise CacheError(
                    "pip's cache is disabled (--no-cache-dir, PIP_NO_CACHE_DIR or the "
                    "no-cache-dir setting); pass --cache-dir to work on a cache directory anyway"
                )
            said = pip_error_line(result.stderr)
            raise PipError(
                f"pip failed with exit code {result.returncode}: {format_command(cmd)}"
                + (f" ({said})" if said else ""),
                command=cmd,
                returncode=result.returncode,
                stderr=result.stderr,
            )
        return result

    def version(self) -> Version:
        """Return the version of the interpreter's pip, or raise when there is no usable pip."""
        if self._version is None:
            cmd = [self.python, "-c", _VERSION_SNIPPET]
            result = self._execute(cmd, False, None, 60)
            if result.returncode != 0:
                raise PipError(
                    f"no pip is installed for {self.python}",
                    command=cmd,
                    returncode=result.returncode,
                    stderr=result.stderr,
                )
            try:
                self._version = Version(result.stdout.strip())
            except InvalidVersion:
                raise PipError(
                    f"could not read the pip version of {self.python}: {result.stdout.strip()!r}",
                    command=cmd,
                    returncode=result.returncode,
                    stderr=result.stderr,
                ) from None
        return self._version

    def require_supported(self) -> Version:
        """Return pip's version, refusing pips older than 20.1 (they have no ``pip cache``)."""
        version = self.version()
        if version < MINIMUM_PIP:
            raise PipError(
                f"pip {version} of {self.python} is too old: pipcachex needs pip {MINIMUM_PIP} "
                "or newer (python -m pip install -U pip)",
                command=[self.python, "-m", "pip"],
                returncode=1,
                stderr="",
            )
        return version

    def writes_http_v2(self) -> bool:
        """Whether this pip writes the ``http-v2/`` layout (pip 23.3 and newer) or ``http/``."""
        return self.version() >= HTTP_V2_SINCE

    def cache_dir_path(self) -> Path:
        """Return the cache directory pip uses (``pip cache dir``), honouring ``--cache-dir``."""
        output = self.run(["cache", "dir"]).stdout.strip().splitlines()
        if not output:
            raise PipError(
                "pip cache dir printed nothing",
                command=self.command(["cache", "dir"]),
                returncode=0,
                stderr="",
            )
        return Path(output[-1].strip())

    def cache_dir_report(self) -> PipCacheDir:
        """Ask ``pip cache dir`` without failing when pip reports its cache disabled.

        For ``doctor``: pip's stderr is kept, as it says why a cache was disabled (the
        "not owned or is not writable" warning names the directory). Other failures raise.
        """
        result = self.run(["cache", "dir"], check=False)
        if result.returncode != 0 and _CACHE_DISABLED in result.stderr:
            return PipCacheDir(None, result.stderr.strip())
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines:
            raise PipError(
                f"pip cache dir failed with exit code {result.returncode}",
                command=self.command(["cache", "dir"]),
                returncode=result.returncode,
                stderr=result.stderr,
            )
        return PipCacheDir(Path(lines[-1].strip()), result.stderr.strip())

    def config_debug(self) -> str:
        """The output of ``pip config debug`` (every config file pip reads, and its settings).

        Empty when pip cannot say: this is evidence for ``doctor``, never a reason to fail.
        """
        result = self.run(["config", "debug"], check=False, with_cache_dir=False)
        return result.stdout if result.returncode == 0 else ""

    def cache_purge(self) -> PipPurgeResult:
        """Run ``pip cache purge`` and return the counts it printed."""
        output = self.run(["cache", "purge"]).stdout
        files = re.search(r"Files removed:\s*(\d+)", output)
        dirs = re.search(r"Directories removed:\s*(\d+)", output)
        return PipPurgeResult(
            files_removed=int(files.group(1)) if files else 0,
            directories_removed=int(dirs.group(1)) if dirs else 0,
            output=output.strip(),
        )

    # -- re-checking after a clear (``check``) ------------------------------------------------

    def download_no_deps(
        self, requirement: str, dest: Path, *, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``pip download --no-deps -vv -d DEST REQUIREMENT`` (never raises on pip failure).

        ``-vv`` because pip logs connection failures ("Could not fetch URL ... connection
        error") only at debug level, and ``check`` must tell those apart from cache problems.
        """
        args = ["download", "--no-deps", "-vv", "-d", str(dest), requirement]
        return self.run(args, check=False, cwd=dest, timeout=timeout)

    def check_environment(
        self, *, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``pip check`` on the interpreter's own environment (never raises on failure)."""
        return self.run(["check"], check=False, with_cache_dir=False, timeout=timeout)

    def create_venv(self, dest: Path, *, timeout: float | None = None) -> None:
        """Create a venv at ``dest`` with this interpreter (``-m venv --without-pip``).

        No pip goes into it: this runner's pip installs there (``install_into``), so the pip
        and cache being checked are the user's own, and creating the venv stays fast.
        """
        cmd = [self.python, "-m", "venv", "--without-pip", str(dest)]
        result = self._execute(cmd, False, None, timeout)
        if result.returncode != 0:
            raise PipError(
                f"could not create a virtual environment with {self.python}",
                command=cmd,
                returncode=result.returncode,
                stderr=result.stderr or result.stdout,
            )

    def install_into(
        self, venv_python: Path, requirement: str, *, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Install ``requirement`` into the venv of ``venv_python`` with this runner's pip.

        pip 22.3+ installs there with ``--python``; older pips get ``--target`` its
        site-packages. Never raises on pip failure.
        """
        if self.version() >= PYTHON_OPTION_SINCE:
            args = ["--python", str(venv_python), "install", requirement]
        else:
            purelib = self.run_python(venv_python, ["-c", _PURELIB_SNIPPET], timeout=timeout)
            args = ["install", "--target", purelib.stdout.strip(), requirement]
        return self.run(args, check=False, cwd=venv_python.parent, timeout=timeout)

    def run_python(
        self, python: Path | str, args: Sequence[str], *, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -I ARGS`` (isolated from user site and PYTHON* variables); never raises."""
        return self._execute([str(python), "-I", *args], False, None, timeout)
