"""Back-office actions: each calls the same service as the API, and writes its audit entry in the same
transaction (an action that fails writes an entry saying so, after its own rollback)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction

from backoffice import selectors
from backoffice.models import AuditLogEntry
from core.amounts import amount_display
from core.errors import LedgerlineError
from ledger.balances import merchant_balances
from payments.exceptions import RefundLimitExceededError
from payments.models import Dispute, Merchant, Payment, PaymentMethod, Payout, Refund
from payments.services import disputes as dispute_services
from payments.services import payments as payment_services
from payments.services.attempts.review import attempts_check_now, attempts_mark_reviewed
from payments.services.funds import funds_write_off
from payments.services.payment_methods import payment_method_detach
from payments.services.payouts import payout_fail
from payments.services.refunds import RefundLimit, refund_create

T = TypeVar("T")
User = Any  # a request's user: a real one in every view (admin_view requires staff)


class BackofficeActionError(Exception):
    """Shown to the person as a message; nothing was changed."""


def payment_snapshot(payment: Payment) -> dict[str, Any]:
    return {
        "status": payment.status,
        "amount_captured": payment.amount_captured,
        "amount_refunded": payment.amount_refunded,
        "disputed": payment.disputed,
    }


def _audit(
    user: User, *, action: str, obj: tuple[str, str], before: dict[str, Any], after: dict[str, Any], **extra: Any
) -> None:
    AuditLogEntry.objects.create(
        user=user if user.is_authenticated else None,
        username=str(user.get_username())[:150],
        action=action,
        object_type=obj[0],
        object_id=obj[1],
        before=before,
        after=after,
        **extra,
    )


def _run(
    user: User,
    *,
    action: str,
    obj: tuple[str, str],
    before: dict[str, Any],
    work: Callable[[], T],
    after: Callable[[T], dict[str, Any]],
    reason: str = "",
    form_token: str | None = None,
    explain: Callable[[LedgerlineError], str] = lambda exc: str(exc.message),
) -> T:
    try:
        with transaction.atomic():
            result = work()
            _audit(
                user,
                action=action,
                obj=obj,
                before=before,
                after=after(result),
                reason=reason[:500],
                outcome="ok",
                form_token=form_token or None,
            )
            return result
    except IntegrityError as exc:
        # The same form submitted twice (double click, back button): the first one did it.
        raise BackofficeActionError("This form was already submitted; nothing more was done.") from exc
    except LedgerlineError as exc:
        _audit(user, action=action, obj=obj, before=before, after={}, reason=reason[:500], outcome=f"refused: {exc}")
        raise BackofficeActionError(explain(exc)) from exc


# Every refund asked for in the back office is requested_by "admin:<username>"; together they count towards the
# Support limit of a payment, whoever asked (a refund above it by someone with a higher limit uses it up too).
BACKOFFICE_REQUESTER = "admin:"


def refund_limit_for(user: Any) -> RefundLimit | None:
    """None: no limit (superusers and holders of refund_unlimited). Otherwise the Support limit: a running total of
    what the back office refunded of one payment, checked under the payment's row lock by ``refund_create``."""
    if user.is_superuser or user.has_perm("backoffice.refund_unlimited"):
        return None
    return RefundLimit(amount=int(settings.BACKOFFICE_SUPPORT_REFUND_LIMIT), requested_by_prefix=BACKOFFICE_REQUESTER)


def _refund_refusal(payment: Payment, amount: int | None) -> Callable[[LedgerlineError], str]:
    """The service's refusal in the currency's units, as the person typed the amount."""

    def money(minor: int) -> str:
        return amount_display(minor, payment.currency)

    def explain(exc: LedgerlineError) -> str:
        if isinstance(exc, RefundLimitExceededError):
            return (
                f"Support may refund at most {money(exc.limit)} of one payment in total, and "
                f"{money(exc.refunded)} of this one was already refunded in the back office. "
                "Ask someone with a higher limit."
            )
        if exc.code == "amount_exceeds_refundable" and amount is not None:
            fresh = selectors.payment_refundable(payment_id=payment.id)
            return f"Refund amount ({money(amount)}) is greater than the payment's refundable amount ({money(fresh)})."
        return str(exc.message)

    return explain


