"""Command line: run, check, match, explain, extract, send-test, status, migrate-state.

Exit codes: 0 success, 1 a problem the operator must fix (invalid configuration, failed
send), 2 bad usage.

What the commands print comes from strangers (feed titles, pages, error text quoted from
servers) and from configuration (URLs with credentials). Everything written to stdout and
stderr goes through a stream that escapes control and bidi-control characters
(`sanitize.escape_unsafe`: ESC becomes the six characters ``\u001b``), so no escape
sequence reaches the terminal and JSON output stays valid JSON; fields meant to be one line
have their newlines escaped too. Stored errors and configuration are printed through
`redact`, webhook URLs as their origin only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import gc
import io
import json
import os
import stat
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from monitor import __version__
from monitor.config import RULES_FILE, Config, load_config, load_rules
from monitor.config.channels import secrets_of
from monitor.errors import ConfigError, MonitorError, StorageError
from monitor.locations import Location, config_location, db_location
from monitor.log import setup_logging
from monitor.models import Document, Match
from monitor.redact import redact
from monitor.sanitize import escape_unsafe, neutralize
from monitor.suggest import unknown_name

if TYPE_CHECKING:
    from monitor.match import Matcher
    from monitor.store import AdminStore


def _say(location: Location, what: str) -> None:
    """Tell the operator which configuration or database a command uses, and why."""
    print(_shown(location.describe(what)), file=sys.stderr)


# --------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon import Service

    setup_logging(args.log_level)
    config_dir, db = config_location(args.config_dir), db_location(args.db)
    try:
        service = Service(config_dir.path, db.value, sources=(config_dir.source, db.source))
    except ConfigError as e:
        _say(config_dir, "configuration")
        _print_problems(e)
        return 1
    except MonitorError as e:
        _print_error(e)
        return 1
    if args.once:
        return asyncio.run(service.run_once())
    return asyncio.run(service.run_forever())


def cmd_check(args: argparse.Namespace) -> int:
    from monitor.match import Matcher
    from monitor.verify import channel_problems, example_problems

    location = config_location(args.config_dir)
    _say(location, "configuration")
    config_dir = location.path
    try:
        config = load_config(config_dir)
        matcher = Matcher.build(config.rules, config.entities)
    except ConfigError as e:
        _print_problems(e)
        return 1
    unusable = channel_problems(config, config_dir)
    failures = example_problems(matcher.check_examples(), config_dir)
    for warning in config.warnings:
        print(f"warning: {_shown(warning)}")
    for failure in failures:
        print(_shown(failure))
    print(
        f"{config_dir}: {len(config.feeds)} feeds, {len(config.entities)} entities, "
        f"{len(config.rules)} rules, {len(config.channels)} channels"
    )
    for name, channel in sorted(config.channels.items()):
        secrets = secrets_of(channel)
        note = f" ({', '.join(secrets)} <redacted>)" if secrets else ""
        print(f"  channel {name}: {channel.kind} -> {channel.target}{note}")
    if failures:
        print(f"{len(failures)} rule example(s) failed")
    if unusable:
        _print_problems(ConfigError(unusable))
    return 1 if failures or unusable else 0


def _rules_file(args: argparse.Namespace) -> Path:
    """--rules, else rules.yaml in the configuration directory (said on stderr)."""
    if args.rules:
        return Path(args.rules)
    config_dir = config_location(args.config_dir)
    _say(Location(str(config_dir.path / RULES_FILE), config_dir.source), "rules")
    return config_dir.path / RULES_FILE


def _load_matcher(path: Path) -> Matcher | None:
    """The rules of one file compiled, or None after printing every problem in it."""
    from monitor.match import Matcher

    try:
        rules = load_rules(path)
        matcher = Matcher.build(rules.rules, rules.entities)
    except ConfigError as e:
        _print_problems(e)
        return None
    # the compiled rules live until exit: keep the garbage collector from rescanning
    # their millions of objects on every collection
    gc.freeze()
    return matcher


PIPE_BUFFER = 1 << 20  # Linux allows up to /proc/sys/fs/pipe-max-size, 1 MB by default


def _widen_pipe(stream: TextIO) -> None:
    """When ``stream`` is a pipe, raise its buffer from 64 KB to 1 MB (Linux). With a large
    rule set ``match --json`` writes hundreds of kilobytes per article; with room for them
    it goes on matching while the reader drains, instead of waiting at every article."""
    try:
        fd = stream.fileno()
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BUFFER)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a pipe we may resize: nothing lost but speed


def cmd_match(args: argparse.Namespace) -> int:
    from monitor.match.report import format_match_text, shared_json

    matcher = _load_matcher(_rules_file(args))
    if matcher is None:
        return 1
    out = sys.stdout
    if args.json:
        _widen_pipe(out)
    count = 0
    try:
        for doc in _documents(args.inputs):
            if args.json:
                lines = shared_json(matcher.match_shared(doc, snippets=1))  # prints the best
                if lines:
                    out.write("\n".join(lines) + "\n")
            else:
                matches = matcher.match(doc)
                count += len(matches)
                out.writelines(format_match_text(_one_line_snippets(m)) + "\n\n" for m in matches)
    except MonitorError as e:
        _print_error(e)
        return 1
    if not args.json:
        out.write(f"{count} match(es)\n")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    rules = _rules_file(args)
    matcher = _load_matcher(rules)
    if matcher is None:
        return 1
    if args.rule not in matcher.rule_names:
        print(f"error: {unknown_name('rule', args.rule, matcher.rule_names)}", file=sys.stderr)
        return 1
    try:
        for doc in _documents([args.input]):
            print(matcher.explain(args.rule, doc))
    except MonitorError as e:
        _print_error(e)
        return 1
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from monitor.extract import decode_html, extract_article

    try:
        data, content_type, url = _read_input(args.input)
    except MonitorError as e:
        _print_error(e)
        return 1
    article = extract_article(decode_html(data, content_type), url)
    if args.json:
        record = asdict(article)
        record["published"] = article.published.isoformat() if article.published else None
        print(json.dumps(record, ensure_ascii=False, indent=2))
    else:
        print(f"title:     {escape_unsafe(article.title)}")
        print(f"published: {article.published.isoformat() if article.published else '-'}")
        print(f"authors:   {escape_unsafe(', '.join(article.authors)) or '-'}")
        print(f"language:  {escape_unsafe(article.language or '-')}")
        print(f"canonical: {escape_unsafe(article.canonical_url or '-')}")
        print()
        print(article.text)  # several lines by design: the stream escapes the rest
    return 0


def cmd_send_test(args: argparse.Namespace) -> int:
    from monitor.deliver import build_notifier
    from monitor.deliver.samples import sample_alert, sample_batch, sample_notice

    location = config_location(args.config_dir)
    _say(location, "configuration")
    try:
        config = load_config(location.path)
    except ConfigError as e:
        _print_problems(e)
        return 1
    channel = config.channels.get(args.channel)
    if channel is None:
        names = ", ".join(sorted(config.channels)) or "none"
        unknown = unknown_name("channel", args.channel, config.channels)
        print(f"error: {unknown} (channels: {names})", file=sys.stderr)
        return 1

    async def send() -> int:
        notifier = build_notifier(channel)
        now = datetime.now(UTC)
        try:
            if args.kind in ("digest", "summary"):
                result = await notifier.send_batch(sample_batch(channel.name, now, args.kind))
            elif args.kind == "notice":
                result = await notifier.send(sample_notice(channel.name, now))
            else:
                result = await notifier.send(sample_alert(channel.name, now))
        except MonitorError as e:
            print(f"{channel.name}: send failed: {_shown(str(e))}", file=sys.stderr)
            return 1
        finally:
            await notifier.aclose()
        status = f" (status {result.status})" if result.status is not None else ""
        detail = _shown(result.detail)
        print(f"{channel.name}: sample {args.kind} sent{status} {detail}".rstrip())
        return 0

    return asyncio.run(send())


def _existing_store(location: Location, *, readonly: bool = True) -> AdminStore | None:
    """The state database the service uses, or None (said) when it has never run; opened
    read-only unless the command changes something. Raises StorageError for a file that is
    not ours, is corrupt, or is newer than this program."""
    from monitor.store import is_postgres, open_store, sqlite_path

    target = location.value
    if not is_postgres(target) and not sqlite_path(target).exists():
        print(
            f"no state database at {_shown(location.shown())} (from {_shown(location.source)})"
            " yet: the service has not run with it; name the service's database with --db"
            " or $MONITOR_DB (under systemd: $STATE_DIRECTORY/monitor.db)"
        )
        return None
    return open_store(target, readonly=readonly)


def cmd_deliveries(args: argparse.Namespace) -> int:
    location = db_location(args.db)
    _say(location, "database")
    try:
        store = _existing_store(location, readonly=args.action == "list")
        if store is None:
            return 0
        try:
            return _deliveries(args, store)
        finally:
            store.close()
    except StorageError as e:
        _print_error(e)
        return 1


def _deliveries(args: argparse.Namespace, store: AdminStore) -> int:
    if args.action == "retry":
        if bool(args.id) == bool(args.failed):
            print("error: give an alert ID or --failed", file=sys.stderr)
            return 2
        count = store.retry_failed(args.id, now=time.time())
        print(f"{count} alert(s) queued again")
        if count or args.failed:
            return 0
        print(_why_not(store, args.id, "retried"), file=sys.stderr)
        return 1
    if args.action == "send-now":
        if bool(args.id) == bool(args.channel):
            print("error: give an alert ID or --channel NAME", file=sys.stderr)
            return 2
        count = store.send_now(now=time.time(), alert_id=args.id, channel=args.channel)
        print(f"{count} pending alert(s) due now (a running service sends within half a minute)")
        paused = store.paused_channels()
        held = args.channel if args.channel in paused else None
        if args.id and count:
            row = next((r for r in store.outbox("pending", limit=1000) if r.id == args.id), None)
            held = row.channel if row is not None and row.channel in paused else None
        if held:
            print(f"channel {held!r} is paused: `monitor resume {held}` to send", file=sys.stderr)
        if count or args.channel:
            return 0
        print(_why_not(store, args.id, "sent now"), file=sys.stderr)
        return 1
    status = None if args.status == "recent" else args.status
    rows = store.outbox(status, limit=args.limit)
    for row in rows:
        created = datetime.fromtimestamp(row.created, UTC).isoformat(timespec="seconds")
        title = _shown(row.alert.title, 60)
        print(f"{created}  {row.status:7s}  {_shown(row.channel):12s}  {row.id}  {title}")
        if row.status != "sent" and row.last_error:
            print(f"    attempts={row.attempts} last error: {_shown(row.last_error)}")
        if args.verbose:
            for a in store.attempts(row.id):
                when = datetime.fromtimestamp(a.at, UTC).isoformat(timespec="seconds")
                code = f" {a.status_code}" if a.status_code is not None else ""
                print(f"    {when} {a.outcome}{code} {_shown(a.error or '')}".rstrip())
    if not rows:
        print(f"no {args.status} deliveries")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Today's rules over stored articles (see `monitor.replay`)."""
    from monitor.config import parse_duration
    from monitor.replay import alert_lines, replay, summary_lines

    try:
        since = parse_duration(args.since)
    except ValueError as e:
        print(f"error: --since: {e}", file=sys.stderr)
        return 2
    try:
        config_dir, database = config_location(args.config_dir), db_location(args.db)
        _say(database, "database")
        config = load_config(config_dir.path)
        store = _existing_store(database, readonly=args.dry_run)
        if store is None:
            return 0
        try:
            now = time.time()
            shown = (lambda a, art: print("\n".join(alert_lines(a, art)))) if args.dry_run else None
            report = replay(
                store,
                config,
                since=now - since,
                now=now,
                rule=args.rule,
                dry_run=args.dry_run,
                show=shown,
            )
        finally:
            store.close()
    except ConfigError as e:
        _print_problems(e)
        return 1
    except MonitorError as e:
        _print_error(e)
        return 1
    print("\n".join(summary_lines(report, since=now - since, dry_run=args.dry_run)))
    return 0


