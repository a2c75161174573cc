"""The Content-Security-Policy header (Django 5.2 has none of its own): set on every response that has none.

The production shape's default policy allows only the platform's own origin for scripts, styles, images and
fonts (the back office and the API docs are served from it, with no CDN), forbids framing, plugins and foreign
form targets. Inline scripts and ``eval`` stay allowed for the back office's theme and Alpine.js, which need them;
the API's JSON responses load nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy: str = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
