"""Fixtures for delivery tests: a test certificate and a sample alert."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.support` without a pytest `pythonpath` setting
    sys.path.insert(0, str(ROOT))

from monitor.deliver.render import sample_alert  # noqa: E402
from monitor.models import Alert  # noqa: E402
from tests.support.receivers import Certificate, make_certificate, openssl_available  # noqa: E402


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    if not openssl_available():
        pytest.skip("TLS cases need the openssl CLI to make a test certificate")
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def alert() -> Alert:
    return sample_alert("test")
