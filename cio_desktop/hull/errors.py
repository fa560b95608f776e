"""Errors raised by the Hull client (one hierarchy shared with Customer.io: :mod:`cio_desktop.net.errors`)."""

from __future__ import annotations

from cio_desktop.net.errors import (
    AuthenticationError,
    Cancelled,
    NetworkError,
    NotFoundError,
    OrganizationDisabledError,
    RateLimitedError,
    RejectedError,
    ServerError,
    ServiceError,
)

__all__ = [
    "AuthenticationError",
    "Cancelled",
    "NetworkError",
    "NotFoundError",
    "OrganizationDisabledError",
    "RateLimitedError",
    "RejectedError",
    "ServerError",
    "ServiceError",
]
