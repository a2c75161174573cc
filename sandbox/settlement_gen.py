"""Write a large, valid settlement CSV in constant memory (for reconciliation benchmarks).

    python -m sandbox.settlement_gen --lines 1000000 --out /tmp/card_a.csv [--provider card_a]
        [--date 2025-01-02] [--seed 1] [--currency usd]

Same columns and conventions as the server's files (see settlement.py). Every refund, chargeback and reversal
points at the nearest charge written earlier in the same file (dispute lines of one charge share a dispute id),
with an amount derived from that charge's line number, so nothing has to be remembered. A JSON summary (lines
per type, total gross/fee/net) goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date, timedelta

from .money import DISPUTE_FEE, fee_for
from .settlement import COLUMNS, batch_id

_MULTIPLIER = 2654435761  # Knuth's multiplicative hash: spreads line numbers over amounts deterministically


def _charge_amount(index: int, seed: int) -> int:
    return 100 + ((index + 1) * _MULTIPLIER + seed * 97) % 2_000_000


def _kind(index: int, seed: int) -> str:
    # Per 100 lines: 85 charges, 10 refunds, 3 chargebacks, 1 reversal, 1 fee adjustment; the first lines are
    # charges so every later line has something to point at.
    if index < 10:
        return "charge"
    bucket = ((index + seed) * 7919) % 100
    if bucket < 85:
        return "charge"
    if bucket < 95:
        return "refund"
    if bucket < 98:
        return "chargeback"
    if bucket < 99:
        return "chargeback_reversal"
    return "fee_adjustment"


def generate(path: str, lines: int, provider: str, day: date, seed: int, currency: str) -> dict[str, int]:
    batch = batch_id(provider, day)
    transaction_day = day - timedelta(days=1)
    totals = {"lines": 0, "gross": 0, "fee": 0, "net": 0}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for index in range(lines):
            kind = _kind(index, seed)
            seconds = index * 86_399 // max(lines, 1)
            at = f"{transaction_day}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.000000Z"
            # The charge a follow-up line refers to: the nearest earlier charge line.
            target = index - 1
            while _kind(target, seed) != "charge":
                target -= 1
            charge_amount = _charge_amount(target, seed)
            rrn = ""
            if kind == "charge":
                gross = _charge_amount(index, seed)
                fee = fee_for(provider, gross)
                provider_ref, our_ref, original = f"ch_gen{seed}_{index:09d}", f"pay_gen{seed}_{index:09d}", ""
            else:
                original = f"ch_gen{seed}_{target:09d}"
                our_ref = f"pay_gen{seed}_{target:09d}"
                if kind == "refund":
                    gross, fee = -(charge_amount // 2 or 1), 0
                    provider_ref, our_ref = f"re_gen{seed}_{index:09d}", f"ref_gen{seed}_{index:09d}"
                elif kind == "chargeback":
                    gross, fee, provider_ref = -charge_amount, 0, f"dp_gen{seed}_{target:09d}"
                elif kind == "chargeback_reversal":
                    gross, fee, provider_ref = charge_amount, 0, f"dp_gen{seed}_{target:09d}"
                else:
                    gross, fee, provider_ref = 0, DISPUTE_FEE, f"dp_gen{seed}_{target:09d}"
            if provider == "upi":
                rrn = f"{(index * _MULTIPLIER + seed) % 10**12:012d}"
            writer.writerow(
                [
                    batch,
                    day.isoformat(),
                    kind,
                    provider_ref,
                    our_ref,
                    rrn,
                    currency,
                    gross,
                    fee,
                    gross - fee,
                    at,
                    original,
                ]
            )
            totals["lines"] += 1
            totals[kind] = totals.get(kind, 0) + 1
            totals["gross"] += gross
            totals["fee"] += fee
            totals["net"] += gross - fee
    return totals


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.settlement_gen", description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--provider", default="card_a", choices=("card_a", "card_b", "card_c", "upi"))
    parser.add_argument("--date", default="2025-01-02", help="settlement date (transactions are the day before)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--currency", default=None, help="default: usd for cards, inr for upi")
    args = parser.parse_args(argv)
    currency = args.currency or ("inr" if args.provider == "upi" else "usd")
    totals = generate(args.out, args.lines, args.provider, date.fromisoformat(args.date), args.seed, currency)
    sys.stderr.write(json.dumps(totals) + "\n")


if __name__ == "__main__":
    main()
