"""One function per page: read the query, ask the store (off the event loop), render.

Every value from the query string is read as data (a page number, a date, a name compared
with the configuration's); none becomes part of a path or of SQL.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from monitor.config import Config
from monitor.errors import QueryError
from monitor.models import Alert, RuleConfig
from monitor.replay import replay
from monitor.store import InboxFilter, Store, StoredArticle
from monitor.store.inbox import PAGE
from monitor.web.highlight import evidence_segments, snippet_segments
from monitor.web.security import CSRF_FIELD, Refused, checked_form, local_path, safe_link
from monitor.web.settings import WebSettings

ZONE_COOKIE = "monitor_zone"
RULE_DAYS = 14  # the rules page counts matches per day over this many days
TRY_DAYS = 30  # the longest a rule may be tried over
TRY_SHOWN = 50  # would-be alerts listed
TRIAL = "(trial)"  # the name a tried query runs under
MAX_PAGE = 10_000
MAX_SEARCH = 500  # characters of a search query read; the rest is left out, with a note


@dataclass
class Site:
    """What every page needs: the store, the configuration, the settings, the templates."""

    store: Store
    config: Config
    settings: WebSettings
    templates: Jinja2Templates
    trying: asyncio.Semaphore  # one rule tried at a time: it is CPU work


def _site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def zone_of(request: Request) -> ZoneInfo:
    """The viewer's chosen zone (a cookie), else the configured one."""
    chosen = request.cookies.get(ZONE_COOKIE)
    if chosen and chosen in _zones():
        return ZoneInfo(chosen)
    return ZoneInfo(_site(request).settings.zone)


_ZONES: list[str] = []


def _zones() -> list[str]:
    if not _ZONES:
        _ZONES.extend(sorted(available_timezones()))
    return _ZONES


def _render(request: Request, name: str, **context: Any) -> Response:
    site = _site(request)
    zone = zone_of(request)

    def when(ts: float | None) -> str:
        if ts is None:
            return ""
        return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M %Z")

    return site.templates.TemplateResponse(
        request,
        name,
        {
            "csrf": request.state.csrf,
            "csrf_field": CSRF_FIELD,
            "who": request.state.who,
            "zone": zone.key,
            "when": when,
            "link": safe_link,
            "snippet": snippet_segments,
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "signed_in": site.settings.auth == "token",
            **context,
        },
    )


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value or default)))
    except ValueError:
        return default


