import pytest
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.api.pagination import CursorListPagination
from payments.models import Merchant

pytestmark = pytest.mark.django_db


def _page(**params):
    request = Request(APIRequestFactory().get("/v1/things", params))
    paginator = CursorListPagination()
    page = paginator.paginate_queryset(Merchant.objects.all(), request)
    return paginator.get_paginated_response([m.id for m in page]).data


@pytest.fixture
def merchants():
    created = [Merchant.objects.create(name=f"m{i}", email=f"m{i}@x.test") for i in range(25)]
    return sorted((m.id for m in created), reverse=True)  # newest first


def test_pages_walk_newest_first_without_gaps_or_repeats(merchants):
    seen, cursor = [], None
    while True:
        body = _page(limit=10, **({"starting_after": cursor} if cursor else {}))
        assert body["object"] == "list"
        assert body["url"] == "/v1/things"
        seen += body["data"]
        if not body["has_more"]:
            break
        cursor = body["data"][-1]
    assert seen == merchants


def test_ending_before_returns_the_page_just_newer_than_the_cursor(merchants):
    body = _page(limit=3, ending_before=merchants[10])
    assert body["data"] == merchants[7:10]
    assert body["has_more"] is True
    assert _page(limit=3, ending_before=merchants[2])["has_more"] is False


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"starting_after": "a", "ending_before": "b"}]
)
def test_bad_paging_parameters_are_rejected(params):
    with pytest.raises(ValidationError):
        _page(**params)


@pytest.mark.parametrize("name", ["limit", "starting_after", "ending_before"])
def test_an_empty_paging_parameter_is_rejected_not_ignored(name):
    with pytest.raises(ValidationError):
        _page(**{name: ""})


def test_an_unknown_cursor_is_a_400_not_the_first_page() -> None:
    """An unknown starting_after returned the first page (issue 12): a client paging on would loop silently."""
    from tests.payments.conftest import make_api

    api = make_api()
    for cursor in ("starting_after", "ending_before"):
        response = api.get("/v1/payments", {cursor: "pay_0000000000NOSUCHPAYMENT"})
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("resource_missing", cursor)
        empty = api.get("/v1/payments", {cursor: ""})
        assert (empty.status_code, empty.json()["error"]["param"]) == (400, cursor)
