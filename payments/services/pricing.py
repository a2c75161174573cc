"""What the platform charges a merchant for a payment (its own fee, not the provider's cost)."""

from __future__ import annotations

from django.conf import settings

from payments.models import MerchantPricing


def pricing_fee(*, merchant_id: str, payment_method_type: str, amount: int) -> int:
    """The platform's fee for ``amount`` captured: basis points (halves rounded up) plus a fixed part, never above
    the amount. A partial capture is priced on what was captured, not on what was authorized."""
    row = MerchantPricing.objects.filter(merchant_id=merchant_id, payment_method_type=payment_method_type).first()
    if row is not None:
        bps, fixed = row.fee_bps, row.fee_fixed
    else:
        default = settings.PRICING_DEFAULTS.get(payment_method_type, {"fee_bps": 0, "fee_fixed": 0})
        bps, fixed = int(default["fee_bps"]), int(default["fee_fixed"])
    return min(amount, (2 * amount * bps + 10_000) // 20_000 + fixed)
