"""Card numbers go to the providers' tokenizers at the API edge, and only the tokens are kept.

Tokens are per acquirer, so the card is tokenized at every connector of the card route: that is what lets a
payment fail over to the next acquirer later, when the number is long gone. This is a network call made while
validating the request, before any transaction starts and before anything is stored.
"""

from __future__ import annotations

import uuid

import structlog

from payments.connectors import registry
from payments.connectors.base import CardRejectedError, ProviderUnavailableError, RawCard
from payments.exceptions import InvalidRequestError, ServiceUnavailableError

logger = structlog.get_logger(__name__)


def card_tokens_create(
    *, number: str, exp_month: int, exp_year: int, cvc: str, route: list[str] | None = None
) -> dict[str, str]:
    """A token per connector of the card route; raises ``InvalidRequestError`` if a provider refuses the card, or
    ``ServiceUnavailableError`` if none could be reached."""
    card = RawCard(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc)
    tokens: dict[str, str] = {}
    for name in route if route is not None else registry.route_for("card"):
        connector = registry.connector_get(name)
        if registry.breaker_get(name).is_open():
            continue
        try:
            tokens[name] = connector.tokenize(card, idempotency_key=f"tok_{uuid.uuid4().hex}").token
        except CardRejectedError as exc:
            raise InvalidRequestError(exc.message, code=exc.code, param="payment_method[card]") from exc
        except ProviderUnavailableError as exc:
            logger.warning("card_tokenization_failed", connector=name, error=str(exc))
    if not tokens:
        raise ServiceUnavailableError("No card acquirer can be reached right now; retry shortly.")
    return tokens
