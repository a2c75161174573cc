"""How the back office shows things: status badges, money, payment methods, deadlines, links to objects.

One place, so a status has the same colour and an amount the same shape on every list and page. Badges use
unfold's label markup, so they follow its light and dark themes.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.admin.utils import quote
from django.db.models import Model
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.amounts import amount_display

# unfold label variants: success (green), info (blue), warning (orange), danger (red), "" (grey).
STATUS_VARIANTS: dict[str, dict[str, str]] = {
    "payment": {
        "succeeded": "success",
        "processing": "info",
        "requires_confirmation": "info",
        "requires_action": "warning",
        "requires_capture": "warning",
        "failed": "danger",
    },
    "refund": {"pending": "info", "succeeded": "success", "failed": "danger"},
    "dispute": {"needs_response": "danger", "under_review": "warning", "won": "success", "lost": "danger"},
    "payout": {"pending": "info", "in_transit": "info", "paid": "success", "failed": "danger"},
    "attempt": {"pending": "info", "unknown": "warning", "succeeded": "success", "failed": "danger"},
    "discrepancy": {"open": "warning", "resolved": "success"},
}

# A dispute whose evidence is due within this many days is highlighted in the queue.
DEADLINE_NEAR_DAYS = 3


def badge(text: str, variant: str = "", *, title: str = "") -> SafeString:
    html = render_to_string("unfold/helpers/label.html", {"text": text, "variant": variant, "label_title": title})
    return SafeString(html.strip())


def status_badge(kind: str, status: str) -> SafeString:
    return badge(status.replace("_", " "), STATUS_VARIANTS[kind].get(status, ""))


def money(amount: int | None, currency: str) -> SafeString:
    """An amount for a list or page: in the currency's units, never wrapped across lines."""
    if amount is None:
        return SafeString("—")
    return format_html('<span class="ll-money">{}</span>', amount_display(amount, currency))


def both_forms(amount: int, currency: str) -> str:
    """``$12.50 (1250 minor units of USD)``: what a confirmation states before money moves."""
    return f"{amount_display(amount, currency)} ({amount} minor units of {currency.upper()})"


def id_cell(object_id: str, note: str) -> SafeString:
    """A list's first column: the object's id, and under it one muted line (when, why, what)."""
    return format_html('<span class="ll-id">{}</span><br><span class="ll-muted ll-nowrap">{}</span>', object_id, note)


def admin_url(obj: Model) -> str | None:
    """The admin page of ``obj``, or None where the model has none."""
    try:
        return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[quote(obj.pk)])
    except NoReverseMatch:
        return None


def object_link(obj: Model | None, text: str | None = None) -> SafeString:
    if obj is None:
        return SafeString("—")
    url = admin_url(obj)
    label, css = (str(obj.pk), "ll-id") if text is None else (text, "")
    return format_html('<a href="{}" class="{}">{}</a>', url, css, label) if url else format_html("{}", label)


def payment_method(method_type: str, *, brand: str = "", last4: str = "", vpa: str = "", upi_flow: str = "") -> str:
    """``Visa •••• 4242``, ``UPI ravi@okbank``, ``UPI intent``: what support asks a customer to recognise."""
    if method_type == "card":
        return f"{brand.title() or 'Card'} •••• {last4}" if last4 else (brand.title() or "Card")
    if method_type == "upi":
        return f"UPI {vpa}" if vpa else f"UPI {upi_flow or ''}".strip()
    return method_type


def deadline(due: datetime | None, *, open_: bool, now: datetime | None = None) -> SafeString:
    """A dispute's evidence deadline with the days left; red once passed, orange when near (open disputes only)."""
    if due is None:
        return SafeString("—")
    now = now or timezone.now()
    when = f"{timezone.localtime(due):%Y-%m-%d %H:%M}"
    if not open_:
        return format_html('<span class="ll-nowrap">{}</span>', when)
    days = (due - now).days
    if due < now:
        return format_html(
            '<span class="ll-nowrap">{}</span> {}',
            when,
            badge("overdue", "danger", title="the evidence deadline has passed"),
        )
    left = "today" if days == 0 else f"{days} day{'s' if days != 1 else ''} left"
    variant = "warning" if days < DEADLINE_NEAR_DAYS else ""
    return format_html('<span class="ll-nowrap">{}</span> {}', when, badge(left, variant))
