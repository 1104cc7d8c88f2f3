"""The whole purge workflow on a plan: ``run_purge``.

Make sure the index answers (``--check``), ask, take the cache lock, back the entries up,
call ``execute_purge`` and check the purged projects again; nothing is deleted before it is
safe to. The plan and the deleting are ``pipcachex.operations.purge``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from pipcachex.cache import CacheEntry
from pipcachex.errors import PipcachexError
from pipcachex.lock import cache_lock
from pipcachex.operations.purge import PurgePlan, PurgeResult, execute_purge

if TYPE_CHECKING:
    from pipcachex.operations.check import CheckResult
    from pipcachex.target import CacheTarget


class IndexUnanswered(PipcachexError):
    """``purge --check`` found, before deleting anything, that pip cannot fetch a project."""


class ProgressBar(Protocol):
    """What a progress display offers a service: record how much is done."""

    def update(self, completed: int, total: int | None = None) -> None:
        """Record that ``completed`` units of ``total`` are done."""


class ProgressPhases(Protocol):
    """Opens a progress display for one phase of the work: ``Output.progress``."""

    def __call__(
        self, description: str, total: int | None = None, *, unit: Literal["items", "bytes"] = ...
    ) -> AbstractContextManager[ProgressBar]:
        """A display of ``description``, counting items or bytes up to ``total``."""


@dataclass(frozen=True)
class PurgeOutcome:
    """What ``run_purge`` did: the purge's result, the backup written first, the check after."""

    result: PurgeResult
    backup: str | None = None
    check: CheckResult | None = None

    @property
    def ok(self) -> bool:
        """Whether every file went and, with ``--check``, every project passed."""
        return not self.result.failed and (self.check is None or self.check.ok)


def run_purge(
    plan: PurgePlan,
    target: CacheTarget,
    *,
    confirm: Callable[[PurgePlan], None],
    backup: bool = False,
    check: bool = False,
    progress: ProgressPhases | None = None,
) -> PurgeOutcome:
    """Carry out ``plan`` with everything around it; nothing is deleted before it is safe to.

    In order: with ``check``, make sure pip still fetches each project to be purged (raising
    ``IndexUnanswered`` otherwise); ``confirm`` (which raises to say no); take the cache lock;
    with ``backup``, write the entries into a verified archive (a ``BackupError`` ends it
    there); delete; release the lock; with ``check``, prove pip fetches each purged project.
    """
    if not plan.remove:
        return PurgeOutcome(execute_purge(plan))
    phase = progress or _no_progress
    if check:
        with phase("Asking the index", None):
            _ensure_index_answers(target, plan.remove)
    confirm(plan)
    archive = None
    with cache_lock(plan.root, command="purge"):
        if backup:
            from pipcachex.backup import backup_entries

            with phase("Backing up", None, unit="bytes") as bar:
                archive = backup_entries(
                    plan.root,
                    plan.remove,
                    pip_version=_pip_version(target),
                    on_progress=bar.update,
                ).archive
        with phase("Removing entries", len(plan.remove)) as bar:
            result = execute_purge(plan, target.pip, on_progress=bar.update)
    checked = None
    if check:
        from pipcachex.operations.check import check_after_purge

        with phase("Checking purged projects", None) as bar:
            checked = check_after_purge(target, result.removed, on_project=bar.update)
    return PurgeOutcome(result, archive, checked)


def _ensure_index_answers(target: CacheTarget, entries: Iterable[CacheEntry]) -> None:
    """Raise ``IndexUnanswered`` unless pip finds every named project on its index.

    ``pip index versions`` reads just the project's page, and ``--no-cache-dir`` makes it ask
    the index rather than the very cache about to be purged. A pip older than 21.2 has no
    ``index`` command: it downloads the project instead, as the check afterwards will.
    """
    pip = target.pip
    modern = pip.require_supported().release >= (21, 2)
    for name in sorted({e.package for e in entries if e.package is not None}):
        with tempfile.TemporaryDirectory(prefix="pipcachex-probe-") as work:
            if modern:
                args = ["index", "versions", name, "--no-cache-dir"]
            else:
                args = ["download", "--no-deps", "--no-cache-dir", "-d", work, name]
            answer = pip.run(args, check=False, with_cache_dir=False, timeout=300)
        if answer.returncode != 0:
            said = [line for line in answer.stderr.splitlines() if line.strip()]
            raise IndexUnanswered(
                f"--check: pip could not fetch {name} from its index, so nothing was removed"
                + (f" ({said[-1].strip()})" if said else ""),
                details=answer.stderr.strip() or None,
            )


def _pip_version(target: CacheTarget) -> str | None:
    # Recorded in a backup's manifest for information only: a backup must not fail for it.
    try:
        return str(target.pip.version())
    except PipcachexError:
        return None


class _NoBar:
    def update(self, completed: int, total: int | None = None) -> None:
        """Nobody is watching."""


class _NoProgress(AbstractContextManager[ProgressBar]):
    def __enter__(self) -> ProgressBar:
        return _NoBar()

    def __exit__(self, *exc: object) -> None:
        return None


def _no_progress(
    description: str, total: int | None = None, *, unit: Literal["items", "bytes"] = "items"
) -> AbstractContextManager[ProgressBar]:
    return _NoProgress()
