"""Mutual TLS to a provider (payments/connectors/http.py): a connector configured from settings with a CA and a
client certificate reaches a real local TLS server that requires one; without them it does not get through.

The certificates are made here with ``cryptography``: a CA, the provider's server certificate for 127.0.0.1, and
the platform's client certificate, all signed by that CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from payments.connectors import registry
from payments.connectors.base import Outcome
from payments.connectors.http import HttpAnswer, ProviderHttp, ProviderTls, TransportFailure


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None, issuer_key, *, ca: bool = False
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # a client certificate the provider's CA never signed
    stranger_key: Path


def _write(
    folder: Path, name: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _certificate("Acquirer test CA", ca_key, None, ca_key, ca=True)
    ca_path, _ = _write(folder, "ca", ca, ca_key)
    server_key, client_key, stranger_key = _key(), _key(), _key()
    server = _write(folder, "server", _certificate("acquirer.example", server_key, ca, ca_key), server_key)
    client = _write(folder, "client", _certificate("ledgerline-card_a", client_key, ca, ca_key), client_key)
    other_ca_key = _key()
    other_ca = _certificate("Someone else's CA", other_ca_key, None, other_ca_key, ca=True)
    stranger = _write(folder, "stranger", _certificate("stranger", stranger_key, other_ca, other_ca_key), stranger_key)
    return Pki(ca_path, *server, *client, *stranger)


@dataclass
class Provider:
    url: str
    clients: list[str]  # the common name of each client certificate a request was answered for


@pytest.fixture
def provider(pki: Pki) -> Iterator[Provider]:
    """An HTTPS server on loopback that completes no handshake without a client certificate signed by the CA."""
    clients: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.request.getpeercert()
            common_name = next(value for ((key, value),) in peer["subject"] if key == "commonName")
            clients.append(common_name)
            body = json.dumps({"object": "ping", "client": common_name}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Provider(f"https://127.0.0.1:{server.server_address[1]}", clients)
    finally:
        server.shutdown()
        server.server_close()


def _http(url: str, tls: ProviderTls | None) -> ProviderHttp:
    return ProviderHttp(name="card_a", base_url=url, api_key="k", connect_timeout=2.0, read_timeout=5.0, tls=tls)


def test_a_connector_configured_in_settings_presents_its_client_certificate(settings, provider, pki):
    settings.PSP_CONNECTORS = {
        **settings.PSP_CONNECTORS,
        "card_a": {
            **settings.PSP_CONNECTORS["card_a"],
            "base_url": provider.url,
            "tls": {"ca_bundle": str(pki.ca), "client_cert": str(pki.client_cert), "client_key": str(pki.client_key)},
        },
    }
    registry.registry_reset()
    try:
        answer = registry.connector_get("card_a").http.request("GET", "/ping")  # type: ignore[attr-defined]
    finally:
        registry.registry_reset()
    assert isinstance(answer, HttpAnswer)
    assert answer.body == {"object": "ping", "client": "ledgerline-card_a"}
    assert provider.clients == ["ledgerline-card_a"]


def test_without_a_client_certificate_the_provider_answers_nothing(provider, pki):
    http = _http(provider.url, ProviderTls(ca_bundle=str(pki.ca)))
    try:
        assert isinstance(http.request("GET", "/ping"), TransportFailure)
    finally:
        http.close()
    assert provider.clients == []


def test_a_client_certificate_from_another_ca_is_refused(provider, pki):
    tls = ProviderTls(ca_bundle=str(pki.ca), client_cert=str(pki.stranger_cert), client_key=str(pki.stranger_key))
    http = _http(provider.url, tls)
    try:
        assert isinstance(http.request("GET", "/ping"), TransportFailure)
    finally:
        http.close()
    assert provider.clients == []


def test_without_the_providers_ca_the_server_is_not_trusted_and_nothing_is_sent(provider, pki):
    http = _http(provider.url, ProviderTls(client_cert=str(pki.client_cert), client_key=str(pki.client_key)))
    try:
        failure = http.request("GET", "/ping")
    finally:
        http.close()
    assert isinstance(failure, TransportFailure)
    assert failure.outcome == Outcome.NOT_SENT  # the handshake failed before any byte of the request left
    assert provider.clients == []


def test_a_connector_whose_tls_files_do_not_load_stops_start_up(settings, pki, tmp_path):
    settings.PSP_CONNECTORS = {
        **settings.PSP_CONNECTORS,
        "card_b": {
            **settings.PSP_CONNECTORS["card_b"],
            "tls": {"client_cert": str(tmp_path / "missing.pem"), "client_key": str(pki.client_key)},
        },
    }
    with pytest.raises(SystemCheckError, match=r"payments\.E005"):
        call_command("check")
    settings.PSP_CONNECTORS["card_b"]["tls"] = {"client_cert": str(pki.client_cert), "client_key": str(pki.server_key)}
    with pytest.raises(SystemCheckError, match=r"payments\.E005"):  # a key that is not the certificate's
        call_command("check")
