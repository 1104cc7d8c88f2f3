"""The one exception family pipcachex raises; the CLI turns each into a message and exit code."""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class PipcachexError(Exception):
    """Base of every error pipcachex reports to the user; carries the exit code to use."""

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str, *, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class UsageError(PipcachexError):
    """Bad usage or bad input (a malformed age, size, specifier or path): exit 2."""

    exit_code = EXIT_USAGE


class PipError(PipcachexError):
    """A pip subprocess failed; keeps the command, its exit code and its stderr."""

    def __init__(
        self, message: str, *, command: Sequence[str], returncode: int, stderr: str
    ) -> None:
        super().__init__(message, details=stderr.strip() or None)
        self.command = list(command)
        self.returncode = returncode
        self.stderr = stderr


class CacheError(PipcachexError):
    """The cache directory cannot be used: unreadable, missing, disabled or not a pip cache."""


class UnsafeCacheError(CacheError):
    """A destructive command refused a directory that does not look like a pip cache."""


class ConfirmationRefused(PipcachexError):
    """A destructive command was not confirmed (no terminal and no --yes, or the user said no)."""

    exit_code = EXIT_USAGE


class Aborted(PipcachexError):
    """The user answered no at a confirmation prompt; nothing was changed."""
