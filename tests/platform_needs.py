"""What a test needs of the operating system, read from its source, and a skip where it is missing.

The suite runs on Linux, macOS and Windows. A test that makes a symlink, kills a child with
``SIGKILL``, gives a file to another user or takes its permissions away needs a call that a
Windows runner lacks (or that means little there). Rather than a condition repeated above each
such test, ``conftest.py`` asks :func:`missing_need` about every collected test: the test's own
source and that of its fixtures are searched for the calls in :data:`NEEDS`, and a test that
uses one the system lacks is skipped with a reason naming it. Where everything is present (on
Linux, as root or not) nothing is skipped by this. A helper function (whose source is not the
test's) calls :func:`require` instead, which skips the running test the same way.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import signal
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Need:
    """One thing of the system a test may need: the calls that show it, and how to tell."""

    name: str
    calls: tuple[str, ...]
    reason: str


NEEDS = (
    Need(
        "symlinks",
        ("symlink_to(", "os.symlink("),
        "needs symbolic links (os.symlink), which this user cannot make on this system",
    ),
    Need("sigkill", ("SIGKILL",), "needs signal.SIGKILL (POSIX)"),
    Need("geteuid", ("os.geteuid(", "os.getuid("), "needs os.geteuid (POSIX user ids)"),
    Need("chown", ("os.chown(",), "needs os.chown (POSIX file owners)"),
    Need(
        "file_modes",
        # Modes that take access away; making a file executable (0o755) is harmless anywhere.
        ("chmod(0o000", "chmod(0o555", "chmod(0o444", "chmod(0o500", "chmod(0o700", "chmod(0o600"),
        "needs file modes (chmod), which mean little on this system",
    ),
    Need("mkfifo", ("os.mkfifo(",), "needs os.mkfifo (POSIX FIFOs)"),
    Need("resource", ("resource.",), "needs the resource module (POSIX resource limits)"),
    Need("fork", ("os.fork(",), "needs os.fork (POSIX)"),
)


def _can_symlink() -> bool:
    with tempfile.TemporaryDirectory(prefix="pipcachex-symlink-probe-") as probe:
        try:
            os.symlink(probe, Path(probe) / "link", target_is_directory=True)
        except (OSError, NotImplementedError, AttributeError):
            return False
    return True


@functools.cache
def this_system() -> Mapping[str, bool]:
    """Which of :data:`NEEDS` this system meets, by name (probed once)."""
    return {
        "symlinks": _can_symlink(),
        "sigkill": hasattr(signal, "SIGKILL"),
        "geteuid": hasattr(os, "geteuid"),
        "chown": hasattr(os, "chown"),
        # The system's own answer, not pipcachex's capability, which the run with every
        # capability off switches off although chmod still works there.
        "file_modes": os.name == "posix",
        "mkfifo": hasattr(os, "mkfifo"),
        "resource": importlib.util.find_spec("resource") is not None,
        "fork": hasattr(os, "fork"),
    }


@functools.cache
def _source(function: Callable[..., object]) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


def missing_need(
    functions: Sequence[Callable[..., object]], have: Mapping[str, bool] | None = None
) -> str | None:
    """The reason to skip a test whose code is ``functions`` (test, then fixtures), or None.

    ``have`` says what the system offers (default: :func:`this_system`).
    """
    offered = this_system() if have is None else have
    sources = [_source(function) for function in functions]
    for need in NEEDS:
        if offered.get(need.name, True):
            continue
        if any(call in source for source in sources for call in need.calls):
            return need.reason
    return None


def require(name: str) -> None:
    """Skip the running test, naming the need, where this system lacks ``name`` (a helper's)."""
    import pytest

    if not this_system()[name]:
        pytest.skip(next(need.reason for need in NEEDS if need.name == name))
