"""Back-office actions: each calls the same service as the API, and writes its audit entry in the same
transaction (an action that fails writes an entry saying so, after its own rollback)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction

from backoffice.models import AuditLogEntry
from core.errors import LedgerlineError
from ledger.balances import merchant_balances
from payments.models import Dispute, Merchant, Payment, Payout
from payments.services import disputes as dispute_services
from payments.services import payments as payment_services
from payments.services.attempts.review import attempts_check_now, attempts_mark_reviewed
from payments.services.funds import funds_write_off
from payments.services.payouts import payout_fail
from payments.services.refunds import refund_create

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
        raise BackofficeActionError(str(exc.message)) from exc


def refund_limit_for(user: Any) -> int | None:
    """None: no limit (superusers and holders of refund_unlimited); otherwise the Support limit."""
    if user.is_superuser or user.has_perm("backoffice.refund_unlimited"):
        return None
    return int(settings.BACKOFFICE_SUPPORT_REFUND_LIMIT)


def backoffice_refund(
    *, user: Any, payment: Payment, amount: int | None, reason: str, note: str, form_token: str | None
) -> Any:
    """The API's refund_create under the payment's row lock: two agents or a double click cannot over-refund."""
    if not user.has_perm("backoffice.refund_payment"):
        raise BackofficeActionError("You may not refund payments.")
    if not note.strip():
        raise BackofficeActionError("A note for the audit log is required.")
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
            requested_by=f"admin:{user.get_username()}",
            max_amount=refund_limit_for(user),
        ),
        after=lambda refund: {
            **payment_snapshot(Payment.objects.get(pk=payment.id)),
            "refund": refund.id,
            "refund_amount": refund.amount,
        },
        reason=note,
        form_token=form_token,
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
