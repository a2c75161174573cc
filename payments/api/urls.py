from django.urls import path

from payments.api.events import EventListApi, EventRetrieveApi
from payments.api.views import MerchantRetrieveApi
from payments.api.webhook_endpoints import (
    WebhookEndpointCollectionApi,
    WebhookEndpointDetailApi,
    WebhookEndpointRollSecretApi,
)

urlpatterns = [
    path("merchant", MerchantRetrieveApi.as_view(), name="merchant-retrieve"),
]

# --- Events and webhooks ---------------------------------------------------------------------------------------
urlpatterns += [
    path("events", EventListApi.as_view(), name="events-list"),
    path("events/<str:event_id>", EventRetrieveApi.as_view(), name="events-retrieve"),
    path("webhook_endpoints", WebhookEndpointCollectionApi.as_view(), name="webhook-endpoints"),
    path("webhook_endpoints/<str:endpoint_id>", WebhookEndpointDetailApi.as_view(), name="webhook-endpoints-detail"),
    path(
        "webhook_endpoints/<str:endpoint_id>/roll_secret",
        WebhookEndpointRollSecretApi.as_view(),
        name="webhook-endpoints-roll-secret",
    ),
]
