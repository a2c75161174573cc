"""The hosted checkout page (``/checkout/cs_…``): what the payer sees, its submission and its status.

No API key here: the session's unguessable id is the page's address. The page is a Django template with one
script file of our own (``payments/static/checkout/checkout.js``); a strict Content-Security-Policy allows nothing
else. The submission (``…/pay``) is CSRF-protected and answers JSON; the card goes from it into the vault (a payment
method) and the payment services do the rest after commit, while the page polls ``…/status``. Nothing here logs
what the payer typed.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from core.amounts import amount_display
from core.errors import LedgerlineError
from payments import selectors
from payments.cards import card_validate
from payments.connectors.base import RawCard
from payments.enums import CheckoutSessionStatus, PaymentMethodType, PaymentStatus, UpiFlow
from payments.exceptions import InvalidRequestError
from payments.models import CheckoutSession, Payment
from payments.services import admission
from payments.services.checkout import checkout_session_expire_if_due, checkout_session_pay
from payments.services.payments import CardPaymentMethod, PaymentMethodInput, UpiPaymentMethod
from payments.upi import vpa_validate

# Only this origin's script, style and requests; the QR code is a data: image; nothing may frame the page.
CHECKOUT_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
_ATTEMPT_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")
# The card checks name the API's parameters; the page's fields are these.
_CARD_FIELDS = {
    "payment_method[card][number]": "card_number",
    "payment_method[card][exp_month]": "card_expiry",
    "payment_method[card][exp_year]": "card_expiry",
    "payment_method[card][cvc]": "card_cvc",
    "payment_method[upi][vpa]": "upi_vpa",
}


def _secured(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = CHECKOUT_CSP
    response["Referrer-Policy"] = "no-referrer"  # the session id is in the address: never pass it on
    return response


def _with_session_id(url: str, session_id: str) -> str:
    """The merchant's URL with the session id: in place of ``{CHECKOUT_SESSION_ID}``, else as ``session_id``."""
    if "{CHECKOUT_SESSION_ID}" in url:
        return url.replace("{CHECKOUT_SESSION_ID}", session_id)
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({"session_id": session_id})))


def _payment_state(session: CheckoutSession, payment: Payment | None) -> dict[str, Any] | None:
    if payment is None:
        return None
    state: dict[str, Any] = {
        "status": payment.status,
        "method": payment.payment_method_type,
        "failure_message": payment.failure_message or None,
    }
    if payment.payment_method_type == PaymentMethodType.CARD:
        state["card"] = {"brand": payment.card_brand, "last4": payment.card_last4}
    action = payment.next_action or {}
    if payment.status == PaymentStatus.REQUIRES_ACTION and action:
        state["upi"] = {
            "uri": action.get("upi_uri"),
            "qr_svg": (action.get("qr_code") or {}).get("image_url_svg"),
            "vpa": payment.upi_vpa or None,
            "expires_at": payment.expires_at.isoformat() if payment.expires_at else action.get("expires_at"),
            # The sandbox's payer app, so a person can approve a test payment by hand; never in live mode.
            "sandbox_url": None if session.livemode else action.get("sandbox_approve_url"),
        }
    return state


def _state(session: CheckoutSession) -> dict[str, Any]:
    state: dict[str, Any] = {
        "status": session.status,
        "expires_at": session.expires_at.isoformat(),
        "payment": _payment_state(session, session.payment),
        "redirect": None,
    }
    if session.status == CheckoutSessionStatus.COMPLETE:
        state["redirect"] = _with_session_id(session.success_url, session.id)
    return state


def _session_or_404(request: HttpRequest, session_id: str) -> CheckoutSession | HttpResponse:
    session = selectors.checkout_session_for_page(session_id=session_id)
    if session is None:
        return _secured(render(request, "checkout/missing.html", status=404))
    if session.status == CheckoutSessionStatus.OPEN and session.expires_at <= timezone.now():
        session = checkout_session_expire_if_due(session_id=session.id)
    return session


