"""Email delivery against a real aiosmtpd server on loopback."""

from __future__ import annotations

import ssl
import time
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from monitor.deliver import build_notifier
from monitor.deliver.mail import MailNotifier
from monitor.deliver.retry import next_delay
from monitor.errors import DeliveryError
from monitor.models import Alert, Batch, ChannelConfig, DeliveryResult, EmailChannel, SmtpConfig
from tests.support import run
from tests.support.receivers import Certificate, SilentServer, SmtpServer, free_port


def channel(port: int, **smtp: object) -> ChannelConfig:
    return EmailChannel(
        name="mail",
        to=("desk@example.org",),
        sender="monitor@example.org",
        smtp=SmtpConfig(host="127.0.0.1", port=port, **smtp),  # type: ignore[arg-type]
    )


def send(
    config: ChannelConfig, alert: Alert, context: ssl.SSLContext | None = None
) -> DeliveryResult:
    async def go() -> DeliveryResult:
        notifier = MailNotifier(config, ssl_context=context)
        try:
            return await notifier.send(alert)
        finally:
            await notifier.aclose()

    return run(go())


def failure(
    config: ChannelConfig, alert: Alert, context: ssl.SSLContext | None = None
) -> DeliveryError:
    with pytest.raises(DeliveryError) as e:
        send(config, alert, context)
    assert e.value.subject == "mail"
    return e.value


def test_multipart_message_arrives(alert: Alert) -> None:
    with SmtpServer() as smtp:
        result = run(build_notifier(channel(smtp.port)).send(alert))
    assert result.status == 250
    [got] = smtp.messages
    assert got.sender == "monitor@example.org" and got.recipients == ("desk@example.org",)
    message = got.message
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Oil jumps as Iran threatens Strait of Hormuz shipping"
    assert message["Message-ID"] == f"<{alert.id}@example.org>"
    assert message["X-News-Monitor-Alert-Id"] == alert.id
    assert message["Date"] and message["From"] == "monitor@example.org"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    assert "[[crude]]" in text.get_content() and "<mark>crude</mark>" in html.get_content()


def test_temporary_failures_then_exactly_one_delivery(alert: Alert) -> None:
    """451 three times, then 250: the outbox worker's loop (without sleeping) sends once."""
    with SmtpServer(replies=["451 4.3.0 try again later"] * 3) as smtp:
        config = channel(smtp.port)
        attempt, delays = 0, []
        while True:
            try:
                send(config, alert)
                break
            except DeliveryError as e:
                assert not e.permanent and e.status == 451
                attempt += 1
                delay = next_delay(attempt, e)
                assert delay is not None
                delays.append(delay)
    assert smtp.attempts == 4 and len(smtp.messages) == 1
    assert len(delays) == 3 and delays[0] < delays[1] < delays[2]


def test_5xx_is_permanent_with_reason(alert: Alert) -> None:
    with SmtpServer(replies=["550 5.7.1 Message rejected as spam"]) as smtp:
        error = failure(channel(smtp.port), alert)
    assert error.permanent and error.status == 550
    assert "550 5.7.1 Message rejected as spam" in str(error)
    assert smtp.messages == []
    assert next_delay(1, error) is None


def test_server_reply_is_one_clean_line(alert: Alert) -> None:
    with SmtpServer(replies=["554 5.7.1 \x1b[2J no \u202e thanks\x9b"]) as smtp:
        error = failure(channel(smtp.port), alert)
    assert "554 5.7.1 [2J no thanks" in str(error)
    assert not any(c in str(error) for c in "\x1b\u202e\x9b")


def test_starttls_required_but_not_offered_sends_nothing(alert: Alert) -> None:
    with SmtpServer() as smtp:
        error = failure(channel(smtp.port, starttls=True), alert)
    assert error.permanent and "STARTTLS" in str(error) and error.hint
    assert smtp.attempts == 0 and smtp.messages == []


def test_starttls_with_login(alert: Alert, certificate: Certificate) -> None:
    with SmtpServer(tls="starttls", certificate=certificate, credentials=("u", "pw")) as smtp:
        config = channel(smtp.port, starttls=True, username="u", password="pw")
        send(config, alert, certificate.client_context())
    [got] = smtp.messages
    assert got.tls and got.login == "u"


def test_wrong_password_is_permanent(alert: Alert, certificate: Certificate) -> None:
    with SmtpServer(tls="starttls", certificate=certificate, credentials=("u", "pw")) as smtp:
        config = channel(smtp.port, starttls=True, username="u", password="wrong")
        error = failure(config, alert, certificate.client_context())
    assert error.permanent and error.status == 535 and smtp.messages == []


def test_implicit_tls(alert: Alert, certificate: Certificate) -> None:
    with SmtpServer(tls="implicit", certificate=certificate) as smtp:
        send(channel(smtp.port, tls=True), alert, certificate.client_context())
    [got] = smtp.messages
    assert got.tls


