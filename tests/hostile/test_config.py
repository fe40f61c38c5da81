"""Hostile configuration files: whatever feeds.yaml, rules.yaml or an included file holds,
loading ends in the configuration or a ConfigError that says file:line:col, within a time
and memory bound.

Classes, each with several variants: alias bombs ("billion laughs" through lists, mappings,
merge keys, keys and long strings; in each file), aliases inside what they name, nesting
past the limit (flow and block, through an alias; with libyaml and with PyYAML's own
parser), scalars that do not construct, tags, patterns that used to backtrack, long values
quoted in messages, files that are not regular files. The property tests at the end throw
generated YAML of every shape at `load_config` and `parse_yaml`.
"""

from __future__ import annotations

import os
import re
import signal
import string
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import redact
from monitor.config import Config, RulesConfig, load_config, load_rules, yamlpos
from monitor.errors import ConfigError
from tests.support.procs import environment, run_measured

ROOT = Path(__file__).resolve().parents[2]
FEEDS = "feeds:\n  - {name: A, url: 'https://example.org/feed'}\n"
RULES = (
    "channels: {log: {type: file, path: a.jsonl}}\n"
    "rules:\n  - {name: r, query: iran, channels: [log]}\n"
)
PARSERS = [
    pytest.param(yaml.CSafeLoader, id="libyaml"),
    pytest.param(yaml.SafeLoader, id="pure-python"),
]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("MONITOR_CACHE_DIR", str(tmp_path / "cache"))
    yield
    redact.forget_secrets()


@pytest.fixture(params=PARSERS)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Both YAML parsers: libyaml (the usual one) and PyYAML's own (builds without libyaml)."""
    monkeypatch.setattr(yamlpos, "_Loader", request.param)
    return request.param


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(what `fn` returned or raised, seconds)."""
    started = time.perf_counter()
    try:
        result = fn()
    except Exception as e:  # the callers assert on its type
        result = e
    return result, time.perf_counter() - started


def peak_bytes(fn: Callable[[], Any]) -> int:
    """The most memory `fn` had allocated at once (a second run: tracing slows it down)."""
    tracemalloc.start()
    try:
        timed(fn)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def write(d: Path, feeds: str = FEEDS, rules: str = RULES) -> Path:
    (d / "feeds.yaml").write_text(feeds, encoding="utf-8")
    (d / "rules.yaml").write_text(rules, encoding="utf-8")
    return d


def refused(d: Path, *, seconds: float = 2.0, megabytes: int = 40) -> list[str]:
    """load_config's problems; fails unless it raises a ConfigError within the bounds."""
    result, elapsed = timed(lambda: load_config(d))
    assert isinstance(result, ConfigError), f"expected a ConfigError, got {result!r}"
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    peak = peak_bytes(lambda: load_config(d))
    assert peak < megabytes << 20, f"peak {peak >> 20} MB"
    return list(result.problems)


def points_at(problem: str, d: Path, char: str) -> None:
    """The problem's file:line:col is a `char` in that file."""
    m = re.match(r"(.+?):(\d+):(\d+): ", problem)
    assert m, problem
    line, col = int(m.group(2)), int(m.group(3))
    text = (d / m.group(1)).read_text()  # an absolute name replaces `d`
    assert text.splitlines()[line - 1][col - 1] == char, problem


# --------------------------------------------------------------------------- alias bombs


def list_bomb(width: int, levels: int) -> str:
    lines = ["b0: &b0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def mapping_bomb(width: int, levels: int) -> str:
    lines = ["b0: &b0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}"]
    for i in range(1, levels + 1):
        items = ", ".join(f"k{j}: *b{i - 1}" for j in range(width))
        lines.append(f"b{i}: &b{i} {{{items}}}")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int) -> str:
    """Each level merges the one before and lists it twice more."""
    lines = ["b0: &b0 {a: lol, b: lol}"]
    for i in range(1, levels + 1):
        lines.append(f"b{i}: &b{i} {{<<: *b{i - 1}, x{i}: [*b{i - 1}, *b{i - 1}]}}")
    return "\n".join(lines) + "\n"


