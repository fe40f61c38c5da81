"""One way to find the state: the daemon and every command look for the configuration and
the database in the same places, in the same order, and say which they used.

Every test here moves the system directories (/etc/news-monitor, /var/lib/news-monitor)
into its own tmp_path with $MONITOR_SYSTEM_CONFIG_DIR and $MONITOR_SYSTEM_STATE_DIR, and
clears the variables a shell or a systemd unit may have set, so no test reads the host's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.locations import Location, config_location, db_location
from monitor.store import open_store
from tests.support.site import FeedEntry, NewsSite, rss_feed

ROOT = Path(__file__).resolve().parents[2]
LOCATION_VARIABLES = (
    "MONITOR_DB",
    "MONITOR_CONFIG_DIR",
    "STATE_DIRECTORY",
    "CONFIGURATION_DIRECTORY",
)
FILE_RULES = """\
entities:
  iran: {aliases: [Iran, Tehran]}
channels:
  out: {type: file, path: %s}
rules:
  - {name: iran, query: '@iran', channels: [out]}
"""


@dataclass
class Host:
    """A host's directories, all under tmp_path: the system's and an operator's shell."""

    etc: Path  # stands for /etc/news-monitor
    lib: Path  # stands for /var/lib/news-monitor
    home: Path  # where the operator runs commands
    root: Path

    def env(self, **extra: str) -> dict[str, str]:
        return dict(os.environ, PYTHONPATH=str(ROOT), **extra)

    def monitor(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor", *args],
            env=self.env(**(env or {})),
            cwd=cwd or self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    for name in LOCATION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    host = Host(tmp_path / "etc", tmp_path / "lib", tmp_path / "home", tmp_path)
    for d in (host.etc, host.lib, host.home):
        d.mkdir()
    monkeypatch.setenv("MONITOR_SYSTEM_CONFIG_DIR", str(host.etc))
    monkeypatch.setenv("MONITOR_SYSTEM_STATE_DIR", str(host.lib))
    monkeypatch.chdir(host.home)
    return host


def write_config(directory: Path, file_path: str = "alerts.jsonl", feeds: str = "[]") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "feeds.yaml").write_text(f"feeds: {feeds}\n")
    (directory / "rules.yaml").write_text(FILE_RULES % file_path)
    return directory


# --------------------------------------------------------------------------- order


