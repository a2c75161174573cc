"""``/v1/reports``: a merchant asks for a report of its own data, follows its progress and downloads it."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import CursorListPagination
from core.api.strict import ApiView, InputSerializer
from payments.api.authentication import request_api_key, request_merchant
from payments.api.common import list_response
from payments.api.idempotency import IdempotentApiView
from payments.api.payments import _validated
from payments.exceptions import ResourceMissingError
from reports import selectors
from reports.enums import MERCHANT_REPORT_TYPES, ReportFormat, ReportStatus
from reports.models import ReportRun
from reports.services import report_run_create


class ReportCreateInputSerializer(InputSerializer):
    type = serializers.ChoiceField(choices=[t.value for t in MERCHANT_REPORT_TYPES])
    # ``from`` is a Python keyword: declared under another name, read from the request's ``from``.
    from_ = serializers.DateField()
    to = serializers.DateField()
    format = serializers.ChoiceField(choices=ReportFormat.values, default=ReportFormat.CSV)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class ReportSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    object = serializers.CharField()
    type = serializers.CharField()
    format = serializers.CharField()
    status = serializers.ChoiceField(choices=ReportStatus.values)
    progress = serializers.IntegerField()
    rows = serializers.IntegerField(allow_null=True)
    download_url = serializers.CharField(allow_null=True)
    failure_message = serializers.CharField(allow_null=True)
    livemode = serializers.BooleanField()
    created = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField()
        fields["to"] = serializers.DateField()
        return fields


def report_representation(run: ReportRun, request: Request) -> dict[str, Any]:
    done = run.status == ReportStatus.SUCCEEDED
    return {
        "id": run.id,
        "object": "report",
        "type": run.type,
        "format": run.format,
        "from": run.date_from,
        "to": run.date_to,
        "status": run.status,
        "progress": run.progress,
        "rows": run.rows,
        "download_url": (
            request.build_absolute_uri(reverse("report-download", kwargs={"report_id": run.id})) if done else None
        ),
        "failure_message": run.failure_message or None,
        "livemode": bool(run.livemode),
        "created": run.created,
        "finished_at": run.finished_at,
    }


class ReportListCreateApi(IdempotentApiView[dict[str, Any]]):
    input_serializer = ReportCreateInputSerializer
    pagination_class = CursorListPagination

    @extend_schema(operation_id="report_create", request=ReportCreateInputSerializer, responses={200: ReportSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Asks for a report; a worker produces it. Poll ``GET /v1/reports/{id}`` until ``succeeded``."""
        return super().post(request, *args, **kwargs)

    def validate_post(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        return _validated(ReportCreateInputSerializer, request)

    def perform_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Response:
        run = report_run_create(
            report_type=data["type"],
            report_format=data["format"],
            date_from=data["from"],
            date_to=data["to"],
            merchant=request_merchant(request),
            livemode=request_api_key(request).livemode,
            requested_by="api",
        )
        return Response(ReportSerializer(report_representation(run, request)).data)

    @extend_schema(operation_id="report_list", responses={200: ReportSerializer(many=True)})
    def get(self, request: Request) -> Response:
        runs = selectors.report_run_list(merchant=request_merchant(request), livemode=request_api_key(request).livemode)
        return list_response(
            self,
            request,
            runs,
            lambda page: ReportSerializer([report_representation(r, request) for r in page], many=True).data,
        )


class ReportRetrieveApi(ApiView):
    @extend_schema(operation_id="report_retrieve", responses={200: ReportSerializer})
    def get(self, request: Request, report_id: str) -> Response:
        run = selectors.report_run_get(
            merchant=request_merchant(request), livemode=request_api_key(request).livemode, report_id=report_id
        )
        return Response(ReportSerializer(report_representation(run, request)).data)


class ReportDownloadApi(ApiView):
    @extend_schema(operation_id="report_download", responses={200: OpenApiResponse(description="the report file")})
    def get(self, request: Request, report_id: str) -> FileResponse:
        run = selectors.report_run_get(
            merchant=request_merchant(request), livemode=request_api_key(request).livemode, report_id=report_id
        )
        if run.status != ReportStatus.SUCCEEDED or not run.file:
            raise ResourceMissingError(f"Report '{run.id}' has no file yet (status {run.status}).")
        return FileResponse(run.file.open("rb"), as_attachment=True, filename=run.filename)
