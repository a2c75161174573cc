"""What a payment waiting for its payer shows the merchant: the provider's next action, with a QR code to scan."""

from __future__ import annotations

import base64
import io
from typing import Any

import segno

from payments.connectors.base import NextAction


def next_action_representation(action: NextAction | None) -> dict[str, Any]:
    if action is None:
        return {}
    data: dict[str, Any] = {
        "type": action.type,
        "expires_at": action.expires_at.isoformat() if action.expires_at else None,
    }
    if action.upi_uri:
        # A standalone SVG document (with its namespace): as an <img> data URL, an inline-HTML SVG draws nothing.
        buffer = io.BytesIO()
        segno.make(action.upi_uri, error="m").save(buffer, kind="svg", xmldecl=False, scale=4)
        svg = buffer.getvalue().decode()
        data["upi_uri"] = action.upi_uri
        data["qr_code"] = {
            "image_url_svg": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode(),
            "data": action.upi_uri,
        }
    data.update(action.extra)
    return data
