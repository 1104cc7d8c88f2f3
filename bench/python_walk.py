"""The least a Python walk of a cache can cost: list every directory and lstat every file.

Usage: ``python bench/python_walk.py CACHE_DIR``; prints the number of files and their bytes.

This is not pipcachex: it recognises nothing, reads nothing and builds no entry. It is a
baseline for ``info``, timed in the same run: ``du -sb`` does the same system calls from C, so
``du`` against this row shows what Python's own directory walk costs on the machine, a cost
every pipcachex command that walks the tree pays too (see ``bench/NOTES.md``).
"""

from __future__ import annotations

import os
import sys


def walk_totals(root: str) -> tuple[int, int]:
    """How many files are below ``root``, and their bytes, without following a symlink."""
    files = size = 0
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            listing = os.scandir(directory)
        except OSError:
            continue
        with listing:
            for item in listing:
                try:
                    if item.is_dir(follow_symlinks=False):
                        stack.append(f"{directory}/{item.name}")
                    else:
                        size += item.stat(follow_symlinks=False).st_size
                        files += 1
                except OSError:
                    continue  # removed while the walk looked: a baseline need not count it
    return files, size


def main() -> None:
    """Walk the directory named on the command line and print its totals."""
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/python_walk.py CACHE_DIR")
    files, size = walk_totals(sys.argv[1])
    print(f"{files} files, {size} bytes")


if __name__ == "__main__":
    main()
