"""The merchant-side verification helper: accepts what the platform signs, rejects everything else."""

import json
import subprocess
import sys
import time

import pytest

from ledgerline.webhooks import SignatureVerificationError, compute_signature, signature_header, verify
from tests import processes

SECRET = "whsec_test_secret"
BODY = json.dumps({"id": "evt_1", "object": "event", "type": "payment.succeeded"}).encode()


def test_a_fresh_signature_verifies_and_returns_the_event():
    header = signature_header(BODY, [SECRET], int(time.time()))
    assert verify(BODY, header, SECRET)["id"] == "evt_1"
    assert verify(BODY.decode(), header, SECRET)["type"] == "payment.succeeded"


def test_the_signed_message_is_timestamp_dot_raw_body():
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(BODY, SECRET, 1700000000) == expected
    assert signature_header(BODY, [SECRET], 1700000000) == f"t=1700000000,v1={expected}"


def test_any_one_of_several_signatures_is_enough_while_a_secret_rolls():
    header = signature_header(BODY, ["whsec_new", "whsec_old"], int(time.time()))
    assert header.count("v1=") == 2
    assert verify(BODY, header, "whsec_old")["id"] == "evt_1"
    assert verify(BODY, header, "whsec_new")["id"] == "evt_1"


@pytest.mark.parametrize(
    ("body", "header_secret", "age", "message"),
    [
        (BODY.replace(b"evt_1", b"evt_2"), SECRET, 0, "no signature matches"),
        (BODY, "whsec_other", 0, "no signature matches"),
        (BODY, SECRET, 301, "tolerance"),
        (BODY, SECRET, -301, "tolerance"),
    ],
)
def test_tampered_foreign_or_stale_payloads_are_rejected(body, header_secret, age, message):
    header = signature_header(BODY, [header_secret], int(time.time()) - age)
    with pytest.raises(SignatureVerificationError, match=message):
        verify(body, header, SECRET)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=123", "t=abc,v1=abc", "garbage"])
def test_malformed_headers_are_rejected(header):
    with pytest.raises(SignatureVerificationError):
        verify(BODY, header, SECRET)


def test_the_tolerance_is_the_callers_choice():
    header = signature_header(BODY, [SECRET], int(time.time()) - 1000)
    assert verify(BODY, header, SECRET, tolerance=0)["id"] == "evt_1"  # 0 disables the age check
    assert verify(BODY, header, SECRET, 2000)["id"] == "evt_1"


def test_the_helper_imports_without_django():
    code = "import sys, ledgerline.webhooks; assert not any(m.startswith('django') for m in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=processes.ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
