"""Ledgerline PSP sandbox: a standalone HTTP server that behaves like real payment service providers.

The Django platform never imports this package; it talks to it over HTTP only (see README.md).
"""

__version__ = "1.0.0"