def string_bomb(chars: int, uses: int) -> str:
    """One long string aliased over and over: the node count stays small, the text grows."""
    return f"s: &s '{'x' * chars}'\nuses: [" + ", ".join(["*s"] * uses) + "]\n"


def key_bomb(chars: int, uses: int) -> str:
    """A long string aliased as the key of many mappings."""
    maps = ", ".join("{*k : 1}" for _ in range(uses))
    return f"k: &k '{'x' * chars}'\nmaps: [{maps}]\n"


BOMBS = {
    "list 9x9": list_bomb(9, 9),
    "list 2x64": list_bomb(2, 64),
    "list 50x5": list_bomb(50, 5),
    "mapping 9x9": mapping_bomb(9, 9),
    "merge 40": merge_bomb(40),
    "string 100k x 100": string_bomb(100_000, 100),
    "key 100k x 100": key_bomb(100_000, 100),
}


@pytest.mark.parametrize("bomb", BOMBS.values(), ids=BOMBS.keys())
def test_alias_bomb_in_rules_is_refused_at_the_alias(tmp_path: Path, bomb: str) -> None:
    d = write(tmp_path, rules=RULES + bomb)
    (problem,) = refused(d)
    assert problem.startswith("rules.yaml:") and "characters long written out" in problem
    points_at(problem, d, "*")


@pytest.mark.parametrize(
    ("bomb", "use"),
    [(list_bomb(9, 9), "tags: *b9"), (mapping_bomb(9, 9), "extract: *b9")],
    ids=["list in tags", "mapping in extract"],
)
def test_alias_bomb_in_feeds_is_refused(tmp_path: Path, bomb: str, use: str) -> None:
    feeds = bomb + f"feeds:\n  - {{name: A, url: 'https://example.org/f', {use}}}\n"
    d = write(tmp_path, feeds=feeds)
    (problem,) = refused(d)
    assert problem.startswith("feeds.yaml:") and "written out" in problem
    points_at(problem, d, "*")


def test_alias_bomb_in_an_included_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "people.yaml").write_text(list_bomb(10, 10) + "entities: {}\n")
    d = write(tmp_path, rules="include: people.yaml\n" + RULES)
    (problem,) = refused(d)
    assert problem.startswith(f"{tmp_path / 'people.yaml'}:")
    points_at(problem, d, "*")


def test_alias_bomb_with_either_parser(tmp_path: Path, parser: Any) -> None:
    d = write(tmp_path, rules=RULES + mapping_bomb(9, 9))
    (problem,) = refused(d)
    points_at(problem, d, "*")


def shared_description(uses: int, padding: int) -> str:
    """Rules sharing one 15,000-character description, then `padding` plain rules."""
    lines = ["channels: {log: {type: file, path: a.jsonl}}", "rules:"]
    lines += [f"  - {{name: r, query: iran, channels: [log], description: &d '{'d' * 15_000}'}}"]
    lines += [
        f"  - {{name: s{i}, query: iran, channels: [log], description: *d}}" for i in range(uses)
    ]
    lines += [f"  - {{name: p{i:05}, query: tehran, channels: [log]}}" for i in range(padding)]
    return "\n".join(lines) + "\n"


def test_the_alias_budget_grows_with_the_file(tmp_path: Path) -> None:
    """Aliases may make a file, written out, 10 times longer (at least 1,000,000
    characters): 100 uses of a 15,000-character block are refused in a file of 20 KB and
    accepted in one of 300 KB."""
    (problem,) = refused(write(tmp_path, rules=shared_description(100, 0)))
    assert "more than 1,000,000 characters long written out" in problem
    big = tmp_path / "big"
    big.mkdir()
    result, elapsed = timed(lambda: load_config(write(big, rules=shared_description(100, 9_000))))
    assert isinstance(result, Config), result
    assert len(result.rules) == 9_101 and result.rules[50].description == "d" * 15_000
    assert elapsed < 10


