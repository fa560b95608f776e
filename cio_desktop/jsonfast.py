"""Fast JSON (orjson) with the standard library's answers where they differ.

orjson decodes and encodes several times faster than :mod:`json`, which matters on the per-person
hot path of a sync. Where it would answer differently the standard library decides:

- decoding: orjson refuses ``NaN`` tokens, lone surrogates and nesting over 1,024 levels, and reads
  integers past 64 bits as floats (losing digits). :func:`loads` hands text with a run of 19 digits
  (:func:`long_digit_run`, one C pass) and whatever orjson refuses to :func:`json.loads`;
- encoding: orjson refuses integers past 64 bits, lone surrogates and keys that are not text
  (:data:`EncodeError`) and writes NaN as ``null``; callers check floats first and fall back.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

EncodeError = orjson.JSONEncodeError  # a TypeError
DecodeError = orjson.JSONDecodeError  # a json.JSONDecodeError

# Every digit turned into \x01: 19 of them in a row may be an integer orjson cannot hold exactly.
_DIGITS_MARKED = bytes(1 if 0x30 <= b <= 0x39 else b for b in range(256))
_DIGIT_RUN = b"\x01" * 19


def long_digit_run(data: bytes) -> bool:
    """Whether ``data`` holds 19 digits in a row (perhaps an integer past orjson's 64 bits)."""
    return _DIGIT_RUN in data.translate(_DIGITS_MARKED)


def loads(data: bytes) -> Any:
    """Decode JSON: orjson when it gives the standard library's answer, else :func:`json.loads` (and
    its exceptions)."""
    if not long_digit_run(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def fast_loads(data: bytes) -> Any:
    """orjson alone, for callers that checked :func:`long_digit_run` themselves; raises
    :data:`DecodeError` for what orjson refuses."""
    return orjson.loads(data)


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """Compact UTF-8 JSON (keys sorted when asked). NaN and infinities become ``null``: check floats
    before. Raises :data:`EncodeError` for what orjson cannot encode."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)


__all__ = ["DecodeError", "EncodeError", "dumps", "fast_loads", "loads", "long_digit_run"]
