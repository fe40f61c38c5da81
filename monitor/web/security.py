"""What keeps the inbox safe: response headers, authentication, CSRF and links out.

- Every response carries a Content-Security-Policy that allows no script at all, no frames
  and forms posting only here, with ``nosniff`` and ``no-referrer``.
- Authentication (see `settings`): a session cookie (an HMAC of the token, so changing the
  token signs everyone out), ``Authorization: Bearer``, or a trusted proxy's header. Without
  authentication (loopback only) a request must name a loopback host: a page elsewhere cannot
  reach the inbox through DNS rebinding.
- CSRF: a random token per browser session, in a ``SameSite=Strict`` cookie and in every
  form; a POST whose form field does not match the cookie (compared in constant time) gets 403.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp

from monitor.web.settings import WebSettings, is_loopback

CSRF_COOKIE = "monitor_csrf"
SESSION_COOKIE = "monitor_session"
CSRF_FIELD = "csrf"
MAX_FORM = 64 * 1024  # bytes: every form here is a few fields
OPEN_PATHS = ("/login", "/static/")  # served before signing in

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"monitor-web-session", hashlib.sha256).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two secrets (None never equals anything)."""
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


def safe_link(url: str | None) -> str | None:
    """`url` when it is an absolute http(s) URL (a link out may be followed), else None:
    the page shows it as text."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url.strip()
    return None


def local_path(target: str | None, default: str = "/") -> str:
    """A redirect target from a form: a path on this site, never another site's URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def _host_name(request: Request) -> str:
    host = request.headers.get("host", "")
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard(BaseHTTPMiddleware):
    """Authentication, the CSRF cookie and the security headers, for every request."""

    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        super().__init__(app)
        self.settings = settings
        self.session = session_value(settings.token) if settings.token else None

    def who(self, request: Request) -> str | None:
        """Who is asking, or None when they are not signed in."""
        s = self.settings
        if s.auth == "none":
            return "local"
        if s.auth == "proxy":
            peer = request.client.host if request.client else ""
            try:
                trusted = any(ipaddress.ip_address(peer) in net for net in s.proxy_from)
            except ValueError:
                trusted = False
            name = request.headers.get(s.proxy_header or "")
            return (name.strip()[:200] or None) if trusted and name else None
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer ") and same(bearer[7:].strip(), s.token):
            return "token"
        if same(request.cookies.get(SESSION_COOKIE), self.session):
            return "editor"
        return None

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await self._handle(request, call_next)
        for name, value in HEADERS.items():
            response.headers[name] = value
        if request.state.new_csrf:
            response.set_cookie(
                CSRF_COOKIE,
                request.state.csrf,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    async def _handle(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        existing = request.cookies.get(CSRF_COOKIE)
        request.state.new_csrf = not existing or len(existing) != 43
        request.state.csrf = secrets.token_urlsafe(32) if request.state.new_csrf else existing
        if self.settings.auth == "none" and not is_loopback(_host_name(request)):
            return PlainTextResponse("this inbox answers only to localhost", status_code=421)
        request.state.who = self.who(request)
        if request.state.who is None and not request.url.path.startswith(OPEN_PATHS):
            if request.method == "GET" and "authorization" not in request.headers:
                return RedirectResponse("/login", status_code=303)
            return PlainTextResponse("sign in first", status_code=401)
        return await call_next(request)


async def checked_form(request: Request) -> dict[str, str]:
    """The fields of a POSTed urlencoded form whose CSRF field matches the session's cookie;
    raises `Refused` (403) otherwise."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise Refused(413, "form too large")
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as e:
        raise Refused(400, "form is not UTF-8") from e
    if not same(fields.get(CSRF_FIELD), request.cookies.get(CSRF_COOKIE)):
        raise Refused(403, "the form's CSRF token is missing or wrong: reload the page")
    return fields


class Refused(Exception):
    """A request turned away with `status` (caught by the application's handler)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[Request], Awaitable[Response]]
