"""The SSRF guard's decisions. Nothing here connects anywhere: literal addresses and localhost resolve without
the network, and host names go through a fake resolver."""

import pytest

from payments.services.webhook_transport import WebhookUrlError, webhook_url_check


def fake_resolver(answers):
    def resolve(host, port):
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost:8000/hooks", "loopback"),
        ("http://127.0.0.1/hooks", "loopback"),
        ("http://127.1/hooks", "loopback"),  # inet_aton shorthand
        ("http://2130706433/hooks", "loopback"),  # 127.0.0.1 as one integer
        ("http://[::1]/hooks", "loopback"),
        ("http://[::ffff:127.0.0.1]/hooks", "loopback"),
        ("http://0.0.0.0/hooks", "unspecified"),
        ("http://10.0.0.8/hooks", "private"),
        ("http://172.16.5.4/hooks", "private"),
        ("http://192.168.1.1/hooks", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/hooks", "link-local"),
        ("http://[fd00::1]/hooks", "private"),
        ("http://100.64.0.1/hooks", "non-public"),
    ],
)
def test_non_public_addresses_are_refused_when_the_setting_is_off(url, reason):
    with pytest.raises(WebhookUrlError, match=reason) as caught:
        webhook_url_check(url, allow_private=False)
    assert caught.value.code == "url_not_allowed"
    assert caught.value.param == "url"


def test_a_name_resolving_to_a_private_address_is_refused():
    resolve = fake_resolver({"hooks.evil.test": ["93.184.216.34", "10.1.2.3"]})
    with pytest.raises(WebhookUrlError, match="private address"):
        webhook_url_check("https://hooks.evil.test/x", allow_private=False, resolve=resolve)
    metadata = fake_resolver({"metadata.evil.test": ["169.254.169.254"]})
    with pytest.raises(WebhookUrlError, match="link-local"):
        webhook_url_check("https://metadata.evil.test/", allow_private=False, resolve=metadata)


def test_a_public_name_is_accepted_and_pinned_to_the_address_that_was_checked():
    resolve = fake_resolver({"hooks.acme.test": ["93.184.216.34"]})
    target = webhook_url_check("https://hooks.acme.test:8443/in?x=1", allow_private=False, resolve=resolve)
    assert str(target.address) == "93.184.216.34"
    assert target.connect_url == "https://93.184.216.34:8443/in?x=1"
    assert target.host_header == "hooks.acme.test:8443"


def test_an_unresolvable_host_is_refused():
    def resolve(host, port):
        raise OSError("no such host")

    with pytest.raises(WebhookUrlError) as caught:
        webhook_url_check("https://nowhere.test/", allow_private=False, resolve=resolve)
    assert caught.value.code == "url_unresolvable"


@pytest.mark.parametrize(
    "url", ["ftp://hooks.acme.test/", "file:///etc/passwd", "gopher://x/", "https://", "https://u:p@acme.test/", "x"]
)
def test_only_plain_http_and_https_urls_are_accepted(url):
    with pytest.raises(WebhookUrlError):
        webhook_url_check(url, allow_private=True)


def test_the_setting_lets_loopback_through_for_tests_and_the_demo(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    target = webhook_url_check("http://127.0.0.1:9000/hooks")
    assert target.address is None
    assert target.connect_url == "http://127.0.0.1:9000/hooks"
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(WebhookUrlError):
        webhook_url_check("http://127.0.0.1:9000/hooks")
