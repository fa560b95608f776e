"""The one place requests are sent: rate limit, timeout, retries and error mapping.

Used by the Customer.io and Hull clients (they own the URLs, headers and error wording). Redirects
are not followed: requests drops the Authorization header on a host change, so a redirect would turn
a working call into a confusing 401; it is reported instead.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from cio_desktop import __version__, jsonfast
from cio_desktop.net.errors import (
    AuthenticationError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    ServerError,
    ServiceError,
)
from cio_desktop.net.ratelimit import TokenBucket
from cio_desktop.net.retry import RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)

USER_AGENT = f"cio-desktop/{__version__}"
Timeout = float | tuple[float, float]

_MAX_MESSAGE_CHARS = 300


def new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def api_messages(response: requests.Response) -> tuple[str, ...]:
    """The API's own error messages from a response body, in the shapes Customer.io and Hull use.

    ``{"meta": {"error": ...}}``, ``{"meta": {"errors": [...]}}``, ``{"errors": [str | {"message"}]}``,
    ``{"message": ...}`` / ``{"error": ...}``; otherwise a short plain-text body.
    """
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return (_clip(text),) if text and not text.startswith("<") else ()
    found: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str) and value.strip():
            found.append(_clip(value.strip()))
        elif isinstance(value, Mapping):
            msg = value.get("message") or value.get("reason") or value.get("error")
            if isinstance(msg, str) and msg.strip():
                field = value.get("field")
                found.append(_clip(f"{field}: {msg.strip()}" if isinstance(field, str) and field else msg.strip()))

    if isinstance(body, Mapping):
        meta = body.get("meta")
        if isinstance(meta, Mapping):
            add(meta.get("error"))
            for item in meta.get("errors") or ():
                add(item)
        errors = body.get("errors")
        if isinstance(errors, list):
            for item in errors:
                add(item)
        elif isinstance(errors, str | Mapping):
            add(errors)
        add(body.get("message"))
        add(body.get("error"))
    elif isinstance(body, list):
        for item in body:
            add(item)
    return tuple(dict.fromkeys(found))  # unique, in order


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 3] + "..."


@dataclass(frozen=True)
class ErrorWording:
    """What a service says for the statuses a user can act on. ``{detail}`` is the API's message."""

    service: str
    unauthorized: str  # 401/403
    not_found: str = "{service} answered 404 (not found){detail}."
    extra: Mapping[int, tuple[type[ServiceError], str]] | None = None  # e.g. Hull's 402


def error_for(response: requests.Response, wording: ErrorWording) -> ServiceError:
    """Turn a non-success response into the matching typed error."""
    status = response.status_code
    messages = api_messages(response)
    detail = f": {'; '.join(messages)}" if messages else ""
    service = wording.service
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if wording.extra and status in wording.extra:
        cls, template = wording.extra[status]
        return cls(status, template.format(service=service, detail=detail), service=service)
    if status in (401, 403):
        return AuthenticationError(
            status, wording.unauthorized.format(service=service, detail=detail, status=status), service=service
        )
    if status == 404:
        return NotFoundError(status, wording.not_found.format(service=service, detail=detail), service=service)
    if status == 429:
        when = f" Retry after {retry_after:g} s." if retry_after is not None else ""
        return RateLimitedError(
            status,
            f"{service} is limiting requests (429 Too Many Requests){detail}.{when} "
            "If this keeps happening, lower rate_limit in the profile "
            "(its JSON file: Profiles > Export…, edit, Import…).",
            service=service,
            retry_after=retry_after,
        )
    if status >= 500:
        return ServerError(
            status,
            f"{service} failed with HTTP {status}{detail}. This is on the service's side; try again later.",
            service=service,
            retry_after=retry_after,
        )
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("Location", "")).netloc or "another address"
        return ServiceError(
            status,
            f"{service} redirected the request to {target} (HTTP {status}). "
            "Check the Region, and the service address if one is set (Connect page > Advanced: service addresses).",
            service=service,
        )
    return RejectedError(status, f"{service} rejected the request (HTTP {status}){detail}.", messages, service=service)


