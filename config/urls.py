from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import health, metrics
from payments.api import provider_events

handler404 = "core.api.errors.json_404"
handler500 = "core.api.errors.json_500"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("v1/", include("payments.api.urls")),
    path("v1/", include("reports.urls")),
    path("checkout/", include("payments.checkout_page")),
    path("stripe/v1/", include("stripe_api.urls")),
    path("psp/webhooks/<str:connector>", provider_events.provider_event_receive, name="provider-event-receive"),
]
