"""Whether a channel can send at all, found without sending anything.

`monitor check` runs it on every channel, and the daemon at start and at every reload (a
reload with a broken channel is refused, and the running configuration stays): the checks
each notifier makes when it is built (a webhook secret that is not `whsec_...`, SMTP TLS
and STARTTLS both set, an Apprise URL Apprise does not understand), a file channel's path,
and the channel's templates rendered for a sample alert, digest, summary and notice (a Jinja
syntax error, or a variable no alert has).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import apprise
import jinja2

from monitor.deliver import templates_path
from monitor.deliver.render import (
    render_batch_email,
    render_batch_text,
    render_email,
    render_text,
    templates_problem,
)
from monitor.deliver.samples import sample_alert, sample_batch, sample_notice
from monitor.errors import DeliveryError
from monitor.models import ChannelConfig

Key = tuple[str | int, ...]  # where in the channel's YAML the problem is: ("smtp",), ("urls", 2)


def preflight(channel: ChannelConfig) -> list[tuple[Key, str]]:
    """Every reason `channel` would fail every send, each with the key it is about."""
    from monitor.deliver import chat, file, mail, webhook

    found: list[tuple[Key, str]] = []
    if channel.type == "email":
        problem = mail.channel_problem(channel)
        if problem:
            key: Key = ("smtp",) if "smtp" in problem[0] else ()
            found.append((key, _said(problem)))
    elif channel.type == "webhook":
        problem = webhook.channel_problem(channel)
        if problem:
            found.append((("secret_env",) if "secret" in problem[0] else ("url",), _said(problem)))
    elif channel.type == "file":
        path_problem = file.path_problem(Path(channel.path).expanduser())
        if path_problem:
            found.append((("path",), path_problem))
    else:
        for index in chat.unknown_urls(apprise.Apprise(), channel.apprise_urls):
            found.append((("urls", index), "Apprise does not understand this URL"))
    if not found and channel.type in ("email", "apprise"):
        found += [(("templates",), p) for p in _template_problems(channel)]
    return found


def _said(problem: tuple[str, str | None]) -> str:
    message, hint = problem
    return f"{message} ({hint})" if hint else message


def _template_problems(channel: ChannelConfig) -> list[str]:
    """The channel's templates (its own over the built-in ones) rendered for every kind of
    message it may send; one problem per template that fails."""
    templates = templates_path(channel)
    if templates is not None:
        broken = templates_problem(templates)
        if broken:
            return [_said(broken)]
    now = datetime.now(UTC)
    name, tz = channel.name, channel.timezone
    renders: list[Callable[[], object]] = [
        lambda: render_text(sample_alert(name, now), timezone=tz, templates_dir=templates),
        lambda: render_text(sample_notice(name, now), timezone=tz, templates_dir=templates),
        lambda: render_batch_text(sample_batch(name, now), timezone=tz, templates_dir=templates),
    ]
    if channel.type == "email":
        renders += [
            lambda: render_email(sample_alert(name, now), channel, templates),
            lambda: render_email(sample_notice(name, now), channel, templates),
            lambda: render_batch_email(sample_batch(name, now, "summary"), channel, templates),
        ]
    problems: list[str] = []
    for render in renders:
        try:
            render()
        except DeliveryError as e:
            said = _failure(e)
            if said not in problems:
                problems.append(said)
    return problems


def _failure(e: DeliveryError) -> str:
    """`template alert.txt.j2 failed: line 3: unexpected '}'`, from a render's error."""
    cause = e.__cause__
    if isinstance(cause, jinja2.TemplateSyntaxError):
        return f"{e.message}: line {cause.lineno}: {cause.message}"
    if cause is not None:
        return f"{e.message}: {cause}"
    return e.message
