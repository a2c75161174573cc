from core.errors import LedgerlineError


class SettlementRejectedError(LedgerlineError):
    """A settlement file that cannot be imported; nothing of it was applied."""

    code = "settlement_rejected"
    status_code = 400


class ResolutionError(LedgerlineError):
    code = "resolution_invalid"
    status_code = 409
