"""Bench only: the floor of performance-targets.md — the thinnest DRF endpoint doing the inserts a confirmed
payment needs (idempotency key, payment, outbox event, outbox command) with a raw cursor, no auth, one
transaction. Served by the same gunicorn settings as the product, from bench.baseline_settings."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.db import connection, transaction
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.ids import new_id

_VAULT_BLOB = secrets.token_bytes(60)  # the size of a sealed card: the product stores one per inline card


class BaselinePaymentCreate(APIView):
    def post(self, request: Request) -> Response:
        body: dict[str, Any] = request.data
        merchant_id = request.headers["X-Merchant"]
        payment_id = new_id("pay")
        payload = json.dumps({"id": payment_id, "amount": body["amount"], "currency": body["currency"]})
        vault_id, method_id = new_id("vlt"), new_id("pm")
        with transaction.atomic(), connection.cursor() as cursor:
            # An inline card becomes a vault entry and a payment method (issue 15); the floor inserts them too.
            cursor.execute(
                "INSERT INTO payments_cardvaultentry (id, merchant_id, kek_id, wrapped_key, card_ciphertext,"
                " cvc_ciphertext) VALUES (%s, %s, 'dev', %s, %s, %s)",
                [vault_id, merchant_id, _VAULT_BLOB, _VAULT_BLOB, _VAULT_BLOB[:31]],
            )
            cursor.execute(
                "INSERT INTO payments_paymentmethod (id, merchant_id, livemode, type, card_brand, card_last4,"
                " card_fingerprint, card_exp_month, card_exp_year, upi_vpa, vault_entry_id, provider_tokens,"
                " metadata) VALUES (%s, %s, false, 'card', 'visa', '4242', '', 12, 2039, '', %s, '{}', '{}')",
                [method_id, merchant_id, vault_id],
            )
            cursor.execute(
                "INSERT INTO payments_idempotencykey (merchant_id, livemode, key, fingerprint, method, path, status,"
                " response_status, response_body) VALUES (%s, false, %s, %s, 'POST', '/v1/payments', 'completed',"
                " 200, %s)",
                [merchant_id, request.headers["Idempotency-Key"], secrets.token_hex(32), payload],
            )
            cursor.execute(
                "INSERT INTO payments_payment (id, merchant_id, livemode, amount, currency, amount_captured,"
                " amount_refunded, status, capture_method, description, metadata, customer_email,"
                " payment_method_type, card_brand, card_last4, card_fingerprint, card_exp_month, card_exp_year,"
                " upi_flow, upi_vpa, upi_rrn, psp, failure_code, failure_message, cancellation_reason, disputed,"
                " payment_method_id, setup_future_usage, off_session, funds_pending)"
                " VALUES (%s, %s, false, %s, %s, 0, 0, 'processing', 'automatic', '', '{}', '', 'card', 'visa',"
                " '4242', '', 12, 2039, '', '', '', '', '', '', '', false, %s, '', false, 0)",
                [payment_id, merchant_id, body["amount"], body["currency"], method_id],
            )
            for kind, topic in (("event", "payment.processing"), ("command", "payments.execute_attempt")):
                cursor.execute(
                    "INSERT INTO payments_outboxmessage (merchant_id, livemode, kind, topic, aggregate_type,"
                    " aggregate_id, payload, queue, publish_attempts, last_error, trace_context)"
                    " VALUES (%s, false, %s, %s, 'payment', %s, %s, '', 0, '', '{}')",
                    [merchant_id, kind, topic, payment_id, payload],
                )
        return Response({"id": payment_id, "object": "payment", "status": "processing"})


urlpatterns = [path("v1/payments", BaselinePaymentCreate.as_view())]
