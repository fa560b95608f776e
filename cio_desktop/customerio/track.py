"""Customer.io Track API client: region check, v1 person/event calls and the v2 batch endpoint.

One ``requests.Session`` per client; every request waits for the workspace's shared token bucket,
has a timeout, and is retried on 429/5xx/network errors by :class:`RetryPolicy`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import requests

from cio_desktop.customerio.errors import CREDENTIALS_HINT, ServiceError
from cio_desktop.customerio.sizes import MAX_BATCH_BYTES, dumps
from cio_desktop.net.http import ErrorWording, JsonHttp, Timeout, api_messages, parse_json
from cio_desktop.net.ratelimit import TokenBucket, bucket_for
from cio_desktop.net.retry import RetryPolicy

TRACK_HOSTS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
SERVICE = "Customer.io Track API"

_WORDING = ErrorWording(
    service=SERVICE,
    unauthorized="Customer.io refused the Site ID / API Key (HTTP {status}){detail}. " + CREDENTIALS_HINT,
)

EventType = Literal["event", "page", "screen"]


@dataclass(frozen=True)
class RegionInfo:
    """Where the workspace lives, as ``GET /api/v1/accounts/region`` answers."""

    region: str  # "us" | "eu"
    url: str
    environment_id: int | None


@dataclass(frozen=True)
class OpResult:
    """Outcome of one operation of a v2 batch. ``index`` is its position in the batch."""

    index: int
    ok: bool
    reason: str = ""
    field: str = ""
    message: str = ""


@dataclass(frozen=True)
class BatchResult:
    """Outcome of ``POST /api/v2/batch``: 200 (all accepted) or 207 (those in ``failed`` were not)."""

    status: int
    results: tuple[OpResult, ...]

    @property
    def failed(self) -> tuple[OpResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


class TrackClient:
    """Talks to one Customer.io workspace with its Site ID and Track API key.

    ``region`` is ``"us"``, ``"eu"`` or ``"auto"``; with ``"auto"`` (and no ``base_url``) the first
    call asks ``/api/v1/accounts/region`` and uses the EU host when the workspace lives there.
    ``base_url`` overrides the host (the sandbox). ``rate_limit`` is requests per second for the whole
    workspace: clients with the same Site ID share one bucket (``bucket`` replaces it, for tests).
    ``cancel`` interrupts waits.
    """

    def __init__(
        self,
        site_id: str,
        api_key: str,
        region: str = "auto",
        *,
        base_url: str | None = None,
        rate_limit: float = 100.0,
        retry: RetryPolicy | None = None,
        timeout: Timeout = (5, 30),
        session: requests.Session | None = None,
        cancel: threading.Event | None = None,
        bucket: TokenBucket | None = None,
    ) -> None:
        region = str(region).lower()
        if region not in ("auto", "us", "eu"):
            raise ValueError(f"region must be 'auto', 'us' or 'eu', not {region!r}")
        if not site_id or not api_key:
            raise ValueError("site_id and api_key are required")
        self.site_id = site_id
        self.region = region
        self._fixed_base = base_url.rstrip("/") if base_url else None
        self._base = self._fixed_base or TRACK_HOSTS["us" if region == "auto" else region]
        self._detected = region != "auto" or self._fixed_base is not None
        self._workspace_region: str | None = region if region != "auto" else None
        self._detect_lock = threading.Lock()
        self.cancel = cancel
        self._http = JsonHttp(
            _WORDING,
            session=session,
            timeout=timeout,
            retry=retry,
            bucket=bucket if bucket is not None else bucket_for(f"cio-track:{site_id}", rate_limit),
            auth=(site_id, api_key),
        )

    @property
    def base_url(self) -> str:
        """The Track API host in use (after region detection when it has run)."""
        return self._base

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TrackClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ region / credentials
    def check(self) -> RegionInfo:
        """Verify the credentials and find the workspace's region (401 -> AuthenticationError)."""
        response = self._http.request("GET", f"{self._base}/api/v1/accounts/region", cancel=self.cancel)
        body = parse_json(response, SERVICE)
        if not isinstance(body, Mapping) or body.get("region") not in ("us", "eu"):
            raise ServiceError(
                response.status_code,
                f"{SERVICE} answered the region check with an unexpected body.",
                service=SERVICE,
            )
        env = body.get("environment_id")
        info = RegionInfo(
            region=str(body["region"]),
            url=str(body.get("url") or ""),
            environment_id=env if isinstance(env, int) and not isinstance(env, bool) else None,
        )
        if self.region == "auto" and self._fixed_base is None:
            self._base = TRACK_HOSTS[info.region]
        self._workspace_region = info.region
        self._detected = True
        return info

    def workspace_region(self) -> str:
        """ "us" or "eu": the profile's region, else the one the region check found (checked now if
        it has not run yet). The App API client uses it so EU workspaces are read on the EU host."""
        if self._workspace_region is None:
            with self._detect_lock:
                if self._workspace_region is None:
                    self.check()
        assert self._workspace_region is not None
        return self._workspace_region

    def _ensure_region(self) -> None:
        if self._detected:
            return
        with self._detect_lock:
            if not self._detected:
                self.check()

    # ------------------------------------------------------------------ v1
    def identify(self, customer_id: str, attributes: Mapping[str, Any]) -> None:
        """Create or update a person (``PUT /api/v1/customers/{id}``)."""
        self._send("PUT", f"/api/v1/customers/{_encode_id(customer_id)}", dict(attributes))

    def delete(self, customer_id: str) -> None:
        """Delete a person (``DELETE /api/v1/customers/{id}``)."""
        self._send("DELETE", f"/api/v1/customers/{_encode_id(customer_id)}", None)

    def track(
        self,
        customer_id: str,
        name: str,
        *,
        event_id: str | None = None,
        timestamp: float | None = None,
        data: Mapping[str, Any] | None = None,
        type: EventType = "event",
    ) -> None:
        """Record an event for a person (``POST /api/v1/customers/{id}/events``)."""
        body = _event_body(name, event_id, timestamp, data)
        if type != "event":  # "event" is the API's default; leaving it out keeps bodies identical to the SDKs'
            body["type"] = type
        self._send("POST", f"/api/v1/customers/{_encode_id(customer_id)}/events", body)

    def track_anonymous(
        self,
        anonymous_id: str,
        name: str,
        *,
        event_id: str | None = None,
        timestamp: float | None = None,
        data: Mapping[str, Any] | None = None,
        type: EventType = "event",
    ) -> None:
        """Record an anonymous event (``POST /api/v1/events``); empty ``anonymous_id`` = unattributed.
        ``type`` page or screen marks a page view or app screen view (the API's trackAnonymous body
        takes ``type`` event|page|screen, like the per-person events call)."""
        body = _event_body(name, event_id, timestamp, data)
        if anonymous_id:
            body["anonymous_id"] = anonymous_id
        if type != "event":  # "event" is the API's default, as for track()
            body["type"] = type
        self._send("POST", "/api/v1/events", body)

    # ------------------------------------------------------------------ v2
    def batch(
        self,
        ops: Sequence[Mapping[str, Any]],
        *,
        cancel: threading.Event | None = None,
        body: bytes | None = None,
    ) -> BatchResult:
        """Send operations in one ``POST /api/v2/batch`` and say which were accepted.

        200 -> all accepted; 207 -> those named in ``errors[].batch_index`` were not (the rest were);
        400 -> :class:`RejectedError` with the API's messages; 401 -> :class:`AuthenticationError`.
        Raises ``ValueError`` if the request would exceed :data:`MAX_BATCH_BYTES` (a batching bug).
        ``body``, when given, is ``ops`` already encoded as the request (the sync engine's packer
        builds it while measuring), so the operations are not encoded a second time.
        """
        if not ops:
            return BatchResult(200, ())
        if body is None:
            body = dumps({"batch": list(ops)})
        size = len(body)
        if size > MAX_BATCH_BYTES:
            raise ValueError(f"batch of {len(ops)} operations is {size} bytes, over the {MAX_BATCH_BYTES} limit")
        self._ensure_region()
        response = self._http.request(
            "POST",
            f"{self._base}/api/v2/batch",
            body=body,
            ok=(200, 207),
            cancel=cancel or self.cancel,
        )
        if response.status_code == 200:
            return BatchResult(200, tuple(OpResult(i, True) for i in range(len(ops))))
        return BatchResult(207, _partial_results(response, len(ops)))

    # ------------------------------------------------------------------ internals
    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> None:
        self._ensure_region()
        self._http.request(
            method,
            f"{self._base}{path}",
            body=dumps(body) if body is not None else None,
            cancel=self.cancel,
        )


