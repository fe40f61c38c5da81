"""`monitor status` for operators, text and JSON: live daemons and their last reload, each
rule's and channel's activity, each feed's health."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from monitor.store import open_store
from tests.ops.conftest import Desk
from tests.support.daemon import Daemon


def test_status_json_gives_rules_channels_and_feeds_for_scripts(desk: Desk) -> None:
    desk.run_once()
    desk.monitor("pause", "hook")
    desk.publish("Tehran answers", "g2")
    desk.run_once()
    result = desk.monitor("status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (rule,) = report["rules"]
    assert (rule["rule"], rule["matches_day"], rule["alerts_day"]) == ("iran-watch", 2, 2)
    assert rule["muted_until"] is None and rule["last_match"] is not None
    (channel,) = report["channels"]
    assert (channel["channel"], channel["pending"], channel["sent_day"]) == ("hook", 1, 1)
    assert channel["paused_since"] is not None
    (feed,) = report["feeds"]
    assert feed["name"] == "Wire" and feed["polls"] == 2 and feed["new_items"] == 2
    assert feed["next_check"] is not None and feed["active"] is True
    assert feed["items_day"] == 2
    assert report["daemons"] == []  # run --once has stopped: none live
    text = desk.monitor("status").stdout
    assert "iran-watch: matches 2 / 2, alerts 2 / 2" in text
    assert "hook: pending 1, failed 0, sent in 24 h 1; PAUSED since" in text


def test_a_rejected_reload_shows_in_status_with_its_problems(desk: Desk, tmp_path: Path) -> None:
    daemon = Daemon(desk.config, desk.db, tmp_path / "daemon.log")
    try:
        daemon.wait_for("event='service_started'")
        good = (desk.config / "rules.yaml").read_text()
        (desk.config / "rules.yaml").write_text(good.replace("'@iran'", "'@iran AND'"))
        daemon.wait_for("event='reload_rejected'")
        shown = desk.monitor("status").stdout
        assert "REJECTED (the previous configuration stays in force)" in shown
        assert "rules.yaml:6:" in shown
        (desk.config / "rules.yaml").write_text(good + "\n")
        daemon.wait_for("event='config_reloaded'")
        deadline = time.monotonic() + 30
        while "REJECTED" in (shown := desk.monitor("status").stdout):
            assert time.monotonic() < deadline, shown
            time.sleep(0.2)
        assert " ok" in shown.split("last reload", 1)[1].splitlines()[0]
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=60) == 0


def test_status_shows_each_rules_precision_from_editors_feedback(desk: Desk) -> None:
    desk.run_once()
    desk.publish("Tehran answers", "g2")
    desk.run_once()
    store = open_store(desk.db)
    try:
        first, second = (e.article_id for e in store.inbox().entries)
        store.record_feedback(first, useful=True, who="ana", now=time.time())
        store.record_feedback(second, useful=False, who="ana", now=time.time())
        store.record_feedback(second, useful=True, who="ben", now=time.time())
    finally:
        store.close()
    assert "precision 67% (2 of 3 useful)" in desk.monitor("status").stdout
    (rule,) = json.loads(desk.monitor("status", "--json").stdout)["rules"]
    assert rule["feedback"] == {"useful": 2, "not_useful": 1, "precision": 2 / 3}
