"""The test command: ``python scripts/test.py [PYTEST ARGS]``.

Runs the whole suite on every supported Python (3.10 to 3.13) through nox (``noxfile.py``):
each interpreter gets a fresh virtual environment with pipcachex and its test tools. nox is
installed into the running interpreter first if it is missing. An interpreter that cannot be
found is skipped on a developer's machine and fails the run in CI (when ``CI`` is set).

``python scripts/test.py --here [PYTEST ARGS]`` runs the suite on the running interpreter
only, in its own environment; it is what each nox session runs:

1. installs pipcachex (editable) with its test tools;
2. installs the pips the suite drives into ``.test-pips/`` (one that writes the legacy
   ``http/`` layout, one that writes ``http-v2/``, and one from before pip's ``--python``);
3. runs pytest. pytest's exit code 5 (no test was collected) is a failure too.

Everything that needs the network happens in 1 and 2: pytest itself talks only to 127.0.0.1.
Plain Python, so that it runs the same on Windows, macOS and Linux.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_PIPS = ROOT / ".test-pips"
#: ``{directory under .test-pips: pip version}``; tests/conftest.py names the same three.
PIP_VERSIONS = {"legacy": "23.2.1", "current": "26.3", "old": "22.2.2"}
#: pytest's exit code when it collected no test at all.
NO_TESTS_COLLECTED = 5
PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check")


def install_test_pips(target: Path = TEST_PIPS) -> None:
    """Install each test pip into ``target/<name>`` unless that exact version is there."""
    for name, version in PIP_VERSIONS.items():
        spec = f"pip=={version}"
        dest = target / name
        done = dest / f".done-{spec}"
        if done.is_file():
            continue
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run([*PIP, "install", "--quiet", "--target", str(dest), spec], check=True)
        done.touch()


def run_here(pytest_args: Sequence[str]) -> int:
    """Install pipcachex and the test pips for the running interpreter, then run pytest."""
    subprocess.run([*PIP, "install", "--quiet", "-e", f"{ROOT}[test]"], check=True)
    install_test_pips()
    code = subprocess.call([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT)
    if code == NO_TESTS_COLLECTED:
        print("pytest collected no test: that is a failure", file=sys.stderr)
        return 1
    return code


def run_everywhere(pytest_args: Sequence[str]) -> int:
    """Run the ``tests`` nox session on every supported interpreter."""
    if importlib.util.find_spec("nox") is None:
        subprocess.run([*PIP, "install", "--quiet", "nox"], check=True)
    command = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py")]
    return subprocess.call([*command, "--session", "tests", "--", *pytest_args], cwd=ROOT)


def main(argv: Sequence[str]) -> int:
    """``--here`` first: the running interpreter only; otherwise every supported one."""
    args = list(argv)
    if args[:1] == ["--here"]:
        return run_here(args[1:])
    return run_everywhere(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
