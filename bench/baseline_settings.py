"""Bench only: the product's production settings, serving the thinnest possible endpoint (bench/baseline.py)."""

from config.settings import *  # noqa: F403 - the same settings shape, then only what the baseline strips

ROOT_URLCONF = "bench.baseline"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_THROTTLE_CLASSES": [],
}
