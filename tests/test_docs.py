"""The documentation a newcomer reads: the API reference lists what the schema serves, and nothing points outside
the repository (a reader has only the clone)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests import processes

pytestmark = pytest.mark.django_db

ROOT = processes.ROOT
DOCUMENTS = [ROOT / "README.md", ROOT / "sandbox" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_OPERATION = re.compile(r"`(GET|POST|DELETE|PUT|PATCH) (/v1/[^`\s]*)`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
# Addresses that name a machine outside the clone are fine only when they are the platform's own, or examples.
_URL = re.compile(r"https?://[^\s)`'\"<>]+")
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "host", "…", "x/")


def test_the_api_reference_lists_exactly_the_operations_of_the_schema(client):
    response = client.get("/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    served = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "delete", "put", "patch"}
    }
    documented = set(_OPERATION.findall((ROOT / "docs" / "api.md").read_text()))
    assert served - documented == set(), "served but not in docs/api.md"
    assert documented - served == set(), "in docs/api.md but not served"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documents_point_only_inside_the_repository(document: Path):
    text = document.read_text()
    for target in _LINK.findall(text):
        if target.startswith(("http://", "https://", "#")):
            continue  # addresses are checked below
        resolved = (document.parent / target.split("#", 1)[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{target} leaves the repository"
        assert resolved.exists(), f"{target} does not exist"
    for url in _URL.findall(text):
        host = url.split("://", 1)[1]
        assert host.startswith(_LOCAL_HOSTS) or ".example" in host, f"{url} is outside the repository"
    for outside in ("../shared", "/work/", "steering repository"):
        assert outside not in text
