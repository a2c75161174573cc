"""What the platform charges a merchant for a payment (its own fee, not the provider's cost)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import OuterRef, Subquery

from payments.models import MerchantPricing, Payment


def pricing_annotations() -> dict[str, Any]:
    """The merchant's price for the payment's method, read in the statement that loads the payment (an executor
    applying a capture prices it without another round trip)."""
    row = MerchantPricing.objects.filter(
        merchant_id=OuterRef("merchant_id"), payment_method_type=OuterRef("payment_method_type")
    )
    return {
        "pricing_fee_bps": Subquery(row.values("fee_bps")[:1]),
        "pricing_fee_fixed": Subquery(row.values("fee_fixed")[:1]),
    }


def pricing_fee_of(payment: Payment, *, amount: int) -> int:
    """:func:`pricing_fee` for a payment, using the price loaded with it (``pricing_annotations``) when it was."""
    loaded = vars(payment)
    if "pricing_fee_bps" not in loaded:
        return pricing_fee(
            merchant_id=payment.merchant_id, payment_method_type=payment.payment_method_type, amount=amount
        )
    if loaded["pricing_fee_bps"] is None:  # no row for this merchant and method: the platform's default
        return _priced(_default(payment.payment_method_type), amount)
    return _priced((int(loaded["pricing_fee_bps"]), int(loaded["pricing_fee_fixed"])), amount)


def pricing_fee(*, merchant_id: str, payment_method_type: str, amount: int) -> int:
    """The platform's fee for ``amount`` captured: basis points (halves rounded up) plus a fixed part, never above
    the amount. A partial capture is priced on what was captured, not on what was authorized."""
    row = MerchantPricing.objects.filter(merchant_id=merchant_id, payment_method_type=payment_method_type).first()
    price = (row.fee_bps, row.fee_fixed) if row is not None else _default(payment_method_type)
    return _priced(price, amount)


def _default(payment_method_type: str) -> tuple[int, int]:
    default = settings.PRICING_DEFAULTS.get(payment_method_type, {"fee_bps": 0, "fee_fixed": 0})
    return int(default["fee_bps"]), int(default["fee_fixed"])


def _priced(price: tuple[int, int], amount: int) -> int:
    bps, fixed = price
    return min(amount, (2 * amount * bps + 10_000) // 20_000 + fixed)
