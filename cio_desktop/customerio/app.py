"""Customer.io App API reads: look people up, list segments, read activities (to verify a sync)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import requests

from cio_desktop.customerio.errors import APP_KEY_HINT, NotFoundError, ServiceError
from cio_desktop.net.http import ErrorWording, JsonHttp, Timeout, dumps, parse_json
from cio_desktop.net.ratelimit import TokenBucket, bucket_for
from cio_desktop.net.retry import RetryPolicy

APP_HOSTS = {"us": "https://api.customer.io", "eu": "https://api-eu.customer.io"}
SERVICE = "Customer.io App API"
MAX_IDS_PER_LOOKUP = 100
_MAX_ACTIVITY_PAGES = 100  # a person's full history can be long; this is for spot checks

_WORDING = ErrorWording(
    service=SERVICE,
    unauthorized="Customer.io refused the App API key (HTTP {status}){detail}. " + APP_KEY_HINT,
)


class AppClient:
    """Reads from one workspace with an App API key (``Authorization: Bearer``).

    ``region`` is ``"us"`` or ``"eu"``. App API keys carry no region hint: with ``"auto"`` the
    region comes from ``resolve_region`` (e.g. :meth:`TrackClient.workspace_region`, which detects
    it), called once before the first request; without one, ``"auto"`` means US.
    ``rate_limit`` defaults to the App API's 10/s.
    """

    def __init__(
        self,
        app_api_key: str,
        region: str = "us",
        *,
        base_url: str | None = None,
        rate_limit: float = 10.0,
        retry: RetryPolicy | None = None,
        timeout: Timeout = (5, 30),
        session: requests.Session | None = None,
        cancel: threading.Event | None = None,
        bucket: TokenBucket | None = None,
        resolve_region: Callable[[], str] | None = None,
    ) -> None:
        region = str(region).lower()
        if region not in ("auto", "us", "eu"):
            raise ValueError(f"region must be 'us' or 'eu', not {region!r}")
        if not app_api_key:
            raise ValueError("app_api_key is required")
        self._base_url = (base_url or APP_HOSTS["eu" if region == "eu" else "us"]).rstrip("/")
        # Resolved lazily (it may need a request): only when the host is not fixed by region or URL.
        self._resolve = resolve_region if region == "auto" and not base_url else None
        self._resolve_lock = threading.Lock()
        self.cancel = cancel
        # The bucket key must not be the key itself (keys could show up in debugging output).
        key_id = hashlib.sha256(app_api_key.encode()).hexdigest()[:16]
        self._http = JsonHttp(
            _WORDING,
            session=session,
            timeout=timeout,
            retry=retry,
            bucket=bucket if bucket is not None else bucket_for(f"cio-app:{key_id}", rate_limit),
            headers={"Authorization": f"Bearer {app_api_key}", "Accept": "application/json"},
        )

    @property
    def base_url(self) -> str:
        """The App API host in use (the workspace's region, resolved on first use when "auto")."""
        if self._resolve is not None:
            with self._resolve_lock:
                if self._resolve is not None:
                    region = str(self._resolve()).lower()
                    self._base_url = APP_HOSTS["eu" if region == "eu" else "us"]
                    self._resolve = None
        return self._base_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def customer(self, identifier: str, id_type: str = "id") -> dict[str, Any] | None:
        """A person's attributes by ``id``, ``email`` or ``cio_id``; None if Customer.io has no such person."""
        if id_type not in ("id", "email", "cio_id"):
            raise ValueError("id_type must be 'id', 'email' or 'cio_id'")
        try:
            body = self._get(f"/v1/customers/{_encode(identifier)}/attributes", {"id_type": id_type})
        except NotFoundError:
            return None
        customer = body.get("customer") if isinstance(body, Mapping) else None
        if not isinstance(customer, dict):
            raise _unexpected("/v1/customers/{id}/attributes")
        return customer

    def customers(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """Several people by id, 100 per request. Unknown ids are simply absent from the result."""
        all_ids = list(ids)
        out: list[dict[str, Any]] = []
        for start in range(0, len(all_ids), MAX_IDS_PER_LOOKUP):
            chunk = all_ids[start : start + MAX_IDS_PER_LOOKUP]
            response = self._http.request(
                "POST", f"{self.base_url}/v1/customers/attributes", body=dumps({"ids": chunk}), cancel=self.cancel
            )
            body = parse_json(response, SERVICE)
            found = body.get("customers") if isinstance(body, Mapping) else None
            if not isinstance(found, list):
                raise _unexpected("/v1/customers/attributes")
            out.extend(c for c in found if isinstance(c, dict))
        return out

    def segments(self) -> list[dict[str, Any]]:
        """The workspace's segments (``id``, ``name``, ``type``...)."""
        body = self._get("/v1/segments")
        segments = body.get("segments") if isinstance(body, Mapping) else None
        if not isinstance(segments, list):
            raise _unexpected("/v1/segments")
        return [s for s in segments if isinstance(s, dict)]

    def activities(self, identifier: str, id_type: str = "id") -> list[dict[str, Any]]:
        """A person's recent activities, newest first, following ``next`` cursors (bounded)."""
        out: list[dict[str, Any]] = []
        params: dict[str, str] = {"id_type": id_type}
        for _ in range(_MAX_ACTIVITY_PAGES):
            body = self._get(f"/v1/customers/{_encode(identifier)}/activities", params)
            items = body.get("activities") if isinstance(body, Mapping) else None
            if not isinstance(items, list):
                raise _unexpected("/v1/customers/{id}/activities")
            out.extend(a for a in items if isinstance(a, dict))
            cursor = body.get("next")
            if not items or not isinstance(cursor, str) or not cursor:
                break
            params = {"id_type": id_type, "start": cursor}
        return out

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        response = self._http.request("GET", f"{self.base_url}{path}", params=params, cancel=self.cancel)
        return parse_json(response, SERVICE)


def _encode(identifier: str) -> str:
    if not isinstance(identifier, str) or not identifier:
        raise ValueError("a customer identifier must be a non-empty string")
    return quote(identifier, safe="")


def _unexpected(path: str) -> ServiceError:
    return ServiceError(200, f"{SERVICE} answered {path} with an unexpected body.", service=SERVICE)


__all__ = ["APP_HOSTS", "AppClient"]
