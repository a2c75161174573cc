"""The executor: carries a payment attempt to its provider and the provider's outcome back, never charging twice.

Every attempt runs the same three steps (correctness-checklist, Provider calls), one module each:

1. :mod:`.claim` (one transaction): lock the attempt, choose its connector, stamp ``locked_at``; commit.
2. :mod:`.call` the provider outside any transaction, with the attempt's persisted idempotency key and the attempt
   id as our reference.
3. :mod:`.apply` (one transaction): the one service that applies a provider outcome, however it was learned — the
   call's answer, a status lookup, an inbound provider webhook (:mod:`payments.services.provider_events`), the
   janitor. It closes the attempt, moves the payment's state machine, prices and posts the ledger, and writes the
   history and outbox rows, once; the same evidence twice changes nothing.

An ``unknown`` outcome (timeout, 5xx, lost response) is never failed: :mod:`.janitor` asks the provider by our
reference on ``PSP_UNKNOWN_RECHECK_SCHEDULE`` and applies what it learns exactly as if the call had answered. A
different connector is tried only when the provider provably never saw the attempt (``not_sent``: refused
connection or open circuit; ``not_found`` from a status lookup), always as a new attempt with its own key and
reference (:mod:`.retries`), so each provider sees each reference at most once. :mod:`.queue` puts an attempt on
its provider's queue; :mod:`.review` holds the back office's actions.
"""
