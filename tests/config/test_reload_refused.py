"""A running daemon refuses a rules.yaml that would silence it, and keeps alerting.

The real service (`monitor run`) polls a local news site and posts alerts to a local webhook
receiver; rules.yaml is overwritten while it runs with a truncated file, a rule with a bare
NEAR and `rules: []`. Each reload is rejected in the log with the positioned problem, and an
article published afterwards still produces an alert under the old rules.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.support.daemon import Daemon
from tests.support.receivers import WebhookReceiver
from tests.support.site import FeedEntry, NewsSite, rss_feed

RULES = """\
entities:
  iran: {aliases: [Iran, Tehran]}
channels:
  hook: {type: webhook, url: "%s"}
rules:
  - {name: iran-desk, query: '@iran', channels: [hook]}
"""


def titles(hook: WebhookReceiver) -> list[str]:
    return [json.loads(r.body)["article"]["title"] for r in hook.requests]


def wait_for_alert(hook: WebhookReceiver, title: str, daemon: Daemon) -> None:
    deadline = time.monotonic() + 60
    while title not in titles(hook):
        assert time.monotonic() < deadline, f"no alert for {title!r}:\n{daemon.output()}"
        time.sleep(0.1)


def test_a_truncated_file_or_a_bare_near_is_refused_and_the_old_rules_keep_alerting(
    tmp_path: Path,
) -> None:
    with NewsSite() as site, WebhookReceiver() as hook:
        first = FeedEntry("Tehran talks", "https://news.example/1", "1")
        url = site.add_feed("/f.xml", rss_feed("F", [first]))
        config = tmp_path / "etc"
        config.mkdir()
        (config / "feeds.yaml").write_text(
            "metrics: off\ndefaults: {interval: 1s, extract: false}\n"
            f'feeds:\n  - {{name: F, url: "{url}"}}\n'
        )
        rules = config / "rules.yaml"
        good = RULES % hook.url
        rules.write_text(good)
        daemon = Daemon(config, tmp_path / "monitor.db", tmp_path / "log")
        try:
            wait_for_alert(hook, "Tehran talks", daemon)

            rules.write_text(good[: good.index("rules:")])  # cut before its rules
            daemon.wait_for("event='reload_rejected'", count=1)
            assert (
                "rules.yaml:1:1: rules: the file has no rules; write `rules: []` if you mean "
                "to alert on nothing"
            ) in daemon.output()

            rules.write_text(good.replace("'@iran'", "'@iran NEAR sanctions'"))
            daemon.wait_for("event='reload_rejected'", count=2)
            logged = daemon.output()  # the log escapes the quotes of the message
            assert "rules.yaml:6:30: rules[0].query: NEAR needs a distance: write NEAR/10" in logged
            assert "at column 7 (rule \\'iran-desk\\')" in logged

            rules.write_text(good[: good.index("rules:")] + "rules: []\n")  # on purpose
            daemon.wait_for("event='reload_rejected'", count=3)
            assert "the new configuration has no rules (the running one has 1)" in (daemon.output())
            assert "event='config_reloaded'" not in daemon.output()

            second = FeedEntry("Tehran again", "https://news.example/2", "2")
            site.add_feed("/f.xml", rss_feed("F", [second, first]))
            wait_for_alert(hook, "Tehran again", daemon)
        finally:
            code = daemon.stop()
    assert code == 0, daemon.output()
    assert titles(hook).count("Tehran talks") == 1
