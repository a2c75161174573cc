from core.errors import LedgerlineError


class SettlementRejectedError(LedgerlineError):
    """A settlement file that cannot be imported; nothing of it was applied."""

    code = "settlement_rejected"
    status_code = 400


class ResolutionError(LedgerlineError):
    code = "resolution_invalid"
    status_code = 409


class ResolutionForbiddenError(LedgerlineError):
    """The person lacks ``reconciliation.resolve_discrepancy``: nothing was resolved or posted."""

    code = "resolution_forbidden"
    status_code = 403


class SettlementUnavailableError(LedgerlineError):
    """The provider has no file for that day yet, or the connector is unknown: nothing was imported."""

    code = "settlement_unavailable"
    status_code = 404
