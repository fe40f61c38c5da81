"""Operator mistakes in the structure of feeds.yaml and rules.yaml: each one is caught by
`monitor check` (the real command, in-process) with file:line:col, the name of what it is
in, and what to write instead. One row per mistake: the files, the exact message, and
whether it is an error (exit 1) or a warning (exit 0)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.config.values import DigestSchedule
from monitor.models import WebhookChannel

FEEDS = """\
feeds:
  - {name: bbc-world, url: "https://example.org/world", tags: [world]}
  - {name: wire, url: "https://example.org/wire", tags: [europe]}
"""
CHANNELS = """\
channels:
  desk: {type: file, path: desk.jsonl}
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
"""
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass(frozen=True)
class Mistake:
    rules: str
    message: str
    error: bool = True
    feeds: str = FEEDS


MISTAKES = {
    "tls and starttls together": Mistake(
        """\
        channels:
          mail: {type: email, to: [a@example.org], from: m@example.org,
                 smtp: {host: mx, tls: true, starttls: true}}
        rules:
          - {name: r, query: iran, channels: [mail]}
        """,
        "rules.yaml:3:48: channels.mail.smtp.starttls: tls: true and starttls: true exclude"
        " each other; write tls: true for port 465 (TLS from the start) or starttls: true for"
        " port 587 (the upgrade), not both",
    ),
    "a webhook secret that is not whsec_": Mistake(
        """\
        channels:
          hook: {type: webhook, url: "http://127.0.0.1:9/h", secret_env: PLAIN_SECRET}
        rules:
          - {name: r, query: iran, channels: [hook]}
        """,
        "rules.yaml:2:66: channels.hook.secret_env: secret 'PLAIN_SECRET' is not a Standard"
        " Webhooks secret: it must hold whsec_ followed by a base64 key (make one with:"
        " openssl rand -base64 24 | sed s/^/whsec_/)",
    ),
    "a webhook secret of whsec_ and no base64": Mistake(
        """\
        channels:
          hook: {type: webhook, url: "http://127.0.0.1:9/h", secret_env: EMPTY_SECRET}
        rules:
          - {name: r, query: iran, channels: [hook]}
        """,
        "rules.yaml:2:66: channels.hook.secret_env: secret 'EMPTY_SECRET' is not a Standard"
        " Webhooks secret: it must hold whsec_ followed by a base64 key (make one with:"
        " openssl rand -base64 24 | sed s/^/whsec_/)",
    ),
    "a webhook URL that is not http(s)": Mistake(
        """\
        channels:
          hook: {type: webhook, url: "ftp://example.org/h"}
        rules:
          - {name: r, query: iran, channels: [hook]}
        """,
        "rules.yaml:2:30: channels.hook.url: expected an http(s) URL, got 'ftp://example.org/h'",
    ),
    "SMTP credentials in plain text": Mistake(
        """\
        channels:
          mail: {type: email, to: [a@example.org], from: m@example.org,
                 smtp: {host: mx, username: u}}
        rules:
          - {name: r, query: iran, channels: [mail]}
        """,
        "rules.yaml:3:16: channels.mail.smtp: credentials would be sent in plain text; set"
        " starttls: true or tls: true",
    ),
    "a rule with no channels key": Mistake(
        CHANNELS + "rules:\n  - {name: lost, query: iran}\n",
        "rules.yaml:5:5: rules[0]: this rule alerts nowhere; add channels: [desk] (rule 'lost')",
    ),
    "a rule with channels: []": Mistake(
        CHANNELS + "rules:\n  - {name: lost, query: iran, channels: []}\n",
        "rules.yaml:5:41: rules[0].channels: this rule alerts nowhere; add channels: [desk]"
        " (rule 'lost')",
    ),
    "a tag no feed has": Mistake(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [desk], tags: [wrold]}\n",
        "rules.yaml:5:53: rules[0].tags[0]: rule 'r': no feed has the tag 'wrold' (did you mean"
        " 'world'?); the rule sees no article through it",
        error=False,
    ),
    "a time zone with a typo": Mistake(
        """\
        channels:
          hook: {type: webhook, url: "http://127.0.0.1:9/h", timezone: Europe/Berln}
        rules:
          - {name: r, query: iran, channels: [hook]}
        """,
        "rules.yaml:2:64: channels.hook.timezone: unknown time zone 'Europe/Berln' (did you"
        " mean 'Europe/Berlin'?); write an IANA name such as Europe/Berlin or UTC",
    ),
    "a language written as a name": Mistake(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [desk], languages: [english]}\n",
        "rules.yaml:5:58: rules[0].languages[0]: expected an ISO 639-1 language code, got"
        " 'english': write en (rule 'r')",
    ),
    "a language code that is no language": Mistake(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [desk], languages: [xx]}\n",
        "rules.yaml:5:58: rules[0].languages[0]: expected an ISO 639-1 language code, got"
        " 'xx'; write a code such as en, fr, ar or fa (rule 'r')",
    ),
    "an entity id in capitals": Mistake(
        CHANNELS
        + "entities:\n  Al-Qaida: {aliases: [al-Qaida]}\n"
        + "rules:\n  - {name: r, query: '@al-qaida', channels: [desk]}\n",
        "rules.yaml:5:3: entities.Al-Qaida: entity ids use lowercase letters, digits, '-' and"
        " '_': write al-qaida (and @al-qaida in queries)",
    ),
    "a feeds.yaml cut after its feeds: key": Mistake(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [desk]}\n",
        "feeds.yaml:1:7: feeds: the list of feeds is empty; write `feeds: []` if you mean to"
        " poll nothing",
        feeds="feeds:\n",
    ),
    "feeds: [] on purpose": Mistake(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [desk]}\n",
        "feeds.yaml:1:8: feeds: an empty list polls nothing: no rule can alert",
        error=False,
        feeds="feeds: []\n",
    ),
    "a channel name with a typo": Mistake(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [dsk]}\n",
        "rules.yaml:5:39: rules[0].channels[0]: unknown channel 'dsk' (did you mean 'desk'?)"
        " (rule 'r')",
    ),
    "a channel name nothing is close to": Mistake(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [pager]}\n",
        "rules.yaml:5:39: rules[0].channels[0]: unknown channel 'pager'; the channels are:"
        " desk, hook (rule 'r')",
    ),
    "a feed name with a typo": Mistake(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [desk], feeds: [bbc-wrold]}\n",
        "rules.yaml:5:54: rules[0].feeds[0]: unknown feed 'bbc-wrold' (did you mean"
        " 'bbc-world'?) (rule 'r')",
    ),
    "ulr for url in a feed": Mistake(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [desk]}\n",
        "feeds.yaml:2:15: feeds[0].ulr: unknown key (did you mean 'url'?) (feed 'w')",
        feeds='feeds:\n  - {name: w, ulr: "https://example.org/w"}\n',
    ),
    "a channel type with a typo": Mistake(
        "channels:\n  desk: {type: emial}\nrules: []\n",
        "rules.yaml:2:16: channels.desk.type: expected one of email, webhook, file, apprise,"
        " got 'emial' (did you mean 'email'?)",
    ),
    "an unknown key on a channel": Mistake(
        "channels:\n  desk: {type: file, path: d.jsonl, timezon: UTC}\nrules: []\n",
        "rules.yaml:2:37: channels.desk.timezon: unknown key (did you mean 'timezone'?)",
    ),
    "operator_channel with a typo": Mistake(
        CHANNELS + "operator_channel: dek\nrules: []\n",
        "rules.yaml:4:19: operator_channel: unknown channel 'dek' (did you mean 'desk'?)",
    ),
    "an unknown time zone on a webhook": Mistake(
        """\
        channels:
          hook: {type: webhook, url: "http://127.0.0.1:9/h", timezone: Mars/Olympus}
        rules:
          - {name: r, query: iran, channels: [hook]}
        """,
        "rules.yaml:2:64: channels.hook.timezone: unknown time zone 'Mars/Olympus'; write an"
        " IANA name such as Europe/Berlin or UTC",
    ),
    "enabled that is not true or false": Mistake(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [desk], enabled: no way}\n",
        "rules.yaml:5:55: rules[0].enabled: expected true or false, got 'no way' (rule 'r')",
    ),
    "a rule whose every channel is disabled": Mistake(
        """\
        channels:
          desk: {type: file, path: d.jsonl, enabled: false}
        rules:
          - {name: r, query: iran, channels: [desk]}
        """,
        "rules.yaml:4:38: rules[0].channels: rule 'r': every channel it names is disabled"
        " (desk); it alerts nowhere until one is enabled",
        error=False,
    ),
    "operator_channel naming a disabled channel": Mistake(
        """\
        channels:
          desk: {type: file, path: d.jsonl}
          pager: {type: file, path: p.jsonl, enabled: false}
        operator_channel: pager
        rules:
          - {name: r, query: iran, channels: [desk]}
        """,
        "rules.yaml:4:19: operator_channel: channel 'pager' is disabled: notices about the"
        " service go nowhere until it is enabled (or name another channel)",
        error=False,
    ),
    "a hashtag in a plain query, read as a comment": Mistake(
        CHANNELS + "rules:\n  - name: r\n    query: iran #nuclear\n    channels: [desk]\n",
        "rules.yaml:6:12: rules[0].query: rule 'r': everything after ' #' is a comment in YAML:"
        " quote the value to keep '#nuclear': query: \"iran #nuclear\"",
        error=False,
    ),
    "a hashtag after a plain phrase in a flow rule": Mistake(
        CHANNELS + "rules:\n  - {name: r, channels: [desk], query: iran deal #IranDeal\n    }\n",
        "rules.yaml:5:40: rules[0].query: rule 'r': everything after ' #' is a comment in YAML:"
        " quote the value to keep '#IranDeal': query: \"iran deal #IranDeal\"",
        error=False,
    ),
    "a feed URL fragment after a space, read as a comment": Mistake(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [desk]}\n",
        "feeds.yaml:3:10: feeds[0].url: feed 'w': everything after ' #' is a comment in YAML:"
        " to keep the fragment '#world', write it without the space",
        error=False,
        feeds="feeds:\n  - name: w\n    url: https://example.org/news #world\n",
    ),
}


def check(
    tmp_path: Path, feeds: str, rules: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    (tmp_path / "feeds.yaml").write_text(feeds)
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(rules))
    status = main(["check", "--config-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    return status, out + err


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAIN_SECRET", "hunter2")
    monkeypatch.setenv("EMPTY_SECRET", "whsec_not base64!")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_check_reports_the_mistake(
    tmp_path: Path, mistake: Mistake, capsys: pytest.CaptureFixture[str]
) -> None:
    status, output = check(tmp_path, mistake.feeds, mistake.rules, capsys)
    lines = output.splitlines()
    if mistake.error:
        assert status == 1, output
        assert mistake.message in lines, output
    else:
        assert status == 0, output
        assert f"warning: {mistake.message}" in lines, output
    assert "hunter2" not in output


def test_a_disabled_rule_without_channels_passes_and_is_not_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = CHANNELS + (
        "rules:\n  - {name: later, query: iran, enabled: false}\n"
        "  - {name: now, query: iran, channels: [desk]}\n"
    )
    status, output = check(tmp_path, FEEDS, rules, capsys)
    assert status == 0, output
    assert [r.name for r in load_config(tmp_path).rules] == ["now"]


def test_a_disabled_channel_is_checked_and_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = """\
    channels:
      desk: {type: file, path: d.jsonl}
      hook: {type: webhook, url: "http://127.0.0.1:9/h", enabled: false}
    rules:
      - {name: r, query: iran, channels: [desk, hook]}
    """
    status, output = check(tmp_path, FEEDS, rules, capsys)
    assert status == 0, output
    config = load_config(tmp_path)
    assert list(config.channels) == ["desk"] and config.disabled_channels == ("hook",)
    assert config.rules[0].channels == ("desk",)
    broken = rules.replace('url: "http://127.0.0.1:9/h"', 'url: "ftp://x"')
    status, output = check(tmp_path, FEEDS, broken, capsys)
    assert status == 1 and "channels.hook.url: expected an http(s) URL" in output


def test_check_names_secrets_and_never_shows_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    rules = """\
    channels:
      hook: {type: webhook, url: "http://127.0.0.1:9/h", secret_env: HOOK_SECRET}
    rules:
      - {name: r, query: iran, channels: [hook]}
    """
    status, output = check(tmp_path, FEEDS, rules, capsys)
    assert status == 0, output
    assert "channel hook: webhook -> http://127.0.0.1:9" in output
    assert "(secret_env <redacted>)" in output
    assert SECRET not in output


# --------------------------------------------------------------------------- parsed once


def test_a_webhook_digest_follows_the_channel_time_zone(tmp_path: Path) -> None:
    """`timezone` on a webhook channel: its daily digest goes out at local midnight, and
    the schedule the pipeline uses is the value config parsed (no text left to parse)."""
    (tmp_path / "feeds.yaml").write_text(FEEDS)
    (tmp_path / "rules.yaml").write_text(
        "channels:\n"
        '  hook: {type: webhook, url: "http://127.0.0.1:9/h", digest: 1d,'
        " timezone: Asia/Tokyo}\n"
        "rules:\n  - {name: r, query: iran, channels: [hook]}\n"
    )
    hook = load_config(tmp_path).channels["hook"]
    assert isinstance(hook, WebhookChannel)
    tokyo = ZoneInfo("Asia/Tokyo")
    assert hook.timezone == tokyo
    assert hook.digest == DigestSchedule.parse("1d", tokyo)
    now = datetime(2026, 3, 1, 20, 0, tzinfo=UTC).timestamp()  # 05:00 on 2 March in Tokyo
    due = datetime.fromtimestamp(hook.digest.next_after(now), tokyo)
    assert (due.date().isoformat(), due.hour, due.minute) == ("2026-03-03", 0, 0)


def test_a_crontab_digest_is_compiled_once_in_the_channel_zone(tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text(FEEDS)
    (tmp_path / "rules.yaml").write_text(
        "channels:\n"
        "  desk: {type: file, path: d.jsonl, digest: '0 8 * * 1-5', timezone: America/New_York}\n"
        "rules:\n  - {name: r, query: iran, channels: [desk]}\n"
    )
    desk = load_config(tmp_path).channels["desk"]
    assert desk.digest is not None and desk.digest.trigger is not None
    now = datetime(2026, 7, 3, 13, 0, tzinfo=UTC).timestamp()  # Friday 09:00 in New York
    due = datetime.fromtimestamp(desk.digest.next_after(now), ZoneInfo("America/New_York"))
    assert (due.strftime("%A"), due.hour) == ("Monday", 8)


def test_values_are_parsed_into_what_they_mean(tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text(
        "defaults: {allow_networks: [10.0.0.0/8]}\n"
        "feeds:\n  - {name: w, url: 'https://example.org/w', allow_networks: ['::1'],"
        " timeout: 1m}\n"
    )
    (tmp_path / "rules.yaml").write_text(
        CHANNELS + "rules:\n  - {name: r, query: iran, channels: [hook], max_alerts: 5/30m}\n"
    )
    config = load_config(tmp_path)
    feed = config.feeds[0]
    assert [str(n) for n in feed.allow_networks] == ["10.0.0.0/8", "::1/128"]
    assert feed.timeout == 60.0
    assert (config.rules[0].max_alerts.count, config.rules[0].max_alerts.window) == (5, 1800.0)  # type: ignore[union-attr]


def test_a_file_saved_in_another_encoding_says_where_and_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "feeds.yaml").write_bytes(FEEDS.encode() + "# café\n".encode("latin-1"))
    (tmp_path / "rules.yaml").write_text(
        CHANNELS + "rules:\n  - {name: r, query: x, channels: [desk]}\n"
    )
    status = main(["check", "--config-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert status == 1
    assert "feeds.yaml:4:6: not UTF-8 text (byte 0xe9); save the file as UTF-8" in (out + err)
