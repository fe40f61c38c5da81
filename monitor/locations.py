"""Where the configuration and the state database are: one answer for the daemon and
every command, with the reason for it.

The configuration directory (feeds.yaml, rules.yaml), first found wins:

1. ``--config-dir``
2. ``$MONITOR_CONFIG_DIR``
3. ``$CONFIGURATION_DIRECTORY`` (systemd's ``ConfigurationDirectory=``; the first entry)
4. ``/etc/news-monitor``, when it holds feeds.yaml
5. the current directory

The state database, first found wins:

1. ``--db``
2. ``$MONITOR_DB``
3. ``$STATE_DIRECTORY/monitor.db`` (systemd's ``StateDirectory=``; the first entry)
4. ``/var/lib/news-monitor/monitor.db``, when it exists
5. ``./var/monitor.db``

A database is a SQLite file (a path or ``sqlite:///path``) or a ``postgresql://`` URL, used
as given; `Location.shown` never shows its password. The two system directories can be
moved with ``$MONITOR_SYSTEM_CONFIG_DIR`` and ``$MONITOR_SYSTEM_STATE_DIR`` (for packages
that install elsewhere, and for tests, which must never read the host's /etc or /var/lib).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from monitor.config import FEEDS_FILE
from monitor.redact import redact_url

SYSTEM_CONFIG_DIR = Path("/etc/news-monitor")
SYSTEM_STATE_DIR = Path("/var/lib/news-monitor")
DB_FILE = "monitor.db"
LOCAL_DB = Path("var") / DB_FILE


@dataclass(frozen=True)
class Location:
    """A resolved place and where it came from (e.g. ``"$MONITOR_DB"``)."""

    value: str
    source: str

    @property
    def path(self) -> Path:
        return Path(self.value)

    def shown(self) -> str:
        """The value for output: a URL without its password, a path made absolute."""
        if "://" in self.value:
            return redact_url(self.value)
        return os.path.abspath(self.value)

    def describe(self, what: str) -> str:
        """One line for the operator: ``database /var/lib/… (from $STATE_DIRECTORY, …)``."""
        return f"{what} {self.shown()} (from {self.source})"


def system_config_dir() -> Path:
    return Path(os.environ.get("MONITOR_SYSTEM_CONFIG_DIR") or SYSTEM_CONFIG_DIR)


def system_state_dir() -> Path:
    return Path(os.environ.get("MONITOR_SYSTEM_STATE_DIR") or SYSTEM_STATE_DIR)


def _systemd_dir(variable: str) -> str | None:
    """The first directory of a systemd ``*_DIRECTORY`` variable (a ':'-separated list)."""
    return (os.environ.get(variable) or "").split(":")[0] or None


def config_location(explicit: str | None = None) -> Location:
    """The configuration directory (see the module docstring for the order)."""
    if explicit:
        return Location(explicit, "--config-dir")
    if os.environ.get("MONITOR_CONFIG_DIR"):
        return Location(os.environ["MONITOR_CONFIG_DIR"], "$MONITOR_CONFIG_DIR")
    systemd = _systemd_dir("CONFIGURATION_DIRECTORY")
    if systemd:
        return Location(systemd, "the service's ConfigurationDirectory, $CONFIGURATION_DIRECTORY")
    system = system_config_dir()
    if _is_file(system / FEEDS_FILE):
        return Location(str(system), f"the system default, {system} holds {FEEDS_FILE}")
    return Location(str(Path.cwd()), "the current directory")


def db_location(explicit: str | None = None) -> Location:
    """The state database (see the module docstring for the order)."""
    if explicit:
        return Location(explicit, "--db")
    if os.environ.get("MONITOR_DB"):
        return Location(os.environ["MONITOR_DB"], "$MONITOR_DB")
    systemd = _systemd_dir("STATE_DIRECTORY")
    if systemd:
        return Location(
            str(Path(systemd) / DB_FILE), "the service's StateDirectory, $STATE_DIRECTORY"
        )
    system = system_state_dir() / DB_FILE
    if _is_file(system):
        return Location(str(system), "the system default, found there")
    return Location(
        str(LOCAL_DB),
        f"the default for a checkout: no --db, $MONITOR_DB or $STATE_DIRECTORY, and no {system}",
    )


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a directory we may not enter: not ours to use
        return False
