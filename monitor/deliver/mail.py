"""Email delivery over SMTP (aiosmtplib) with certificate verification.

`smtp.tls` is implicit TLS (port 465); `smtp.starttls` upgrades a plain connection and is
required: a server that does not offer STARTTLS gets nothing. Credentials are never sent
over a plain connection. SMTP 4xx replies are retryable, 5xx permanent.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiosmtplib

from monitor.deliver.render import render_email
from monitor.errors import DeliveryError
from monitor.log import get_logger
from monitor.models import Alert, ChannelConfig, DeliveryResult


class MailNotifier:
    """`ssl_context` replaces the default (system CAs, hostname checked), e.g. for a test CA."""

    def __init__(
        self,
        channel: ChannelConfig,
        *,
        ssl_context: ssl.SSLContext | None = None,
        templates_dir: Path | None = None,
    ) -> None:
        self.channel = channel
        smtp = channel.smtp
        if not channel.to or not channel.sender:
            raise self._error("an email channel needs `to` and `sender`", permanent=True)
        if smtp.tls and smtp.starttls:
            raise self._error(
                "smtp.tls and smtp.starttls are exclusive",
                permanent=True,
                hint="tls: true for port 465, starttls: true for port 587",
            )
        if smtp.username and not (smtp.tls or smtp.starttls):
            raise self._error(
                "refusing to send SMTP credentials over an unencrypted connection",
                permanent=True,
                hint="set smtp.starttls: true (port 587) or smtp.tls: true (port 465)",
            )
        self._ssl = ssl_context or ssl.create_default_context()
        self._templates_dir = templates_dir
        self._log = get_logger(__name__, channel=channel.name)

    async def send(self, alert: Alert) -> DeliveryResult:
        message = render_email(alert, self.channel, self._templates_dir)
        smtp = self.channel.smtp
        try:
            async with asyncio.timeout(smtp.timeout):
                refused, reply = await aiosmtplib.send(
                    message,
                    hostname=smtp.host,
                    port=smtp.port,
                    username=smtp.username,
                    password=smtp.password,
                    use_tls=smtp.tls,
                    start_tls=smtp.starttls,
                    tls_context=self._ssl,
                    timeout=smtp.timeout,
                )
        except aiosmtplib.SMTPRecipientsRefused as e:
            raise self._refused(e) from e
        except aiosmtplib.SMTPResponseException as e:
            raise self._reply_error(e.code, e.message) from e
        except aiosmtplib.SMTPNotSupported as e:
            raise self._error("the mail server cannot take this message", permanent=True) from e
        except aiosmtplib.SMTPException as e:
            if "STARTTLS" in str(e):
                raise self._error(
                    f"{smtp.host}:{smtp.port} does not offer STARTTLS; nothing was sent",
                    permanent=True,
                    hint="use smtp.tls: true on port 465, or a server that supports STARTTLS",
                ) from e
            raise self._error(f"SMTP with {smtp.host}:{smtp.port} failed") from e
        except ssl.SSLCertVerificationError as e:
            raise self._error(
                f"certificate of {smtp.host} could not be verified",
                hint="the server must present a certificate valid for smtp.host",
            ) from e
        except (TimeoutError, OSError) as e:
            raise self._error(f"could not talk to {smtp.host}:{smtp.port}") from e
        if refused:
            self._log.warning("recipients_refused", alert=alert.id, recipients=sorted(refused))
        detail = " ".join(reply.split())[:300]
        return DeliveryResult(status=250, detail=detail)

    async def aclose(self) -> None:
        """Nothing to release: each send opens and closes its own connection."""

    def _refused(self, error: aiosmtplib.SMTPRecipientsRefused) -> DeliveryError:
        codes = [r.code for r in error.recipients]
        reasons = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        return self._error(
            f"every recipient was refused: {reasons}",
            permanent=all(code >= 500 for code in codes),
            status=max(codes, default=None),
        )

    def _reply_error(self, code: int, reason: str) -> DeliveryError:
        return self._error(
            f"mail server replied {code} {' '.join(reason.split())}",
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