def backoffice_refund(
    *, user: Any, payment: Payment, amount: int | None, reason: str, note: str, form_token: str | None
) -> Refund:
    """The API's refund_create under the payment's row lock: two agents or a double click cannot over-refund, and
    Support's limit holds for the payment's running total. Not offered while a dispute blocks refunds: the
    provider refuses them."""
    if not user.has_perm("backoffice.refund_payment"):
        raise BackofficeActionError("You may not refund payments.")
    if not note.strip():
        raise BackofficeActionError("A note for the audit log is required.")
    blocking = selectors.dispute_blocking_refunds(payment_id=payment.id)
    if blocking is not None:
        raise BackofficeActionError(
            f"Dispute {blocking.id} is {blocking.get_status_display().lower()}: the provider refuses refunds of a "
            "disputed payment."
        )
    return _run(
        user,
        action="payment.refund",
        obj=("payment", payment.id),
        before=payment_snapshot(payment),
        work=lambda: refund_create(
            merchant=payment.merchant,
            livemode=payment.livemode,
            payment_id=payment.id,
            amount=amount,
            reason=reason,
            requested_by=f"{BACKOFFICE_REQUESTER}{user.get_username()}",
            limit=refund_limit_for(user),
        ),
        after=lambda refund: {
            **payment_snapshot(Payment.objects.get(pk=payment.id)),
            "refund": refund.id,
            "refund_amount": refund.amount,
        },
        reason=note,
        form_token=form_token,
        explain=_refund_refusal(payment, amount),
    )


def backoffice_capture(*, user: Any, payment: Payment, note: str, form_token: str | None) -> Payment:
    if not user.has_perm("backoffice.capture_payment"):
        raise BackofficeActionError("You may not capture payments.")
    return _run(
        user,
        action="payment.capture",
        obj=("payment", payment.id),
        before=payment_snapshot(payment),
        work=lambda: payment_services.payment_capture(
            merchant=payment.merchant, livemode=payment.livemode, payment_id=payment.id
        ),
        after=payment_snapshot,
        reason=note,
        form_token=form_token,
    )


def backoffice_cancel(*, user: Any, payment: Payment, note: str, form_token: str | None) -> Payment:
    if not user.has_perm("backoffice.cancel_payment"):
        raise BackofficeActionError("You may not cancel payments.")
    return _run(
        user,
        action="payment.cancel",
        obj=("payment", payment.id),
        before=payment_snapshot(payment),
        work=lambda: payment_services.payment_cancel(
            merchant=payment.merchant, livemode=payment.livemode, payment_id=payment.id, reason="requested_by_customer"
        ),
        after=payment_snapshot,
        reason=note,
        form_token=form_token,
    )


def backoffice_attempt_resolve(*, user: Any, attempt_id: str, check_now: bool, reason: str) -> int:
    """exec's two resolutions: ask the provider again now, or mark the attempt reviewed (its outcome unchanged).
    The reason is mandatory and goes to the audit log."""
    if not user.has_perm("backoffice.resolve_attempt"):
        raise BackofficeActionError("You may not resolve attempts.")
    if not reason.strip():
        raise BackofficeActionError("A reason is required to resolve an attempt.")
    action = "attempt.check_now" if check_now else "attempt.mark_reviewed"
    return _run(
        user,
        action=action,
        obj=("payment_attempt", attempt_id),
        before={},
        work=lambda: (
            attempts_check_now(attempt_ids=[attempt_id])
            if check_now
            else attempts_mark_reviewed(attempt_ids=[attempt_id], by=str(user.get_username()))
        ),
        after=lambda count: {"count": count},
        reason=reason,
    )


def _dispute_snapshot(dispute: Dispute) -> dict[str, Any]:
    return {"status": dispute.status, "evidence": dispute.evidence}


