"""Real loopback servers for delivery tests: SMTP (aiosmtpd) and a webhook receiver.

Both listen on 127.0.0.1 only, are context managers and stop themselves on exit.
Replies are programmable per message/request, and everything received is recorded.

    with SmtpServer(replies=["451 4.3.0 try later"] * 3) as smtp: ...   # then 250
    with WebhookReceiver([Reply(429, headers={"Retry-After": "5"})]) as hook: ...
"""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"

# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1/localhost and the context clients trust it with."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Verifies certificates and hostnames like production, trusting only this one."""
        return ssl.create_default_context(cafile=str(self.cert))


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def make_certificate(directory: Path) -> Certificate:
    """Generate a throw-away certificate with the `openssl` CLI (check openssl_available)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class Delivered:
    """One accepted message: envelope plus the parsed message."""

    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    tls: bool
    login: str | None


class _SmtpHandler:
    def __init__(self, replies: Iterable[str]) -> None:
        self.replies: deque[str] = deque(replies)
        self.messages: list[Delivered] = []
        self.attempts = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.attempts += 1
            reply = self.replies.popleft() if self.replies else "250 OK: queued"
            if reply.startswith("250"):
                raw: bytes = envelope.original_content
                parsed = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                login = session.auth_data.login.decode() if session.authenticated else None
                tls = server.transport.get_extra_info("ssl_object") is not None
                self.messages.append(
                    Delivered(
                        envelope.mail_from,
                        tuple(envelope.rcpt_tos),
                        parsed,
                        raw,
                        tls,
                        login,
                    )
                )
        return reply


class SmtpServer:
    """aiosmtpd on 127.0.0.1 with programmable DATA replies (then `250` once they run out).

    tls: None (plain), "starttls" (offered and required before MAIL) or "implicit" (SMTPS).
    credentials: (user, password) to require AUTH (only offered over TLS).
    """

    def __init__(
        self,
        replies: Iterable[str] = (),
        *,
        tls: Literal["starttls", "implicit"] | None = None,
        certificate: Certificate | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        if tls and certificate is None:
            raise ValueError("TLS needs a certificate")
        self.host = HOST
        self.port = free_port()
        self._handler = _SmtpHandler(replies)
        kwargs: dict[str, Any] = {"server_hostname": "localhost", "ready_timeout": 10.0}
        if tls == "implicit" and certificate:
            kwargs["ssl_context"] = certificate.server_context()
        elif tls == "starttls" and certificate:
            kwargs["tls_context"] = certificate.server_context()
            kwargs["require_starttls"] = True
        if credentials:
            kwargs["authenticator"] = _authenticator(*credentials)
            kwargs["auth_required"] = True
        self._controller = Controller(self._handler, hostname=HOST, port=self.port, **kwargs)

    @property
    def messages(self) -> list[Delivered]:
        with self._handler.lock:
            return list(self._handler.messages)

    @property
    def attempts(self) -> int:
        """DATA commands seen, whatever the reply."""
        with self._handler.lock:
            return self._handler.attempts

    def reply(self, *replies: str) -> None:
        with self._handler.lock:
            self._handler.replies.extend(replies)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def _authenticator(user: str, password: str) -> Any:
    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == user.encode()
            and data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data)

    return authenticate


class SilentServer:
    """Accepts TCP connections (kernel backlog) and never says a word: a hung server."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind((HOST, 0))
        self.host = HOST
        self.port: int = self._sock.getsockname()[1]

    def __enter__(self) -> SilentServer:
        self._sock.listen(8)
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


# --------------------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class Reply:
    """What the receiver answers to one request; `hang` seconds before answering."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class WebhookReceiver:
    """A threaded HTTP server on 127.0.0.1 answering with queued `Reply`s (then 200).

    `down()` closes the listening socket (connections are refused) and `up()` listens on the
    same port again. Hanging replies are released when the receiver stops.
    """

    def __init__(self, replies: Iterable[Reply | int] = ()) -> None:
        self.requests: list[Request] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.reply(*replies)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hook"

    def reply(self, *replies: Reply | int) -> None:
        with self._lock:
            self._replies.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def up(self) -> None:
        server = ThreadingHTTPServer((HOST, self.port), _handler_for(self))
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="webhook-receiver"
        )
        self._thread.start()

    def down(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> WebhookReceiver:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.down()

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self._replies.popleft() if self._replies else Reply()


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: down() is immediate

        def do_POST(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = receiver._next(Request(self.command, self.path, headers, body))
            if reply.hang and receiver._release.wait(reply.hang):
                self.close_connection = True
                return
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:  # the client gave up (timeout): nothing to answer
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
