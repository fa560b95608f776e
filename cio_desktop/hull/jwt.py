"""HS256 JSON Web Tokens for the Hull firehose (one per item, naming the user it is about)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_hs256(claims: Mapping[str, Any], secret: str) -> str:
    """A compact JWS (``header.payload.signature``) of ``claims`` signed with HMAC-SHA256."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def firehose_claims(connector_id: str, as_user: Mapping[str, Any], issued_at: int) -> dict[str, Any]:
    """The claims Hull's firehose expects: who writes (``iss``) and about which user (``asUser``)."""
    return {
        "iss": connector_id,
        "iat": issued_at,
        "io.hull.subjectType": "user",
        "io.hull.asUser": dict(as_user),
    }


__all__ = ["encode_hs256", "firehose_claims"]
