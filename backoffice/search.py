"""The back office's one search box: any object by any of its ids or references.

What a person pastes decides where to look, and every look is an exact match on an index (merchant names, a
short table, are matched by substring):

- our ids by prefix: ``pay_``, ``re_``, ``dp_``, ``po_``, ``att_``, ``evt_``, ``mch_``, ``whd_``, ``we_``, ``key_``;
- a provider's reference (charge, refund, dispute, UPI transaction), which may look like one of our ids;
- a UPI RRN (digits), a card's last 4 digits, a customer's email, a UPI VPA, a merchant's email or name.

Only objects the person may view are returned, each with the admin page that shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.utils import quote
from django.db.models import Model, QuerySet
from django.urls import reverse

from core.amounts import amount_display
from payments.models import (
    ApiKey,
    Dispute,
    Event,
    Merchant,
    Payment,
    PaymentAttempt,
    Payout,
    Refund,
    WebhookDelivery,
    WebhookEndpoint,
)

LIMIT = 25  # per kind of match: a last 4 or a merchant name can match many; the newest come first

_BY_PREFIX: dict[str, type[Model]] = {
    "pay": Payment,
    "re": Refund,
    "dp": Dispute,
    "po": Payout,
    "att": PaymentAttempt,
    "evt": Event,
    "mch": Merchant,
    "whd": WebhookDelivery,
    "we": WebhookEndpoint,
    "key": ApiKey,
}
_OUR_ID = re.compile(r"(?P<prefix>[a-z]+)_(?P<rest>[0-9A-Za-z]{26})")


@dataclass(frozen=True)
class SearchHit:
    kind: str  # the model's verbose name: "payment", "refund", …
    id: str
    summary: str
    matched: str  # what matched: "id", "provider reference", "customer email", …
    url: str
    permission: str  # the view permission a person needs to see it


def _describe(obj: Model) -> str:
    if isinstance(obj, Payment | Refund | Dispute | Payout):
        status = obj.status.replace("_", " ")
        merchant = obj.merchant.name if isinstance(obj, Payment) else obj.merchant_id
        return f"{amount_display(obj.amount, obj.currency)} · {status} · {merchant}"
    if isinstance(obj, PaymentAttempt):
        return f"{obj.operation} of {obj.payment_id} · {obj.outcome} · {obj.connector or '—'}"
    if isinstance(obj, Merchant):
        return f"{obj.name} · {obj.email}"
    return str(obj)


def _hits(objects: QuerySet[Any] | list[Any], matched: str) -> list[SearchHit]:
    hits = []
    for obj in objects:
        opts = obj._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
        permission = f"{opts.app_label}.view_{opts.model_name}"
        hits.append(SearchHit(str(opts.verbose_name), str(obj.pk), _describe(obj), matched, url, permission))
    return hits


def _by_id(text: str) -> list[SearchHit]:
    match = _OUR_ID.fullmatch(text)
    if match is None or match["prefix"].lower() not in _BY_PREFIX:
        return []
    model = _BY_PREFIX[match["prefix"].lower()]
    # Ids are upper-case Crockford base32; a pasted id may have been lower-cased on the way.
    found = model._default_manager.filter(pk=f"{match['prefix'].lower()}_{match['rest'].upper()}")
    if model is Payment:
        found = found.select_related("merchant")
    return _hits(found, "id")


def _by_provider_reference(text: str) -> list[SearchHit]:
    attempts = list(
        PaymentAttempt.objects.filter(provider_reference=text).select_related("payment__merchant", "refund")[:LIMIT]
    )
    hits = _hits([a.refund if a.refund is not None else a.payment for a in attempts], "provider reference")
    hits += _hits(Dispute.objects.filter(provider_reference=text)[:LIMIT], "provider reference")
    return hits


def _payments(field: str, lookup: str, value: str) -> QuerySet[Payment]:
    # The partial indexes skip payments without the field; saying so lets PostgreSQL use them.
    found = Payment.objects.filter(**{f"{field}__{lookup}": value}).exclude(**{field: ""})
    return found.select_related("merchant").order_by("-id")[:LIMIT]


def search_objects(text: str) -> list[SearchHit]:
    """Everything ``text`` identifies, most specific first, without duplicates."""
    text = text.strip()
    if not text:
        return []
    hits = _by_id(text) + _by_provider_reference(text)
    if text.isdigit():
        if len(text) == 4:
            hits += _hits(_payments("card_last4", "exact", text), "card last 4")
        hits += _hits(_payments("upi_rrn", "exact", text), "RRN")
    elif "@" in text:
        hits += _hits(_payments("customer_email", "iexact", text), "customer email")
        hits += _hits(_payments("upi_vpa", "iexact", text), "UPI VPA")
        hits += _hits(Merchant.objects.filter(email__iexact=text)[:LIMIT], "merchant email")
    if not hits and len(text) >= 2:
        hits += _hits(Merchant.objects.filter(name__icontains=text).order_by("name")[:LIMIT], "merchant name")
    seen: set[tuple[str, str]] = set()
    unique = []
    for hit in hits:
        if (hit.kind, hit.id) not in seen:
            seen.add((hit.kind, hit.id))
            unique.append(hit)
    return unique