def cmd_migrate_state(args: argparse.Namespace) -> int:
    """Copy the whole state to another database (see `monitor.store.copy`)."""
    from monitor.store.copy import copy_state

    source = args.source
    if not source:
        location = db_location(None)
        _say(location, "database")
        source = location.value
    print(f"copying state from {_shown(source)} to {_shown(args.destination)}")
    try:
        copied = copy_state(source, args.destination)
    except StorageError as e:
        _print_error(e)
        return 1
    for table in copied:
        print(f"  {table.table:18s} {table.rows:9d} rows  {table.seconds:7.2f} s")
    total = sum(t.seconds for t in copied)
    print(f"copied {sum(t.rows for t in copied)} rows in {total:.2f} s, counts verified")
    return 0


def _why_not(store: AdminStore, alert_id: str, done: str) -> str:
    """Why the alert `alert_id` could not be `done`."""
    status = store.alert_status(alert_id)
    if status is None:
        return f"no alert with id {alert_id!r} (see `monitor deliveries`)"
    if status == "sent":
        return f"alert {alert_id} was sent already; nothing to do"
    if status == "pending":
        return (
            f"alert {alert_id} is pending: it is being sent now, or use"
            f" `monitor deliveries send-now {alert_id}` to send it at once"
        )
    return f"alert {alert_id} failed: use `monitor deliveries retry {alert_id}` to queue it again"


