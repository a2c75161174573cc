"""A customer's page in the back office: its saved cards and payments, and support detaching a card (the API's own
detach, confirmed, audited); with Django's test client."""

from __future__ import annotations

import re

from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from backoffice.models import AuditLogEntry
from payments.models import PaymentMethod
from tests.backoffice.conftest import login
from tests.payments.conftest import card_payment_body

CARD = {"number": "4000 0566 5566 5556", "exp_month": 4, "exp_year": 2036, "cvc": "321"}


def _url(customer_id: str, action: str = "change") -> str:
    return f"/admin/payments/customer/{quote(customer_id)}/{action}/"


def _customer_with_a_saved_card(api) -> tuple[str, str, str]:
    """A customer, a card saved to it, and a payment made with that card: (customer, payment method, payment)."""
    customer = api.post("/v1/customers", {"email": "jo@example.test", "name": "Jo"}).json()["id"]
    method = api.post("/v1/payment_methods", {"type": "card", "card": CARD, "customer": customer}).json()["id"]
    paid = api.post("/v1/payments", card_payment_body(payment_method=method, customer=customer, confirm=True))
    assert paid.status_code == 200, paid.content
    return customer, method, paid.json()["id"]


def _detach(client, customer_id: str, method_id: str, *, note: str = "customer asked by phone", confirm: bool = True):
    page = client.get(_url(customer_id)).content.decode()
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    fields = {"payment_method": method_id, "note": note, "form_token": token}
    return client.post(_url(customer_id, "detach"), {**fields, "confirm": "yes"} if confirm else fields, follow=True)


def test_the_customer_page_shows_its_cards_and_payments_never_a_number(api, support):
    customer, method, payment = _customer_with_a_saved_card(api)
    response = support.get(_url(customer))
    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(rf'<tr id="method-{method}">(.*?)</tr>', html, re.S).group(1)
    assert "Visa" in row or "visa" in row
    assert "5556" in row
    assert "04/2036" in row
    assert "saved" in row
    assert f'id="detach-{method}"' in row
    assert payment in html
    assert "jo@example.test" in html
    assert "4000056655665556" not in html
    assert "4000 0566" not in html
    # The payment's page links to its customer's.
    payment_page = support.get(f"/admin/payments/payment/{quote(payment)}/change/").content.decode()
    assert _url(customer) in payment_page


def test_support_detaches_a_card_it_is_never_charged_again_and_the_audit_log_says_who(api, support):
    customer, method, _ = _customer_with_a_saved_card(api)
    asked = _detach(support, customer, method, confirm=False)
    assert asked.status_code == 200
    assert 'id="confirm"' in asked.content.decode()
    assert PaymentMethod.objects.get(pk=method).detached_at is None  # nothing happens before the confirmation

    done = _detach(support, customer, method)
    assert f"{method} detached" in done.content.decode()
    detached = PaymentMethod.objects.get(pk=method)
    assert detached.detached_at is not None
    assert detached.customer_id is None
    entry = AuditLogEntry.objects.get(action="payment_method.detach")
    assert (entry.username, entry.object_type, entry.object_id) == ("sam", "payment_method", method)
    assert (entry.reason, entry.outcome) == ("customer asked by phone", "ok")
    assert entry.before == {"customer": customer, "detached_at": None}
    assert entry.after["customer"] is None
    assert entry.after["detached_at"]
    # The merchant can no longer charge it, off session or not.
    again = api.post(
        "/v1/payments", card_payment_body(payment_method=method, customer=customer, off_session=True, confirm=True)
    )
    assert (again.status_code, again.json()["error"]["code"]) == (400, "payment_method_unexpected_state")
    # The page still shows it, detached, with no button.
    html = support.get(_url(customer)).content.decode()
    assert "detached" in re.search(rf'<tr id="method-{method}">(.*?)</tr>', html, re.S).group(1)
    assert f'id="detach-{method}"' not in html


def test_a_detach_needs_a_note_and_the_permission_and_only_this_customers_card(api, support, finance, groups):
    customer, method, _ = _customer_with_a_saved_card(api)
    refused = _detach(support, customer, method, note="  ")
    assert "A note for the audit log is required." in refused.content.decode()
    assert PaymentMethod.objects.get(pk=method).detached_at is None

    # Finance neither sees customers nor detaches cards.
    assert finance.get(_url(customer)).status_code == 403
    assert finance.post(_url(customer, "detach"), {"payment_method": method, "confirm": "yes"}).status_code == 403
    # A staff member who may view customers but not detach sees no button and is refused.
    viewer = login("vic")
    user = get_user_model().objects.get(username="vic")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_customer", "view_paymentmethod"]))
    assert f'id="detach-{method}"' not in viewer.get(_url(customer)).content.decode()
    assert viewer.post(_url(customer, "detach"), {"payment_method": method, "confirm": "yes"}).status_code == 403

    # Another customer's card cannot be detached through this customer's page.
    _, other_method, _ = _customer_with_a_saved_card(api)
    wrong = support.post(_url(customer, "detach"), {"payment_method": other_method, "note": "x", "confirm": "yes"})
    assert wrong.status_code == 404
    assert PaymentMethod.objects.get(pk=other_method).detached_at is None
    assert not AuditLogEntry.objects.filter(action="payment_method.detach", outcome="ok").exists()
