"""Packing v2 batch operations under the request and operation size limits."""

from __future__ import annotations

from typing import Any

import pytest

from cio_desktop.customerio.sizes import batch_size, dumps
from cio_desktop.sync.batching import Batch, BatchPacker


def op(i: int, pad: int = 0) -> dict[str, Any]:
    return {"type": "person", "identifiers": {"id": f"u-{i}"}, "action": "identify", "attributes": {"p": "x" * pad}}


def pack(packer: BatchPacker[int], ops: list[dict[str, Any]]) -> list[Batch[int]]:
    out = [b for i, o in enumerate(ops) if (b := packer.add(o, i)) is not None]
    last = packer.flush()
    return out + ([last] if last else [])


def test_batch_body_is_exactly_what_the_track_client_sends() -> None:
    ops = [op(1), op(2, 10)]
    (batch,) = pack(BatchPacker(), ops)
    assert batch.body == dumps({"batch": ops})
    assert batch.operations == ops
    assert batch.tags == [0, 1]


def test_a_batch_closes_before_it_would_exceed_the_byte_limit() -> None:
    one = len(dumps(op(0, 100)))
    limit = len(b'{"batch":[]}') + 3 * one + 2  # room for exactly three operations and two commas
    batches = pack(BatchPacker(max_bytes=limit, max_op_bytes=one + 10), [op(i, 100) for i in range(7)])
    assert [len(b) for b in batches] == [3, 3, 1]
    assert all(len(b.body) <= limit for b in batches)
    assert len(batches[0].body) == limit


def test_a_batch_closes_at_the_operation_count_limit() -> None:
    batches = pack(BatchPacker(max_ops=2), [op(i) for i in range(5)])
    assert [b.tags for b in batches] == [[0, 1], [2, 3], [4]]


def test_tags_stay_with_their_operations_in_order() -> None:
    ops = [op(i, 1000) for i in range(2000)]
    batches = pack(BatchPacker(), ops)
    assert [t for b in batches for t in b.tags] == list(range(2000))
    assert all(batch_size(b.operations) == len(b.body) <= 500_000 for b in batches)


def test_an_operation_over_32_kb_is_refused() -> None:
    with pytest.raises(ValueError, match="32000"):
        BatchPacker().add(op(1, 33_000), 0)


def test_flush_of_an_empty_packer_is_none() -> None:
    packer: BatchPacker[int] = BatchPacker()
    assert packer.flush() is None
    packer.add(op(1), 1)
    assert packer.pending_bytes == len(dumps({"batch": [op(1)]}))
    assert packer.flush() is not None
    assert packer.flush() is None
    assert len(packer) == 0
