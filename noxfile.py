"""nox sessions: the test suite on every supported Python, and once with capabilities off.

- ``python -m nox`` (or ``python scripts/test.py``, which installs nox first): the ``tests``
  session on Python 3.10, 3.11, 3.12 and 3.13.
- ``python -m nox -s tests-3.12 -- -m "not slow"``: one interpreter, unit tests only
  (everything after ``--`` goes to pytest).
- ``python -m nox -s capabilities_off``: the suite with every optional system capability
  switched off (``PIPCACHEX_CAPABILITIES_OFF=all``), so the portable fallbacks are what runs.

Each session runs ``scripts/test.py --here`` in its own virtual environment. An interpreter
that is not installed is skipped, except in CI (``CI`` set), where nox fails the run instead.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nox

#: The Python versions pipcachex supports and is tested on (pyproject.toml says the same).
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
TEST_COMMAND = ("python", "scripts/test.py", "--here")

nox.options.sessions = ["tests"]
# A missing interpreter is missing: never download a stand-in that was not asked for.
nox.options.download_python = "never"


def _pyenv_interpreters() -> list[Path]:
    """The ``bin`` directory of the newest pyenv build of each supported Python, if any.

    pyenv's shims run only the versions selected with ``pyenv global``/``local``, so
    ``python3.12`` on ``PATH`` may be a shim that refuses to start; its own build directory
    has the real interpreter.
    """
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = []
    for minor in PYTHONS:
        pattern = re.compile(rf"{re.escape(minor)}\.(\d+)")
        builds = [
            (int(match.group(1)), path)
            for path in (root / "versions").glob(f"{minor}.*")
            if (match := pattern.fullmatch(path.name))
        ]
        if builds:
            newest = max(builds)[1]
            found.append(newest if sys.platform == "win32" else newest / "bin")
    return found


# Found first on PATH, ahead of pyenv's shims (nox looks interpreters up on PATH).
os.environ["PATH"] = os.pathsep.join([*map(str, _pyenv_interpreters()), os.environ.get("PATH", "")])


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite (pytest arguments after ``--``)."""
    session.run(*TEST_COMMAND, *session.posargs)


@nox.session(python="3.11")
def capabilities_off(session: nox.Session) -> None:
    """The whole suite with every optional capability off: the fallbacks must pass it too."""
    session.env["PIPCACHEX_CAPABILITIES_OFF"] = "all"
    session.run(*TEST_COMMAND, *session.posargs)
