"""The API representation of payments: the response body, the stored idempotent response and the event payload.

It lives outside ``payments/api`` because services write it into outbox events (a webhook carries exactly what
``GET /v1/payments/{id}`` would have shown at that moment).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from payments.enums import PaymentMethodType
from payments.models import CheckoutSession, Customer, Dispute, Payment, PaymentAttempt, PaymentMethod, Payout, Refund


class BlankAsNullField(serializers.CharField):
    """Text columns store "nothing" as "" (no NULL to check for); the API says ``null``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, read_only=True, **kwargs)

    # A CharField so the schema says "string, nullable"; the stubs say a CharField never renders None.
    def to_representation(self, value: Any) -> str | None:  # type: ignore[override]
        return str(value) if value else None


class PaymentAttemptSerializer(serializers.ModelSerializer[PaymentAttempt]):
    object = serializers.SerializerMethodField()
    connector = BlankAsNullField()
    provider_reference = BlankAsNullField()
    failure_code = BlankAsNullField()
    failure_message = BlankAsNullField()

    class Meta:
        model = PaymentAttempt
        fields = [
            "id",
            "object",
            "created",
            "operation",
            "amount",
            "connector",
            "outcome",
            "provider_reference",
            "failure_code",
            "failure_message",
            "finished_at",
        ]
        read_only_fields = fields

    def get_object(self, obj: PaymentAttempt) -> str:
        return "payment_attempt"


class _CardSerializer(serializers.Serializer[Any]):
    brand = serializers.CharField()
    last4 = serializers.CharField()
    fingerprint = serializers.CharField()
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()


class _UpiSerializer(serializers.Serializer[Any]):
    flow = serializers.CharField()
    vpa = serializers.CharField(allow_null=True)
    rrn = serializers.CharField(allow_null=True)
    expires_in = serializers.IntegerField()


class PaymentMethodDetailsSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(allow_null=True, help_text="the payment method (pm_…) charged")
    type = serializers.ChoiceField(choices=PaymentMethodType.choices)
    card = _CardSerializer(required=False)
    upi = _UpiSerializer(required=False)


class PaymentSerializer(serializers.ModelSerializer[Payment]):
    """``context["attempts"]``, when given, saves the query for the payment's attempts."""

    object = serializers.SerializerMethodField()
    payment_method = serializers.SerializerMethodField()
    attempts = serializers.SerializerMethodField()
    psp = BlankAsNullField()
    failure_code = BlankAsNullField()
    failure_message = BlankAsNullField()
    cancellation_reason = BlankAsNullField()
    # No email given is null: the schema said "string, format email" and then answered "" (schemathesis, issue 12).
    customer_email = BlankAsNullField()
    next_action = serializers.JSONField(allow_null=True)
    metadata = serializers.DictField(child=serializers.CharField())
    customer = serializers.CharField(source="customer_id", allow_null=True, read_only=True)
    setup_future_usage = BlankAsNullField()

    class Meta:
        model = Payment
        fields = [
            "id",
            "object",
            "created",
            "livemode",
            "amount",
            "currency",
            "amount_captured",
            "amount_refunded",
            "status",
            "capture_method",
            "payment_method",
            "next_action",
            "expires_at",
            "capture_before",
            "description",
            "metadata",
            "customer_email",
            "customer",
            "setup_future_usage",
            "off_session",
            "failure_code",
            "failure_message",
            "cancellation_reason",
            "disputed",
            "late_succeeded_at",
            "psp",
            "attempts",
        ]
        read_only_fields = fields

    def get_object(self, obj: Payment) -> str:
        return "payment"

    @extend_schema_field(PaymentMethodDetailsSerializer)
    def get_payment_method(self, obj: Payment) -> dict[str, Any]:
        details = self._payment_method_details(obj)
        return {"id": obj.payment_method_id, **details}

    def _payment_method_details(self, obj: Payment) -> dict[str, Any]:
        if obj.payment_method_type == PaymentMethodType.CARD:
            card = {
                "brand": obj.card_brand,
                "last4": obj.card_last4,
                "fingerprint": obj.card_fingerprint,
                "exp_month": obj.card_exp_month,
                "exp_year": obj.card_exp_year,
            }
            return {"type": "card", "card": card}
        upi = {
            "flow": obj.upi_flow,
            "vpa": obj.upi_vpa or None,
            "rrn": obj.upi_rrn or None,
            "expires_in": obj.upi_expires_in,
        }
        return {"type": "upi", "upi": upi}

    @extend_schema_field(PaymentAttemptSerializer(many=True))
    def get_attempts(self, obj: Payment) -> Any:
        attempts = self.context.get("attempts")
        if attempts is None:
            attempts = obj.known_attempts if obj.known_attempts is not None else obj.attempts.all()
        return PaymentAttemptSerializer(attempts, many=True).data


def payment_representation(payment: Payment, *, attempts: list[PaymentAttempt] | None = None) -> dict[str, Any]:
    context = {"attempts": attempts} if attempts is not None else {}
    return dict(PaymentSerializer(payment, context=context).data)


class RefundSerializer(serializers.ModelSerializer[Refund]):
    object = serializers.SerializerMethodField()
    payment = serializers.CharField(source="payment_id", read_only=True)
    reason = BlankAsNullField()
    failure_reason = BlankAsNullField()
    metadata = serializers.DictField(child=serializers.CharField())

    class Meta:
        model = Refund
        fields = [
            "id",
            "object",
            "created",
            "livemode",
            "amount",
            "currency",
            "payment",
            "reason",
            "status",
            "failure_reason",
            "metadata",
        ]
        read_only_fields = fields

    def get_object(self, obj: Refund) -> str:
        return "refund"


