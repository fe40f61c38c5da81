"""The `channels:` of rules.yaml: one config type per kind (email, webhook, file, apprise).

Everything a notifier needs is checked here, once: a channel that loads can be sent to
(except what only the receiver can say). Digest schedules and time zones are parsed into
values; notifiers never parse them again.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from monitor import redact
from monitor.config import fields as f
from monitor.config.fields import Checker, Key, Section
from monitor.config.values import DigestSchedule, parse_zone, show
from monitor.config.yamlpos import PathKey
from monitor.models import (
    UTC_ZONE,
    AppriseChannel,
    Channel,
    ChannelConfig,
    EmailChannel,
    FileChannel,
    SmtpConfig,
    WebhookChannel,
)
from monitor.suggest import did_you_mean

WHSEC = "whsec_"

COMMON = (
    Key(
        "type",
        "`email`, `webhook`, `file` or `apprise`",
        None,
        "the channel's kind, which says the keys it takes",
        f.text,
        required=True,
    ),
    Key(
        "timezone",
        "IANA zone name",
        UTC_ZONE,
        "times in messages and the `digest` schedule (e.g. `Europe/Berlin`)",
        f.parsed(parse_zone),
        shown="`UTC`",
    ),
    Key(
        "digest",
        "duration or crontab line",
        None,
        "collect alerts and send them as one message on a schedule: a duration (`1h`: every"
        " hour on the hour, `1d`: at midnight, in the channel's `timezone`) or a crontab line"
        ' (`"0 8 * * 1-5"`: weekdays at 08:00; weekdays are numbered as in crontab, 0 or 7 ='
        " Sunday)",
        f.text,
        shown="each alert at once",
    ),
    Key(
        "templates",
        "directory",
        None,
        "Jinja2 templates overriding the bundled ones (`alert.txt.j2`, `alert.html.j2`, …),"
        " relative to the directory of rules.yaml",
        f.directory,
        attr="templates_dir",
        shown="the bundled templates",
    ),
    Key("enabled", "boolean", True, "`false`: checked, never sent to", f.boolean),
)
SMTP = Section(
    "smtp",
    (
        Key("host", "host name", "localhost", "the SMTP server", f.text),
        Key("port", "integer", 25, "its port", f.integer(maximum=65535)),
        Key(
            "starttls",
            "boolean",
            False,
            "require the STARTTLS upgrade (port 587); excludes `tls` (see *Mail encryption*)",
            f.boolean,
        ),
        Key(
            "tls",
            "boolean",
            False,
            "TLS from the start (port 465); excludes `starttls`",
            f.boolean,
        ),
        Key(
            "username",
            "text",
            None,
            "log in as this user (only with `starttls` or `tls`)",
            f.text,
        ),
        Key("password_env", f.SECRET_NAME, None, "the SMTP password", f.secret, True, "password"),
        Key("timeout", "duration", 60.0, "limit for one send", f.duration),
    ),
)


def _smtp(c: Checker, value: Any, path: PathKey, default: Any) -> SmtpConfig:
    smtp = SmtpConfig(**SMTP.read(c, c.mapping(value, path), path))
    if smtp.tls and smtp.starttls:
        c.fail(
            (*path, "starttls"),
            "tls: true and starttls: true exclude each other; write tls: true for port 465"
            " (TLS from the start) or starttls: true for port 587 (the upgrade), not both",
        )
    elif smtp.username and not (smtp.starttls or smtp.tls):
        c.fail(path, "credentials would be sent in plain text; set starttls: true or tls: true")
    return smtp


def _recipients(c: Checker, value: Any, path: PathKey, default: Any) -> tuple[str, ...]:
    to = c.strings(value, path)
    if not to:
        c.fail(path, "at least one recipient is required")
    return to


def _webhook_secret(c: Checker, value: Any, path: PathKey, default: Any) -> str | None:
    """A Standard Webhooks secret: `whsec_` and a base64 key (the value is never quoted)."""
    secret = c.secret(value, path)
    if secret is None:
        return None
    key = secret[len(WHSEC) :] if secret.startswith(WHSEC) else None
    try:
        valid = key is not None and bool(base64.b64decode(key, validate=True))
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        c.fail(
            path,
            f"secret {str(value)!r} is not a Standard Webhooks secret: it must hold whsec_"
            " followed by a base64 key (make one with: openssl rand -base64 24 | sed s/^/whsec_/)",
        )
        return None
    return secret


def _apprise_urls(c: Checker, value: Any, path: PathKey, default: Any) -> tuple[str, ...]:
    urls = c.strings(value, path)
    redact.register_secrets(urls)  # an Apprise URL holds its service's token or password
    return urls


def _urls_env(c: Checker, value: Any, path: PathKey, default: Any) -> tuple[str, ...]:
    secret = c.secret(value, path)
    urls = tuple(u for u in secret.split() if u) if secret else ()
    redact.register_secrets(urls)
    return urls


KINDS: dict[str, tuple[type[Channel], Section]] = {
    "email": (
        EmailChannel,
        Section(
            "email channel",
            (
                *COMMON,
                Key("to", "list of addresses", (), "the recipients", _recipients, required=True),
                Key(
                    "from",
                    "address",
                    "",
                    "the sender",
                    f.required_text,
                    attr="sender",
                    required=True,
                ),
                Key(
                    "smtp",
                    "mapping",
                    SmtpConfig(),
                    "the SMTP server: the keys whose place says *email `smtp`*",
                    _smtp,
                    shown="`localhost:25`",
                ),
            ),
        ),
    ),
    "webhook": (
        WebhookChannel,
        Section(
            "webhook channel",
            (
                *COMMON,
                Key("url", "http(s) URL", "", "where to POST", f.http_url, required=True),
                Key(
                    "secret_env",
                    f.SECRET_NAME,
                    None,
                    "a [Standard Webhooks](https://www.standardwebhooks.com/) secret to sign"
                    " with: `whsec_` + base64 (make one by prefixing the output of `openssl"
                    " rand -base64 24` with `whsec_`)",
                    _webhook_secret,
                    True,
                    "secret",
                ),
                Key("timeout", "duration", 30.0, "limit for one POST", f.duration),
            ),
        ),
    ),
    "file": (
        FileChannel,
        Section(
            "file channel",
            (
                *COMMON,
                Key(
                    "path",
                    "file",
                    None,
                    "the file each alert is appended to, as one JSON object (the webhook payload)",
                    f.file_path,
                    required=True,
                ),
            ),
        ),
    ),
    "apprise": (
        AppriseChannel,
        Section(
            "apprise channel",
            (
                *COMMON,
                Key(
                    "urls",
                    "list of Apprise URLs",
                    (),
                    "the services to notify (Slack, Teams, Telegram, Matrix, ntfy …); with"
                    " `urls_env`, or instead of it",
                    _apprise_urls,
                    True,
                ),
                Key(
                    "urls_env",
                    f.SECRET_NAME,
                    (),
                    "Apprise URLs, separated by spaces or lines (they carry the services' tokens)",
                    _urls_env,
                    True,
                ),
                Key("timeout", "duration", 30.0, "limit for one notification", f.duration),
            ),
        ),
    ),
}


def parse_channel(c: Checker, name: str, raw: Any, path: PathKey) -> ChannelConfig | None:
    data = c.mapping(raw, path)
    kind = data.get("type")
    if kind not in KINDS:
        hint = did_you_mean(kind, KINDS) if isinstance(kind, str) else ""
        c.fail((*path, "type"), f"expected one of {', '.join(KINDS)}, got {show(kind)}{hint}")
        return None
    cls, section = KINDS[kind]
    values = section.read(c, data, path)
    del values["type"]
    values["name"] = name
    spec = values.pop("digest")
    if spec:
        try:
            values["digest"] = DigestSchedule.parse(spec, values["timezone"])
        except ValueError as e:
            c.fail((*path, "digest"), str(e))
    return _build(c, cls, values, data, path)


def _build(
    c: Checker, cls: type[Channel], values: dict[str, Any], data: Mapping[str, Any], path: PathKey
) -> ChannelConfig | None:
    if cls is AppriseChannel:
        values["urls"] = values["urls"] + values.pop("urls_env")
        if not values["urls"]:
            c.fail(path, "an apprise channel needs urls (or urls_env naming a secret)")
    if cls is FileChannel and values["path"] is None:
        return None
    channel = cls(**values)
    assert isinstance(channel, EmailChannel | WebhookChannel | FileChannel | AppriseChannel)
    return channel


def secrets_of(channel: ChannelConfig) -> tuple[str, ...]:
    """The declared secret keys that give `channel` a value: `check` names them, never
    their values."""
    _, section = KINDS[channel.kind]
    found = [k.name for k in section.keys if k.secret and getattr(channel, k.field, None)]
    if isinstance(channel, EmailChannel):
        found += [k.name for k in SMTP.keys if k.secret and getattr(channel.smtp, k.field)]
    return tuple(found)
