"""Where a webhook may be sent: public http(s) addresses only, unless an admin allows private ones.

The host is resolved and every address it has is checked, on create and edit and
again before each delivery (DNS changes). The delivery then connects to the address
that was checked, sending the original Host header and TLS server name, so a DNS
answer that changes between the check and the connection cannot reach inside.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2000
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(Exception):
    """The URL may not be a webhook target; `message` says why, for the person who typed it."""

    def __init__(self, message: LazyString | str) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Target:
    """A checked target: where to connect (`addresses`, all of them checked) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        """The Host header: the name as typed, with the port when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class ParsedUrl:
    scheme: str
    host: str
    port: int
    path: str


def parse(url: str) -> ParsedUrl:
    """Split and check the URL's form: http(s), a host, no credentials, a valid port."""
    url = url.strip()
    if not url:
        raise TargetRefused(_l("Enter the URL that receives the events."))
    if len(url) > MAX_URL_LENGTH or any(ord(character) < 33 for character in url):
        raise TargetRefused(_l("This URL is too long or contains spaces or control characters."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused(_l("This is not a valid URL.")) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetRefused(_l("Only http:// and https:// URLs can receive webhooks."))
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise TargetRefused(_l("Do not put a user name or password in the URL: deliveries are signed instead."))
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefused(_l("The URL has no host name."))
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return ParsedUrl(scheme, host, port or (443 if scheme == "https" else 80), path)


def unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv4-mapped, NAT64, 6to4 or Teredo IPv6 address, else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def is_public(address: IPAddress) -> bool:
    """Whether the address is on the public internet: not loopback, private, link-local (cloud metadata),
    shared (CGNAT 100.64/10), multicast, reserved or unspecified, in any IPv6 disguise."""
    for candidate in {address, unwrap(address)}:
        if (candidate.is_loopback or candidate.is_private or candidate.is_link_local or candidate.is_multicast
                or candidate.is_reserved or candidate.is_unspecified or not candidate.is_global):
            return False
    return True


def resolve(host: str, port: int) -> tuple[str, ...]:
    """Every address `host` resolves to (TCP), in the resolver's order; `TargetRefused` when it does not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise TargetRefused(_l("The host name of this URL cannot be found.")) from None
    addresses = [str(info[4][0]).split("%", 1)[0] for info in infos]
    return tuple(dict.fromkeys(addresses))


def check(url: str, *, allow_private: bool) -> Target:
    """Check `url` and resolve it: refused when any address is not public (unless `allow_private`), or when it
    is plain http to a public address (allowed only with `allow_private`, for test receivers)."""
    parsed = parse(url)
    addresses = resolve(parsed.host, parsed.port)
    if not addresses:
        raise TargetRefused(_l("The host name of this URL cannot be found."))
    if not allow_private:
        for text in addresses:
            if not is_public(ipaddress.ip_address(text)):
                raise TargetRefused(_l("This URL leads to a private or local address (%(address)s): webhooks "
                                       "may only call public addresses unless an admin allows private ones.",
                                       address=text))
        if parsed.scheme != "https":
            raise TargetRefused(_l("Use an https:// URL: deliveries to public addresses must be encrypted."))
    return Target(parsed.scheme, parsed.host, parsed.port, parsed.path, addresses)