def refund_representation(refund: Refund) -> dict[str, Any]:
    return dict(RefundSerializer(refund).data)


class PayoutSerializer(serializers.ModelSerializer[Payout]):
    object = serializers.SerializerMethodField()
    failure_code = BlankAsNullField()
    metadata = serializers.DictField(child=serializers.CharField())

    class Meta:
        model = Payout
        fields = [
            "id",
            "object",
            "created",
            "livemode",
            "amount",
            "currency",
            "status",
            "arrival_date",
            "description",
            "failure_code",
            "metadata",
        ]
        read_only_fields = fields

    def get_object(self, obj: Payout) -> str:
        return "payout"


def payout_representation(payout: Payout) -> dict[str, Any]:
    return dict(PayoutSerializer(payout).data)


class DisputeSerializer(serializers.ModelSerializer[Dispute]):
    object = serializers.SerializerMethodField()
    payment = serializers.CharField(source="payment_id", read_only=True)
    reason = BlankAsNullField()
    evidence = serializers.JSONField()

    class Meta:
        model = Dispute
        fields = [
            "id",
            "object",
            "created",
            "livemode",
            "amount",
            "currency",
            "fee",
            "payment",
            "reason",
            "status",
            "evidence",
            "evidence_due_by",
            "evidence_submitted_at",
            "evidence_refused_reason",
            "closed_at",
        ]
        read_only_fields = fields

    def get_object(self, obj: Dispute) -> str:
        return "dispute"


def dispute_representation(dispute: Dispute) -> dict[str, Any]:
    return dict(DisputeSerializer(dispute).data)


class CustomerSerializer(serializers.ModelSerializer[Customer]):
    object = serializers.SerializerMethodField()
    email = BlankAsNullField()
    name = BlankAsNullField()
    metadata = serializers.DictField(child=serializers.CharField())

    class Meta:
        model = Customer
        fields = ["id", "object", "created", "livemode", "email", "name", "metadata"]
        read_only_fields = fields

    def get_object(self, obj: Customer) -> str:
        return "customer"


def customer_representation(customer: Customer) -> dict[str, Any]:
    return dict(CustomerSerializer(customer).data)


class _SavedCardSerializer(serializers.Serializer[Any]):
    brand = serializers.CharField()
    last4 = serializers.CharField()
    fingerprint = serializers.CharField()
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()


class _SavedUpiSerializer(serializers.Serializer[Any]):
    vpa = serializers.CharField()


class PaymentMethodSerializer(serializers.ModelSerializer[PaymentMethod]):
    """Never the number: a card is its brand, last 4, expiry and fingerprint."""

    object = serializers.SerializerMethodField()
    customer = serializers.CharField(source="customer_id", allow_null=True, read_only=True)
    card = serializers.SerializerMethodField()
    upi = serializers.SerializerMethodField()
    metadata = serializers.DictField(child=serializers.CharField())

    class Meta:
        model = PaymentMethod
        fields = ["id", "object", "created", "livemode", "type", "customer", "card", "upi", "metadata"]
        read_only_fields = fields

    def get_object(self, obj: PaymentMethod) -> str:
        return "payment_method"

    @extend_schema_field(_SavedCardSerializer(allow_null=True))
    def get_card(self, obj: PaymentMethod) -> dict[str, Any] | None:
        if obj.type != PaymentMethodType.CARD:
            return None
        return {
            "brand": obj.card_brand,
            "last4": obj.card_last4,
            "fingerprint": obj.card_fingerprint,
            "exp_month": obj.card_exp_month,
            "exp_year": obj.card_exp_year,
        }

    @extend_schema_field(_SavedUpiSerializer(allow_null=True))
    def get_upi(self, obj: PaymentMethod) -> dict[str, Any] | None:
        return {"vpa": obj.upi_vpa} if obj.type == PaymentMethodType.UPI else None


def payment_method_representation(method: PaymentMethod) -> dict[str, Any]:
    return dict(PaymentMethodSerializer(method).data)


def checkout_session_url(session_id: str) -> str:
    """The hosted page's address, given to the merchant to send the payer to."""
    return f"{str(settings.LEDGERLINE_BASE_URL).rstrip('/')}/checkout/{session_id}"


class CheckoutSessionSerializer(serializers.ModelSerializer[CheckoutSession]):
    object = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    payment = serializers.CharField(source="payment_id", allow_null=True, read_only=True)
    customer = serializers.CharField(source="customer_id", allow_null=True, read_only=True)
    customer_email = BlankAsNullField()
    payment_methods = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField(child=serializers.CharField())

    class Meta:
        model = CheckoutSession
        fields = [
            "id",
            "object",
            "created",
            "livemode",
            "status",
            "url",
            "amount",
            "currency",
            "payment_methods",
            "success_url",
            "cancel_url",
            "customer",
            "customer_email",
            "payment",
            "expires_at",
            "completed_at",
            "metadata",
        ]
        read_only_fields = fields

    def get_object(self, obj: CheckoutSession) -> str:
        return "checkout.session"

    def get_url(self, obj: CheckoutSession) -> str:
        return checkout_session_url(obj.id)


def checkout_session_representation(session: CheckoutSession) -> dict[str, Any]:
    return dict(CheckoutSessionSerializer(session).data)
