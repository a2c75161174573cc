"""Webhook plumbing that is not a service: the URL guard."""
