"""feeds.yaml keys of the schedule: polling limits, interval bounds, max_age."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import Config, load_config
from monitor.errors import ConfigError
from monitor.models import PollingConfig

RULES = """\
channels:
  desk: {type: file, path: /tmp/alerts.jsonl}
rules:
  - {name: r, query: tehran, channels: [desk]}
"""


def load(tmp_path: Path, feeds: str) -> Config:
    (tmp_path / "feeds.yaml").write_text(feeds)
    (tmp_path / "rules.yaml").write_text(RULES)
    return load_config(tmp_path, cached=False)


def problems(tmp_path: Path, feeds: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, feeds)
    return info.value.problems


def test_defaults_without_any_of_the_keys(tmp_path: Path) -> None:
    config = load(tmp_path, "feeds:\n  - {name: A, url: 'https://a.example/f'}\n")
    assert config.polling == PollingConfig(max_polls=50, per_host=2, lease=60)
    (a,) = config.feeds
    assert (a.interval, a.min_interval, a.max_interval, a.max_age) == (300, None, None, 259200)
    assert a.interval_bounds == (300, 1800)


def test_polling_bounds_and_max_age_from_defaults_and_feeds(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "polling: {max_polls: 200, per_host: 4, lease: 20s}\n"
        "defaults: {interval: 1m, min_interval: 30s, max_interval: 2h, max_age: 7d}\n"
        "feeds:\n"
        "  - {name: A, url: 'https://a.example/f'}\n"
        "  - {name: B, url: 'https://b.example/f', max_interval: 10m, max_age: off}\n"
        "  - {name: C, url: 'https://c.example/f', max_age: 3650d}\n",
    )
    assert config.polling == PollingConfig(max_polls=200, per_host=4, lease=20)
    a, b, c = config.feeds
    assert a.interval_bounds == (30, 7200) and a.max_age == 7 * 86400
    assert b.interval_bounds == (30, 600) and b.max_age is None
    assert c.max_age == 3650 * 86400  # an archive of ten years: further back than a year


def test_bad_values_are_reported_with_their_place(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "polling: {max_polls: 0, per_host: many, burst: 3, lease: 1s}\n"
        "feeds:\n"
        "  - {name: A, url: 'https://a.example/f', min_interval: 1h, max_interval: 5m}\n"
        "  - {name: B, url: 'https://b.example/f', max_age: soon}\n",
    )
    text = "\n".join(found)
    assert "feeds.yaml:1:" in text and "polling.max_polls: expected an integer from 1" in text
    assert "polling.per_host: expected an integer" in text
    assert "polling.burst: unknown key" in text
    assert "polling.lease: must be at least 2s" in text
    assert "feeds[0].max_interval: max_interval (300s) is shorter than min_interval (3600s)" in text
    assert "feeds[1].max_age: expected a duration" in text and "(or off)" in text