def test_untrusted_certificate_is_rejected(alert: Alert, certificate: Certificate) -> None:
    with SmtpServer(tls="implicit", certificate=certificate) as smtp:
        error = failure(channel(smtp.port, tls=True), alert)  # default context: system CAs
    assert smtp.messages == [] and not error.permanent
    assert "certificate" in str(error) and error.hint


def test_hung_server_is_cut_off(alert: Alert) -> None:
    with SilentServer() as silent:
        started = time.monotonic()
        error = failure(channel(silent.port, timeout=0.5), alert)
        elapsed = time.monotonic() - started
    assert not error.permanent and "within 0.5 s" in str(error) and elapsed < 3


def test_connection_refused_is_retryable(alert: Alert) -> None:
    error = failure(channel(free_port()), alert)
    assert not error.permanent and error.status is None


def test_malformed_sender_is_permanent(alert: Alert) -> None:
    config = replace(channel(free_port()), sender="a@example.org\r\nBcc: victim@example.org")
    error = failure(config, alert)
    assert error.permanent and error.hint


def test_batch_arrives_as_exactly_one_multipart_message(batch: Batch) -> None:
    async def go() -> DeliveryResult:
        notifier = build_notifier(channel(smtp.port))
        try:
            return await notifier.send_batch(batch)
        finally:
            await notifier.aclose()

    with SmtpServer() as smtp:
        assert run(go()).status == 250
    assert smtp.attempts == 1
    [got] = smtp.messages
    message = got.message
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Digest: 3 alerts since 07:50"
    assert message["Message-ID"] == f"<{batch.id}@example.org>"
    assert message["X-News-Monitor-Batch-Id"] == batch.id
    assert message["X-News-Monitor-Kind"] == "digest"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    for n, alert in enumerate(batch.alerts, 1):
        assert f"{n}. {alert.title}" in text.get_content()
        assert alert.title in html.get_content()
    assert '<a href="https://example.com/news/tanker-rates">' in html.get_content()


def test_batch_smtp_errors_like_alerts(batch: Batch) -> None:
    async def go() -> DeliveryResult:
        return await MailNotifier(channel(smtp.port)).send_batch(batch)

    with SmtpServer(replies=["451 4.3.0 later", "550 5.7.1 no"]) as smtp:
        with pytest.raises(DeliveryError) as first:
            run(go())
        with pytest.raises(DeliveryError) as second:
            run(go())
    assert not first.value.permanent and first.value.status == 451
    assert second.value.permanent and second.value.status == 550
    assert smtp.messages == []


def test_notice_subject(notice: Alert) -> None:
    with SmtpServer() as smtp:
        send(channel(smtp.port), notice)
    [got] = smtp.messages
    assert got.message["Subject"] == f"[news-monitor] {notice.title}"
    assert got.message["X-News-Monitor-Kind"] == "notice"


def test_channel_templates_dir_changes_the_text_part(tmp_path: Path, alert: Alert) -> None:
    (tmp_path / "alert.txt.j2").write_text("Custom: {{ title }} ({{ rules|length }} rules)\n")
    with SmtpServer() as smtp:
        config = replace(channel(smtp.port), templates_dir=tmp_path)
        run(build_notifier(config).send(alert))
    [got] = smtp.messages
    text, html = got.message.get_body(("plain",)), got.message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    assert text.get_content().rstrip() == f"Custom: {alert.title} (2 rules)"
    assert "<mark>crude</mark>" in html.get_content()  # the package's HTML template


@pytest.mark.parametrize("broken", ["missing", "syntax", "undefined"])
def test_bad_templates_dir_fails_permanently(tmp_path: Path, alert: Alert, broken: str) -> None:
    directory = tmp_path / "templates"
    if broken != "missing":
        directory.mkdir()
        text = "{% if %}" if broken == "syntax" else "{{ no_such_variable }}"
        (directory / "alert.txt.j2").write_text(text)
    with SmtpServer() as smtp:
        config = replace(channel(smtp.port), templates_dir=directory)
        with pytest.raises(DeliveryError) as e:
            run(build_notifier(config).send(alert))
    assert e.value.permanent and e.value.subject == "mail" and e.value.hint
    assert smtp.attempts == 0
    assert next_delay(1, e.value) is None


def test_starttls_is_used_when_offered_even_if_not_required(
    alert: Alert, certificate: Certificate
) -> None:
    """Opportunistic TLS: the server's self-signed certificate is not trusted by the default
    context, and the message still goes, encrypted."""
    with SmtpServer(tls="starttls", certificate=certificate) as smtp:
        send(channel(smtp.port), alert)
    [got] = smtp.messages
    assert got.tls


def test_a_server_without_starttls_gets_the_message_in_plain_text(alert: Alert) -> None:
    with SmtpServer() as smtp:
        send(channel(smtp.port), alert)
    [got] = smtp.messages
    assert not got.tls
