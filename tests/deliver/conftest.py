"""Fixtures for delivery tests: a test certificate, sample and hostile alerts."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.support` without a pytest `pythonpath` setting
    sys.path.insert(0, str(ROOT))

from monitor.deliver import alert_id  # noqa: E402
from monitor.deliver.render import sample_alert  # noqa: E402
from monitor.models import Alert, AlertRule, Snippet  # noqa: E402
from tests.support.receivers import Certificate, make_certificate, openssl_available  # noqa: E402


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    if not openssl_available():
        pytest.skip("TLS cases need the openssl CLI to make a test certificate")
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def alert() -> Alert:
    return sample_alert("test")


def hostile_alert(channel: str = "test") -> Alert:
    """Article text written by an attacker: markup, header injection, bidi tricks, size."""
    body = "Click <script>alert(1)</script> now\r\nBcc: victim@example.com \u202egnp.exe & more"
    return Alert(
        id=alert_id("hostile:1", channel),
        channel=channel,
        article_id="hostile:1",
        title="Breaking\r\nBcc: victim@example.com\r\n\r\n<script>alert('x')</script>"
        + " \u202eevil\u202c \u200fمرحبا\x00\x1b[31m"
        + "A" * 10_000,
        url="javascript:alert(document.cookie)",
        source='Evil "Feed" <img src=x onerror=alert(1)>',
        sources=("Evil Feed", "Mirror\nFeed"),
        published=datetime(2024, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=-5))),
        language="en\r\nX-Injected: 1",
        partial=True,
        created=datetime(2024, 1, 2, 9, 0, tzinfo=UTC),
        rules=(
            AlertRule(
                name="xss<rule>",
                description="desc with </li><script>bad()</script>",
                terms=("script", "SCRIPT", "Bcc"),
                snippets=(
                    Snippet("body", body, ((7, 13), (0, 5), (3, 9), (200, 300))),
                    Snippet("title", "x" * 50, ()),
                ),
            ),
        ),
    )
