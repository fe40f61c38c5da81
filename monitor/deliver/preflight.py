"""Whether a channel can send at all, found without sending anything.

`monitor check` runs it on every channel, and the daemon at start and at every reload (a
reload with a broken channel is refused, and the running configuration stays): an Apprise
URL Apprise does not understand, a file channel's path, and the channel's templates
rendered for a sample alert, digest, summary and notice (a Jinja syntax error, or a
variable no alert has). What the configuration rules out by itself (TLS with STARTTLS, a
webhook secret that is not `whsec_...`) is an error when it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import apprise
import jinja2

from monitor.deliver.render import (
    render_batch_email,
    render_batch_text,
    render_email,
    render_text,
    templates_problem,
)
from monitor.deliver.samples import sample_alert, sample_batch, sample_notice
from monitor.errors import DeliveryError
from monitor.models import AppriseChannel, ChannelConfig, EmailChannel, FileChannel

Key = tuple[str | int, ...]  # where in the channel's YAML the problem is: ("path",), ("urls", 2)


def preflight(channel: ChannelConfig) -> list[tuple[Key, str]]:
    """Every reason `channel` would fail every send, each with the key it is about. What the
    configuration itself rules out (TLS with STARTTLS, a secret that is not `whsec_`) is
    checked when it is read; this finds what only trying can: paths, URLs, templates."""
    from monitor.deliver import chat, file

    found: list[tuple[Key, str]] = []
    if isinstance(channel, FileChannel):
        path_problem = file.path_problem(channel.path.expanduser())
        if path_problem:
            found.append((("path",), path_problem))
    elif isinstance(channel, AppriseChannel):
        for index in chat.unknown_urls(apprise.Apprise(), channel.urls):
            found.append((("urls", index), "Apprise does not understand this URL"))
    if not found and isinstance(channel, EmailChannel | AppriseChannel):
        found += [(("templates",), p) for p in _template_problems(channel)]
    return found


def _said(problem: tuple[str, str | None]) -> str:
    message, hint = problem
    return f"{message} ({hint})" if hint else message


def _template_problems(channel: EmailChannel | AppriseChannel) -> list[str]:
    """The channel's templates (its own over the built-in ones) rendered for every kind of
    message it may send; one problem per template that fails."""
    templates = channel.templates_dir
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
    if isinstance(channel, EmailChannel):
        email = channel
        renders += [
            lambda: render_email(sample_alert(name, now), email, templates),
            lambda: render_email(sample_notice(name, now), email, templates),
            lambda: render_batch_email(sample_batch(name, now, "summary"), email, templates),
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
