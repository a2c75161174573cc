"""Stripe's wire format over Ledgerline: ``/stripe/v1/…`` so the official Stripe SDKs work by changing ``api_base``.

One translation layer, nothing more: requests are parsed and checked here, then handed to the payments app's
services and selectors; their results are rendered in Stripe's object shapes (``objects``). No state of its own.
"""