class JsonHttp:
    """Sends JSON requests for one client: shared session, rate limit, timeouts, retries, typed errors."""

    def __init__(
        self,
        wording: ErrorWording,
        *,
        session: requests.Session | None = None,
        timeout: Timeout = (5, 30),
        retry: RetryPolicy | None = None,
        bucket: TokenBucket | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.wording = wording
        self.session = session if session is not None else new_session()
        self._owns_session = session is None
        self.timeout = timeout
        self.retry = retry if retry is not None else RetryPolicy()
        self.bucket = bucket
        self.headers = dict(headers or {})
        self.auth = auth

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
        ok: Collection[int] = (200,),
        cancel: threading.Event | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send with retries; return the response if its status is in ``ok``, else raise a ServiceError."""
        all_headers = dict(self.headers)
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        if headers:
            all_headers.update(headers)

        def attempt() -> requests.Response:
            if self.bucket is not None:
                self.bucket.acquire(cancel)
            try:
                response = self.session.request(
                    method,
                    url,
                    data=body,
                    params=params,
                    headers=all_headers,
                    auth=self.auth,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.Timeout as exc:
                raise NetworkError(
                    None,
                    f"{self.wording.service} did not answer in time ({type(exc).__name__}). "
                    "Check the network connection; the request will be retried.",
                    service=self.wording.service,
                ) from None
            except requests.RequestException as exc:
                raise NetworkError(
                    None,
                    f"Could not reach {self.wording.service} at {urlsplit(url).netloc} ({_reason(exc)}). "
                    "Check the network connection, and the service address if one is set "
                    "(Connect page > Advanced: service addresses).",
                    service=self.wording.service,
                ) from None
            if response.status_code in ok:
                return response
            error = error_for(response, self.wording)
            response.close()
            raise error

        def on_retry(error: ServiceError, wait: float) -> None:
            # No path: it holds customer identifiers (emails), which do not belong in logs.
            log.info(
                "%s %s failed (%s); retrying in %.2f s", self.wording.service, method, error.status or "network", wait
            )
            if isinstance(error, RateLimitedError) and error.retry_after and self.bucket is not None:
                # Everyone sharing the workspace's bucket backs off, not just this thread.
                self.bucket.pause(error.retry_after)

        return self.retry.call(attempt, cancel=cancel, on_retry=on_retry)


_KNOWN_CAUSES = (
    ("CERTIFICATE_VERIFY_FAILED", "the TLS certificate is not trusted"),
    ("SSLError", "TLS handshake failed"),
    ("Connection refused", "connection refused"),
    ("Name or service not known", "host name not found"),
    ("nodename nor servname", "host name not found"),
    ("getaddrinfo failed", "host name not found"),
    ("Temporary failure in name resolution", "host name not found"),
    ("Network is unreachable", "network unreachable"),
    ("RemoteDisconnected", "the connection was closed without an answer"),
    ("Connection aborted", "the connection was closed without an answer"),
    ("Connection reset", "the connection was reset"),
    ("IncompleteRead", "the answer was cut off"),
    ("InvalidChunkLength", "the answer was cut off"),
)


def _reason(exc: requests.RequestException) -> str:
    """A short cause, never the URL or headers (a URL may carry identifiers or keys)."""
    text = repr(exc)
    for needle, reason in _KNOWN_CAUSES:
        if needle in text:
            return reason
    return type(exc).__name__


def parse_json(response: requests.Response, service: str) -> Any:
    """The JSON body of a successful response, or a ServerError if it is not JSON."""
    try:
        # Pages of users are the API source's hot path: orjson first, requests' own decoding
        # (charset guessing, a byte order mark) for anything that is not plain UTF-8 JSON.
        return jsonfast.loads(response.content)
    except ValueError:
        pass
    try:
        return response.json()
    except ValueError:
        raise ServerError(
            response.status_code,
            f"{service} answered HTTP {response.status_code} with a body that is not JSON.",
            service=service,
        ) from None


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (what the clients send)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


__all__ = ["USER_AGENT", "ErrorWording", "JsonHttp", "api_messages", "dumps", "error_for", "new_session", "parse_json"]
