"""The README and docs show usage exactly as the program prints it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import cachefactory
import packages
from cli_helpers import invoke

ROOT = Path(__file__).resolve().parent.parent
USAGE = re.compile(r"^Usage: pipcachex (\S+) (.*)$", re.MULTILINE)


def _usage_lines(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2).strip()) for m in USAGE.finditer(text)]


def test_readme_usage_matches_help() -> None:
    lines = _usage_lines((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(lines) >= 3
    for command, rest in lines:
        result = invoke([command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, command
        printed = re.search(r"Usage: pipcachex \S+ (.*)", result.stdout)
        assert printed is not None, command
        assert printed.group(1).strip() == rest, command


def test_every_command_is_in_the_readme_and_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    docs = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    help_text = invoke(["--help"], env={"COLUMNS": "200"}).stdout
    listed = help_text[help_text.index("Commands:") :]
    commands = re.findall(r"^  (\w+)\s{2,}", listed, re.MULTILINE)
    assert "list" in commands
    for command in commands:
        assert f"Usage: pipcachex {command} " in readme, command
        assert f"Usage: pipcachex {command} " in docs, f"no docs page shows {command}'s usage"


def _console_examples(text: str) -> list[tuple[list[str], str]]:
    """Each ``$ pipcachex ...`` line of the console blocks in ``text``, with the lines below it."""
    examples: list[tuple[list[str], str]] = []
    for block in re.findall(r"```console\n(.*?)```", text, re.DOTALL):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, printed = chunk.partition("\n")
            examples.append((shlex.split(command), printed))
    return examples


def test_error_examples_show_what_the_program_prints() -> None:
    examples = _console_examples((ROOT / "docs" / "exit-codes.md").read_text(encoding="utf-8"))
    assert len(examples) >= 3
    for words, printed in examples:
        assert words[0] == "pipcachex"
        result = invoke(words[1:])
        assert result.exit_code == 2, words
        assert result.stderr == printed, words


_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_DOC_ROOT = "~/.cache/pip"


def _small_cache(root: Path) -> Path:
    """The two-entry cache the format examples of docs/list.md were printed from."""
    for filename, days in (("alpha_pkg-2.0-py3-none-any.whl", 3), ("gamma-1.2.3.tar.gz", 40)):
        body = packages.build_dist_bytes(packages.by_filename(filename))
        url = f"http://127.0.0.1/files/{filename}"
        entry = cachefactory.write_http_v2_entry(root, url, body, cachefactory.file_headers(body))
        for path in (entry.meta, entry.body):
            assert path is not None
            cachefactory.set_age(path, days * 86400)
    return root


def test_list_format_examples_show_what_the_program_prints(tmp_path: Path) -> None:
    cache = _small_cache(tmp_path / "cache")
    text = (ROOT / "docs" / "list.md").read_text(encoding="utf-8")
    examples = [(w, p) for w, p in _console_examples(text) if "--format" in w and p.strip()]
    assert len(examples) >= 4
    for words, printed in examples:
        result = invoke([*words[1:], "--cache-dir", str(cache)])
        assert result.exit_code == 0, result.stderr
        shown = result.stdout.replace(str(cache), _DOC_ROOT)
        assert _ISO_TIME.sub("<time>", shown) == _ISO_TIME.sub("<time>", printed), words
