"""Hostile HTTP, each case served by a real server on 127.0.0.1: compression bombs, lying
lengths, broken protocol, malformed links and redirects, IPv4 hidden in IPv6, credentials in
errors. Whatever comes, only FetchError leaves the Fetcher, memory stays within a small
multiple of the size cap and the event loop keeps ticking."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.addresses import address_allowed, is_public

# --------------------------------------------------------------------------- property tests

NON_PUBLIC_V4 = st.sampled_from(
    [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    ]
).flatmap(
    lambda net: st.integers(0, ipaddress.ip_network(net).num_addresses - 1).map(
        lambda i, n=net: ipaddress.ip_network(n)[i]
    )
)  # fmt: skip
ANY_V4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)


def _v6(value: int) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(value)


EMBEDDING_FORMS = {
    "mapped": lambda v4, bits: _v6(0xFFFF << 32 | int(v4)),
    "compatible": lambda v4, bits: _v6(int(v4)),
    "nat64": lambda v4, bits: _v6(0x64FF9B << 96 | int(v4)),
    "nat64-local": lambda v4, bits: _v6(0x64FF9B0001 << 80 | (bits & (2**48 - 1)) << 32 | int(v4)),
    "6to4": lambda v4, bits: _v6(0x2002 << 112 | int(v4) << 80 | (bits & (2**80 - 1))),
    "teredo-server": lambda v4, bits: _v6(0x20010000 << 96 | int(v4) << 64 | (bits & (2**64 - 1))),
    "teredo-client": lambda v4, bits: _v6(
        0x20010000 << 96
        | (bits & (2**32 - 1)) << 64
        | (bits >> 64 & 0xFFFFFFFF) << 32
        | (~int(v4) & 0xFFFFFFFF)
    ),
}


@settings(max_examples=500)
@given(
    form=st.sampled_from(sorted(EMBEDDING_FORMS)), v4=NON_PUBLIC_V4, bits=st.integers(0, 2**128 - 1)
)
def test_ipv6_embedding_a_non_public_ipv4_is_refused(
    form: str, v4: ipaddress.IPv4Address, bits: int
) -> None:
    addr = EMBEDDING_FORMS[form](v4, bits)
    assert not address_allowed(addr), f"{addr} ({form} of {v4})"


@settings(max_examples=300)
@given(
    form=st.sampled_from(["mapped", "nat64", "6to4"]), v4=ANY_V4, bits=st.integers(0, 2**128 - 1)
)
def test_ipv6_embedding_a_public_ipv4_follows_it(
    form: str, v4: ipaddress.IPv4Address, bits: int
) -> None:
    addr = EMBEDDING_FORMS[form](v4, bits)
    assert address_allowed(addr) is is_public(v4)