def test_shared_defaults_and_merges_load(tmp_path: Path) -> None:
    """What anchors are for: one block of settings merged into many feeds, a shared list."""
    feeds = "defaults: &d {interval: 10m, timeout: 5s}\nfeeds:\n"
    feeds += "  - {name: f0, url: 'https://example.org/0', tags: &t [world, politics]}\n"
    feeds += "".join(
        f"  - {{<<: *d, name: f{i}, url: 'https://example.org/{i}', tags: *t}}\n"
        for i in range(1, 2_000)
    )
    feeds += "  - <<: [{interval: 1m}, *d]\n    name: own\n    url: 'https://example.org/own'\n"
    config = load_config(write(tmp_path, feeds=feeds))
    assert len(config.feeds) == 2_001
    assert (config.feeds[7].interval, config.feeds[7].tags) == (600.0, ("world", "politics"))
    assert (config.feeds[-1].interval, config.feeds[-1].timeout) == (60.0, 5.0)


def test_a_problem_in_merged_settings_points_at_the_merge(tmp_path: Path) -> None:
    feeds = "defaults: {}\nbase: &b {interval: 5 minutes}\nfeeds:\n"
    feeds += "  - name: A\n    url: 'https://example.org/a'\n    <<: *b\n"
    problems = refused(write(tmp_path, feeds=feeds))
    assert problems[1].startswith("feeds.yaml:6:9: feeds[0].interval: expected a duration")


# --------------------------------------------------------------------------- cycles

CYCLES = [
    "a: &x [*x]\n",
    "a: &x {b: *x}\n",
    "a: &x {<<: *x}\n",
    "a: &x [1, [2, {c: [3, *x]}]]\n",
    "a: &x {*x : 1}\n",
    "a: &x\n  b:\n    - c: *x\n",
]


@pytest.mark.parametrize("cycle", CYCLES)
def test_a_collection_that_contains_itself_is_refused(
    tmp_path: Path, parser: Any, cycle: str
) -> None:
    d = write(tmp_path, rules=RULES + cycle)
    (problem,) = refused(d)
    assert "cannot contain itself" in problem, problem
    points_at(problem, d, "*")


# --------------------------------------------------------------------------- nesting


