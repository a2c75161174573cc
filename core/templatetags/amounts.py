"""``{% load amounts %}``: ``{{ payment.amount|money:payment.currency }}`` → ``$12.50``;
``{{ payment.amount|money_plain:payment.currency }}`` → ``12.50`` (what a person types back)."""

from __future__ import annotations

from django import template

from core.amounts import amount_display, amount_plain

register = template.Library()


@register.filter
def money(amount: int | None, currency: str) -> str:
    return "—" if amount is None else amount_display(int(amount), currency)


@register.filter
def money_plain(amount: int | None, currency: str) -> str:
    return "" if amount is None else amount_plain(int(amount), currency)
