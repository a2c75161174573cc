"""Sending a webhook: where it may go (the SSRF guard) and the signed POST itself.

A merchant chooses the URL we POST to, so without a guard they could make the platform call its own admin on
loopback, the private network behind it, or the cloud metadata service (169.254.169.254). The guard resolves the
host and refuses every address that is not public, at endpoint creation *and* before every delivery (DNS can
change in between); the delivery then connects to the very address that was checked, so a second, different DNS
answer cannot slip in (DNS rebinding). Redirects are never followed. The POST has a hard deadline on the whole
exchange and reads at most a small excerpt of the answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from core.errors import LedgerlineError
from ledgerline.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER
from ledgerline.webhooks import signature_header as sign

_EXCERPT_CHARS = 500
_MAX_RESPONSE_BYTES = 16 * 1024

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


# --- the POST ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HttpResult:
    """What one POST to a merchant's endpoint came to."""

    status_code: int | None
    latency_ms: int
    excerpt: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


_thread_http = threading.local()
_CLIENTS_PER_THREAD = 64


def _http_client(target: WebhookTarget) -> tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]:
    """This thread's event loop and a keep-alive client per target host (one per host name, so a TLS connection
    verified for one merchant's host is never reused for another's behind the same address)."""
    state: dict[str, Any] | None = getattr(_thread_http, "state", None)
    if state is None:
        state = _thread_http.state = {"loop": asyncio.new_event_loop(), "clients": {}}
    loop: asyncio.AbstractEventLoop = state["loop"]
    clients: dict[tuple[str, str, int], httpx.AsyncClient] = state["clients"]
    key = (target.scheme, target.host, target.port)
    client = clients.get(key)
    if client is None:
        if len(clients) >= _CLIENTS_PER_THREAD:
            loop.run_until_complete(clients.pop(next(iter(clients))).aclose())
        # trust_env=False: an HTTP(S)_PROXY in the environment must not route merchant traffic (or skip the guard).
        client = clients[key] = httpx.AsyncClient(
            verify=_ssl_context(),
            follow_redirects=False,
            trust_env=False,
            timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=30),
        )
    return loop, client


def webhook_post(
    *, url: str, body: bytes, secrets: list[str], event_id: str, signature_header: str = SIGNATURE_HEADER
) -> HttpResult:
    """POSTs one signed delivery to the URL (vetted again first), with a hard deadline on the whole exchange."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        # Checked again at every delivery: DNS may have changed since the endpoint was created.
        target = webhook_url_check(url)
    except WebhookUrlError as exc:
        return HttpResult(status_code=None, latency_ms=elapsed_ms(), error=f"refused: {exc.message}")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Ledgerline-Webhooks/1.0",
        signature_header: sign(body, secrets, int(time.time())),
        EVENT_ID_HEADER: event_id,
    }
    timeout = settings.WEBHOOKS_TIMEOUT_SECONDS
    loop, client = _http_client(target)
    try:
        # wait_for is the hard deadline on the whole exchange (connect, headers, body), which httpx's per-operation
        # timeouts alone are not: a receiver trickling bytes would otherwise hold a worker indefinitely.
        status_code, excerpt = loop.run_until_complete(asyncio.wait_for(_post(client, target, body, headers), timeout))
    except TimeoutError:
        return HttpResult(status_code=None, latency_ms=elapsed_ms(), error=f"timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return HttpResult(status_code=None, latency_ms=elapsed_ms(), error=f"{type(exc).__name__}: {exc}"[:500])
    error = ""
    if 300 <= status_code < 400:
        error = "redirects are not followed: answer 2xx at the registered URL"
    elif not 200 <= status_code < 300:
        error = f"HTTP {status_code}"
    return HttpResult(status_code=status_code, latency_ms=elapsed_ms(), excerpt=excerpt, error=error)


async def _post(
    client: httpx.AsyncClient, target: WebhookTarget, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    extensions: dict[str, Any] = {}
    if target.address is not None:
        # Connect to the address the guard vetted, while TLS and Host still speak the merchant's host name.
        headers = {**headers, "Host": target.host_header}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
    async with client.stream(
        "POST", target.connect_url, content=body, headers=headers, extensions=extensions
    ) as response:
        received = bytearray()
        async for chunk in response.aiter_bytes():
            received += chunk
            if len(received) >= _MAX_RESPONSE_BYTES:
                break
        return response.status_code, received[: _EXCERPT_CHARS * 4].decode("utf-8", "replace")[:_EXCERPT_CHARS]
