import pytest
from django.db import transaction

from payments.enums import OutboxKind
from payments.models import OutboxMessage
from payments.services.merchants import merchant_create
from payments.services.outbox import outbox_command_add, outbox_event_add

pytestmark = pytest.mark.django_db(transaction=True)


def test_outbox_rows_refuse_to_be_written_outside_a_transaction():
    merchant, _ = merchant_create(name="Acme", email="ops@acme.test")
    with pytest.raises(RuntimeError, match="inside the transaction"):
        outbox_event_add(
            merchant_id=merchant.id,
            livemode=False,
            event_type="payment.succeeded",
            aggregate_type="payment",
            aggregate_id="pay_1",
            payload={},
        )
    assert not OutboxMessage.objects.exists()


def test_outbox_rows_vanish_with_a_rolled_back_state_change():
    merchant, _ = merchant_create(name="Acme", email="ops@acme.test")

    def change_that_fails_after_writing() -> None:
        with transaction.atomic():
            outbox_command_add(
                task_name="payments.execute_attempt", kwargs={"attempt_id": "x"}, merchant_id=merchant.id
            )
            raise ValueError("the state change failed after its outbox row was written")

    with pytest.raises(ValueError, match="failed after"):
        change_that_fails_after_writing()
    assert not OutboxMessage.objects.exists()

    with transaction.atomic():
        message = outbox_command_add(
            task_name="payments.execute_attempt", kwargs={"attempt_id": "x"}, queue="psp_card_a"
        )
    stored = OutboxMessage.objects.get(pk=message.pk)
    assert (stored.kind, stored.topic, stored.queue, stored.published_at) == (
        OutboxKind.COMMAND,
        "payments.execute_attempt",
        "psp_card_a",
        None,
    )