def nested(kind: str, depth: int) -> str:
    if kind == "flow list":
        return "x: " + "[" * depth + "]" * depth + "\n"
    if kind == "flow mapping":
        return "x: " + "{a: " * depth + "b" + "}" * depth + "\n"
    if kind == "unclosed":
        return "x: " + "[{a: " * (depth // 2) + "\n"
    if kind == "block list":
        return "x:\n" + "- " * depth + "b\n"
    if kind == "block mapping":  # the file grows with the square of the depth: stop at 3,000
        depth = min(depth, 3_000)
        return "x:\n" + "".join(" " * i + "a:\n" for i in range(depth)) + " " * depth + "b\n"
    raise AssertionError(kind)


@pytest.mark.parametrize("depth", [101, 990, 100_000])
@pytest.mark.parametrize(
    "kind", ["flow list", "flow mapping", "unclosed", "block list", "block mapping"]
)
def test_deep_nesting_is_a_positioned_error(
    tmp_path: Path, parser: Any, kind: str, depth: int
) -> None:
    d = write(tmp_path, rules=RULES + nested(kind, depth))
    (problem,) = refused(d, seconds=5)
    assert re.match(r"rules\.yaml:\d+:\d+: ", problem), problem
    assert "nested deeper than 100 levels" in problem or "maximum nesting depth" in problem


def test_the_nesting_limit_is_one_hundred_levels(parser: Any) -> None:
    assert yamlpos.parse_yaml("[" * 100 + "]" * 100, "x").value is not None
    with pytest.raises(ConfigError, match=r"^x:1:101: nested deeper than 100 levels"):
        yamlpos.parse_yaml("[" * 101 + "]" * 101, "x")


def test_an_alias_cannot_nest_past_the_limit(tmp_path: Path, parser: Any) -> None:
    """Sixty levels placed sixty levels down make 120."""
    deep = "[" * 60 + "]" * 60
    d = write(tmp_path, rules=RULES + f"a: &d {deep}\nb: " + "[" * 60 + "*d" + "]" * 60 + "\n")
    (problem,) = refused(d)
    assert "deeper than 100 levels" in problem and len(problem) < 250
    points_at(problem, d, "*")


# --------------------------------------------------------------------------- scalars and tags

BAD_SCALARS = [
    ("2020-13-45", "timestamp"),
    ("0000-01-01", "timestamp"),
    ("2001-12-14 21:59:43 +99:00", "timestamp"),
    ("9" * 5_000, "int"),
    ("!!int abc", "int"),
    ("!!float x", "float"),
    ("!!bool maybe", "bool"),
    ("!!timestamp soon", "timestamp"),
    ("!!binary 'é'", "binary"),
]


@pytest.mark.parametrize(("scalar", "kind"), BAD_SCALARS)
def test_a_scalar_that_does_not_construct_is_a_problem_where_it_is(
    tmp_path: Path, scalar: str, kind: str
) -> None:
    feeds = f"feeds:\n  - name: A\n    url: 'https://example.org/f'\n    interval: {scalar}\n"
    (problem,) = refused(write(tmp_path, feeds=feeds))
    assert problem.startswith(f"feeds.yaml:4:15: feeds[0].interval: not a valid {kind}: ")
    assert len(problem) < 300


@pytest.mark.parametrize(
    "value",
    ["!!python/object/apply:os.system ['true']", "!!set {a, b}", "!!omap [a: 1]", "!secret X"],
)
def test_tags_beyond_plain_values_are_refused(tmp_path: Path, value: str) -> None:
    feeds = f"feeds:\n  - {{name: A, url: 'https://example.org/f', tags: {value}}}\n"
    (problem,) = refused(write(tmp_path, feeds=feeds))
    assert problem.startswith("feeds.yaml:2:") and "unsupported tag" in problem


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("interval", ".nan", "expected a positive duration"),
        ("interval", "-.inf", "expected a positive duration"),
        ("interval", ".inf", "expected a duration of at most 366d"),
        ("interval", "1.0e+999", "expected a duration of at most 366d"),
        ("interval", "1" + "0" * 400, "expected a duration of at most 366d"),
        ("interval", "0x" + "f" * 5_000, "expected a duration of at most 366d"),
        ("timeout", "'" + "9" * 400 + "s'", "expected a duration of at most 366d"),
        ("interval", "[1, 2]", "expected a duration such as"),
        ("url", "'http://[x/'", "expected an http(s) URL"),
        ("url", "'http://example.org:99999/f'", "expected an http(s) URL"),
        ("url", "'http://example.org:0/f'", "expected an http(s) URL"),
        ("enabled", "'" + "y" * 100_000 + "'", "expected true or false"),
    ],
)
def test_wrong_values_in_feeds_are_problems(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    feed = {"name": "A", "url": "'https://example.org/f'", key: value}
    feeds = "feeds:\n  - {" + ", ".join(f"{k}: {v}" for k, v in feed.items()) + "}\n"
    (problem,) = refused(write(tmp_path, feeds=feeds))
    assert problem.startswith("feeds.yaml:2:") and f"feeds[0].{key}: {message}" in problem
    assert len(problem) < 300


LONG_CRONTAB = "1," * 5_000 + "1 * * * *"
RULES_VALUES = [
    ("operator_channel: [a, b]", "operator_channel: unknown channel ['a', 'b']"),
    ("operator_channel: {a: 1}", "operator_channel: unknown channel {'a': 1}"),
    (f"channels: {{d: {{type: file, path: x, templates: '{'t' * 5_000}'}}}}", "no such directory"),
    ("channels: {d: {type: email, to: [a@b.c], from: a@b.c, smtp: {port: 70000}}}", "to 65535"),
    (f"channels: {{d: {{type: email, smtp: {{port: 0x{'f' * 5_000}}}}}}}", "of 20,000 bits"),
    (f"channels: {{d: {{type: file, path: x, digest: '{LONG_CRONTAB}'}}}}", "10,009 characters"),
    ("channels: {d: {type: webhook, url: 'http://[::1/x'}}", "expected an http(s) URL"),
    (f"rules: [{{name: r, query: i, max_alerts: '{'9' * 5_000}/h'}}]", "expected a limit"),
    (f"rules: [{{name: r, query: i, max_alerts: '5/{'9' * 400}h'}}]", "expected a limit"),
    ("rules: [{name: r, query: i, max_alerts: 5}]", "expected a limit"),
    ('entities: {"iran\\n": {aliases: [Iran]}}', "entity ids use lowercase letters"),
]


@pytest.mark.parametrize(("line", "message"), RULES_VALUES)
def test_wrong_values_in_rules_are_problems(tmp_path: Path, line: str, message: str) -> None:
    rules = line + "\n" + ("" if line.startswith("rules:") else "rules: []\n")
    problems = refused(write(tmp_path, rules=rules))
    assert any(p.startswith("rules.yaml:1:") and message in p for p in problems), problems
    assert max(len(p) for p in problems) < 300


# --------------------------------------------------------------------------- slow patterns

SPACES = " " * 100_000


@pytest.mark.parametrize(
    "value", [f"5{SPACES}x", f"{SPACES}5{SPACES}m{SPACES}x", f"1{'0' * 100_000}.{'0' * 99_999}x"]
)
def test_durations_are_read_in_linear_time(tmp_path: Path, value: str) -> None:
    """main's pattern split runs of spaces every way: 100,000 spaces took 66 s."""
    feeds = f"feeds:\n  - {{name: A, url: 'https://example.org/f', interval: '{value}'}}\n"
    (problem,) = refused(write(tmp_path, feeds=feeds), seconds=1)
    assert "expected a duration" in problem


@pytest.mark.parametrize(
    "value", [f"1/{SPACES}x", f"1{SPACES}/{SPACES}5{SPACES}x", f"1/{'5' * 100_000}.x"]
)
def test_rates_are_read_in_linear_time(tmp_path: Path, value: str) -> None:
    """main's took 93 s on 100,000 spaces after the slash."""
    rules = RULES.replace("channels: [log]", f"channels: [log], max_alerts: '{value}'")
    (problem,) = refused(write(tmp_path, rules=rules), seconds=1)
    assert "expected a limit" in problem


# --------------------------------------------------------------------------- messages


def test_long_values_are_cut_short_in_messages(tmp_path: Path) -> None:
    """A 100,000-character rule name and 20,000 unknown channels: every problem names
    both, and stays short (main copied the whole name into each: 2 GB)."""
    channels = ", ".join(f"c{i}" for i in range(20_000))
    rules = f"rules:\n  - {{name: '{'n' * 100_000}', query: iran, channels: [{channels}]}}\n"
    problems = refused(write(tmp_path, rules=rules), seconds=5, megabytes=100)
    assert len(problems) == 20_000
    assert max(len(p) for p in problems) < 300
    assert problems[0].startswith("rules.yaml:2:") and "unknown channel 'c0'" in problems[0]


def test_keys_in_messages_are_cut_short_and_escaped(tmp_path: Path) -> None:
    rules = f'rules: []\n"a\\e[2Jb": 1\n? {"k" * 10_000}\n: 1\n'
    escaped, long = refused(write(tmp_path, rules=rules))
    assert escaped == "rules.yaml:2:1: a\\x1b[2Jb: unknown key"
    assert long.startswith("rules.yaml:3:3: kkk") and len(long) < 100


# --------------------------------------------------------------------------- files


def test_an_include_that_is_a_fifo_or_a_device_is_refused_unread(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    d = write(tmp_path, rules="include: [pipe.yaml, /dev/zero]\n" + RULES)
    assert refused(d) == [
        f"{tmp_path / 'pipe.yaml'}: not a regular file",
        "/dev/zero: not a regular file",
    ]


def test_binary_and_oversized_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "feeds.yaml").write_bytes(b"feeds: [\xff\xfe\x00]\n")
    (tmp_path / "rules.yaml").write_text(RULES + "# " + "x" * 2_000 + "\n")
    monkeypatch.setattr(yamlpos, "MAX_FILE_BYTES", 1_000)
    problems = refused(tmp_path)
    assert problems[0] == "feeds.yaml:1:9: not UTF-8 text (byte 0xff); save the file as UTF-8"
    assert problems[1] == "rules.yaml: larger than 1,000 bytes"


def test_an_include_listed_many_times_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "people.yaml").write_text("entities:\n  zarif: {aliases: [Zarif]}\n")
    includes = "".join("  - people.yaml\n  - 'peo*.yaml'\n" for _ in range(5_000))
    rules = tmp_path / "rules.yaml"
    rules.write_text("include:\n" + includes + "rules:\n  - {name: r, query: '@zarif'}\n")
    result, elapsed = timed(lambda: load_rules(rules))
    assert isinstance(result, RulesConfig), result
    assert elapsed < 5