def cmd_mute(args: argparse.Namespace) -> int:
    from monitor.steer import iso, known, mute_until

    def act(store: AdminStore, config: Config) -> None:
        known("rule", args.rule, (r.name for r in config.rules))
        now = time.time()
        end = mute_until(for_=args.for_, until=args.until, now=now)
        store.mute_rule(args.rule, until=end, now=now)
        print(f"rule {args.rule!r} muted until {iso(end)} (its matches are still recorded)")

    return _steer(args, act)


def cmd_unmute(args: argparse.Namespace) -> int:
    from monitor.steer import known

    def act(store: AdminStore, config: Config) -> None:
        done = store.unmute_rule(args.rule)
        if not done:  # a rule removed from the configuration may still be muted: try first
            known("rule", args.rule, (r.name for r in config.rules))
        print(f"rule {args.rule!r} {'unmuted' if done else 'was not muted'}")

    return _steer(args, act)


def cmd_pause(args: argparse.Namespace) -> int:
    from monitor.steer import known

    def act(store: AdminStore, config: Config) -> None:
        known("channel", args.channel, config.channels)
        if store.pause_channel(args.channel, now=time.time()):
            print(f"channel {args.channel!r} paused: its alerts queue until `monitor resume`")
        else:
            print(f"channel {args.channel!r} was paused already")

    return _steer(args, act)


