"""Reading ``pip config debug``: every config file pip reads, its settings, and pip's variables.

The output is pip's own account of its configuration, so ``doctor`` never has to guess which
files a given pip reads (that changed between versions and depends on ``PIP_CONFIG_FILE``)::

    env_var:
      PIP_NO_CACHE_DIR='1'
    env:
      /tmp/pip.conf, exists: True
        global.no-cache-dir: true
    global:
      /etc/xdg/pip/pip.conf, exists: False
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

_EXISTS = ", exists: "
#: The variants ``pip config`` can edit, and the option that selects each.
EDITABLE_VARIANTS = {"global": "--global", "user": "--user", "site": "--site"}


@dataclass(frozen=True)
class ConfigFile:
    """One config file pip looks for: its variant (``env``, ``global``, ``user``, ``site``)."""

    variant: str
    path: str
    exists: bool


@dataclass(frozen=True)
class ConfigSetting:
    """One ``section.key: value`` line pip read from ``file``."""

    variant: str
    file: str
    key: str
    value: str

    @property
    def option(self) -> str:
        """The option name without its section (``no-cache-dir``)."""
        return self.key.partition(".")[2]

    @property
    def section(self) -> str:
        """The section the option was set in (``global``, ``install``...)."""
        return self.key.partition(".")[0]


@dataclass(frozen=True)
class PipConfig:
    """What ``pip config debug`` printed, parsed."""

    variables: tuple[tuple[str, str], ...] = ()
    files: tuple[ConfigFile, ...] = ()
    settings: tuple[ConfigSetting, ...] = ()

    def variable(self, name: str) -> str | None:
        """The value pip sees for the environment variable ``name``, or None."""
        return next((value for key, value in self.variables if key == name), None)

    def settings_of(self, option: str) -> tuple[ConfigSetting, ...]:
        """Every setting of ``option`` (in any section), in the order pip read them."""
        return tuple(s for s in self.settings if s.option == option)

    def is_last_of_variant(self, setting: ConfigSetting) -> bool:
        """Whether ``pip config --<variant>`` edits the file ``setting`` is in (the last one)."""
        same = [f.path for f in self.files if f.variant == setting.variant]
        return bool(same) and same[-1] == setting.file


def parse_config_debug(text: str) -> PipConfig:
    """Parse the output of ``pip config debug``; lines it does not understand are skipped."""
    variables: list[tuple[str, str]] = []
    files: list[ConfigFile] = []
    settings: list[ConfigSetting] = []
    variant = ""
    current: ConfigFile | None = None
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if not stripped:
            continue
        if indent == 0 and stripped.endswith(":"):
            variant, current = stripped[:-1], None
        elif variant == "env_var" and indent >= 2 and "=" in stripped:
            name, _, value = stripped.partition("=")
            variables.append((name, _unquote(value)))
        elif indent == 2 and _EXISTS in stripped:
            path, _, exists = stripped.rpartition(_EXISTS)
            current = ConfigFile(variant, path, exists.strip() == "True")
            files.append(current)
        elif indent >= 4 and current is not None and ": " in stripped:
            key, _, value = stripped.partition(": ")
            settings.append(ConfigSetting(variant, current.path, key, value))
    return PipConfig(tuple(variables), tuple(files), tuple(settings))


def _unquote(value: str) -> str:
    # pip prints the value with repr(): usually single quotes around plain text.
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def unset_command(python: str, config: PipConfig, setting: ConfigSetting) -> str:
    """The exact command that removes ``setting`` from the file it is in.

    ``pip config unset --<variant>`` edits only the last file of a variant, and no variant
    option reaches the ``PIP_CONFIG_FILE`` file; for those the line is deleted with ``sed``.
    """
    flag = EDITABLE_VARIANTS.get(setting.variant)
    if flag is not None and config.is_last_of_variant(setting):
        return shlex.join([python, "-m", "pip", "config", "unset", flag, setting.key])
    pattern = f"/^[[:space:]]*{setting.option}[[:space:]]*[=:]/d"
    return shlex.join(["sed", "-i.bak", pattern, setting.file])
