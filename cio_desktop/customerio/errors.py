"""Errors raised by the Customer.io clients (one hierarchy shared with Hull: :mod:`cio_desktop.net.errors`)."""

from __future__ import annotations

from cio_desktop.net.errors import (
    AuthenticationError,
    Cancelled,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    ServerError,
    ServiceError,
)

# Where a user finds the Track API credentials; part of every 401 message.
CREDENTIALS_HINT = (
    "Check the Site ID and API Key in Customer.io > Settings > Workspace Settings > "
    "API and webhook credentials (Integrations > Customer.io API)."
)
APP_KEY_HINT = (
    "Check the App API Key in Customer.io > Settings > Workspace Settings > API and webhook credentials > App API Keys."
)

__all__ = [
    "APP_KEY_HINT",
    "CREDENTIALS_HINT",
    "AuthenticationError",
    "Cancelled",
    "NetworkError",
    "NotFoundError",
    "RateLimitedError",
    "RejectedError",
    "ServerError",
    "ServiceError",
]
