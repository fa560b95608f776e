"""The time left of the accounts step, against the sandbox over loopback: its likely size, from the
accounts and people the users pass noted, is what the step then goes through (first sync, unchanged
sync, and a person losing their account), so its estimate rests on a real number, not a guess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.sandbox import Sandbox
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.factory import demo_services
from cio_desktop.sync.progress import Phase, Progress
from tests.e2e.test_objects_sync import World, account, user

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with Sandbox(users=5, seed=3) as sb:
        yield World(sb, tmp_path)


def _objects_step(world: World, *, dry: bool = False) -> tuple[int | None, int]:
    """The likely size the accounts step started with, and how many accounts and relationships it went through."""
    seen: list[Progress] = []
    with demo_services(world.sb, profile=world.profile) as services:
        summary = services.engine().run(RunMode.FULL, on_progress=seen.append, dry=dry)
    first = next(p for p in seen if p.phase == Phase.OBJECTS)
    assert first.total is None, "the bar does not pretend to know the size"
    went = sum(n for label, n in summary.counts.items() if label.startswith(("object", "relationship")))
    return first.expected, went


def test_the_accounts_steps_likely_size_is_what_it_goes_through(world: World) -> None:
    world.write([user(n, account(n % 3)) for n in range(9)] + [user(99, None)])
    for dry in (True, False, False):  # a plan, the first sync, an unchanged sync
        assert _objects_step(world, dry=dry) == (12, 12), "3 accounts and the 9 people in them"
    world.write([user(n, account(n % 3)) for n in range(8)] + [user(8, None) | {"updated_at": "2021-01-01T00:00:00Z"}])
    assert _objects_step(world) == (12, 12), "3 accounts, 8 people in them, and person 8 who left theirs"
