"""Build the release and prove it installs: ``python scripts/check_release.py [--keep DIR]``.

1. ``python -m build`` makes the sdist and the wheel; ``twine check --strict`` checks their
   metadata (what PyPI would show);
2. a fresh virtual environment, outside the checkout, gets the wheel (and its dependencies)
   installed with its own pip cache;
3. the installed ``pipcachex`` must print the version the wheel is named after and be
   imported from that environment;
4. that environment's pip builds the sdist into a wheel with a cache of its own, which then
   holds a real locally built wheel; the installed ``pipcachex`` must list it (``info``,
   ``list``, ``verify``), and ``purge --yes`` must remove it.

Needs the ``release`` extra (``build``, ``twine``) in the running interpreter and the network
(or a package index) for the dependencies. Plain Python, so it runs on every platform.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import venv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipcachex.render.words import count_noun

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str | Path, cwd: Path, capture: bool = False) -> str:
    """Run a command (printing it first); fail with its output when it fails."""
    print("+", " ".join(map(str, command)), flush=True)
    result = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=capture,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"failed with exit {result.returncode}: {' '.join(map(str, command))}\n"
            f"{result.stdout or ''}{result.stderr or ''}"
        )
    return result.stdout or ""


def pipcachex_json(exe: Path, *args: str, cwd: Path) -> Any:
    """``pipcachex ARGS --json``, parsed."""
    return json.loads(run(exe, *args, "--json", cwd=cwd, capture=True))


def check(work: Path) -> None:
    """Build into ``work``, install into a venv there, and try the installed command."""
    dist = work / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT, cwd=work)
    built = sorted(dist.iterdir())
    wheels = [p for p in built if p.suffix == ".whl"]
    sdists = [p for p in built if p.name.endswith(".tar.gz")]
    if len(wheels) != 1 or len(sdists) != 1:
        raise SystemExit(f"expected one wheel and one sdist, got {[p.name for p in built]}")
    run(sys.executable, "-m", "twine", "check", "--strict", *built, cwd=work)
    version = wheels[0].name.split("-")[1]

    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    scripts = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    python = scripts / ("python.exe" if sys.platform == "win32" else "python")
    exe = scripts / ("pipcachex.exe" if sys.platform == "win32" else "pipcachex")
    pip = (python, "-m", "pip", "--disable-pip-version-check")
    run(*pip, "install", "--quiet", wheels[0], cwd=work)

    shown = run(exe, "--version", cwd=work, capture=True).strip()
    if shown != f"pipcachex {version}" and shown != version:
        raise SystemExit(f"pipcachex --version says {shown!r}, the wheel is {version}")
    where = run(python, "-c", "import pipcachex; print(pipcachex.__file__)", cwd=work, capture=True)
    if not Path(where.strip()).resolve().is_relative_to(env_dir.resolve()):
        raise SystemExit(f"pipcachex was imported from {where.strip()}, not the new venv")

    # HTTP responses are cached only when the index allows it, a wheel built from an sdist
    # always: build ours, so the cache surely holds one entry, of a known project and version.
    cache = work / "pip-cache"
    out = work / "built"
    run(*pip, "--cache-dir", cache, "wheel", "-q", "--no-deps", "-w", out, sdists[0], cwd=work)
    options = ("--cache-dir", str(cache), "--python", str(python))
    info = pipcachex_json(exe, "info", *options, cwd=work)
    listed = pipcachex_json(exe, "list", *options, cwd=work)["entries"]
    ours = [e for e in listed if e["kind"] == "built-wheel" and e["package"] == "pipcachex"]
    counted = f"{count_noun(len(listed), 'entry')}, {count_noun(len(ours), 'built wheel')}"
    print(f"the new pip cache: {counted} of pipcachex")
    if info["schema"] != 1 or [e["version"] for e in ours] != [version]:
        raise SystemExit(f"pipcachex does not list the wheel pip built and cached: {listed}")
    pipcachex_json(exe, "verify", *options, cwd=work)
    purged = pipcachex_json(exe, "purge", "--yes", *options, cwd=work)
    left = pipcachex_json(exe, "list", *options, cwd=work)["entries"]
    if [e for e in left if e["kind"] == "built-wheel"] or purged["removed_entries"] < 1:
        raise SystemExit(f"purge removed {purged['removed_entries']}, and left {left}")
    print(f"the installed pipcachex {version} works: purge removed {purged['removed_entries']}")


def main(argv: Sequence[str]) -> int:
    """Check the release in a temporary directory (or ``--keep DIR``, left for a look)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in DIR and leave it there")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        check(args.keep.resolve())
        return 0
    # The checkout must not be the current directory, or Python would import it from there.
    with tempfile.TemporaryDirectory(prefix="pipcachex-release-") as work:
        os.chdir(work)
        check(Path(work).resolve())
        os.chdir(ROOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
