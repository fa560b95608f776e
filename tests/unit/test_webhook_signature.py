from __future__ import annotations

import hashlib
import hmac

from cio_desktop.webhooks.signature import SignatureProblem, sign, signed_headers, verify

KEY = "whsec-test-key"
BODY = b'{"event_id":"01E2","metric":"opened","object_type":"email"}'
NOW = 1_700_000_000


def test_signature_is_lowercase_hex_hmac_of_v0_timestamp_body() -> None:
    expected = hmac.new(KEY.encode(), b"v0:1700000000:" + BODY, hashlib.sha256).hexdigest()
    assert sign(KEY, NOW, BODY) == expected
    assert expected == expected.lower()


def test_valid_signature_is_accepted() -> None:
    assert verify(KEY, str(NOW), sign(KEY, NOW, BODY), BODY, now=NOW + 10) is None


def test_uppercase_hex_of_the_right_signature_is_accepted() -> None:
    assert verify(KEY, str(NOW), sign(KEY, NOW, BODY).upper(), BODY, now=NOW) is None


def test_signature_made_with_another_key_is_rejected() -> None:
    assert verify(KEY, str(NOW), sign("other-key", NOW, BODY), BODY, now=NOW) is SignatureProblem.MISMATCH


def test_altered_body_is_rejected() -> None:
    signature = sign(KEY, NOW, BODY)
    assert verify(KEY, str(NOW), signature, BODY.replace(b"opened", b"clicked"), now=NOW) is SignatureProblem.MISMATCH


def test_signature_replayed_with_another_timestamp_is_rejected() -> None:
    assert verify(KEY, str(NOW + 1), sign(KEY, NOW, BODY), BODY, now=NOW) is SignatureProblem.MISMATCH


def test_timestamp_older_than_five_minutes_is_rejected_even_if_signed() -> None:
    old = NOW - 301
    assert verify(KEY, str(old), sign(KEY, old, BODY), BODY, now=NOW) is SignatureProblem.STALE
    almost = NOW - 299
    assert verify(KEY, str(almost), sign(KEY, almost, BODY), BODY, now=NOW) is None


def test_timestamp_far_in_the_future_is_rejected() -> None:
    future = NOW + 301
    assert verify(KEY, str(future), sign(KEY, future, BODY), BODY, now=NOW) is SignatureProblem.FUTURE


def test_missing_headers_are_rejected() -> None:
    signature = sign(KEY, NOW, BODY)
    assert verify(KEY, None, signature, BODY, now=NOW) is SignatureProblem.MISSING
    assert verify(KEY, str(NOW), None, BODY, now=NOW) is SignatureProblem.MISSING
    assert verify(KEY, "", "", BODY, now=NOW) is SignatureProblem.MISSING


def test_garbage_timestamp_and_non_ascii_signature_are_rejected_without_crashing() -> None:
    assert verify(KEY, "12ab", sign(KEY, NOW, BODY), BODY, now=NOW) is SignatureProblem.BAD_TIMESTAMP
    assert verify(KEY, "-5", sign(KEY, NOW, BODY), BODY, now=NOW) is SignatureProblem.BAD_TIMESTAMP
    assert verify(KEY, str(NOW), "é" * 64, BODY, now=NOW) is SignatureProblem.MISMATCH


def test_signed_headers_verify() -> None:
    headers = signed_headers(KEY, BODY, timestamp=NOW)
    assert verify(KEY, headers["X-CIO-Timestamp"], headers["X-CIO-Signature"], BODY, now=NOW) is None
