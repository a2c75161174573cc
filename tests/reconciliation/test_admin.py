from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from reconciliation.enums import DiscrepancyStatus, Resolution
from reconciliation.models import Discrepancy, ReconciliationRun
from tests.reconciliation.conftest import DAY, Day, settlement_csv


def test_finance_uploads_a_file_filters_the_queue_resolves_with_a_reason_and_downloads_reports(
    day: Day, admin_client: Any
) -> None:
    good = day.capture()
    bad = day.capture()
    upload = SimpleUploadedFile("card_a.csv", settlement_csv([good, replace(bad, gross=bad.gross + 1)]))

    response = admin_client.post(
        reverse("admin:reconciliation_upload"),
        {"connector": "card_a", "settlement_date": DAY.isoformat(), "file": upload},
    )
    run = ReconciliationRun.objects.get()
    assert response.status_code == 302
    assert (run.matched, run.new_discrepancies) == (1, 1)

    queue = admin_client.get(
        reverse("admin:reconciliation_discrepancy_changelist"),
        {"kind__exact": "amount_mismatch", "connector__exact": "card_a", "age": "1d"},
    )
    assert bad.provider_reference in queue.content.decode()

    discrepancy = Discrepancy.objects.get()
    action = {"action": "resolve_written_off", "_selected_action": [discrepancy.pk]}
    changelist = reverse("admin:reconciliation_discrepancy_changelist")
    asks = admin_client.post(changelist, action)
    assert b"give the reason" in asks.content
    admin_client.post(changelist, {**action, "apply": "1", "reason": "provider confirmed the 1 cent"})
    discrepancy.refresh_from_db()
    assert (discrepancy.status, discrepancy.resolution) == (DiscrepancyStatus.RESOLVED, Resolution.WRITTEN_OFF)
    assert discrepancy.resolutions.get().actor == "admin"

    csv_report = admin_client.get(reverse("admin:reconciliation_report", args=[run.pk, "csv"]))
    text = b"".join(csv_report.streaming_content).decode()
    assert "amount_mismatch" in text
    assert "matched,1" in text
    xlsx = admin_client.get(reverse("admin:reconciliation_report", args=[run.pk, "xlsx"]))
    sheet = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content))).active
    assert sheet is not None
    assert any(row[0] == "amount_mismatch" for row in sheet.iter_rows(values_only=True))


def test_a_rejected_upload_says_why_and_leaves_nothing(db: None, admin_client: Any) -> None:
    upload = SimpleUploadedFile("card_a.csv", b"not,a,settlement\n")
    response = admin_client.post(
        reverse("admin:reconciliation_upload"),
        {"connector": "card_a", "settlement_date": DAY.isoformat(), "file": upload},
        follow=True,
    )
    assert "line 1: unexpected header" in response.content.decode()
    assert not ReconciliationRun.objects.exists()


def test_only_the_resolve_permission_resolves_on_every_path(day: Day, finance_user: Any) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    from ledger.models import JournalTransaction
    from reconciliation.exceptions import ResolutionForbiddenError
    from reconciliation.services.resolutions import discrepancy_resolve
    from tests.reconciliation.conftest import reconcile

    bad = day.capture()
    reconcile(settlement_csv([replace(bad, gross=bad.gross + 1)]))
    discrepancy = Discrepancy.objects.get()
    viewer = get_user_model().objects.create_user("viewer", "v@example.test", "pw", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="reconciliation", codename__startswith="view_")
    )
    client = Client()
    client.force_login(viewer)
    changelist = reverse("admin:reconciliation_discrepancy_changelist")
    action = {"action": "resolve_written_off", "_selected_action": [discrepancy.pk], "apply": "1", "reason": "x"}
    adjustments = JournalTransaction.objects.filter(source_type="adjustment")

    assert client.get(changelist).status_code == 200  # the viewer sees the queue
    client.post(changelist, action)
    try:
        discrepancy_resolve(discrepancy_id=discrepancy.pk, action=Resolution.WRITTEN_OFF, user=viewer, reason="x")
    except ResolutionForbiddenError:
        pass
    else:
        raise AssertionError("a viewer resolved a discrepancy through the service")
    discrepancy.refresh_from_db()
    assert (discrepancy.status, adjustments.count()) == (DiscrepancyStatus.OPEN, 0)

    finance = Client()
    finance.force_login(finance_user)
    finance.post(changelist, action)
    discrepancy.refresh_from_db()
    assert (discrepancy.status, discrepancy.resolutions.get().actor) == (DiscrepancyStatus.RESOLVED, "fin")
    assert adjustments.count() == 1


def test_the_upload_page_is_linked_from_the_back_office(admin_client: Any) -> None:
    """Issue 12: the settlement upload page existed, but nothing in the admin linked to it."""
    upload = reverse("admin:reconciliation_upload")
    for page in (reverse("admin:index"), reverse("admin:reconciliation_settlementfile_changelist")):
        assert f'href="{upload}"' in admin_client.get(page).content.decode(), page
    assert admin_client.get(upload).status_code == 200