# --------------------------------------------------------------------------- end to end


def run_check(config: Path) -> tuple[int, str, float]:
    """`monitor check` in a child: exit code, stderr, peak RSS in MB (sampled from /proc:
    wait4's ru_maxrss would count this test process's memory, which the child's exec
    inherits as its high-water mark)."""
    env = environment(PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "monitor", "check", "--config-dir", str(config)]
    measured = run_measured(command, env=env, timeout=120)
    return measured.returncode, measured.stderr, measured.peak_mb


@pytest.mark.parametrize(
    "hostile",
    [list_bomb(9, 9), "a: &x [*x]\n", nested("flow list", 990), "a: 2020-13-45\n"],
    ids=["alias bomb", "cycle", "990 levels", "bad date"],
)
def test_check_lists_the_problem_without_a_traceback(tmp_path: Path, hostile: str) -> None:
    code, err, peak_mb = run_check(write(tmp_path, rules=RULES + hostile))
    assert code == 1
    assert "Traceback" not in err and re.search(r"^rules\.yaml:\d+:\d+: ", err, re.M), err
    assert peak_mb < 300  # main: 4.9 GB and a MemoryError on the bomb


def peak_rss_mb(pid: int) -> int:
    """A running process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) >> 10
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def test_a_hostile_reload_is_rejected_and_the_daemon_runs_on(tmp_path: Path) -> None:
    """The running service is sent a bomb, a cycle and 990 levels in turn: each reload is
    rejected with a config_invalid line that says where, memory stays flat, and a good
    edit afterwards is taken."""
    from tests.support.site import FeedEntry, NewsSite, rss_feed

    config, log = tmp_path / "etc", tmp_path / "log"
    config.mkdir()
    with NewsSite() as site, log.open("w") as out:
        url = site.add_feed("/f.xml", rss_feed("F", [FeedEntry("Tehran", "https://x.org/1", "1")]))
        feeds = f"defaults: {{interval: 1h, extract: false}}\nfeeds:\n  - {{name: F, url: '{url}'}}"
        write(config, feeds=feeds + "\n")
        env = dict(os.environ, PYTHONPATH=str(ROOT), MONITOR_DB=str(tmp_path / "m.db"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config-dir", str(config)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

        def wait_for(text: str, count: int = 1) -> None:
            deadline = time.monotonic() + 30
            while log.read_text().count(text) < count:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"no {text!r} in:\n{log.read_text()}"
                time.sleep(0.1)

        try:
            wait_for("event='service_started'")
            baseline = peak_rss_mb(proc.pid)
            hostile = [list_bomb(9, 9), "a: &x [*x]\n", nested("flow list", 990)]
            for n, text in enumerate(hostile, 1):
                (config / "rules.yaml").write_text(RULES + text)
                os.kill(proc.pid, signal.SIGHUP)
                wait_for("event='reload_rejected'", n)
            lines = [ln for ln in log.read_text().splitlines() if "config_invalid" in ln]
            assert len(lines) == 3 and all("rules.yaml:" in ln for ln in lines), lines
            assert "Traceback" not in log.read_text()
            assert peak_rss_mb(proc.pid) < baseline + 50
            (config / "rules.yaml").write_text(RULES.replace("iran", "tehran"))
            os.kill(proc.pid, signal.SIGHUP)
            wait_for("event='config_reloaded'")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0


# --------------------------------------------------------------------------- properties

CONFIG_KEYS = [
    "defaults", "feeds", "name", "url", "interval", "timeout", "extract", "selector", "remove",
    "tags", "allow_networks", "enabled", "auth_env", "include", "entities", "aliases", "exact",
    "channels", "type", "digest", "templates", "to", "from", "smtp", "host", "port", "starttls",
    "tls", "username", "password_env", "secret_env", "urls", "urls_env", "rules", "query",
    "languages", "min_mentions", "description", "examples", "match", "no_match", "max_alerts",
    "operator_channel", "timezone", "path", "<<", "'<<'",
]  # fmt: skip
SCALARS = [
    "~", "null", "true", "no", "on", "0", "-1", "1e999", ".nan", ".inf", "-.inf", "0x1F", "0o17",
    "1_000", "1:30", "1:2:3:4:5", "2020-13-45", "2001-12-14t21:59:43.10-05:00", "9" * 4_400,
    "5m", "30s", "0s", "-5m", "250ms", "1.5e3s", "20/h", "0/h", "5/0m", "5/.5h", "0 8 * * *",
    "'* * * * * * *'", "'http://[x/'", "'http://u:pw@example.org/f'", "'http://h:99999/'",
    "https://example.org/feed", "http://example.org/f", "ftp://x", "Europe/London",
    "../../etc/passwd", "a" * 3_000, "'@iran'", "'iran AND'", "'((iran) OR \"a b\")'",
    "'NOT NOT iran'", "ＩＲＡＮ", "\u202e", '"line\\nbreak"', '"\\t"', "é", "🙂",
    "!!binary aGk=", "!!binary '%'", "!!int abc", "!!bool maybe", "!!timestamp x",
    "!!python/object:os.system ls", "!foo x", "!!set {a, b}", "!!str 1", "SECRET_OK",
    "SECRET_NOCOLON", "SECRET_DIR", "SECRET_BINARY", "MISSING", "'a/b'", "127.0.0.0/8",
    "'::1/129'", "email", "webhook", "file", "apprise", "'*.yaml'", "/dev/zero", '"\\0"',
    '"\\ud800"', "|\n  block\n  text",
]  # fmt: skip
INSERTS = [
    "\t", "\x00", "\ufeff", "\x85", "\u2028", "\r", "'", '"', "{", "[", ":", "- ", "&a ",
    "*a", "<<: ", "!!", "%YAML 1.1\n", "---\n", "\n  ", "\xff",
]  # fmt: skip

scalar = st.one_of(
    st.sampled_from(SCALARS),
    st.text(max_size=40).map(lambda s: '"' + s.encode("unicode_escape").decode() + '"'),
    st.text(string.printable, max_size=20),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats().map(repr),
)
key = st.one_of(st.sampled_from(CONFIG_KEYS), st.text(string.ascii_letters + "_-", max_size=8))
anchor = st.sampled_from(["a", "b", "c"])
Tree = tuple[Any, ...]


def _extend(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    return st.one_of(
        st.lists(st.tuples(key, children), max_size=5).map(lambda kv: ("map", kv)),
        st.lists(children, max_size=5).map(lambda xs: ("seq", xs)),
        st.tuples(anchor, children).map(lambda t: ("anchor", *t)),
    )


tree = st.recursive(
    st.one_of(scalar.map(lambda s: ("scalar", s)), anchor.map(lambda a: ("alias", a))),
    _extend,
    max_leaves=25,
)


def render(node: Tree, indent: int = 0, flow: bool = False) -> str:
    """YAML text for a tree: flow style, or block style indented by `indent`."""
    kind = node[0]
    if kind == "scalar":
        return str(node[1])
    if kind == "alias":
        return f"*{node[1]}"
    if kind == "anchor":
        return f"&{node[1]} " + render(node[2], indent, True)
    if flow or not node[1]:
        if kind == "map":
            return "{" + ", ".join(f"{k}: {render(v, 0, True)}" for k, v in node[1]) + "}"
        return "[" + ", ".join(render(v, 0, True) for v in node[1]) + "]"
    pad = " " * indent
    lines = []
    for item in node[1]:
        head, value = (f"{item[0]}:", item[1]) if kind == "map" else ("-", item)
        if value[0] in ("map", "seq") and value[1]:
            lines.append(f"{pad}{head}\n{render(value, indent + 2)}")
        else:
            lines.append(f"{pad}{head} {render(value, indent + 2, True)}")
    return "\n".join(lines)


def document(top_keys: list[str]) -> st.SearchStrategy[str]:
    """A file: a mapping of the file's own top-level keys to generated trees, or any tree."""
    entries = st.lists(st.tuples(st.sampled_from(top_keys), tree), min_size=1, max_size=5)
    shaped = st.tuples(entries, st.booleans()).map(lambda p: render(("map", p[0]), 0, p[1]))
    return st.one_of(shaped, tree.map(render)).map(lambda text: text + "\n")


