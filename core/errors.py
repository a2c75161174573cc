"""The base of every domain error the API can report.

Services raise subclasses; the API's single exception handler turns them into the contract's envelope, so a
service never needs to know about HTTP and an edge never invents its own error shape.
"""

from __future__ import annotations


class LedgerlineError(Exception):
    status_code: int = 400
    type: str = "invalid_request_error"
    code: str = "invalid_request"
    param: str | None = None
    should_retry: bool = False
    # Seconds a client should wait before retrying (sent as ``Retry-After``); ``None`` sends no header.
    retry_after: int | None = None
    # What a client reads when the message is for us (internal ids, references of rolled-back rows): a domain
    # layer that words its messages for operators sets this, and the API says only this.
    client_message: str | None = None

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        param: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        if code is not None:
            self.code = code
        if param is not None:
            self.param = param
        if status_code is not None:
            self.status_code = status_code

    def public_message(self) -> str:
        """The message a client may read: never an internal id (api-contract.md, Errors)."""
        return self.client_message if self.client_message is not None else self.message
