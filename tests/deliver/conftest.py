"""Fixtures for delivery tests: a test certificate, a sample alert, batch and notice."""

from __future__ import annotations

import pytest

from monitor.models import Alert, Batch
from tests.deliver.news import sample_alert, sample_batch, sample_notice
from tests.support.receivers import Certificate, make_certificate, openssl_available


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    if not openssl_available():
        pytest.skip("TLS cases need the openssl CLI to make a test certificate")
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def alert() -> Alert:
    return sample_alert("test")


@pytest.fixture
def batch() -> Batch:
    return sample_batch("test")


@pytest.fixture
def notice() -> Alert:
    return sample_notice("test")
