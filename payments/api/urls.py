from django.urls import path

from payments.api.views import MerchantRetrieveApi

urlpatterns = [
    path("merchant", MerchantRetrieveApi.as_view(), name="merchant-retrieve"),
]