@never_cache
@ensure_csrf_cookie
@require_GET
def checkout_page(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session_or_404(request, session_id)
    if isinstance(session, HttpResponse):
        return session
    if session.status == CheckoutSessionStatus.COMPLETE:
        # A refresh after paying goes where paying went.
        return HttpResponseRedirect(_with_session_id(session.success_url, session.id))
    context = {
        "session": session,
        "merchant_name": session.merchant.name,
        "amount": amount_display(session.amount, session.currency),
        "offers_card": PaymentMethodType.CARD in session.payment_methods,
        "offers_upi": PaymentMethodType.UPI in session.payment_methods,
        "upi_collect": session.merchant.upi_collect_enabled,
        "cancel_url": _with_session_id(session.cancel_url, session.id),
        "attempt_key": secrets.token_urlsafe(24),
        "state": _state(session),
        "expired": session.status == CheckoutSessionStatus.EXPIRED,
    }
    return _secured(render(request, "checkout/page.html", context))


@never_cache
@require_GET
def checkout_status(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session_or_404(request, session_id)
    if isinstance(session, HttpResponse):
        return _secured(JsonResponse({"error": "not_found"}, status=404))
    return _secured(JsonResponse(_state(session)))


def _field_errors(exc: LedgerlineError) -> dict[str, str]:
    field = _CARD_FIELDS.get(exc.param or "", "form")
    return {field: str(exc)}


def _card(request: HttpRequest) -> CardPaymentMethod:
    number = re.sub(r"[\s-]", "", request.POST.get("card_number", ""))
    errors: dict[str, str] = {}
    if not number:
        errors["card_number"] = "Enter the card number."
    expiry = _EXPIRY.match(request.POST.get("card_expiry", ""))
    if expiry is None:
        errors["card_expiry"] = "Enter the expiry date as MM / YY."
    cvc = request.POST.get("card_cvc", "").strip()
    if not cvc:
        errors["card_cvc"] = "Enter the security code (CVC)."
    if errors or expiry is None:
        raise _FormError(errors)
    month, year = int(expiry.group(1)), int(expiry.group(2))
    try:
        card = card_validate(number=number, exp_month=month, exp_year=year, cvc=cvc, today=timezone.now().date())
    except InvalidRequestError as exc:
        raise _FormError(_field_errors(exc)) from None
    raw = RawCard(number=number, exp_month=card.exp_month, exp_year=card.exp_year, cvc=cvc)
    return CardPaymentMethod(card=card, raw=raw)


def _upi(request: HttpRequest, session: CheckoutSession) -> UpiPaymentMethod:
    vpa = request.POST.get("upi_vpa", "").strip()
    if not vpa:
        return UpiPaymentMethod(flow=UpiFlow.INTENT)
    if not session.merchant.upi_collect_enabled:
        raise _FormError({"upi_vpa": "Scan the QR code or open your UPI app instead."})
    try:
        return UpiPaymentMethod(flow=UpiFlow.COLLECT, vpa=vpa_validate(vpa))
    except InvalidRequestError as exc:
        raise _FormError({"upi_vpa": str(exc)}) from None


class _FormError(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid form")
        self.errors = errors


@never_cache
@require_POST
def checkout_pay(request: HttpRequest, session_id: str) -> HttpResponse:
    """The page's submission (CSRF-checked by the middleware): one payment per attempt key, one in flight at most."""
    session = _session_or_404(request, session_id)
    if isinstance(session, HttpResponse):
        return _secured(JsonResponse({"error": "not_found"}, status=404))
    attempt_key = request.POST.get("attempt_key", "")
    if not _ATTEMPT_KEY.match(attempt_key):
        return _secured(JsonResponse({"errors": {"form": "Reload the page and try again."}}, status=400))
    method = request.POST.get("method", "")
    if method not in session.payment_methods:
        return _secured(JsonResponse({"errors": {"form": "Choose a payment method."}}, status=400))
    try:
        payment_method: PaymentMethodInput = (
            _card(request) if method == PaymentMethodType.CARD else _upi(request, session)
        )
        admission.executor_admission_check(method=method)
        result = checkout_session_pay(session_id=session.id, attempt_key=attempt_key, payment_method=payment_method)
    except _FormError as exc:
        return _secured(JsonResponse({"errors": exc.errors}, status=400))
    except LedgerlineError as exc:
        status = exc.status_code if exc.status_code >= 500 else 400
        return _secured(JsonResponse({"errors": {"form": exc.client_message or str(exc)}}, status=status))
    return _secured(JsonResponse({**_state(result.session), "created": result.created}))


urlpatterns = [
    path("<str:session_id>", checkout_page, name="checkout-page"),
    path("<str:session_id>/pay", checkout_pay, name="checkout-pay"),
    path("<str:session_id>/status", checkout_status, name="checkout-status"),
]