feeds_file = document(["defaults", "feeds", "feeds"])
rules_file = document(["entities", "channels", "rules", "rules", "operator_channel", "include"])
edits = st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(INSERTS)), max_size=3)


def edited(text: str, inserts: list[tuple[int, str]]) -> bytes:
    """`text` as UTF-8 with each insert made at its offset (0xff: a byte UTF-8 never has)."""
    data = text.encode("utf-8")
    for at, insert in inserts:
        at %= len(data) + 1
        data = data[:at] + (b"\xff" if insert == "\xff" else insert.encode()) + data[at:]
    return data


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Secrets the generated files may name: good, without a colon, a directory, binary."""
    creds = tmp_path_factory.mktemp("creds")
    (creds / "SECRET_DIR").mkdir()
    (creds / "SECRET_BINARY").write_bytes(b"\xff\xfe")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SECRET_OK", "user:p@ss:word")
        mp.setenv("SECRET_NOCOLON", "token-without-colon")
        mp.setenv("CREDENTIALS_DIRECTORY", str(creds))
        mp.delenv("MISSING", raising=False)
        yield


@pytest.mark.usefixtures("secrets")
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(feeds=feeds_file, rules=rules_file, feeds_edits=edits, rules_edits=edits)
def test_load_config_ends_in_a_configuration_or_a_config_error(
    tmp_path: Path,
    feeds: str,
    rules: str,
    feeds_edits: list[tuple[int, str]],
    rules_edits: list[tuple[int, str]],
) -> None:
    (tmp_path / "feeds.yaml").write_bytes(edited(feeds, feeds_edits))
    (tmp_path / "rules.yaml").write_bytes(edited(rules, rules_edits))
    result, elapsed = timed(lambda: load_config(tmp_path))
    assert isinstance(result, Config | ConfigError), repr(result)
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
    if isinstance(result, ConfigError):
        assert result.problems
        for problem in result.problems:
            assert problem.startswith(("feeds.yaml:", "rules.yaml:", "/")), problem


def _plain(value: Any) -> Any:
    """A loaded value compared by content: our key rule (keys other than str and int become
    str) applied, NaN made equal to itself."""
    if isinstance(value, dict):
        return {(k if type(k) in (str, int) else str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return "nan"
    return value


@settings(max_examples=400, deadline=None)
@given(node=tree, flow=st.booleans(), pure=st.booleans())
def test_parse_yaml_ends_in_values_or_a_config_error(node: Tree, flow: bool, pure: bool) -> None:
    """Documents of every shape, with either parser; where PyYAML's own loader reads the
    same text too, both read the same values."""
    text = render(node, 0, flow)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(yamlpos, "_Loader", yaml.SafeLoader if pure else yaml.CSafeLoader)
        result, elapsed = timed(lambda: yamlpos.parse_yaml(text, "f.yaml"))
    assert isinstance(result, yamlpos.Located | ConfigError), repr(result)
    assert elapsed < 2.0
    if isinstance(result, ConfigError):
        assert all(p.startswith("f.yaml") for p in result.problems), result.problems
        return
    try:
        expected = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return
    assert _plain(result.value) == _plain(expected)
