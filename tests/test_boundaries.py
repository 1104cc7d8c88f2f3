"""The package's import boundaries: code outside ``pipcachex/cache/`` uses its public surface."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pipcachex
from pipcachex import cache

PACKAGE = Path(pipcachex.__file__).parent


def _imports(path: Path, root: Path) -> list[str]:
    """Every module ``path`` imports, as dotted names (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    dotted = ["pipcachex", *path.relative_to(root).with_suffix("").parts]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                # Relative to the importing module's package.
                stem = dotted[: len(dotted) - node.level]
                base = ".".join([*stem, base] if base else stem)
            found.append(base)
    return found


def cache_internals_used_outside(root: Path) -> list[str]:
    """``file: module`` for each import of a ``pipcachex.cache`` submodule outside cache/.

    ``root`` is the package directory (``pipcachex/``).
    """
    return [
        f"{path.relative_to(root).as_posix()}: {name}"
        for path in sorted(root.rglob("*.py"))
        if path.relative_to(root).parts[0] != "cache"
        for name in _imports(path, root)
        if name.startswith("pipcachex.cache.")
    ]


def test_nothing_outside_cache_imports_its_modules() -> None:
    assert cache_internals_used_outside(PACKAGE) == []


def test_the_check_finds_an_import_of_a_cache_module(tmp_path: Path) -> None:
    # The check itself must be able to fail: modules that reach into cache/ are named.
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "scan.py").write_text("from pipcachex.cache.fileio import window\n")
    (tmp_path / "render").mkdir()
    (tmp_path / "render" / "probe.py").write_text(
        "from pipcachex.cache import Kind\nfrom ..cache.fileio import window\n"
        "import pipcachex.cache.memo\n"
    )
    assert cache_internals_used_outside(tmp_path) == [
        "render/probe.py: pipcachex.cache.fileio",
        "render/probe.py: pipcachex.cache.memo",
    ]


@pytest.mark.parametrize("name", cache.__all__)
def test_every_public_name_loads(name: str) -> None:
    assert getattr(cache, name) is not None


def test_the_public_names_are_the_ones_mapped() -> None:
    assert sorted(cache.__all__) == sorted(cache._WHERE)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = cache.no_such_name  # type: ignore[attr-defined]
