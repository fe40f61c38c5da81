"""Configuration: every problem reported at once, each with file:line:col and path."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import redact
from monitor.config import load_config, load_rules, parse_duration
from monitor.errors import ConfigError
from monitor.models import FileChannel

FEEDS_OK = """\
defaults: {interval: 5m, timeout: 20s, extract: true}
feeds:
  - {name: VOA Middle East, url: "https://example.org/feed", interval: 2m, tags: [middle-east]}
"""

RULES_OK = """\
entities:
  iran: {aliases: [Iran, Iranian, Tehran, Islamic Republic]}
  al-qaida: {aliases: [al-Qaida, al-Qaeda, al-Qa'ida, Al Qaeda], exact: [AQ]}
channels:
  desk:     {type: email, to: [desk@example.org], from: monitor@example.org,
             smtp: {host: localhost, port: 25, starttls: false, username: null, password_env: null}}
  newsroom: {type: webhook, url: "http://127.0.0.1:9000/hook", secret_env: NEWSROOM_SECRET}
rules:
  - {name: iran-al-qaida, query: '@iran NEAR/20 @al-qaida', channels: [desk, newsroom]}
"""


def write(tmp_path: Path, feeds: str = FEEDS_OK, rules: str = RULES_OK) -> Path:
    (tmp_path / "feeds.yaml").write_text(textwrap.dedent(feeds))
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(rules))
    return tmp_path


def problems(tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    return info.value.problems


def test_issue_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSROOM_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    config = load_config(write(tmp_path))
    (feed,) = config.feeds
    assert (feed.name, feed.interval, feed.timeout, feed.tags) == (
        "VOA Middle East",
        120.0,
        20.0,
        ("middle-east",),
    )
    assert config.entities["al-qaida"].exact == ("AQ",)
    assert config.channels["newsroom"].secret == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert config.channels["desk"].smtp.port == 25
    assert config.rules[0].channels == ("desk", "newsroom")


def test_secret_from_credentials_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "NEWSROOM_SECRET").write_text("whsec_fromfile\n")
    monkeypatch.delenv("NEWSROOM_SECRET", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    config = load_config(write(tmp_path))
    assert config.channels["newsroom"].secret == "whsec_fromfile"


def test_missing_secret_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSROOM_SECRET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    (p,) = problems(write(tmp_path))
    assert p.startswith("rules.yaml:7:")
    assert "channels.newsroom.secret_env" in p and "NEWSROOM_SECRET" in p


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("250ms", 0.25), (45, 45.0), ("1.5m", 90.0)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["5 minutes", "-1s", "0s", True, "m"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_every_problem_at_once_with_positions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSROOM_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    feeds = """\
    defaults: {interval: 5 minutes}
    feeds:
      - {name: A, url: "ftp://example.org/feed"}
      - {name: A, url: "https://example.org/b", intervall: 5m}
    """
    rules = """\
    entities:
      iran: {aliases: [Iran]}
    channels:
      desk: {type: pager}
    rules:
      - name: one
        query: '@iran NEAR/20 @al-qaeda'
        channels: [nowhere]
      - {name: two, query: 'iran AND', min_mentions: 0}
    """
    found = problems(write(tmp_path, feeds, rules))
    expected = [
        "feeds.yaml:1:22: defaults.interval: expected a duration",
        "feeds.yaml:3:20: feeds[0].url: expected an http(s) URL, got 'ftp://example.org/feed'",
        "feeds.yaml:4:12: feeds[1].name: duplicate feed name 'A' (first at feeds[0])",
        "feeds.yaml:4:45: feeds[1].intervall: unknown key (did you mean 'interval'?)",
        "rules.yaml:4:16: channels.desk.type: expected one of email, webhook, file, apprise",
        "rules.yaml:7:12: rules[0].query: unknown entity '@al-qaeda' at column 15",
        "rules.yaml:8:16: rules[0].channels[0]: unknown channel 'nowhere'",
        "rules.yaml:9:24: rules[1].query: expected operand after AND",
        "rules.yaml:9:50: rules[1].min_mentions: expected an integer >= 1, got 0",
        "rules.yaml:9:5: rules[1]: this rule alerts nowhere; add channels: [NAME]",
    ]
    assert len(found) == len(expected), "\n".join(found)
    for want, got in zip(expected, sorted(found), strict=True):
        assert got.startswith(want), f"{got!r} should start with {want!r}"
    rule_problems = [p for p in found if "rules[" in p]
    assert [p.rsplit(" (rule ", 1)[-1] for p in rule_problems] == [
        "'one')",
        "'one')",
        "'two')",
        "'two')",
        "'two')",
    ]


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    (p,) = problems(write(tmp_path, rules="rules:\n  - {name: x, query: 'a'\n  - oops\n"))
    assert p.startswith("rules.yaml:2:5: this { is never closed: end it with }"), p


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    rules = "entities:\n  iran: {aliases: [Iran]}\n  iran: {aliases: [Persia]}\nrules: []\n"
    (p,) = problems(write(tmp_path, rules=rules))
    assert p.startswith("rules.yaml:3:3: entities.iran: duplicate key")


def test_missing_files_are_reported_together(tmp_path: Path) -> None:
    found = problems(tmp_path)
    assert found == ["feeds.yaml: file not found", "rules.yaml: file not found"]


def test_plain_text_credentials_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    rules = """\
    channels:
      desk: {type: email, to: [a@example.org], from: b@example.org,
             smtp: {host: mail.example.org, username: u, password_env: SMTP_PASSWORD}}
    rules: []
    """
    (p,) = problems(write(tmp_path, rules=rules))
    assert "channels.desk.smtp" in p and "plain text" in p
    assert "hunter2" not in p


def test_rule_feeds_must_exist(tmp_path: Path) -> None:
    rules = (
        "channels: {log: {type: file, path: a.jsonl}}\n"
        "rules:\n  - {name: r, query: iran, feeds: [Nope], channels: [log]}\n"
    )
    (p,) = problems(write(tmp_path, rules=rules))
    assert p.startswith("rules.yaml:3:36: rules[0].feeds[0]") and "unknown feed 'Nope'" in p


def test_entity_include(tmp_path: Path) -> None:
    (tmp_path / "entities").mkdir()
    (tmp_path / "entities" / "people.yaml").write_text(
        "entities:\n  zarif: {aliases: [Javad Zarif, Zarif]}\n"
    )
    (tmp_path / "rules.yaml").write_text(
        "include: entities/*.yaml\nrules:\n  - {name: r, query: '@zarif'}\n"
    )
    rules = load_rules(tmp_path / "rules.yaml")
    assert rules.entities["zarif"].aliases == ("Javad Zarif", "Zarif")


def test_include_errors_name_the_included_file(tmp_path: Path) -> None:
    (tmp_path / "entities").mkdir()
    (tmp_path / "entities" / "bad.yaml").write_text("entities:\n  Bad Id: {aliases: [x]}\n")
    (tmp_path / "rules.yaml").write_text("include: entities/*.yaml\nrules: []\n")
    with pytest.raises(ConfigError) as info:
        load_rules(tmp_path / "rules.yaml")
    (p,) = info.value.problems
    assert p.startswith(f"{tmp_path / 'entities' / 'bad.yaml'}:2:3: entities.Bad Id:")


def test_bundled_config_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    config = load_config(root)
    assert len(config.feeds) >= 12
    assert any(r.name == "iran-al-qaida" for r in config.rules)
    assert isinstance(config.channels["alerts"], FileChannel)
    from monitor.match import Matcher

    assert Matcher.build(config.rules, config.entities).check_examples() == []


def test_large_files_are_cached_and_problems_still_say_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.config import yamlpos

    monkeypatch.setenv("MONITOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(yamlpos, "CACHE_MIN_CHARS", 0)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "entities:\n  iran: {aliases: [Iran]}\nrules:\n  - {name: r, query: '@iran'}\n"
    )
    first = load_rules(rules)
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert yamlpos.load_yaml(rules).positioned is False  # served from the cache
    assert load_rules(rules) == first
    # the same bytes with a bad query: positions come from a real parse
    rules.write_text(rules.read_text().replace("'@iran'", "'@iran AND'"))
    for _ in range(2):  # the first parse caches the value; the second load comes from it
        with pytest.raises(ConfigError) as info:
            load_rules(rules)
        assert info.value.problems[0].startswith(f"{rules}:4:22: rules[0].query: expected operand")


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), 10**400, "367d", "1e3s", [1], "5m" + " " * 50 + "x"]
)
def test_durations_out_of_range_or_of_the_wrong_kind(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_the_longest_duration_is_a_year() -> None:
    assert parse_duration("366d") == 366 * 86400.0
    assert parse_duration(" 5m ") == 300.0


# --------------------------------------------------------------------------- feed auth

AUTH_FEEDS = """\
feeds:
  - {name: Paywalled, url: "https://news.example/feed", auth_env: NEWS_AUTH}
  - {name: Open, url: "https://open.example/feed"}
"""


@pytest.fixture
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("NEWS_AUTH", "NEWSROOM_SECRET", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSROOM_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    yield
    redact.forget_secrets()


@pytest.mark.usefixtures("no_secrets")
def test_feed_auth_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWS_AUTH", "reader:pass:with:colons")
    config = load_config(write(tmp_path, AUTH_FEEDS))
    assert config.feeds[0].auth == ("reader", "pass:with:colons")
    assert config.feeds[1].auth is None
    assert "pass:with:colons" not in repr(config.feeds[0])
    assert config.warnings == ()


@pytest.mark.usefixtures("no_secrets")
def test_feed_auth_from_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "NEWS_AUTH").write_text("reader:from-file\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    config = load_config(write(tmp_path, AUTH_FEEDS))
    assert config.feeds[0].auth == ("reader", "from-file")


@pytest.mark.usefixtures("no_secrets")
@pytest.mark.parametrize(
    ("feeds", "secret", "expected"),
    [
        (AUTH_FEEDS, None, "feeds.yaml:2:67: feeds[0].auth_env: secret 'NEWS_AUTH' is not set"),
        (AUTH_FEEDS, "no-colon-token", "feeds.yaml:2:67: feeds[0].auth_env: secret 'NEWS_AUTH' "
         "must hold user:password (no ':' in it)"),
        (AUTH_FEEDS.replace("https://", "https://u:pw@", 1), "reader:secret-pw",
         "feeds.yaml:2:72: feeds[0].auth_env: credentials both in the URL and in auth_env"),
        (AUTH_FEEDS.replace("NEWS_AUTH", "../etc/passwd"), "x",
         "feeds.yaml:2:67: feeds[0].auth_env: expected the name of an environment variable"),
        ("defaults: {auth_env: NEWS_AUTH}\n" + AUTH_FEEDS, "reader:secret-pw",
         "feeds.yaml:1:12: defaults.auth_env: auth_env is per feed"),
    ],
)  # fmt: skip
def test_feed_auth_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feeds: str, secret: str | None, expected: str
) -> None:
    if secret:
        monkeypatch.setenv("NEWS_AUTH", secret)
    (p,) = problems(write(tmp_path, feeds))
    assert p.startswith(expected), p
    assert "no-colon-token" not in p and "secret-pw" not in p


@pytest.mark.usefixtures("no_secrets")
def test_secret_files_that_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read error (EIO: reading /proc/self/mem at 0, as any read fails when run as root)
    and a file that is not text; neither message quotes the file's bytes."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "NEWS_AUTH").symlink_to("/proc/self/mem")
    (creds / "NEWSROOM_SECRET").write_bytes(b"whsec_\xff\xfe\xfd-binary")
    monkeypatch.delenv("NEWSROOM_SECRET")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    found = problems(write(tmp_path, AUTH_FEEDS))
    assert found[0] == (
        "feeds.yaml:2:67: feeds[0].auth_env: secret 'NEWS_AUTH': cannot read its file: "
        "Input/output error (feed 'Paywalled')"
    )
    assert found[1].startswith("rules.yaml:7:") and "its file is not UTF-8 text" in found[1]


@pytest.mark.usefixtures("no_secrets")
@pytest.mark.parametrize(
    ("url", "auth", "warnings"),
    [
        ("https://news.example/feed", True, []),
        ("http://news.example/feed", True, ["feeds.yaml:2:28: feeds[0].url: basic auth "
                                            "credentials would cross the network in plain http"]),
        ("https://u:pw@news.example/feed", False, ["feeds.yaml:2:28: feeds[0].url: the URL "
                                                   "carries credentials"]),
        ("http://u:pw@news.example/feed", False, ["feeds.yaml:2:28: feeds[0].url: the URL carries",
                                                  "feeds.yaml:2:28: feeds[0].url: basic auth"]),
    ],
)  # fmt: skip
def test_warnings_about_feed_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, auth: bool, warnings: list[str]
) -> None:
    monkeypatch.setenv("NEWS_AUTH", "reader:secret-pw")
    line = f'  - {{name: Paywalled, url: "{url}"' + (", auth_env: NEWS_AUTH}" if auth else "}")
    config = load_config(write(tmp_path, f"feeds:\n{line}\n"))
    assert len(config.warnings) == len(warnings)
    for want, got in zip(warnings, config.warnings, strict=True):
        assert got.startswith(want), got


# --------------------------------------------------------------------------- redaction


@pytest.mark.usefixtures("no_secrets")
def test_every_secret_read_is_registered_for_redaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "NEWS_AUTH": "reader:feed-password-1",
        "SMTP_PASSWORD": "smtp-password-2",
        "NEWSROOM_SECRET": "whsec_d2ViaG9vay1zZWNyZXQtMw==",
        "APPRISE_URLS": "tgram://bot-token-4/chat mailto://user:mail-pass-5@example.org",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    rules = RULES_OK + textwrap.dedent(
        """\
        operator_channel: ops
        """
    )
    rules = rules.replace(
        "channels:\n",
        "channels:\n"
        "  ops: {type: apprise, urls: ['json://inline-token-6@hooks.example'],"
        " urls_env: APPRISE_URLS}\n"
        "  mailer: {type: email, to: [a@example.org], from: b@example.org, smtp: {host: m,\n"
        "           tls: true, username: u, password_env: SMTP_PASSWORD}}\n",
    )
    feeds = AUTH_FEEDS + '  - {name: Inline, url: "https://u:url-password-7@x.example/f"}\n'
    load_config(write(tmp_path, feeds, rules))
    leaked = [
        "feed-password-1", "smtp-password-2", "whsec_d2ViaG9vay1zZWNyZXQtMw==", "tgram://bot-token-4/chat",
        "mailto://user:mail-pass-5@example.org", "json://inline-token-6@hooks.example",
        "url-password-7",
    ]  # fmt: skip
    text = "; ".join(f"error near {s} here" for s in leaked)
    out = redact.redact(text)
    for secret in leaked:
        assert secret not in out, out
    assert out.count(redact.MASK) >= len(leaked)
