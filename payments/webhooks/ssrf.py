"""Where a webhook may be sent: the server-side request forgery guard.

A merchant chooses the URL we POST to, so without a guard they could make the platform call its own admin on
loopback, the private network behind it, or the cloud metadata service (169.254.169.254). The guard resolves the
host and refuses every address that is not public, at endpoint creation *and* before every delivery (DNS can
change in between); the delivery then connects to the very address that was checked, so a second, different DNS
answer cannot slip in (DNS rebinding). Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from core.errors import LedgerlineError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (getaddrinfo's answer); injectable so tests never need DNS.
Resolver = Callable[[str, int], list[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class WebhookUrlError(LedgerlineError):
    """The webhook URL is not allowed."""

    code = "url_invalid"
    param = "url"


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL. ``address`` is the resolved address to connect to, or None when private networks are
    allowed (then nothing needed resolving and the HTTP client resolves as usual)."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress | None

    @property
    def connect_url(self) -> str:
        """The URL with the host replaced by the checked address (the ``Host`` header keeps the name)."""
        if self.address is None:
            return self.url
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        return parts._replace(netloc=netloc).geturl()

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def address_refusal(address: IPAddress) -> str | None:
    """Why an address may not receive webhooks, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    for refused, reason in (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_private, "private"),
        (address.is_multicast, "multicast"),
        # Shared (100.64/10), documentation, benchmarking, reserved ranges: none of them is a merchant's server.
        (not address.is_global, "non-public"),
    ):
        if refused:
            return reason
    return None


def webhook_url_check(url: str, *, allow_private: bool | None = None, resolve: Resolver | None = None) -> WebhookTarget:
    """Parses and vets ``url``; raises :class:`WebhookUrlError` (code ``url_invalid`` or ``url_not_allowed``)."""
    if allow_private is None:
        allow_private = settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlError(f"The webhook URL is malformed: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise WebhookUrlError("Webhook URLs must use http or https.")
    host = parts.hostname or ""
    if not host:
        raise WebhookUrlError("The webhook URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlError("Webhook URLs must not carry credentials; authenticate with the signature instead.")
    port = port or _DEFAULT_PORTS[scheme]
    if allow_private:
        return WebhookTarget(url=url, scheme=scheme, host=host, port=port, address=None)

    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in (resolve or system_resolver)(host, port)]
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise WebhookUrlError(f"The webhook host {host!r} does not resolve.", code="url_unresolvable") from None
    # Every address must be public: a name resolving to one public and one private address is refused.
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None:
            raise WebhookUrlError(
                f"The webhook URL resolves to a {reason} address ({address}); only public addresses may receive "
                "webhooks.",
                code="url_not_allowed",
            )
    return WebhookTarget(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
