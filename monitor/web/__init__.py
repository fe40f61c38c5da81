"""The web inbox (`monitor web`): desk editors see every alert and why it matched, search the
stored news, try a rule over the last days and say which alerts were useful.

    settings.py   where it listens, whose zone, how it authenticates (flags and credentials)
    security.py   headers (CSP), sessions and CSRF, authentication, safe links
    highlight.py  text cut into escaped segments, the matched words marked
    pages.py      one function per page: store calls off the event loop, a template rendered
    app.py        the Starlette application and the uvicorn server

Server-rendered pages, no JavaScript. Everything an article brings (title, text, link,
feed names) is stranger-written: Jinja2 escapes it, highlights wrap escaped segments in
``<mark>``, and the Content-Security-Policy forbids every script.
"""