def _encode_id(identifier: str) -> str:
    if not isinstance(identifier, str) or not identifier:
        raise ValueError("a customer identifier must be a non-empty string")
    return quote(identifier, safe="")


def _event_body(
    name: str, event_id: str | None, timestamp: float | None, data: Mapping[str, Any] | None
) -> dict[str, Any]:
    if not name:
        raise ValueError("an event needs a name")
    body: dict[str, Any] = {"name": name, "data": dict(data or {})}
    if event_id is not None:
        body["id"] = event_id
    if timestamp is not None:
        body["timestamp"] = int(timestamp)  # Customer.io wants integer Unix seconds
    return body


def _partial_results(response: requests.Response, count: int) -> tuple[OpResult, ...]:
    """Per-operation results of a 207: the indexes in ``errors`` failed, every other one succeeded."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not isinstance(errors, list):
        # A 207 we cannot read says nothing about which operations were accepted: treat as failure.
        raise _unreadable_207(response)
    failed: dict[int, OpResult] = {}
    for err in errors:
        if not isinstance(err, Mapping):
            continue
        index = err.get("batch_index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
            continue
        if index in failed:  # several problems with one operation: keep them all in the message
            prev = failed[index]
            failed[index] = OpResult(index, False, prev.reason, prev.field, f"{prev.message}; {_s(err.get('message'))}")
            continue
        failed[index] = OpResult(
            index, False, reason=_s(err.get("reason")), field=_s(err.get("field")), message=_s(err.get("message"))
        )
    return tuple(failed.get(i, OpResult(i, True)) for i in range(count))


def _unreadable_207(response: requests.Response) -> ServiceError:
    messages = api_messages(response)
    detail = f": {'; '.join(messages)}" if messages else ""
    return ServiceError(
        response.status_code,
        f"{SERVICE} answered 207 (partial failure) without a readable list of failed operations{detail}.",
        service=SERVICE,
    )


def _s(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


__all__ = ["TRACK_HOSTS", "BatchResult", "OpResult", "RegionInfo", "TrackClient"]
