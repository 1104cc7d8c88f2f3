"""Running pipcachex as another, unprivileged user, whatever the checkout's permissions.

Permission bits mean nothing to root, so tests of unreadable files run pipcachex as ``nobody``
(uid 65534) when the suite runs as root. That user may not be able to read the checkout or its
virtual environment at all (a checkout under a directory of mode 0700, as in CI), so it runs a
copy: pipcachex and every distribution it needs at run time, copied once per session into a
directory anyone can read, put on ``PYTHONPATH`` of the real interpreter behind the venv. Where
that interpreter itself lies where the user cannot reach (pyenv's builds under ``/root``), the
interpreter is copied too: its binary, its ``libpython`` and its standard library.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

import pipcachex

NOBODY = 65534
#: Another unprivileged user, the owner of files ``nobody`` must not be able to read.
SOMEONE_ELSE = 65533


def _runtime_distributions() -> list[metadata.Distribution]:
    """pipcachex's distribution and every one it needs at run time (no extras)."""
    found: dict[str, metadata.Distribution] = {}
    pending = ["pipcachex"]
    while pending:
        name = re.sub(r"[-_.]+", "-", pending.pop()).lower()
        if name in found:
            continue
        distribution = metadata.distribution(name)
        found[name] = distribution
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return list(found.values())


def copy_runtime(dest: Path) -> Path:
    """Copy pipcachex and its run-time dependencies into ``dest`` (readable by anyone)."""
    shutil.copytree(
        Path(pipcachex.__file__).parent,
        dest / "pipcachex",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for distribution in _runtime_distributions():
        if distribution.metadata["Name"].lower() == "pipcachex":
            continue  # installed editable: its files are the checkout, copied above
        for file in distribution.files or []:
            if ".." in file.parts or file.parts[0] == "pipcachex":
                continue  # scripts outside site-packages
            source = Path(str(distribution.locate_file(file)))
            if source.is_file():
                target = dest / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


#: Parts of the standard library pipcachex never needs, left out of a copied interpreter.
_STDLIB_UNUSED = ("site-packages", "test", "tests", "idlelib", "tkinter", "turtledemo", "lib2to3")


def copy_interpreter(dest: Path, runtime: Path) -> tuple[Path, Path]:
    """Copy the interpreter behind this venv into ``dest``: ``(its binary, its library dir)``.

    The copy finds its standard library beside itself (``lib/pythonX.Y``); its ``libpython``
    is found through ``LD_LIBRARY_PATH``, as the original's run path points at the original.
    Its ``site-packages`` holds a ``.pth`` naming ``runtime`` (the copy of pipcachex and its
    dependencies), so even ``python -I -m pip`` (which ignores ``PYTHONPATH``) finds pip.
    """
    base = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (dest / "bin").mkdir(parents=True)
    python = dest / "bin" / version
    shutil.copy2(os.path.realpath(sys.executable), python)
    lib = dest / "lib"
    lib.mkdir()
    for shared in (base / "lib").glob("libpython*.so*"):
        shutil.copy2(shared, lib / shared.name, follow_symlinks=False)
    shutil.copytree(
        base / "lib" / version,
        lib / version,
        symlinks=True,
        ignore=shutil.ignore_patterns("__pycache__", *_STDLIB_UNUSED),
    )
    site = lib / version / "site-packages"
    site.mkdir()
    (site / "pipcachex-runtime.pth").write_text(f"{runtime}\n", encoding="utf-8")
    for path in [dest, *dest.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or path == python else 0o644)
    return python, lib


@dataclass(frozen=True)
class Runner:
    """How to run ``python -m pipcachex`` as ``uid`` (None: as this very user, in-place)."""

    uid: int | None
    python: str
    pythonpath: str | None
    #: Where a copied interpreter's ``libpython`` is (None: the interpreter is not a copy).
    library_path: str | None = None

    def command(self, args: Sequence[str]) -> list[str]:
        """The command line running ``pipcachex ARGS`` as this runner's user."""
        command = [self.python, "-m", "pipcachex", *args]
        if self.uid is None:
            return command
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "runner() checks for setpriv"
        return [setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", *command]

    def env(self) -> dict[str, str]:
        """The environment: this one, with ``PYTHONPATH`` the copy (or nothing)."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if self.pythonpath is not None:
            env["PYTHONPATH"] = self.pythonpath
        if self.library_path is not None:
            env["LD_LIBRARY_PATH"] = self.library_path
        return env

    def run(self, args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run ``pipcachex ARGS`` in ``cwd`` (a directory this runner's user can enter)."""
        return subprocess.run(
            self.command(args), capture_output=True, text=True, check=False, cwd=cwd,
            env=self.env(),
        )  # fmt: skip


def runner(copy_dir: Path) -> Runner | str:
    """A runner that cannot read what its user may not read, or why there is none.

    As root: ``nobody`` running the interpreter behind this venv on a copy in ``copy_dir``.
    Otherwise: this user, running pipcachex in place (mode 0000 still stops its owner).
    """
    if os.geteuid() != 0:
        return Runner(None, sys.executable, None)
    if shutil.which("setpriv") is None:
        return "needs setpriv (util-linux) to drop root"
    python = os.path.realpath(sys.executable)
    runtime = copy_runtime(copy_dir / "runtime")
    copied = Runner(NOBODY, python, str(runtime))
    if copied.run(["--help"], cwd=copy_dir).returncode == 0:
        return copied
    # The interpreter (or its libpython) lies where the user cannot reach: run a copy of it.
    own_python, library = copy_interpreter(copy_dir / "interpreter", runtime)
    copied = Runner(NOBODY, str(own_python), str(runtime), str(library))
    probe = copied.run(["--help"], cwd=copy_dir)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["(no output)"])[-1]
        return (
            f"uid {NOBODY} cannot run {python}, nor a copy of it, with a copy of pipcachex: {last}"
        )
    return copied