def test_each_configuration_source_beats_every_one_below_it(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Layers added from the weakest up: each new one wins over all that came before."""
    assert config_location() == Location(str(host.home), "the current directory")
    write_config(host.etc)
    assert config_location().value == str(host.etc)
    assert config_location().source.startswith("the system default")
    monkeypatch.setenv("CONFIGURATION_DIRECTORY", str(host.root / "systemd"))
    assert config_location() == Location(
        str(host.root / "systemd"),
        "the service's ConfigurationDirectory, $CONFIGURATION_DIRECTORY",
    )
    monkeypatch.setenv("MONITOR_CONFIG_DIR", str(host.root / "env"))
    assert config_location() == Location(str(host.root / "env"), "$MONITOR_CONFIG_DIR")
    assert config_location("flag") == Location("flag", "--config-dir")


def test_each_database_source_beats_every_one_below_it(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = db_location()
    assert local.value == "var/monitor.db" and local.source.startswith("the default")
    assert local.shown() == str(host.home / "var" / "monitor.db")
    (host.lib / "monitor.db").touch()
    assert db_location() == Location(
        str(host.lib / "monitor.db"), "the system default, found there"
    )
    monkeypatch.setenv("STATE_DIRECTORY", f"{host.root / 'state'}:{host.root / 'other'}")
    assert db_location() == Location(
        str(host.root / "state" / "monitor.db"), "the service's StateDirectory, $STATE_DIRECTORY"
    )
    monkeypatch.setenv("MONITOR_DB", "sqlite:///env.db")
    assert db_location() == Location("sqlite:///env.db", "$MONITOR_DB")
    assert db_location("flag.db") == Location("flag.db", "--db")


def test_system_directories_count_only_when_they_hold_our_files(host: Host) -> None:
    """An empty /etc/news-monitor (a package installed, nothing configured) or a
    /var/lib/news-monitor without monitor.db does not take over from the checkout."""
    (host.etc / "rules.yaml").write_text("rules: []\n")  # no feeds.yaml
    (host.lib / "monitor.db").mkdir()  # a directory, not a database
    assert config_location().source == "the current directory"
    assert db_location().value == "var/monitor.db"


def test_a_postgresql_url_is_used_as_given_and_shown_without_its_password(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://monitor:s3cret-pw@127.0.0.1:1/news"
    monkeypatch.setenv("MONITOR_DB", url)
    location = db_location()
    assert location.value == url
    assert location.describe("database") == (
        "database postgresql://<redacted>@127.0.0.1:1/news (from $MONITOR_DB)"
    )
    # the command that cannot reach it says so without the password either
    result = host.monitor("status", timeout=120)
    assert result.returncode == 1
    assert "s3cret-pw" not in result.stdout + result.stderr


# --------------------------------------------------------------------------- said


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("flag", "(from --config-dir)"),
        ("MONITOR_CONFIG_DIR", "(from $MONITOR_CONFIG_DIR)"),
        ("CONFIGURATION_DIRECTORY", "(from the service's ConfigurationDirectory"),
        ("system", "(from the system default"),
        ("cwd", "(from the current directory)"),
    ],
)
def test_check_says_which_configuration_it_used(host: Host, given: str, said: str) -> None:
    where = host.etc if given == "system" else host.home if given == "cwd" else host.root / "c"
    write_config(where)
    args = ["check"] + (["--config-dir", str(where)] if given == "flag" else [])
    env = {given: str(where)} if given in LOCATION_VARIABLES else {}
    result = host.monitor(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0].startswith(f"configuration {where} {said}")
    assert f"{where}: 0 feeds" in result.stdout


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("flag", "(from --db)"),
        ("MONITOR_DB", "(from $MONITOR_DB)"),
        ("STATE_DIRECTORY", "(from the service's StateDirectory, $STATE_DIRECTORY)"),
        ("system", "(from the system default, found there)"),
        ("cwd", "(from the default for a checkout"),
    ],
)
def test_status_says_which_database_it_used(host: Host, given: str, said: str) -> None:
    directory = {"system": host.lib, "cwd": host.home / "var"}.get(given, host.root / "state")
    db = directory / "monitor.db"
    directory.mkdir(exist_ok=True)
    open_store(db).close()
    args = ["status"] + (["--db", str(db)] if given == "flag" else [])
    env = {"MONITOR_DB": str(db), "STATE_DIRECTORY": str(directory)}
    result = host.monitor(*args, env={k: v for k, v in env.items() if k == given})
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"database {db} {said}"), first
    assert "seen_items=0" in first


def test_status_without_a_database_says_where_it_looked_and_why(host: Host) -> None:
    result = host.monitor("status")
    assert result.returncode == 0
    assert result.stdout.startswith(
        f"no state database at {host.home / 'var' / 'monitor.db'} (from the default for a"
        f" checkout: no --db, $MONITOR_DB or $STATE_DIRECTORY, and no {host.lib / 'monitor.db'})"
    )


def test_deliveries_says_its_database_on_stderr(host: Host) -> None:
    state = host.root / "state"
    state.mkdir()
    open_store(state / "monitor.db").close()
    result = host.monitor("deliveries", env={"STATE_DIRECTORY": str(state)})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"database {state / 'monitor.db'} (from the service's StateDirectory, $STATE_DIRECTORY)"
    )
    assert result.stdout == "no recent deliveries\n"


def test_match_without_rules_reads_the_configuration_directorys(host: Host) -> None:
    config = write_config(host.root / "c")
    (host.home / "a.txt").write_text("Talks in Tehran resumed.")
    result = host.monitor("match", "a.txt", env={"MONITOR_CONFIG_DIR": str(config)})
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"rules {config / 'rules.yaml'} (from $MONITOR_CONFIG_DIR)\n"
    assert "iran matched a.txt" in result.stdout and "1 match(es)" in result.stdout


# --------------------------------------------------------------------------- relative paths


@pytest.mark.parametrize("how", ["--config-dir", "CONFIGURATION_DIRECTORY", "system"])
def test_send_test_from_another_directory_writes_the_config_directorys_file(
    host: Host, how: str
) -> None:
    config = write_config(host.etc if how == "system" else host.root / "c")
    args = ["send-test", "out"] + (["--config-dir", str(config)] if how == "--config-dir" else [])
    env = {how: str(config)} if how in LOCATION_VARIABLES else {}
    result = host.monitor(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"out: sample alert sent {config / 'alerts.jsonl'}")
    assert not (host.home / "alerts.jsonl").exists()
    lines = (config / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["type"] == "alert"


def test_relative_paths_in_rules_yaml_resolve_against_the_configuration_directory(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = host.root / "conf"
    write_config(config, "out/alerts.jsonl")
    (config / "mail").mkdir()
    (config / "gazetteers").mkdir()
    (config / "gazetteers" / "extra.yaml").write_text("entities:\n  opec: {aliases: [OPEC]}\n")
    rules = (config / "rules.yaml").read_text()
    rules = rules.replace(
        "channels:\n",
        "include: gazetteers/*.yaml\nchannels:\n  hooked: {type: file, path:"
        " ~/x.jsonl, templates: mail}\n",
    )
    (config / "rules.yaml").write_text(rules)
    monkeypatch.setenv("HOME", str(host.root / "operator"))
    for cwd in (host.home, config, host.root):
        monkeypatch.chdir(cwd)
        for given in (config, Path(os.path.relpath(config, cwd))):
            loaded = load_config(given, cached=False)
            assert loaded.channels["out"].path == config / "out" / "alerts.jsonl"  # type: ignore[union-attr]
            assert loaded.channels["hooked"].templates_dir == config / "mail"
            assert loaded.channels["hooked"].path == host.root / "operator" / "x.jsonl"  # type: ignore[union-attr]
            assert "opec" in loaded.entities


def test_the_bundled_configuration_still_writes_var_alerts_jsonl_of_the_checkout(
    host: Host,
) -> None:
    """`make run` (--config-dir . from the checkout) writes var/alerts.jsonl, as the
    README says, wherever a command reading the same directory runs from."""
    config = load_config(ROOT, cached=False)
    assert config.channels["alerts"].path == ROOT / "var" / "alerts.jsonl"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- as a service


def test_the_service_layout_from_a_shell_finds_what_the_service_wrote(host: Host) -> None:
    """The service runs with systemd's two directories and some working directory; the
    operator, later, from their home with only STATE_DIRECTORY set (or nothing, once
    /var/lib/news-monitor/monitor.db exists), sees the same database."""
    with NewsSite() as site:
        url = site.add_feed(
            "/f.xml", rss_feed("F", [FeedEntry("Tehran talks", "https://x.org/1", "1")])
        )
        feeds = f'[{{name: F, url: "{url}", extract: false}}]'
        config = write_config(host.etc, feeds=feeds)
        run = host.monitor(
            "run",
            "--once",
            cwd=host.root,
            env={"CONFIGURATION_DIRECTORY": str(config), "STATE_DIRECTORY": str(host.lib)},
            timeout=120,
        )
    assert run.returncode == 0, run.stderr
    alerts = (config / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(a)["article"]["title"] for a in alerts] == ["Tehran talks"]
    assert not (host.root / "alerts.jsonl").exists() and not (host.root / "var").exists()

    with_state = host.monitor("status", env={"STATE_DIRECTORY": str(host.lib)})
    first = with_state.stdout.splitlines()[0]
    assert first.startswith(
        f"database {host.lib / 'monitor.db'} (from the service's StateDirectory"
    )
    assert "seen_items=1" in first and "outbox_sent=1" in first
    bare = host.monitor("status")
    assert bare.stdout.splitlines()[0].startswith(
        f"database {host.lib / 'monitor.db'} (from the system default, found there)"
    )
    assert bare.stdout.splitlines()[1:] == with_state.stdout.splitlines()[1:]

    copied = host.monitor("migrate-state", "--to", f"sqlite:///{host.root / 'copy.db'}")
    assert copied.returncode == 0, copied.stderr
    assert copied.stderr.startswith(f"database {host.lib / 'monitor.db'} (from the system default")
    assert "counts verified" in copied.stdout


def test_the_daemon_logs_where_its_configuration_and_database_came_from(host: Host) -> None:
    config = write_config(host.root / "c")
    log = host.root / "daemon.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run"],
            env=host.env(CONFIGURATION_DIRECTORY=str(config), MONITOR_DB=str(host.root / "m.db")),
            cwd=host.home,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "service_started" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    started = next(ln for ln in log.read_text().splitlines() if "service_started" in ln)
    assert f"config_dir='{config}'" in started
    assert (
        'config_from="the service\'s ConfigurationDirectory, $CONFIGURATION_DIRECTORY"' in started
    )
    assert f"db={host.root / 'm.db'}" in started or f"db='{host.root / 'm.db'}'" in started
    assert "db_from='$MONITOR_DB'" in started
