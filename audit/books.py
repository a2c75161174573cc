"""The books: the ledger verifies (bookkeeping, business invariants, integrity: ``ledger.verification``), and every
merchant's balance as the API answers it equals the ledger recomputed from its entries.

The API is asked over HTTP with the merchant's key when the caller has it (the chaos run and the tests do); keys are
stored hashed, so for a merchant without one the auditor reads the selector the API itself calls, and says so.
"""

from __future__ import annotations

import httpx
from django.db.models import Case, F, Sum, When
from django.db.models.functions import Coalesce

from audit.findings import AuditReport
from ledger.accounts import merchant_available, merchant_pending
from ledger.enums import AccountType, Direction
from ledger.models import JournalEntry
from ledger.verification import verify_ledger
from payments import selectors
from payments.models import Merchant

Balances = dict[str, dict[str, int]]  # "available" / "pending" -> currency -> amount


def ledger_verification_check(report: AuditReport, *, limit: int = 100) -> None:
    verified = verify_ledger(limit=limit)
    report.counts["ledger_transactions"] += verified.transactions
    report.counts["ledger_entries"] += verified.entries
    for violation in verified.violations:
        report.add(f"ledger.{violation.check}", violation.subject, violation.detail)


def merchant_balances_recomputed(merchant_id: str) -> Balances:
    """A merchant's balances summed from the journal's entries, not read from the running balances."""
    debit_normal = [t.value for t in AccountType if t.debit_normal]
    signed = Case(
        When(direction=Direction.DEBIT, account__type__in=debit_normal, then=F("amount")),
        When(direction=Direction.CREDIT, account__type__in=debit_normal, then=-F("amount")),
        When(direction=Direction.CREDIT, then=F("amount")),
        default=-F("amount"),
    )
    rows = (
        JournalEntry.objects.filter(account__merchant_id=merchant_id)
        .values("account__code", "account__currency")
        .annotate(total=Coalesce(Sum(signed), 0))
    )
    result: Balances = {"available": {}, "pending": {}}
    for row in rows:
        code, currency = row["account__code"], row["account__currency"]
        if code == merchant_available(merchant_id, currency).code:
            result["available"][currency] = int(row["total"])
        elif code == merchant_pending(merchant_id, currency).code:
            result["pending"][currency] = int(row["total"])
    return result


def _nonzero(balances: Balances) -> Balances:
    return {side: {c: a for c, a in by_currency.items() if a} for side, by_currency in balances.items()}


def _from_api(api: httpx.Client, secret: str) -> Balances:
    response = api.get("/v1/balance", headers={"Authorization": f"Bearer {secret}"})
    response.raise_for_status()
    body = response.json()
    return {side: {m["currency"]: int(m["amount"]) for m in body[side]} for side in ("available", "pending")}


def _from_selector(merchant: Merchant) -> Balances:
    balances = selectors.balance_get(merchant=merchant)
    return {
        "available": {m.currency: m.amount for m in balances.available},
        "pending": {m.currency: m.amount for m in balances.pending},
    }


def balances_check(report: AuditReport, *, api: httpx.Client | None, api_keys: dict[str, str]) -> None:
    """The API's answer and the entries' sum must be read at one moment: on a live platform money moves between
    the two reads (a release, a capture). So the API is asked before and after the sum, and a pair that differs is
    read again; only an answer that held still while the entries were summed is compared."""
    unasked = 0
    for merchant in Merchant.objects.order_by("id"):
        report.counts["merchants"] += 1
        secret = api_keys.get(merchant.id)
        over_http = api is not None and bool(secret)

        def answer(merchant: Merchant = merchant, secret: str | None = secret) -> Balances:
            if api is not None and secret:
                return _nonzero(_from_api(api, secret))
            return _nonzero(_from_selector(merchant))

        try:
            for _ in range(5):
                before = answer()
                expected = _nonzero(merchant_balances_recomputed(merchant.id))
                if answer() == before:
                    break
        except httpx.HTTPError as exc:
            report.add("balance_api_unavailable", merchant.id, f"GET /v1/balance failed: {exc}")
            continue
        if over_http:
            report.counts["balances_asked_over_api"] += 1
        else:
            unasked += 1
        if before != expected:
            report.add("balance_disagrees_with_ledger", merchant.id, f"the API says {before}, the entries {expected}")
    if unasked:
        report.notes.append(f"{unasked} merchant balance(s) read through the selector: no API key was given for them")
