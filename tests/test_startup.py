"""Start-up: `--version`, `--help` and shell completion load none of the code that does work."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Run in a fresh interpreter: this test process has long imported everything.
PROBE = """
import json, sys
from pipcachex.cli import main
sys.argv = ["pipcachex", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
allowed = ("pipcachex", "pipcachex.errors")
ours = [m for m in sys.modules if m.startswith("pipcachex") and not m.startswith("pipcachex.cli")]
others = ("rich", "pydantic", "packaging", "msgpack", "tarfile", "platformdirs", "concurrent")
found = {m for m in ours if m not in allowed} | {m for m in others if m in sys.modules}
print(json.dumps(sorted(found)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--version"], {}),
        (["-V"], {}),
        (["--help"], {}),
        (["list", "--help"], {}),
        (["purge", "--help"], {}),
        (
            [],
            {
                "_PIPCACHEX_COMPLETE": "complete_bash",
                "COMP_WORDS": "pipcachex li",
                "COMP_CWORD": "1",
            },
        ),
        (
            [],
            {
                "_PIPCACHEX_COMPLETE": "complete_bash",
                "COMP_WORDS": "pipcachex list --sort ",
                "COMP_CWORD": "3",
            },
        ),
    ],
)
def test_nothing_but_the_command_line_is_loaded(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(done.stderr.strip().splitlines()[-1])
    assert loaded == [], f"pipcachex {' '.join(args)} loaded {loaded}"
