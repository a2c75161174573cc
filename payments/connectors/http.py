"""HTTP to a provider: explicit timeouts, the circuit breaker, and the one place transport errors get a meaning.

What a failed call means decides whether money can be lost or taken twice, so it is decided here, once:

* the connection was never made (refused, connect timeout, no pooled connection, circuit open): ``not_sent``;
* the request may have reached the provider (read/write timeout, dropped connection, 5xx, unreadable body):
  ``unknown``.

Both count towards the circuit breaker, as does an authentication failure (the provider is unusable for us). Any
other answer, a decline included, is the provider working and counts as a success.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from payments.connectors.base import Outcome
from payments.connectors.circuit import CircuitBreaker

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderTls:
    """A connector's TLS beyond the system's defaults: the CA that signs the provider's certificate (instead of the
    system's public CAs) and the client certificate the provider requires (mutual TLS, as acquirers do).

    Paths to PEM files; ``client_key`` may be left empty when the key is in ``client_cert``'s file.
    """

    ca_bundle: str = ""
    client_cert: str = ""
    client_key: str = ""

    def __bool__(self) -> bool:
        return bool(self.ca_bundle or self.client_cert or self.client_key)

    def ssl_context(self) -> ssl.SSLContext:
        """Raises ``OSError``/``ssl.SSLError`` for a missing or unreadable file, ``ValueError`` for a key alone."""
        if self.client_key and not self.client_cert:
            raise ValueError("a client key needs its client certificate")
        # Verification stays on (hostname and chain): a private CA replaces the public ones, it never relaxes them.
        context = ssl.create_default_context(cafile=self.ca_bundle or None)
        if self.client_cert:
            context.load_cert_chain(self.client_cert, self.client_key or None)
        return context


@dataclass(frozen=True)
class TransportFailure:
    outcome: Outcome  # UNKNOWN or NOT_SENT
    error: str
    http_status: int | None = None


class ProviderHttp:
    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        api_key: str,
        connect_timeout: float,
        read_timeout: float,
        breaker: CircuitBreaker | None = None,
        transport: httpx.BaseTransport | None = None,
        tls: ProviderTls | None = None,
    ) -> None:
        self.name = name
        # Built once, here: a bad certificate or key fails the connector's construction, not a payment's call.
        self._verify: ssl.SSLContext | bool = tls.ssl_context() if tls else True
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=1.0)
        self.breaker = breaker
        self._transport = transport
        self._client: httpx.Client | None = None
        self._client_pid = 0
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        # One pooled client per process: a client made before a worker forked must not be shared with the child.
        pid = os.getpid()
        if self._client is None or self._client_pid != pid:
            with self._lock:
                if self._client is None or self._client_pid != pid:
                    self._client = httpx.Client(
                        base_url=self.base_url,
                        timeout=self._timeout,
                        transport=self._transport,
                        verify=self._verify,
                        headers={"Authorization": f"Bearer {self._api_key}"},
                    )
                    self._client_pid = pid
        return self._client

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> HttpAnswer | TransportFailure:
        if self.breaker is not None and not self.breaker.allow():
            return TransportFailure(Outcome.NOT_SENT, "circuit_open")
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        result = self._send(method, path, json, headers)
        if self.breaker is not None:
            if isinstance(result, TransportFailure) or result.status == 401:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
        if isinstance(result, TransportFailure):
            logger.warning(
                "provider_call_failed",
                connector=self.name,
                path=path,
                outcome=str(result.outcome),
                error=result.error,
                idempotency_key=idempotency_key,
            )
        return result

    def _send(
        self, method: str, path: str, json: Mapping[str, Any] | None, headers: dict[str, str]
    ) -> HttpAnswer | TransportFailure:
        try:
            response = self._http().request(method, path, json=json, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return TransportFailure(Outcome.NOT_SENT, f"connect: {type(exc).__name__}")
        except httpx.TimeoutException as exc:
            return TransportFailure(Outcome.UNKNOWN, f"timeout: {type(exc).__name__}")
        except httpx.TransportError as exc:  # dropped connection, protocol error: the request may have landed
            return TransportFailure(Outcome.UNKNOWN, f"transport: {type(exc).__name__}")
        if response.status_code >= 500:
            return TransportFailure(Outcome.UNKNOWN, f"http {response.status_code}", response.status_code)
        try:
            body = response.json()
        except ValueError:
            return TransportFailure(Outcome.UNKNOWN, "unreadable body", response.status_code)
        if not isinstance(body, dict):
            return TransportFailure(Outcome.UNKNOWN, "unexpected body", response.status_code)
        return HttpAnswer(response.status_code, body, response.headers)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