def backoffice_dispute_update(
    *, user: Any, dispute: Dispute, evidence: dict[str, Any], upload: Any, submit: bool, form_token: str | None
) -> Dispute:
    if not user.has_perm("backoffice.handle_dispute"):
        raise BackofficeActionError("You may not handle disputes.")

    def work() -> Dispute:
        staged = dict(evidence)
        if upload is not None:
            file = dispute_services.evidence_file_add(
                dispute=dispute, upload=upload, uploaded_by=str(user.get_username())
            )
            staged["files"] = [*dispute.evidence.get("files", []), file.id]
        return dispute_services.dispute_update(
            merchant=dispute.merchant, livemode=dispute.livemode, dispute_id=dispute.id, evidence=staged, submit=submit
        )

    return _run(
        user,
        action="dispute.submit" if submit else "dispute.evidence",
        obj=("dispute", dispute.id),
        before=_dispute_snapshot(dispute),
        work=work,
        after=_dispute_snapshot,
        form_token=form_token,
    )


def backoffice_dispute_accept(*, user: Any, dispute: Dispute, note: str, form_token: str | None) -> Dispute:
    if not user.has_perm("backoffice.handle_dispute"):
        raise BackofficeActionError("You may not handle disputes.")
    return _run(
        user,
        action="dispute.accept",
        obj=("dispute", dispute.id),
        before=_dispute_snapshot(dispute),
        work=lambda: dispute_services.dispute_accept(
            merchant=dispute.merchant, livemode=dispute.livemode, dispute_id=dispute.id
        ),
        after=_dispute_snapshot,
        reason=note,
        form_token=form_token,
    )


def _payment_method_snapshot(method: PaymentMethod) -> dict[str, Any]:
    detached = method.detached_at.isoformat() if method.detached_at is not None else None
    return {"customer": method.customer_id, "detached_at": detached}


def backoffice_payment_method_detach(
    *, user: Any, method: PaymentMethod, note: str, form_token: str | None
) -> PaymentMethod:
    """The API's detach (the card is never charged again, off-session charges included), for a customer who asks
    support to forget a card. The audit entry keeps which customer it was saved to; the row itself no longer does."""
    if not user.has_perm("backoffice.detach_payment_method"):
        raise BackofficeActionError("You may not detach payment methods.")
    if not note.strip():
        raise BackofficeActionError("A note for the audit log is required.")
    if method.detached_at is not None:
        raise BackofficeActionError(f"{method.id} is already detached.")
    return _run(
        user,
        action="payment_method.detach",
        obj=("payment_method", method.id),
        before=_payment_method_snapshot(method),
        work=lambda: payment_method_detach(
            merchant=method.merchant, livemode=method.livemode, payment_method_id=method.id
        ),
        after=_payment_method_snapshot,
        reason=note,
        form_token=form_token,
    )


def backoffice_payout_fail(*, user: Any, payout: Payout) -> Payout:
    """The bank returned a payout (even after paid): failed, and its amount is available again."""
    if not user.has_perm("backoffice.manage_payouts"):
        raise BackofficeActionError("You may not manage payouts.")
    return _run(
        user,
        action="payout.fail",
        obj=("payout", payout.id),
        before={"status": payout.status},
        work=lambda: payout_fail(payout_id=payout.id, code="returned_by_bank"),
        after=lambda updated: {"status": updated.status},
    )


def _owed(merchant: Merchant) -> dict[str, int]:
    return {m.currency: -m.amount for m in merchant_balances(merchant.id).available if m.amount < 0}


def backoffice_write_off(
    *, user: Any, merchant: Merchant, currency: str, amount: int, reason: str, form_token: str | None = None
) -> Any:
    """The platform gives up on ``amount`` of what ``merchant`` owes (its negative available balance): the only way
    a merchant's debt becomes the platform's loss. A person with the permission, a reason, at most what is owed."""
    if not user.has_perm("backoffice.write_off_balance"):
        raise BackofficeActionError("You may not write off merchant balances.")
    if not reason.strip():
        raise BackofficeActionError("A reason is required to write off a balance.")
    return _run(
        user,
        action="merchant.write_off",
        obj=("merchant", merchant.id),
        before={"owed": _owed(merchant)},
        work=lambda: funds_write_off(
            merchant=merchant, currency=currency, amount=amount, reason=reason, actor=str(user.get_username())
        ),
        after=lambda txn: {"owed": _owed(merchant), "transaction": txn.id, "amount": amount, "currency": currency},
        reason=reason,
        form_token=form_token,
    )
