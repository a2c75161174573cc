from django.urls import path

from reports.api import ReportDownloadApi, ReportListCreateApi, ReportRetrieveApi

urlpatterns = [
    path("reports", ReportListCreateApi.as_view(), name="report-list"),
    path("reports/<str:report_id>", ReportRetrieveApi.as_view(), name="report-retrieve"),
    path("reports/<str:report_id>/download", ReportDownloadApi.as_view(), name="report-download"),
]
