"""The Starlette application and the uvicorn server behind `monitor web`."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import uvicorn
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from monitor.config import Config, load_config
from monitor.errors import ConfigError, StorageError
from monitor.locations import Location
from monitor.log import get_logger
from monitor.sanitize import neutralize
from monitor.store import Store, open_store
from monitor.web import pages
from monitor.web.security import (
    SESSION_COOKIE,
    Guard,
    Refused,
    checked_form,
    same,
    session_value,
)
from monitor.web.settings import DEFAULT_LISTEN, WebSettings, web_settings

log = get_logger("monitor.web")
HERE = Path(__file__).parent
EX_CONFIG = 78  # sysexits.h: may not or cannot listen as configured
__all__ = ["DEFAULT_LISTEN", "create_app", "run_web", "serve"]


def _inert(value: object) -> object:
    """Every string a template prints, with its control and bidi characters neutralised:
    titles, sources, feed names and errors are stranger-written, and an override character
    would turn the text round ("gnp.exe" shown as "exe.png"). Markup is already made safe
    (`highlight` neutralises before it marks)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return neutralize(value)
    return value


def templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        auto_reload=False,
        finalize=_inert,
    )
    return Jinja2Templates(env=env)


async def login(request: Request) -> Response:
    site: pages.Site = request.app.state.site
    token = site.settings.token
    if token is None:
        return RedirectResponse("/", status_code=303)
    if request.method == "GET":
        return pages._render(request, "login.html", wrong=False)
    form = await checked_form(request)
    if not same(form.get("token", "").strip(), token):
        response = pages._render(request, "login.html", wrong=True)
        response.status_code = 403
        return response
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(token),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    await checked_form(request)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return PlainTextResponse(exc.message, status_code=exc.status)


async def storage_failed(request: Request, exc: Exception) -> Response:
    log.error("web_storage_error", error=str(exc))
    return PlainTextResponse("the state database failed; see the server's log", status_code=503)


def create_app(store: Store, config: Config, settings: WebSettings) -> Starlette:
    app = Starlette(
        routes=[
            Route("/", pages.inbox),
            Route("/article/{article_id:str}", pages.article),
            Route("/search", pages.search),
            Route("/try", pages.try_rule),
            Route("/rules", pages.rules),
            Route("/feedback", pages.feedback, methods=["POST"]),
            Route("/zone", pages.set_zone, methods=["POST"]),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(Guard, settings=settings)],
        exception_handlers={Refused: refused, StorageError: storage_failed},
    )
    app.state.site = pages.Site(store, config, settings, templates(), asyncio.Semaphore(1))
    return app


def serve(store: Store, config: Config, settings: WebSettings) -> int:
    """Listen and serve until SIGINT or SIGTERM; says the address on stderr."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as e:
        sock.close()
        print(
            f"monitor web: cannot listen on {settings.host}:{settings.port}: {e}", file=sys.stderr
        )
        return EX_CONFIG
    sock.listen(128)  # before the address is said: a client told it may connect at once
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(
        f"web inbox on http://{shown}:{port}/ (auth: {settings.auth})", file=sys.stderr, flush=True
    )
    log.info("web_listening", host=host, port=port, auth=settings.auth)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(store, config, settings),
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            lifespan="off",
        )
    )
    server.run(sockets=[sock])
    return 0


def run_web(
    config_dir: Location,
    database: Location,
    *,
    listen: str,
    zone: str | None,
    proxy_header: str | None,
    proxy_from: tuple[str, ...],
) -> int:
    """`monitor web`: 0 after a clean stop, 1 for a bad configuration or database, 78 when
    it may not or cannot listen (sysexits' EX_CONFIG)."""
    try:
        settings = web_settings(listen, zone=zone, proxy_header=proxy_header, proxy_from=proxy_from)
    except ConfigError as e:
        for problem in e.problems:
            print(f"monitor web: {problem}", file=sys.stderr)
        return EX_CONFIG
    print(config_dir.describe("configuration"), file=sys.stderr)
    print(database.describe("database"), file=sys.stderr)
    try:
        config = load_config(config_dir.path)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return 1
    try:
        store = open_store(database.value)
    except StorageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        return serve(store, config, settings)
    finally:
        store.close()
