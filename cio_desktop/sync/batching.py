"""Pack v2 batch operations into requests under Customer.io's size limits (pure, streaming).

Each operation is encoded once, exactly as the Track client encodes it
(:func:`cio_desktop.customerio.sizes.dumps`, compact UTF-8 JSON): a finished :class:`Batch` carries the
request body, byte for byte what ``TrackClient.batch(batch.operations)`` sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cio_desktop.customerio.sizes import MAX_BATCH_BYTES, MAX_OP_BYTES, dumps

T = TypeVar("T")

_HEAD = b'{"batch":['
_TAIL = b"]}"
_ENVELOPE = len(_HEAD) + len(_TAIL)
DEFAULT_MAX_OPS = 1000


@dataclass(frozen=True)
class Batch(Generic[T]):
    """One ``POST /api/v2/batch`` request: ``items[i]`` is (tag, operation) at ``batch_index`` i."""

    items: tuple[tuple[T, dict[str, Any]], ...]
    body: bytes

    @property
    def tags(self) -> list[T]:
        return [tag for tag, _ in self.items]

    @property
    def operations(self) -> list[dict[str, Any]]:
        return [op for _, op in self.items]

    def __len__(self) -> int:
        return len(self.items)


def encode_batch(parts: Sequence[bytes]) -> bytes:
    """The request body for already encoded operations."""
    return _HEAD + b",".join(parts) + _TAIL


class BatchPacker(Generic[T]):
    """Streaming packer: ``add`` returns a full batch when the new operation does not fit, ``flush`` the rest.

    A batch never exceeds ``max_bytes`` (whole body, envelope and commas included) nor ``max_ops``
    operations. An operation over ``max_op_bytes`` or not encodable raises ValueError: the planner never
    emits one.
    """

    def __init__(
        self,
        max_bytes: int = MAX_BATCH_BYTES,
        max_ops: int = DEFAULT_MAX_OPS,
        max_op_bytes: int = MAX_OP_BYTES,
    ) -> None:
        if max_ops < 1 or max_op_bytes < 1 or max_bytes < _ENVELOPE + max_op_bytes:
            raise ValueError("batch limits must leave room for at least one operation of the largest allowed size")
        self.max_bytes = max_bytes
        self.max_ops = max_ops
        self.max_op_bytes = max_op_bytes
        self._items: list[tuple[T, dict[str, Any]]] = []
        self._parts: list[bytes] = []
        self._size = _ENVELOPE  # bytes of the body if it were closed now

    def __len__(self) -> int:
        return len(self._items)

    @property
    def pending_bytes(self) -> int:
        return self._size if self._items else 0

    def add(self, operation: dict[str, Any], tag: T, encoded: bytes | None = None) -> Batch[T] | None:
        """Queue ``operation``; ``encoded`` is its JSON when the caller already has it (sent as is)."""
        if encoded is None:
            try:
                encoded = dumps(operation)
            except (ValueError, TypeError, UnicodeEncodeError) as exc:
                raise ValueError(f"a batch operation is not valid JSON text ({exc.__class__.__name__})") from None
        if len(encoded) > self.max_op_bytes:
            raise ValueError(
                f"a batch operation is {len(encoded)} bytes, over the {self.max_op_bytes}-byte limit per operation"
            )
        out: Batch[T] | None = None
        grow = len(encoded) + (1 if self._parts else 0)
        if self._parts and (len(self._parts) >= self.max_ops or self._size + grow > self.max_bytes):
            out = self.flush()
            grow = len(encoded)
        self._parts.append(encoded)
        self._items.append((tag, operation))
        self._size += grow
        return out

    def flush(self) -> Batch[T] | None:
        """The pending operations as a batch (None when there are none); the packer starts empty again."""
        if not self._items:
            return None
        batch = Batch(tuple(self._items), encode_batch(self._parts))
        self._items = []
        self._parts = []
        self._size = _ENVELOPE
        return batch


__all__ = ["DEFAULT_MAX_OPS", "Batch", "BatchPacker", "encode_batch"]
