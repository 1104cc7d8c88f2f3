"""Backups of pip's cache: the archive format, writing, reading, listing, retention, restore.

A backup is a tar written in one pass and verified in one pass (``format``, ``writer``,
``reader``; specified in docs/backup-format.md), kept in a local directory or any fsspec
location (``location``), found and pruned by ``catalog`` and put back by ``restore`` (from a
remote location, read from a local copy made by ``download``). This
module is the package's surface; nothing outside it imports the modules inside.
"""

from pipcachex.backup.catalog import (
    BACKUP_DIR_ENV,
    ArchiveRef,
    BackupInfo,
    BackupList,
    PrunePlan,
    PruneResult,
    default_backup_dir,
    execute_prune,
    list_backups,
    plan_prune,
    resolve_archive,
)
from pipcachex.backup.download import LocalCopy
from pipcachex.backup.format import ArchiveError, BackupHeader, Compression
from pipcachex.backup.location import StorageError, redact
from pipcachex.backup.restore import (
    Problem,
    RestoreError,
    RestorePlan,
    RestoreResult,
    apply_restore,
    dry_run_result,
    plan_restore,
)
from pipcachex.backup.writer import BackupError, BackupResult, backup_entries

__all__ = [
    "BACKUP_DIR_ENV",
    "ArchiveError",
    "ArchiveRef",
    "BackupError",
    "BackupHeader",
    "BackupInfo",
    "BackupList",
    "BackupResult",
    "Compression",
    "LocalCopy",
    "Problem",
    "PrunePlan",
    "PruneResult",
    "RestoreError",
    "RestorePlan",
    "RestoreResult",
    "StorageError",
    "apply_restore",
    "backup_entries",
    "default_backup_dir",
    "dry_run_result",
    "execute_prune",
    "list_backups",
    "plan_prune",
    "plan_restore",
    "redact",
    "resolve_archive",
]