def cmd_resume(args: argparse.Namespace) -> int:
    from monitor.steer import known

    def act(store: AdminStore, config: Config) -> None:
        if store.resume_channel(args.channel):
            print(
                f"channel {args.channel!r} resumed: its queued alerts go out within half a minute"
            )
            return
        known("channel", args.channel, config.channels)  # a removed one may still be paused
        print(f"channel {args.channel!r} was not paused")

    return _steer(args, act)


def _steer(args: argparse.Namespace, act: Callable[[AdminStore, Config], None]) -> int:
    """Run a steering action on the service's database, checked against its configuration."""
    from monitor.store import open_store

    try:
        config_dir, database = config_location(args.config_dir), db_location(args.db)
        _say(database, "database")
        config = load_config(config_dir.path)
        store = open_store(database.value)
        try:
            act(store, config)
        finally:
            store.close()
    except ConfigError as e:
        _print_problems(e)
        return 1
    except MonitorError as e:
        _print_error(e)
        return 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from monitor.status import as_json, gather, render

    location = db_location(args.db)
    try:
        store = _existing_store(location)
        if store is None:
            return 0
        try:
            report = gather(
                store, now=time.time(), shown_as=location.shown(), source=location.source
            )
        finally:
            store.close()
    except StorageError as e:
        _print_error(e)
        return 1
    if args.json:
        print(json.dumps(as_json(report), ensure_ascii=False, indent=1))
    else:
        print("\n".join(render(report, _shown)))
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    from monitor.web.app import run_web

    setup_logging(os.environ.get("MONITOR_LOG_LEVEL", "INFO"))
    return run_web(
        config_location(args.config_dir),
        db_location(args.db),
        listen=args.listen,
        zone=args.zone,
        proxy_header=args.proxy_header,
        proxy_from=tuple(args.proxy_from),
    )