def _day(value: str | None, zone: ZoneInfo, *, end: bool = False) -> float | None:
    """A YYYY-MM-DD date's start (or, with `end`, the next day's start) in `zone`."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    if end:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


async def inbox(request: Request) -> Response:
    site, q = _site(request), request.query_params
    zone = zone_of(request)
    config = site.config
    feeds: tuple[str, ...] = ()
    if q.get("feed"):
        feeds = (q["feed"],)
    elif q.get("tag"):
        feeds = tuple(f.name for f in config.feeds if q["tag"] in f.tags) or ("",)
    partial = {"yes": True, "no": False}.get(q.get("partial", ""))
    filters = InboxFilter(
        rule=q.get("rule") or None,
        channel=q.get("channel") or None,
        feeds=feeds,
        since=_day(q.get("since"), zone),
        until=_day(q.get("until"), zone, end=True),
        partial=partial,
    )
    page_no = _int(q.get("page"), 0, 0, MAX_PAGE)
    page = await run_in_threadpool(
        site.store.inbox, filters, offset=page_no * PAGE, who=request.state.who
    )
    args = {k: v for k, v in q.items() if k != "page" and v}
    return _render(
        request,
        "inbox.html",
        page=page,
        page_no=page_no,
        args=args,
        rules=sorted(r.name for r in config.rules),
        channels=sorted(config.channels),
        feeds=sorted(f.name for f in config.feeds),
        tags=sorted({t for f in config.feeds for t in f.tags}),
    )


async def article(request: Request) -> Response:
    site = _site(request)
    view = await run_in_threadpool(
        site.store.article, request.path_params["article_id"], who=request.state.who
    )
    if view is None:
        raise Refused(404, "no such article")
    names = [e.rule for e in view.evidence]
    spans = {
        field: [(i, s) for i, e in enumerate(view.evidence) for s in e.spans if s.field == field]
        for field in ("title", "body")
    }
    return _render(
        request,
        "article.html",
        view=view,
        names=names,
        title_segments=evidence_segments(view.title, spans["title"]),
        body_segments=evidence_segments(view.text, spans["body"]),
    )


async def search(request: Request) -> Response:
    site, q = _site(request), request.query_params
    typed = q.get("q", "")
    query = typed[:MAX_SEARCH]
    page_no = _int(q.get("page"), 0, 0, MAX_PAGE)
    page = None
    if query.strip():
        page = await run_in_threadpool(site.store.search, query, offset=page_no * 20)
    cut = MAX_SEARCH if len(typed) > MAX_SEARCH else None
    return _render(request, "search.html", query=query, page=page, page_no=page_no, cut=cut)


async def try_rule(request: Request) -> Response:
    site, q = _site(request), request.query_params
    query = q.get("q", "")[:2000]
    days = _int(q.get("days"), 7, 1, TRY_DAYS)
    result: dict[str, Any] | None = None
    error = None
    if query.strip():
        async with site.trying:
            try:
                result = await run_in_threadpool(_try, site, query, days)
            except QueryError as e:
                error = str(e)
    return _render(request, "try.html", query=query, days=days, result=result, error=error)


def _try(site: Site, query: str, days: int) -> dict[str, Any]:
    """A dry-run replay of `query` alone over the last `days` (on a worker thread)."""
    rule = RuleConfig(name=TRIAL, query=query, channels=(TRIAL,))
    trial = replace(site.config, rules=(rule,))
    shown: list[tuple[Alert, StoredArticle]] = []

    def keep(alert: Alert, stored: StoredArticle) -> None:
        if len(shown) < TRY_SHOWN:
            shown.append((alert, stored))

    now = time.time()
    started = time.perf_counter()
    report = replay(site.store, trial, since=now - days * 86400, now=now, dry_run=True, show=keep)
    return {
        "scanned": report.scanned,
        "matched": report.matched,
        "shown": shown,
        "seconds": time.perf_counter() - started,
    }


async def rules(request: Request) -> Response:
    site = _site(request)
    zone = zone_of(request)
    now = time.time()
    today = datetime.now(zone).date()
    days = [today - timedelta(days=RULE_DAYS - 1 - i) for i in range(RULE_DAYS)]
    starts = [datetime(d.year, d.month, d.day, tzinfo=zone).timestamp() for d in days]
    stats = {
        s.rule: s
        for s in await run_in_threadpool(site.store.rule_stats, now=now, day_starts=starts)
    }
    configured = {r.name: r for r in site.config.rules}
    names = sorted(set(configured) | set(stats))
    return _render(
        request,
        "rules.html",
        names=names,
        stats=stats,
        configured=configured,
        days=[d.strftime("%m-%d") for d in days],
    )


async def feedback(request: Request) -> Response:
    site = _site(request)
    form = await checked_form(request)
    verdict = form.get("verdict")
    if verdict not in ("useful", "not_useful"):
        raise Refused(400, "verdict must be useful or not_useful")
    rule = form.get("rule", "")
    count = await run_in_threadpool(
        site.store.record_feedback,
        form.get("article", ""),
        useful=verdict == "useful",
        who=request.state.who,
        now=time.time(),
        rules=[rule] if rule else [],
    )
    if not count:
        raise Refused(404, "no such alert or rule")
    return RedirectResponse(local_path(form.get("next")), status_code=303)


async def set_zone(request: Request) -> Response:
    form = await checked_form(request)
    response = RedirectResponse(local_path(form.get("next")), status_code=303)
    zone = form.get("zone", "")
    if zone in _zones():
        response.set_cookie(ZONE_COOKIE, zone, httponly=True, samesite="strict", max_age=31536000)
    return response
