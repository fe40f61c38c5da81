"""Every operator mistake of the table is caught by `monitor check`: an error (exit 1) or a
warning (exit 0), with file:line:col, the rule or channel it is about, and what to write.

A row is a rules.yaml (written next to a one-feed feeds.yaml and, for channel rows, the
files it names under the test's directory, ``{tmp}``) and the exact lines `check` prints.
Adding a mistake means adding a row.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from monitor.cli import main

FEEDS = "feeds:\n  - {name: wire, url: 'http://127.0.0.1:9/feed.xml'}\n"

HEAD = """\
entities:
  trump: {aliases: [Donald Trump]}
  russia: {aliases: [Russia, Moscow]}
channels:
  out: {type: file, path: "{tmp}/alerts.jsonl"}
"""


def rule(query: str, extra: str = "") -> str:
    """rules.yaml with one rule (line 8 is its query, column 12 where the value starts)."""
    return HEAD + f"rules:\n  - name: desk\n    query: {query}\n    channels: [out]\n{extra}"


@dataclass
class Row:
    rules: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # more files under {tmp}


NEAR_SAME = (
    "write NEAR/10 for 'within 10 words', NEAR/s for the same sentence or NEAR/p for the "
    'same paragraph; to search for the word, quote it: "near"'
)

ROWS: dict[str, Row] = {
    # ------------------------------------------------------------------ the rule language
    "bare NEAR": Row(
        rule("'@trump NEAR @russia'"),
        [
            f"rules.yaml:8:12: rules[0].query: NEAR needs a distance: {NEAR_SAME} "
            "at column 8 (rule 'desk')"
        ],
    ),
    "bare NEAR at the end": Row(
        rule("'@trump NEAR'"),
        [
            f"rules.yaml:8:12: rules[0].query: NEAR needs a distance: {NEAR_SAME} "
            "at column 8 (rule 'desk')"
        ],
    ),
    "bare ONEAR": Row(
        rule("'@trump ONEAR @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: ONEAR needs a distance: write ONEAR/10 for "
            "'within 10 words, in this order', ONEAR/s for the same sentence or ONEAR/p for the "
            "same paragraph; to search for the word, quote it: \"onear\" at column 8 (rule 'desk')"
        ],
    ),
    "lower-case near/15": Row(
        rule("'@trump near/15 @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: 'near/15' is not an operator: write NEAR/15 for "
            "'within 15 words' at column 8 (rule 'desk')"
        ],
    ),
    "NEAR15 without a slash": Row(
        rule("'@trump NEAR15 @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: 'NEAR15' is not an operator: write NEAR/15 for "
            "'within 15 words' at column 8 (rule 'desk')"
        ],
    ),
    "Near/5 capitalised": Row(
        rule("'@trump Near/5 @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: 'Near/5' is not an operator: write NEAR/5 for "
            "'within 5 words' at column 8 (rule 'desk')"
        ],
    ),
    "near-10 with a dash": Row(
        rule("'@trump near-10 @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: 'near-10' is not an operator: write NEAR/10 for "
            "'within 10 words' at column 8 (rule 'desk')"
        ],
    ),
    "NEAR 10 with a space": Row(
        rule("'@trump NEAR 10 @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: NEAR 10: write NEAR/10 (no space) for "
            "'within 10 words' at column 8 (rule 'desk')"
        ],
    ),
    "NEAR/ 10 with a space": Row(
        rule("'@trump NEAR/ 10 @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: 'NEAR/': write NEAR/10 (no space) for "
            "'within 10 words' at column 8 (rule 'desk')"
        ],
    ),
    "NEAR/S upper-case unit": Row(
        rule("'@trump NEAR/S @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: 'NEAR/S' is not an operator: write NEAR/s for "
            "'in the same sentence' at column 8 (rule 'desk')"
        ],
    ),
    "NEAR/x no distance": Row(
        rule("'@trump NEAR/x @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: 'NEAR/x' is not an operator: write NEAR/10 for "
            "'within 10 words' at column 8 (rule 'desk')"
        ],
    ),
    "Lexis W/10": Row(
        rule("'@trump W/10 @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: 'W/10' is another search engine's syntax: write "
            "NEAR/10 for 'within 10 words' at column 8 (rule 'desk')"
        ],
    ),
    "Lexis PRE/3": Row(
        rule("'@trump PRE/3 @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: 'PRE/3' is another search engine's syntax: write "
            "ONEAR/3 for 'within 3 words, in this order' at column 8 (rule 'desk')"
        ],
    ),
    "NOT/5": Row(
        rule("'@trump NOT/5 @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: 'NOT/5' is not an operator (NOT takes no "
            "distance): write NEAR/5 for 'within 5 words' at column 8 (rule 'desk')"
        ],
    ),
    "lower-case near alone is a word, with a warning": Row(
        rule("'@trump near @russia'"),
        warnings=[
            "rules.yaml:8:12: rules[0].query: rule 'desk': 'near' is searched for as a word "
            "(operators are upper case): write NEAR/10 for 'within 10 words', or quote it, "
            '"near", to keep the word'
        ],
    ),
    "quoted NEAR is the word": Row(rule("'@trump \"NEAR\" @russia'")),
    "unclosed parenthesis": Row(
        rule("'(@trump OR @russia'"),
        [
            "rules.yaml:8:12: rules[0].query: missing ')': add one to close the '(' at column 1 "
            "(rule 'desk')"
        ],
    ),
    "misspelt entity": Row(
        rule("'@trumpp'"),
        [
            "rules.yaml:8:12: rules[0].query: unknown entity '@trumpp' (did you mean '@trump'?) "
            "at column 1 (rule 'desk')"
        ],
    ),
    "an example that does not match": Row(
        rule("'@trump'", "    examples:\n      match: [Trump Tower]\n"),
        [
            "rules.yaml:11:15: rules[0].examples.match[0]: rule 'desk': example should match: "
            "'Trump Tower'"
        ],
    ),
    "an example that matches but should not": Row(
        rule(
            "'@trump'",
            "    examples:\n      match: ['Donald Trump spoke']\n"
            "      no_match:\n        - Donald Trump again\n",
        ),
        [
            "rules.yaml:13:11: rules[0].examples.no_match[0]: rule 'desk': example should not "
            "match: 'Donald Trump again'"
        ],
    ),
    # ------------------------------------------------------------------ YAML syntax
    "a tab for indentation": Row(
        HEAD + "rules:\n\t- {name: desk, query: x, channels: [out]}\n",
        ["rules.yaml:7:1: a tab is used for indentation; YAML needs spaces"],
    ),
    "a tab among spaces": Row(
        HEAD + "rules:\n  - name: desk\n  \tquery: x\n",
        ["rules.yaml:8:3: a tab is used for indentation; YAML needs spaces"],
    ),
    "a missing '-'": Row(
        HEAD + "rules:\n  - name: desk\n    query: x\n  name: other\n",
        [
            "rules.yaml:9:3: 'name: other' is not an item of the list above it: start a new item "
            "with '- ', or indent it like the other keys of the item it belongs to"
        ],
    ),
    "a key indented less than its siblings": Row(
        HEAD + "rules:\n  - name: desk\n   query: x\n",
        [
            "rules.yaml:8:4: 'query: x' is not an item of the list above it: start a new item "
            "with '- ', or indent it like the other keys of the item it belongs to"
        ],
    ),
    "a key indented more than its siblings": Row(
        HEAD + "rules:\n  - name: desk\n      query: x\n",
        [
            "rules.yaml:8:12: 'query: x' is read as the continuation of the line above: indent "
            "it like the other keys around it, or add the ':' missing after the key above"
        ],
    ),
    "an unclosed double quote": Row(
        HEAD + 'rules:\n  - name: "desk\n    query: x\n',
        ['rules.yaml:7:11: this " is never closed: end the value with "'],
    ),
    "an unclosed single quote": Row(
        HEAD + "rules:\n  - name: desk\n    query: '@trump\n",
        ["rules.yaml:8:12: this ' is never closed: end the value with '"],
    ),
    "an unclosed bracket": Row(
        HEAD + "rules:\n  - name: desk\n    channels: [out\n  - name: b\n",
        [
            "rules.yaml:8:15: this [ is never closed: end it with ] "
            "(and separate its items with ', ')"
        ],
    ),
    "an unclosed brace": Row(
        HEAD + "rules:\n  - {name: desk, query: x\n",
        [
            "rules.yaml:7:5: this { is never closed: end it with } "
            "(and separate its items with ', ')"
        ],
    ),
    "a colon missing after a key": Row(
        HEAD + "rules:\n  - name: desk\n    query x\n    channels: [out]\n",
        ["rules.yaml:8:5: 'query x' has no ':' after its key: write `key: value`"],
    ),
    "a colon missing after a top-level key": Row(
        "rules\n  - name: desk\n",
        [
            "rules.yaml:2:9: '- name: desk' is read as the continuation of the line above: "
            "indent it like the other keys around it, or add the ':' missing after the key above"
        ],
    ),
    "': ' inside an unquoted value": Row(
        HEAD + "rules:\n  - name: desk\n    query: title: trump\n",
        [
            "rules.yaml:8:17: a ': ' inside the value 'title: trump': quote the whole value, "
            'e.g. query: "title: trump"'
        ],
    ),
    "a value starting with @": Row(
        HEAD + "rules:\n  - name: desk\n    query: @trump\n",
        ["rules.yaml:8:12: a value cannot start with '@' in YAML: quote it: query: \"@trump\""],
    ),
    "a value starting with *": Row(
        HEAD + "rules:\n  - name: desk\n    query: * NOT sport\n",
        [
            "rules.yaml:8:12: a value cannot start with '*' in YAML: quote it: "
            'query: "* NOT sport"'
        ],
    ),
    "a backslash in double quotes": Row(
        HEAD + 'rules:\n  - name: desk\n    query: "a \\d"\n',
        [
            "rules.yaml:8:15: a backslash in double quotes starts an escape such as \\n: put the "
            "value in single quotes ('...'), or write \\\\ for one backslash"
        ],
    ),
    "text after a quoted value": Row(
        HEAD + "rules:\n  - name: 'desk' east\n",
        [
            "rules.yaml:7:18: unexpected 'east' after a value: quote the whole value, or put it "
            "on a line of its own"
        ],
    ),
    "a duplicate key": Row(
        HEAD + "rules:\n  - name: desk\n    query: x\n    query: y\n    channels: [out]\n",
        ["rules.yaml:9:5: rules[0].query: duplicate key (the later one would win)"],
    ),
    # ------------------------------------------------------------------ no rules
    "an empty rules.yaml": Row(
        "",
        [
            "rules.yaml:1:1: rules: the file has no rules; write `rules: []` if you mean to "
            "alert on nothing"
        ],
    ),
    "a rules.yaml cut before its rules": Row(
        HEAD,
        [
            "rules.yaml:1:1: rules: the file has no rules; write `rules: []` if you mean to "
            "alert on nothing"
        ],
    ),
    "a rules: key with nothing under it": Row(
        HEAD + "rules:\n",
        [
            "rules.yaml:6:7: rules: the file has no rules; write `rules: []` if you mean to "
            "alert on nothing"
        ],
    ),
    "rules: [] on purpose": Row(HEAD + "rules: []\n"),
    # ------------------------------------------------------------------ channels
    "a template with a syntax error": Row(
        "channels:\n  out:\n    type: apprise\n    urls: ['json://127.0.0.1:9/']\n"
        "    templates: '{tmp}/templates'\n"
        "rules:\n  - {name: desk, query: x, channels: [out]}\n",
        [
            "rules.yaml:5:16: channels.out.templates: channel 'out' cannot send: template "
            "{tmp}/templates/alert.txt.j2 is broken line 2: unexpected '}' (fix it, or delete "
            "it to use the built-in one)"
        ],
        files={"templates/alert.txt.j2": "{{ title }}\n{% if x }}\n"},
    ),
    "a template naming a variable no alert has": Row(
        "channels:\n  out:\n    type: apprise\n    urls: ['json://127.0.0.1:9/']\n"
        "    templates: '{tmp}/templates'\n"
        "rules:\n  - {name: desk, query: x, channels: [out]}\n",
        [
            "rules.yaml:5:16: channels.out.templates: channel 'out' cannot send: template "
            "alert.txt.j2 failed: 'titel' is undefined"
        ],
        files={"templates/alert.txt.j2": "{{ titel }}\n"},
    ),
    "an Apprise URL Apprise cannot read": Row(
        "channels:\n  out:\n    type: apprise\n    urls: ['json://127.0.0.1:9/', 'nosuch://x']\n"
        "rules:\n  - {name: desk, query: x, channels: [out]}\n",
        [
            "rules.yaml:4:35: channels.out.urls[1]: channel 'out' cannot send: Apprise does not "
            "understand this URL"
        ],
    ),
    "a file channel under a regular file": Row(
        "channels:\n  out: {type: file, path: '{tmp}/plain/alerts.jsonl'}\n"
        "rules:\n  - {name: desk, query: x, channels: [out]}\n",
        [
            "rules.yaml:2:27: channels.out.path: channel 'out' cannot send: {tmp}/plain is not a "
            "directory, so {tmp}/plain/alerts.jsonl cannot be created"
        ],
        files={"plain": "a file, not a directory\n"},
    ),
    "a file channel that is a directory": Row(
        "channels:\n  out: {type: file, path: '{tmp}'}\n"
        "rules:\n  - {name: desk, query: x, channels: [out]}\n",
        [
            "rules.yaml:2:27: channels.out.path: channel 'out' cannot send: {tmp} is a "
            "directory: name a file in it"
        ],
    ),
}


def check(tmp_path: Path, row: Row, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    config = tmp_path / "etc"
    config.mkdir()
    tmp = str(tmp_path)
    for name, text in row.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (config / "feeds.yaml").write_text(FEEDS)
    (config / "rules.yaml").write_text(row.rules.replace("{tmp}", tmp))
    code = main(["check", "--config-dir", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", list(ROWS))
def test_check_catches_the_mistake(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = ROWS[name]
    code, out, err = check(tmp_path, row, capsys)
    tmp = str(tmp_path)
    errors = [e.replace("{tmp}", tmp) for e in row.errors]
    problems = [line for line in err.splitlines() if line.startswith("rules.yaml")]
    problems += [line for line in out.splitlines() if line.startswith("rules.yaml")]
    warnings = [
        line.removeprefix("warning: ") for line in out.splitlines() if line.startswith("warning: ")
    ]
    assert problems == errors, f"stdout:\n{out}\nstderr:\n{err}"
    assert warnings == row.warnings, f"stdout:\n{out}\nstderr:\n{err}"
    assert code == (1 if errors else 0), f"stdout:\n{out}\nstderr:\n{err}"


NAMED = HEAD + (
    "  desk-alerts: {type: file, path: '{tmp}/desk.jsonl'}\n"
    "rules:\n  - {name: iran-watch, query: iran, channels: [out]}\n"
)

# (command line, with {config} and {db}; the exact line on stderr)
COMMANDS = [
    (
        ["explain", "iran-wach", "{tmp}/article.txt"],
        "error: no rule named 'iran-wach' in the configuration (did you mean 'iran-watch'?)",
    ),
    (
        ["send-test", "desk-alert"],
        "error: no channel named 'desk-alert' in the configuration (did you mean "
        "'desk-alerts'?) (channels: desk-alerts, out)",
    ),
    (
        ["mute", "iran-wtch", "--for", "1h"],
        "error: no rule named 'iran-wtch' in the configuration (did you mean 'iran-watch'?)",
    ),
    (
        ["unmute", "iran-wtch"],
        "error: no rule named 'iran-wtch' in the configuration (did you mean 'iran-watch'?)",
    ),
    (
        ["pause", "desk-alert"],
        "error: no channel named 'desk-alert' in the configuration (did you mean 'desk-alerts'?)",
    ),
    (
        ["resume", "dsk-alerts"],
        "error: no channel named 'dsk-alerts' in the configuration (did you mean 'desk-alerts'?)",
    ),
]


@pytest.mark.parametrize(("argv", "message"), COMMANDS, ids=[c[0][0] for c in COMMANDS])
def test_a_misspelt_name_gets_did_you_mean(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "etc"
    config.mkdir()
    (config / "feeds.yaml").write_text(FEEDS)
    (config / "rules.yaml").write_text(NAMED.replace("{tmp}", str(tmp_path)))
    (tmp_path / "article.txt").write_text("Iran said so.\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    where = ["--config-dir", str(config)]
    if argv[0] in ("mute", "unmute", "pause", "resume"):
        where += ["--db", str(tmp_path / "monitor.db")]
    if argv[0] == "explain":
        where = ["--rules", str(config / "rules.yaml")]
    code = main([args[0], *where, *args[1:]])
    err = capsys.readouterr().err
    assert code == 1 and message in err.splitlines(), err


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed program, as an operator runs it."""
    environment = {k: v for k, v in os.environ.items() if k != "MONITOR_LOG_LEVEL"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "monitor", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["--log-level", "foo"], None), ([], {"MONITOR_LOG_LEVEL": "verbose"})],
    ids=["option", "environment"],
)
def test_an_unknown_log_level_is_refused_with_the_choices(
    argv: list[str], env: dict[str, str] | None, tmp_path: Path
) -> None:
    result = run("run", "--once", "--config-dir", str(tmp_path), *argv, env=env)
    bad = argv[1] if argv else "verbose"
    assert result.returncode == 2, result.stderr
    assert (
        f"monitor run: error: argument --log-level: {bad!r} is not a log level: choose debug, "
        "info, warning, error, critical (from --log-level or $MONITOR_LOG_LEVEL)"
    ) in result.stderr


def test_a_log_level_in_any_case_is_accepted(tmp_path: Path) -> None:
    result = run("run", "--once", "--config-dir", str(tmp_path), "--log-level", "debug")
    assert "--log-level" not in result.stderr  # it got past the options to the config
    assert "feeds.yaml: file not found" in result.stderr


def test_an_empty_rules_file_fails_check_with_a_nonzero_exit(tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text(FEEDS)
    (tmp_path / "rules.yaml").write_text("")
    result = run("check", "--config-dir", str(tmp_path))
    assert result.returncode == 1
    assert (
        "rules.yaml:1:1: rules: the file has no rules; write `rules: []` if you mean to alert "
        "on nothing"
    ) in result.stderr.splitlines()
