"""Functions for the worker-pool tests: importable by reference in a worker process."""

from __future__ import annotations

import os
import signal
import time

_setup: str | None = None


def configure(value: str) -> str:
    global _setup
    _setup = value
    return value


def refuse_setup(value: str) -> str:
    raise ValueError(f"cannot set up with {value!r}")


def setting() -> str | None:
    return _setup


def pid() -> int:
    return os.getpid()


def add(a: int, b: int) -> int:
    return a + b


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def spin_forever() -> None:
    while True:
        pass


def crash() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def raise_lookup() -> None:
    raise LookupError("unknown encoding: rot13")


# ---------------------------------------------------------------- pipeline seams
# Setups for a worker that runs the real stages, except that a marked input misbehaves
# the way a bug or a pathological input would. They stand in for `monitor.tasks.load_rules`.

POISON = "POISON"


def load_rules_poisoned(rules: object, entities: object) -> int:
    """The real rules; matching a document whose text says POISON raises, extracting a
    page that says SLOW takes a minute, and parsing a feed whose URL says POISON raises."""
    import monitor.parse
    import monitor.tasks as tasks

    count = tasks.load_rules(rules, entities)  # type: ignore[arg-type]
    real_match, real_extract, real_parse = (
        tasks.Matcher.match,
        tasks.extract_article,
        monitor.parse.parse_feed,
    )

    def match(self: object, doc: object) -> object:
        if POISON in getattr(doc, "text", ""):
            raise KeyError("a bug in matching")
        return real_match(self, doc)  # type: ignore[arg-type]

    def extract(html: str, *args: object, **kwargs: object) -> object:
        if "SLOW" in html:
            time.sleep(60)
        return real_extract(html, *args, **kwargs)  # type: ignore[arg-type]

    def parse(body: bytes, **kwargs: object) -> object:
        if POISON in str(kwargs.get("url")):
            raise RecursionError("maximum recursion depth exceeded")
        return real_parse(body, **kwargs)  # type: ignore[arg-type]

    tasks.Matcher.match = match  # type: ignore[method-assign,assignment]
    tasks.extract_article = extract  # type: ignore[assignment]
    monitor.parse.parse_feed = parse  # type: ignore[assignment]  # what a parse task looks up
    return count
