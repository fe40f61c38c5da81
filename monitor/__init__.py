"""news-monitor: watches news feeds, matches rules, delivers alerts."""

__version__ = "0.1.0"
