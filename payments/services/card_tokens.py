"""A card's token at one acquirer, made by the executor the first time an attempt of the card runs there.

Called only from the executor's provider call (``payments.services.attempts.call``), outside any transaction: the
number is read from the vault, sent to that acquirer's tokenizer and dropped; the token is kept on the payment
method (one per acquirer), so later payments and failover reuse it and the card is tokenized once per acquirer.
The tokenizer's idempotency key is derived from the payment method and acquirer, so a retried tokenization returns
the same token.
"""

from __future__ import annotations

import structlog
from django.db import transaction

from payments.connectors import registry
from payments.connectors.base import RawCard
from payments.models import PaymentMethod
from payments.services.vault import vault_card_reveal

logger = structlog.get_logger(__name__)


def card_token_get(*, payment_method_id: str, connector: str) -> str:
    """The payment method's token at ``connector``, tokenizing the vaulted card there first if it has none.

    Raises ``CardRejectedError`` (the acquirer refuses the card), ``ProviderUnavailableError`` (never reached),
    ``UnsupportedOperationError`` or ``VaultError``; the caller turns each into the attempt's outcome."""
    method = PaymentMethod.objects.only("provider_tokens", "vault_entry_id").get(pk=payment_method_id)
    token = method.provider_tokens.get(connector)
    if token:
        return str(token)
    if method.vault_entry_id is None:
        raise LookupError(f"payment method {payment_method_id} has no card to tokenize")
    secret = vault_card_reveal(entry_id=method.vault_entry_id)
    card = RawCard(number=secret.number, exp_month=secret.exp_month, exp_year=secret.exp_year, cvc=secret.cvc)
    key = f"tok_{payment_method_id}_{connector}_{'cvc' if secret.cvc else 'cof'}"
    token = registry.connector_get(connector).tokenize(card, idempotency_key=key).token
    del secret, card
    with transaction.atomic():
        locked = PaymentMethod.objects.select_for_update().only("provider_tokens").get(pk=payment_method_id)
        token = str(locked.provider_tokens.setdefault(connector, token))
        locked.save(update_fields=["provider_tokens"])
    logger.info("card_tokenized", payment_method_id=payment_method_id, connector=connector)
    return token
