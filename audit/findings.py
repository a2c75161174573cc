"""What the auditor reports: findings (each naming the ids involved), counts of what it looked at, a verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # the rule broken, e.g. ``provider_charge_without_payment``
    subject: str  # the id of the object (payment, attempt, event, account …) it is about
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.detail}"


@dataclass(slots=True)
class AuditReport:
    findings: list[Finding] = field(default_factory=list)
    # What was looked at (payments, provider records, events …), so a clean report is not clean by emptiness.
    counts: Counter[str] = field(default_factory=Counter)
    # Not findings: objects still in flight (skipped by the final-state checks) and other observations.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, check: str, subject: str, detail: str) -> None:
        self.findings.append(Finding(check, subject, detail))

    def by_check(self) -> Counter[str]:
        return Counter(f.check for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "findings": [asdict(f) for f in self.findings],
            "by_check": dict(self.by_check()),
            "counts": dict(sorted(self.counts.items())),
            "notes": self.notes,
        }

    def render(self) -> str:
        lines = ["Audit: " + ("CLEAN" if self.ok else f"{len(self.findings)} finding(s)")]
        lines.append("  looked at: " + ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())))
        for check, count in sorted(self.by_check().items()):
            lines.append(f"  {check}: {count}")
        lines += [f"  - {f}" for f in self.findings]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)