# --------------------------------------------------------------------------- output


def _shown(text: str, limit: int | None = None) -> str:
    """Stored or configured text as one safe line: redacted (before it is cut, so no
    credential is cut in half and missed), at most `limit` characters, newlines and
    control characters escaped."""
    text = redact(text)
    return escape_unsafe(text if limit is None else text[:limit])


def _print_error(e: MonitorError) -> None:
    print(f"error: {_shown(str(e))}", file=sys.stderr)


def _print_problems(e: ConfigError) -> None:
    for problem in e.problems:
        print(_shown(problem), file=sys.stderr)
    print(f"{len(e.problems)} problem(s) found", file=sys.stderr)


def _one_line_snippets(m: Match) -> Match:
    """`m` with snippets on one line each (control characters blanked one for one, so the
    highlights stay on their words) and an article id that cannot start a new line."""
    snippets = tuple(s._replace(text=neutralize(s.text)) for s in m.snippets)
    return m._replace(article_id=escape_unsafe(m.article_id), snippets=snippets)


class TerminalSafe(io.TextIOBase):
    """A text stream writing to `stream` with every control and bidi-control character but
    the newline escaped: nothing a feed, a page or the database holds drives the terminal."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escape_unsafe(text, keep_newlines=True))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        """The wrapped stream is not ours to close."""


@contextlib.contextmanager
def terminal_safe_output() -> Iterator[None]:
    """`sys.stdout` and `sys.stderr` wrapped in `TerminalSafe` for the duration (a stream
    that is None, closed at start-up, stays None)."""
    stdout, stderr = sys.stdout, sys.stderr
    if stdout is not None:
        sys.stdout = TerminalSafe(stdout)
    if stderr is not None:
        sys.stderr = TerminalSafe(stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = stdout, stderr


# --------------------------------------------------------------------------- inputs


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _read_input(source: str) -> tuple[bytes, str | None, str | None]:
    """Bytes, content type and URL of a file or URL named on the command line."""
    if _is_url(source):
        from monitor.fetch import Fetcher

        async def get() -> tuple[bytes, str | None, str | None]:
            from monitor.addresses import ANYWHERE

            fetcher = Fetcher()
            try:
                # a person typed this URL: any address is allowed
                page = await fetcher.fetch_page(source, timeout=30.0, allow_networks=ANYWHERE)
            finally:
                await fetcher.aclose()
            return page.body, page.content_type, page.url

        return asyncio.run(get())
    try:
        return Path(source).read_bytes(), None, None
    except OSError as e:
        raise MonitorError(f"cannot read {source}: {e.strerror}") from e


def _documents(inputs: Sequence[str]) -> Iterator[Document]:
    """Documents from .jsonl (one article per line), .txt (a body), .html or URLs."""
    from monitor.extract import decode_html, extract_article

    for source in inputs:
        if source.endswith(".jsonl") and not _is_url(source):
            yield from _jsonl_documents(Path(source))
        elif source.endswith(".txt") and not _is_url(source):
            text = _read_input(source)[0].decode("utf-8", "replace")
            yield Document(id=source, title="", text=text)
        else:
            data, content_type, url = _read_input(source)
            article = extract_article(decode_html(data, content_type), url or None)
            yield Document(
                id=source,
                title=article.title,
                text=article.text,
                url=url or article.canonical_url,
                language=article.language,
                published=article.published,
            )


def _jsonl_documents(path: Path) -> Iterator[Document]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as e:
        raise MonitorError(f"cannot read {path}: {e.strerror}") from e
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise MonitorError(f"{where}: not a JSON object: {e}") from e
            if not isinstance(record, dict):
                raise MonitorError(f"{where}: not a JSON object")
            yield _jsonl_document(record, f"{path.name}:{number}", where)


def _jsonl_document(record: dict[str, Any], default_id: str, where: str) -> Document:
    """One .jsonl record as a Document; a field of the wrong type is the line's error."""

    def optional_text(key: str) -> str | None:
        value = record.get(key)
        if value is None or isinstance(value, str):
            return value
        raise MonitorError(f"{where}: {key!r} must be a string")

    tags = record.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise MonitorError(f"{where}: 'tags' must be a list of strings")
    return Document(
        id=str(record.get("id", default_id)),
        title=str(record.get("title") or ""),
        text=str(record.get("text") or ""),
        url=optional_text("url"),
        feed=optional_text("feed"),
        tags=frozenset(tags),
        language=optional_text("language"),
    )


