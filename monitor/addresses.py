"""Which IP addresses a fetch may reach: public unicast, or a network the operator allowed.

"Public" is decided here from the IANA special-purpose address registries (IPv4 and IPv6,
as of 2025) rather than from `ipaddress.is_global`, whose tables changed between Python patch
releases. An address is public when it is in none of the blocks below; an IPv6 address must
also lie in global unicast space (2000::/3).

IPv6 forms that carry an IPv4 address are decoded and the IPv4 address is checked too:

- IPv4-mapped ``::ffff:a.b.c.d`` is the IPv4 address itself (the socket connects to it);
- IPv4-compatible ``::a.b.c.d`` (deprecated) and everything else outside 2000::/3 is never
  public;
- NAT64 ``64:ff9b::a.b.c.d`` (RFC 6052) is public when the IPv4 address is; the local-use
  NAT64 prefix 64:ff9b:1::/48 (RFC 8215) is never public, whatever it embeds;
- 6to4 ``2002:AABB:CCDD::/48`` is public when a.b.c.d is;
- Teredo ``2001:0:SSSS:SSSS:…:CCCC:CCCC`` is public when both the server address and the
  (inverted) client address are.

`home_networks` names "the network of the URL the operator wrote": for each address the
operator's host resolved to that is not public, the most specific block below that contains
it (so 127.0.0.1 gives 127.0.0.0/8 and 10.1.2.3 gives 10.0.0.0/8); a public address adds
nothing, since public addresses are allowed anyway. An address inside a prefix that embeds
IPv4 (NAT64, 6to4, Teredo) gives only itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ANYWHERE = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))

_V4_BLOCKS = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local: 169.254.169.254 is the cloud metadata service
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255 limited broadcast
    )
)
_V6_BLOCKS = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/128",  # unspecified
        "::1/128",  # loopback
        "::/96",  # IPv4-compatible (deprecated)
        "::/8",  # reserved by the IETF
        "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation (RFC 8215)
        "100::/64",  # discard-only
        "100::/8",  # reserved by the IETF
        "200::/7",
        "400::/6",
        "800::/5",
        "1000::/4",
        "2001::/23",  # IETF protocol assignments (Teredo 2001::/32 is decoded instead)
        "2001:2::/48",  # benchmarking
        "2001:db8::/32",  # documentation
        "2001:10::/28",  # ORCHID
        "3fff::/20",  # documentation
        "4000::/3",  # unassigned
        "5f00::/16",  # segment routing (SRv6) SIDs
        "6000::/3",
        "8000::/3",
        "a000::/3",
        "c000::/3",
        "e000::/4",
        "f000::/5",
        "f800::/6",
        "fc00::/7",  # unique local
        "fe00::/9",
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
_EMBEDDING = (_NAT64, _SIX_TO_FOUR, _TEREDO)


def embedded_ipv4(addr: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo
    server and client), for checks and messages; () for IPv4 and plain IPv6."""
    if isinstance(addr, ipaddress.IPv4Address):
        return ()
    low32 = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr in _MAPPED or addr in _NAT64:
        return (low32,)
    if addr in _COMPATIBLE and int(addr) > 1:
        return (low32,)
    if addr in _SIX_TO_FOUR:
        return (ipaddress.IPv4Address((int(addr) >> 80) & 0xFFFFFFFF),)
    if addr in _TEREDO:
        server = ipaddress.IPv4Address((int(addr) >> 64) & 0xFFFFFFFF)
        client = ipaddress.IPv4Address(~int(addr) & 0xFFFFFFFF)
        return (server, client)
    return ()


def is_public(addr: IPAddress) -> bool:
    """True for public unicast addresses, including IPv6 forms whose IPv4 is public."""
    if isinstance(addr, ipaddress.IPv4Address):
        return not any(addr in block for block in _V4_BLOCKS)
    if addr in _MAPPED or addr in _NAT64 or addr in _SIX_TO_FOUR or addr in _TEREDO:
        return all(is_public(inner) for inner in embedded_ipv4(addr))
    return addr in _GLOBAL_UNICAST and not any(addr in block for block in _V6_BLOCKS)


def address_allowed(addr: IPAddress, allow: Sequence[IPNetwork] = ()) -> bool:
    """Public addresses are fine; anything else only inside an allowed network (an
    IPv4-mapped address also matches the IPv4 network it maps to)."""
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    for net in allow:
        if addr.version == net.version and addr in net:
            return True
        if mapped is not None and net.version == 4 and mapped in net:
            return True
    return is_public(addr)


def home_networks(addresses: Iterable[IPAddress]) -> tuple[IPNetwork, ...]:
    """The special-purpose blocks holding the non-public addresses among `addresses` (the
    addresses the operator's own host resolved to); see the module docstring."""
    homes: list[IPNetwork] = []
    for addr in addresses:
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if is_public(addr):
            continue
        home = _most_specific_block(addr)
        if home is None or any(addr in prefix for prefix in _EMBEDDING):
            home = ipaddress.ip_network(addr)
        if home not in homes:
            homes.append(home)
    return tuple(homes)


def _most_specific_block(addr: IPAddress) -> IPNetwork | None:
    blocks: Sequence[IPNetwork] = _V4_BLOCKS if addr.version == 4 else _V6_BLOCKS
    containing = [b for b in blocks if addr in b]
    return max(containing, key=lambda b: b.prefixlen, default=None)
