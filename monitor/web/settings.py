"""How `monitor web` runs: the address, the zone times are shown in, and who may use it.

Authentication, required whenever the address is not loopback (refused to start otherwise):

- a token: ``$MONITOR_WEB_TOKEN``, else the credentials file ``web-token`` (systemd's
  ``LoadCredential=web-token:/path``, read from ``$CREDENTIALS_DIRECTORY``). At least 16
  characters. Editors sign in with it once (a session cookie); scripts send
  ``Authorization: Bearer <token>``.
- a trusted reverse proxy (``--proxy-header X-Remote-User``): the proxy authenticates and
  names the editor in that header; the header is believed only from the proxy's addresses
  (``--proxy-from``, loopback by default), and a request without it is refused.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.errors import ConfigError

DEFAULT_LISTEN = "127.0.0.1:8080"
TOKEN_VARIABLE = "MONITOR_WEB_TOKEN"
TOKEN_CREDENTIAL = "web-token"
MIN_TOKEN = 16
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    zone: str = "UTC"
    token: str | None = field(default=None, repr=False)
    proxy_header: str | None = None
    proxy_from: tuple[Network, ...] = LOOPBACK

    @property
    def auth(self) -> str:
        """``proxy``, ``token`` or ``none`` (loopback only)."""
        if self.proxy_header:
            return "proxy"
        return "token" if self.token else "none"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) -> (host, port); port 0 picks a free one."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError([f"--listen: expected HOST:PORT such as {DEFAULT_LISTEN}, got {value!r}"])
    return host.strip("[]"), int(port)


def read_token() -> str | None:
    """The token from the environment, else from the credentials directory."""
    value = os.environ.get(TOKEN_VARIABLE)
    if value:
        return value.strip()
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / TOKEN_CREDENTIAL
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError([f"{path}: cannot read the web token: {e}"]) from e
    return None


def web_settings(
    listen: str,
    *,
    zone: str | None = None,
    proxy_header: str | None = None,
    proxy_from: tuple[str, ...] = (),
) -> WebSettings:
    """The settings from the command line and credentials; ConfigError lists every problem,
    including a non-loopback address without authentication."""
    problems: list[str] = []
    host, port = parse_listen(listen)
    token = read_token()
    if token is not None and len(token) < MIN_TOKEN:
        problems.append(
            f"${TOKEN_VARIABLE} / credential {TOKEN_CREDENTIAL}: the token is too short"
            f" ({len(token)} characters, at least {MIN_TOKEN}); make one with"
            " `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    zone = zone or os.environ.get("MONITOR_WEB_ZONE") or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"--zone: unknown time zone {zone!r} (e.g. Europe/Berlin, UTC)")
    networks: list[Network] = []
    for text in proxy_from:
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            problems.append(f"--proxy-from: expected an address or network, got {text!r}")
    if proxy_header is not None and not proxy_header.strip():
        problems.append("--proxy-header: give the header's name, e.g. X-Remote-User")
    if not is_loopback(host) and token is None and not proxy_header:
        problems.append(
            f"--listen {listen}: the web inbox listens beyond loopback only with"
            f" authentication: set ${TOKEN_VARIABLE} (or the credential {TOKEN_CREDENTIAL}),"
            " or --proxy-header behind a reverse proxy that authenticates"
        )
    if problems:
        raise ConfigError(problems)
    return WebSettings(
        host=host,
        port=port,
        zone=zone,
        token=token,
        proxy_header=proxy_header.strip() if proxy_header else None,
        proxy_from=tuple(networks) or LOOPBACK,
    )
