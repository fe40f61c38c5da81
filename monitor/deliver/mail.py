"""Email delivery over SMTP (aiosmtplib) with certificate verification.

`smtp.tls` is implicit TLS (port 465); `smtp.starttls` upgrades a plain connection and is
required: a server that does not offer STARTTLS gets nothing. Both verify the certificate.
With neither, the connection is still upgraded when the server offers STARTTLS, without
checking its certificate (opportunistic TLS, as mail servers do between themselves: it keeps
the message from passive eavesdroppers, and a relay's self-signed certificate does not stop
delivery). Credentials are never sent over a connection that is not verified TLS. SMTP 4xx
replies are retryable, 5xx permanent.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from functools import cache
from pathlib import Path

import aiosmtplib

from monitor.deliver.render import render_batch_email, render_email, templates_problem
from monitor.errors import DeliveryError
from monitor.log import get_logger
from monitor.models import Alert, Batch, ChannelConfig, DeliveryResult
from monitor.sanitize import clean_line

_REPLY_CHARS = 300  # of a server's reply, in results and errors


@cache
def _opportunistic_context() -> ssl.SSLContext:
    """Encryption without authentication, for STARTTLS the channel does not require (made on
    first use: no CA certificates to load, and none at import)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class MailNotifier:
    """`ssl_context` replaces the default (system CAs, hostname checked), e.g. for a test CA.

    `templates_dir` holds operator overrides of the templates (`build_notifier` passes the
    channel's); a missing or broken one fails every send permanently.
    """

    def __init__(
        self,
        channel: ChannelConfig,
        *,
        ssl_context: ssl.SSLContext | None = None,
        templates_dir: Path | None = None,
    ) -> None:
        self.channel = channel
        self._problem = channel_problem(channel) or (
            templates_problem(templates_dir) if templates_dir else None
        )
        self._ssl = ssl_context or ssl.create_default_context()
        self._templates_dir = templates_dir
        self._log = get_logger(__name__, channel=channel.name)

    async def send(self, alert: Alert) -> DeliveryResult:
        """One message about one article, or one operator notice."""
        return await self._deliver(
            lambda: render_email(alert, self.channel, self._templates_dir), alert.id
        )

    async def send_batch(self, batch: Batch) -> DeliveryResult:
        """One message listing every alert of a digest or summary."""
        return await self._deliver(
            lambda: render_batch_email(batch, self.channel, self._templates_dir), batch.id
        )

    async def _deliver(self, render: Callable[[], EmailMessage], message_id: str) -> DeliveryResult:
        if self._problem:
            raise self._error(self._problem[0], permanent=True, hint=self._problem[1])
        try:
            message = render()
        except ValueError as e:  # the email policy rejects a header: `sender` or `to`
            raise self._error(
                "could not build the message", permanent=True, hint="check `sender` and `to`"
            ) from e
        smtp = self.channel.smtp
        where = f"{smtp.host}:{smtp.port}"
        try:
            async with asyncio.timeout(smtp.timeout):
                refused, reply = await aiosmtplib.send(
                    message,
                    hostname=smtp.host,
                    port=smtp.port,
                    username=smtp.username,
                    password=smtp.password,
                    use_tls=smtp.tls,
                    start_tls=True if smtp.starttls else False if smtp.tls else None,
                    tls_context=self._ssl
                    if smtp.tls or smtp.starttls
                    else _opportunistic_context(),
                    timeout=smtp.timeout,
                )
        except aiosmtplib.SMTPRecipientsRefused as e:
            raise self._refused(e) from e
        except aiosmtplib.SMTPResponseException as e:
            raise self._reply_error(e.code, e.message) from e
        except TimeoutError as e:  # ours or aiosmtplib's
            raise self._error(f"no reply from {where} within {smtp.timeout:g} s") from e
        except aiosmtplib.SMTPNotSupported as e:
            raise self._error("the mail server cannot take this message", permanent=True) from e
        except (aiosmtplib.SMTPException, OSError) as e:
            raise self._failure(e) from e
        if refused:
            self._log.warning("recipients_refused", alert=message_id, recipients=sorted(refused))
        detail = clean_line(reply, _REPLY_CHARS)
        return DeliveryResult(status=250, detail=detail)

    async def aclose(self) -> None:
        """Nothing to release: each send opens and closes its own connection."""

    def _failure(self, error: Exception) -> DeliveryError:
        """Connection-level failures: TLS problems get a hint, the rest is retryable."""
        smtp = self.channel.smtp
        where = f"{smtp.host}:{smtp.port}"
        if isinstance(error.__cause__ or error, ssl.SSLCertVerificationError):
            return self._error(
                f"the certificate of {where} could not be verified",
                hint="the server must present a certificate valid for smtp.host",
            )
        if "STARTTLS" in str(error):
            return self._error(
                f"{where} does not offer STARTTLS; nothing was sent",
                permanent=True,
                hint="use smtp.tls: true on port 465, or a server that supports STARTTLS",
            )
        return self._error(f"SMTP with {where} failed")

    def _refused(self, error: aiosmtplib.SMTPRecipientsRefused) -> DeliveryError:
        codes = [r.code for r in error.recipients]
        reasons = "; ".join(
            clean_line(f"{r.recipient}: {r.code} {r.message}", _REPLY_CHARS)
            for r in error.recipients
        )
        return self._error(
            f"every recipient was refused: {reasons}",
            permanent=all(code >= 500 for code in codes),
            status=max(codes, default=None),
        )

    def _reply_error(self, code: int, reason: str) -> DeliveryError:
        return self._error(
            f"mail server replied {code} {clean_line(reason, _REPLY_CHARS)}",
            permanent=500 <= code < 600,
            status=code,
        )

    def _error(
        self,
        message: str,
        *,
        permanent: bool = False,
        status: int | None = None,
        hint: str | None = None,
    ) -> DeliveryError:
        return DeliveryError(
            message, self.channel.name, permanent=permanent, status=status, hint=hint
        )


def channel_problem(channel: ChannelConfig) -> tuple[str, str | None] | None:
    """Why this channel can never send (message, hint), or None."""
    smtp = channel.smtp
    if not channel.to or not channel.sender:
        return "an email channel needs `to` and `sender`", None
    if smtp.tls and smtp.starttls:
        return (
            "smtp.tls and smtp.starttls are exclusive",
            "tls: true for port 465, starttls: true for port 587",
        )
    if smtp.username and not (smtp.tls or smtp.starttls):
        return (
            "refusing to send SMTP credentials over an unencrypted connection",
            "set smtp.starttls: true (port 587) or smtp.tls: true (port 465)",
        )
    return None
