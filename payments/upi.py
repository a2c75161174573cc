"""UPI checks made at the API edge."""

from __future__ import annotations

import re

from payments.exceptions import InvalidRequestError

# A virtual payment address is ``handle@psp``: NPCI allows letters, digits, dots, hyphens and underscores in the
# handle and a short alphanumeric PSP suffix.
_VPA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,255}@[A-Za-z][A-Za-z0-9]{1,63}$")

UPI_EXPIRES_IN_DEFAULT = 600
UPI_EXPIRES_IN_MIN = 300
UPI_EXPIRES_IN_MAX = 900


def vpa_validate(vpa: str) -> str:
    vpa = vpa.strip()
    if not _VPA.match(vpa):
        raise InvalidRequestError(
            "The UPI id (VPA) must look like name@bank.", code="invalid_vpa", param="payment_method[upi][vpa]"
        )
    return vpa.lower()
