"""What restore knows about the directories it writes into: obstacles, and creating them.

``Obstacles`` answers, at plan time, whether a file's directory is safe to write into (a
symlink or file where a directory belongs is refused) and whether it exists at all;
``Directories`` creates what is missing while the files are written. Both remember what they
found so that each directory costs one system call, up to ``MEMO_LIMIT`` directories.
"""

from __future__ import annotations

import os
import stat

#: What is known about directories is forgotten past this many: every entry has a directory of
#: its own, and at 100,000 entries remembering them all was ~18 MB at the peak. Files come
#: grouped by directory, so forgetting costs an occasional lstat or mkdir, nothing more.
MEMO_LIMIT = 8192


class Obstacles:
    """Says why a file cannot be written safely: a symlink or file where a directory should be.

    Files share directories, so each directory is looked at once (while remembered, see
    ``MEMO_LIMIT``). Directories that do not exist are remembered in ``absent``: nothing below
    them needs looking at.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._known: dict[str, str | None] = {"": None}
        self.absent: set[str] = set()

    def __call__(self, relative: str) -> str | None:
        return self.directory(relative.rpartition("/")[0])

    def directory(self, directory: str) -> str | None:
        """Why files cannot go into ``directory`` (relative to the root), or None."""
        if directory in self._known:
            return self._known[directory]
        parent = directory.rpartition("/")[0]
        reason = self.directory(parent)
        if len(self._known) >= MEMO_LIMIT:
            self._known = {"": None, parent: reason}
            self.absent.intersection_update((parent,))
        if reason is None and parent in self.absent:
            self.absent.add(directory)
        elif reason is None:
            current = os.path.join(self.root, directory)
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                self.absent.add(directory)
            except OSError as exc:
                reason = f"{current} cannot be read: {exc.strerror or exc}"
            else:
                if not stat.S_ISDIR(info.st_mode):
                    reason = _not_a_directory(current)
        self._known[directory] = reason
        return reason


def _not_a_directory(path: str) -> str:
    return f"{path} is not a directory (a link or file is in the way)"


class Directories:
    """Makes sure a file's directory exists and is a real directory, creating what is missing.

    One ``mkdir`` per directory that is missing, one ``lstat`` per one that exists; a symlink
    or file in the way is refused (the reason is what ``ensure`` returns).
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._known: dict[str, str | None] = {}

    def ensure(self, directory: str) -> str | None:
        """Create ``directory`` (relative to the root) and its parents; why it cannot, or None."""
        if directory in self._known:
            return self._known[directory]
        reason: str | None = None
        if not directory:
            # The cache root itself may be a symlink (a cache moved to a bigger disk).
            try:
                os.makedirs(self.root, exist_ok=True)
            except OSError as exc:
                reason = exc.strerror or str(exc)
        else:
            parent = directory.rpartition("/")[0]
            reason = self.ensure(parent)
            if len(self._known) >= MEMO_LIMIT:
                self._known = {parent: reason}
            if reason is None:
                path = f"{self.root}/{directory}"
                try:
                    os.mkdir(path)
                except FileExistsError:
                    try:
                        if not stat.S_ISDIR(os.lstat(path).st_mode):
                            reason = _not_a_directory(path)
                    except OSError as exc:
                        reason = exc.strerror or str(exc)
                except OSError as exc:
                    reason = exc.strerror or str(exc)
        self._known[directory] = reason
        return reason