# --------------------------------------------------------------------------- parser


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(text: str) -> str:
    """--log-level (or $MONITOR_LOG_LEVEL), in any case: one of LOG_LEVELS."""
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a log level: choose {', '.join(LOG_LEVELS).lower()}"
            " (from --log-level or $MONITOR_LOG_LEVEL)"
        )
    return level


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor", description="Watch news feeds, match rules, deliver alerts."
    )
    parser.add_argument("--version", action="version", version=f"news-monitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def config_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config-dir",
            help="directory holding feeds.yaml and rules.yaml (default: $MONITOR_CONFIG_DIR,"
            " $CONFIGURATION_DIRECTORY, /etc/news-monitor when it holds feeds.yaml, else the"
            " current directory)",
        )

    def db(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db",
            help="state database (default: $MONITOR_DB, $STATE_DIRECTORY/monitor.db,"
            " /var/lib/news-monitor/monitor.db when it exists, else ./var/monitor.db)",
        )

    p = sub.add_parser("run", help="run the service (or one poll with --once)")
    config_dir(p)
    db(p)
    p.add_argument("--once", action="store_true", help="poll every feed once, deliver, exit")
    p.add_argument(
        "--log-level",
        type=_log_level,
        metavar="{" + ",".join(LOG_LEVELS).lower() + "}",
        default=os.environ.get("MONITOR_LOG_LEVEL", "INFO"),
        help="default: $MONITOR_LOG_LEVEL, else info",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", help="validate feeds.yaml and rules.yaml and run rule examples")
    config_dir(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("match", help="run rules on files or URLs and print each match")
    config_dir(p)
    p.add_argument(
        "--rules", help="rules file (default: rules.yaml in the configuration directory)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per match")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help=".html, .txt, .jsonl or URL")
    p.set_defaults(func=cmd_match)

    p = sub.add_parser("explain", help="show why a rule did or did not match an article")
    config_dir(p)
    p.add_argument(
        "--rules", help="rules file (default: rules.yaml in the configuration directory)"
    )
    p.add_argument("rule")
    p.add_argument("input", metavar="FILE|URL")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("extract", help="extract an article page and print it")
    p.add_argument("input", metavar="FILE|URL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser(
        "send-test", help="send a test message (marked TEST, dated now, a fresh id) to a channel"
    )
    config_dir(p)
    p.add_argument("channel")
    p.add_argument(
        "--kind",
        choices=["alert", "digest", "summary", "notice"],
        default="alert",
        help="what to send: an alert (default), a digest, a rate-limit summary or a notice",
    )
    p.set_defaults(func=cmd_send_test)

    p = sub.add_parser("deliveries", help="recent, pending or failed deliveries; retry failed ones")
    db(p)
    p.add_argument("action", nargs="?", choices=["list", "retry", "send-now"], default="list")
    p.add_argument("id", nargs="?", help="alert id to retry or send now")
    p.add_argument("--channel", help="with send-now: every pending alert of this channel")
    p.add_argument("--failed", action="store_true", help="with retry: every failed alert")
    p.add_argument("--status", choices=["recent", "pending", "sent", "failed"], default="recent")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("-v", "--verbose", action="store_true", help="every attempt of each alert")
    p.set_defaults(func=cmd_deliveries)

    p = sub.add_parser("mute", help="no alerts from a rule for a while (matches are recorded)")
    config_dir(p)
    db(p)
    p.add_argument("rule")
    p.add_argument("--for", dest="for_", metavar="DURATION", help="e.g. 2h, 30m, 1d")
    p.add_argument("--until", metavar="TIME", help="ISO 8601, UTC unless it has an offset")
    p.set_defaults(func=cmd_mute)

    p = sub.add_parser("unmute", help="lift a rule's mute")
    config_dir(p)
    db(p)
    p.add_argument("rule")
    p.set_defaults(func=cmd_unmute)

    p = sub.add_parser("pause", help="hold a channel's alerts (they queue; nothing is lost)")
    config_dir(p)
    db(p)
    p.add_argument("channel")
    p.set_defaults(func=cmd_pause)

    p = sub.add_parser("resume", help="send a paused channel's alerts again")
    config_dir(p)
    db(p)
    p.add_argument("channel")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("replay", help="run today's rules over stored articles")
    config_dir(p)
    db(p)
    p.add_argument(
        "--since", required=True, metavar="DURATION", help="e.g. 7d, 12h (at most 30d are kept)"
    )
    p.add_argument("--rule", metavar="NAME", help="only this rule")
    p.add_argument("--dry-run", action="store_true", help="show the alerts; queue nothing")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser(
        "status", help="daemons, rules, channels and feeds as the state database sees them"
    )
    db(p)
    p.add_argument("--json", action="store_true", help="the whole report as one JSON object")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("web", help="the web inbox: alerts, why they matched, search, feedback")
    config_dir(p)
    db(p)
    p.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT")
    p.add_argument("--zone", help="time zone of the times shown (default: $MONITOR_WEB_ZONE, UTC)")
    p.add_argument("--proxy-header", metavar="NAME", help="trust this header's user name")
    p.add_argument(
        "--proxy-from", action="append", default=[], metavar="NET", help="the proxy's addresses"
    )
    p.set_defaults(func=cmd_web)

    p = sub.add_parser(
        "migrate-state",
        help="copy the whole state to another, empty database (stop the service first)",
    )
    p.add_argument(
        "--from",
        dest="source",
        help="sqlite:///path or postgresql://... (default: the database `status` uses)",
    )
    p.add_argument(
        "--to", dest="destination", required=True, help="postgresql://... or sqlite:///path"
    )
    p.set_defaults(func=cmd_migrate_state)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with terminal_safe_output():
            try:
                return int(args.func(args))
            except (KeyboardInterrupt, BrokenPipeError):
                raise
            except Exception:  # a bug: its traceback may quote hostile text or a URL
                print(redact(traceback.format_exc()), end="", file=sys.stderr)
                return 1  # as Python exits after an uncaught exception
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
