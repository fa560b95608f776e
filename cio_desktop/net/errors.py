"""Typed errors shared by the Customer.io and Hull clients.

Every error carries the HTTP status (``None`` when no answer arrived) and a user-facing message made
of what failed, the API's own message and what to do. Messages never contain request bodies,
credentials or tokens: callers may log or show them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence


class ServiceError(Exception):
    """A call to a remote service failed. ``status`` is the HTTP status or ``None``.

    ``service`` names the API ("Customer.io Track API", "Hull API", ...); ``retry_after`` is the
    server's ``Retry-After`` in seconds when it sent one.
    """

    retryable_statuses: frozenset[int] = frozenset()

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        service: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.service = service
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed if sent again later."""
        return self.status in self.retryable_statuses

    def __str__(self) -> str:
        return self.message


class AuthenticationError(ServiceError):
    """The credentials were refused (401/403)."""


class RateLimitedError(ServiceError):
    """The service answered 429 (too many requests). Retried automatically."""

    retryable_statuses = frozenset({429})


class RejectedError(ServiceError):
    """The service refused the request itself (400/413/422...). ``messages`` are the API's own messages."""

    def __init__(
        self,
        status: int | None,
        message: str,
        messages: Sequence[str] = (),
        *,
        service: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, message, service=service, retry_after=retry_after)
        self.messages: tuple[str, ...] = tuple(messages)


class ServerError(ServiceError):
    """The service failed (5xx). 500, 502, 503 and 504 are retried."""

    retryable_statuses = frozenset({500, 502, 503, 504})


class NetworkError(ServiceError):
    """No usable answer: connection refused or dropped, DNS failure, TLS failure or timeout."""

    @property
    def retryable(self) -> bool:
        return True


class NotFoundError(ServiceError):
    """The service does not know the thing asked for (404)."""


class OrganizationDisabledError(ServiceError):
    """Hull answered 402: the organization is disabled (unpaid or switched off)."""


class Cancelled(Exception):
    """The caller's cancel event was set while waiting (rate limit or retry back-off)."""


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
