"""One error shape for every provider endpoint, close to what connector authors know from real acquirers."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised by handlers; rendered as ``{"error": {...}}`` with the given HTTP status."""

    def __init__(
        self,
        status: int,
        type_: str,
        code: str,
        message: str,
        *,
        param: str | None = None,
        retryable: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.code = code
        self.message = message
        self.param = param
        self.retryable = retryable
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "retryable": self.retryable,
        }
        error.update(self.extra)
        return {"error": error}


def invalid(code: str, message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request_error", code, message, param=param)


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, "invalid_request_error", code, message)


def conflict(code: str, message: str, **extra: Any) -> ApiError:
    return ApiError(409, "invalid_request_error", code, message, extra=extra)
