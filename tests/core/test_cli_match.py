"""`monitor match`, `explain` and `extract` as an operator runs them."""

from __future__ import annotations

import fcntl
import io
import json
import os
import sys
from pathlib import Path

import pytest

from monitor import cli
from monitor.cli import PIPE_BUFFER, TerminalSafe, _widen_pipe, main
from tests.support.newsroom import article_page, load_story

ROOT = Path(__file__).resolve().parents[2]
ARTICLES = ROOT / "tests" / "data" / "articles"
RULES = ROOT / "rules.yaml"
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)  # Linux


def test_match_json_on_text_files(capsys: pytest.CaptureFixture[str]) -> None:
    inputs = sorted(str(p) for p in ARTICLES.glob("*.txt"))
    assert main(["match", "--rules", str(RULES), "--json", *inputs]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    hits = sorted((Path(x["article_id"]).stem, x["rule"]) for x in lines)
    assert ("iran-rejects-al-qaeda-ties", "iran-al-qaida") in hits
    assert ("pompeo-iran-al-qaida-debate", "iran-al-qaida") in hits
    assert not any(stem.startswith("control-") for stem, _ in hits)
    for record in lines:
        assert record["spans"] and "[[" in record["snippet"]
        for operand, words in record["spans"].items():
            assert operand.startswith(("@", '"')) or operand.isalnum()
            for field, start, end, text in words:  # a text file is all body
                assert field == "body" and Path(record["article_id"]).read_text()[start:end] == text


def test_match_html_and_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "story.html"
    page.write_text(article_page(load_story("pompeo-iran-al-qaida-debate")))
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(
        json.dumps({"id": "x1", "title": "AQ in Tehran", "text": "", "url": "https://x/1"})
        + "\n"
        + json.dumps({"id": "x2", "title": "Weather", "text": "Rain in Paris."})
        + "\n"
    )
    assert main(["match", "--rules", str(RULES), "--json", str(page), str(jsonl)]) == 0
    got = sorted(
        (json.loads(line)["article_id"], json.loads(line)["rule"])
        for line in capsys.readouterr().out.splitlines()
    )
    assert got == [(str(page), "iran-al-qaida"), ("x1", "iran-al-qaida")]


def test_match_text_output_and_bad_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = str(ARTICLES / "pompeo-iran-al-qaida-debate.txt")
    assert main(["match", "--rules", str(RULES), text]) == 0
    out = capsys.readouterr().out
    assert "iran-al-qaida" in out and "[[Tehran]]" in out and out.rstrip().endswith("1 match(es)")
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - {name: r, query: 'iran NEAR/5'}\n")
    assert main(["match", "--rules", str(bad), text]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2:22: rules[0].query: expected operand after NEAR/5" in err


def test_explain_says_which_part_failed(capsys: pytest.CaptureFixture[str]) -> None:
    control = str(ARTICLES / "control-europa-water.txt")
    assert main(["explain", "--rules", str(RULES), "iran-al-qaida", control]) == 0
    out = capsys.readouterr().out
    assert "NOT MATCHED" in out and "@iran" in out


def test_extract_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    story = load_story("iran-rejects-al-qaeda-ties")
    page = tmp_path / "p.html"
    page.write_text(article_page(story))
    assert main(["extract", "--json", str(page)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["title"] == story.title and record["language"] == "en"
    assert story.paragraphs[-1] in record["text"] and "Comments are closed" not in record["text"]


def test_json_output_widens_a_pipe_and_leaves_files_alone(tmp_path: Path) -> None:
    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    allowed = limit >= PIPE_BUFFER or os.geteuid() == 0  # root may go past the limit
    read, write = os.pipe()
    with os.fdopen(read, "rb") as r, os.fdopen(write, "w") as w:
        before = fcntl.fcntl(w.fileno(), F_GETPIPE_SZ)
        assert before < PIPE_BUFFER
        _widen_pipe(w)
        assert fcntl.fcntl(r.fileno(), F_GETPIPE_SZ) == (PIPE_BUFFER if allowed else before)
    with (tmp_path / "out.jsonl").open("w") as f:
        _widen_pipe(f)  # not a pipe: nothing to do, no error
    _widen_pipe(io.StringIO())  # no file descriptor at all


def test_json_output_widens_a_pipe_through_the_terminal_safe_stream() -> None:
    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    if limit < PIPE_BUFFER and os.geteuid() != 0:
        pytest.skip("this system does not allow a 1 MB pipe")
    read, write = os.pipe()
    with os.fdopen(read, "rb") as r, os.fdopen(write, "w") as w:
        _widen_pipe(TerminalSafe(w))  # what cmd_match gets as sys.stdout
        assert fcntl.fcntl(r.fileno(), F_GETPIPE_SZ) == PIPE_BUFFER


def test_output_is_escaped_while_a_command_runs_and_streams_restored_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "a.txt"
    text.write_text("\x1b[2J Iran and al-Qaida met in Tehran.\n")
    stdout, stderr = sys.stdout, sys.stderr
    assert main(["match", "--rules", str(RULES), str(text)]) == 0
    assert (sys.stdout, sys.stderr) == (stdout, stderr)
    out = capsys.readouterr().out
    assert "[[Iran]]" in out and out.rstrip().endswith("1 match(es)")
    assert "\x1b" not in out and "\\u001b[2J" not in out  # a snippet: blanked in place
    assert main(["extract", str(text)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\u001b[2J Iran" in out  # article text: shown escaped


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"id": "a", "text": "Iran", "tags": 5}', "'tags' must be a list of strings"),
        ('{"id": "a", "text": "Iran", "language": {"x": 1}}', "'language' must be a string"),
        ('{"id": "a", "text": "Iran", "url": ["x"]}', "'url' must be a string"),
        ("[1, 2]", "not a JSON object"),
        ("{nope", "not a JSON object"),
    ],
)
def test_malformed_jsonl_line_is_a_positioned_error(
    line: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "ok", "text": "fine"}\n' + line + "\n")
    assert main(["match", "--rules", str(RULES), str(path)]) == 1
    assert f"error: {path}:2: {problem}" in capsys.readouterr().err


def test_a_crash_prints_its_traceback_escaped_and_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug (an exception no command expects) still cannot drive the terminal or print a
    credential: its traceback goes through the same stream and through redact."""

    def crash(args: object) -> int:
        raise RuntimeError("page said \x1b[2J via http://ed:pa55word@feeds.example/rss")

    monkeypatch.setattr(cli, "cmd_status", crash)  # stands in for any bug in a command
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "RuntimeError: page said \\u001b[2J" in err
    assert "\x1b" not in err and "pa55word" not in err and "feeds.example/rss" in err
