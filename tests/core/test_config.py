"""Configuration: every problem reported at once, each with file:line:col and path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.config import load_config, load_rules, parse_duration
from monitor.errors import ConfigError

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
    monkeypatch.setenv("NEWSROOM_SECRET", "whsec_x")
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
    ]


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    (p,) = problems(write(tmp_path, rules="rules:\n  - {name: x, query: 'a'\n  - oops\n"))
    assert p.startswith("rules.yaml:3:") and "YAML syntax error" in p


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
    rules = "rules:\n  - {name: r, query: iran, feeds: [Nope]}\n"
    (p,) = problems(write(tmp_path, rules=rules))
    assert p.startswith("rules.yaml:2:") and "unknown feed 'Nope'" in p


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
    assert config.channels["alerts"].type == "file"
    from monitor.match import Matcher

    assert Matcher.build(config.rules, config.entities).check_examples() == []


def test_large_files_are_cached_and_problems_still_say_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor import yamlpos

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
