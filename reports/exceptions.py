from core.errors import LedgerlineError


class ReportParameterError(LedgerlineError):
    """The report's parameters are not valid."""

    code = "parameter_invalid"
