"""End to end follow-ups of the engine: anonymous events only for members of the synced segments without
a customerId and for anonymous visitors (nobody the marketer left out leaks anonymously); single sends
look the user up by id; a changed customerId is merged once the new person exists."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from cio_desktop.sandbox import Sandbox
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.events import event_action, sent_name
from cio_desktop.sync.factory import Services, demo_services
from cio_desktop.sync.ledger import RunStatus
from cio_desktop.sync.model import Reason
from cio_desktop.sync.planner import plan_user

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(users=400, seed=11) as sb:
        yield sb


def open_anonymous(sb: Sandbox) -> Services:
    profile = sb.demo_profile()
    # "Viewed Page": the page events these tests add (page by event_type, no URL: named as in Hull).
    events = (*profile.events, "Viewed Page")
    return demo_services(sb, profile=profile.replace(write_back=False, anonymous_events=True, events=events))


def test_only_members_without_customer_id_and_visitors_get_anonymous_events(sandbox: Sandbox) -> None:
    with open_anonymous(sandbox) as services:
        ctx = services.engine().context()
        members = {
            u["id"]: plan_user(u, ctx, None, now=0.0) for u in services.source.iter_users(ctx.profile.segment_ids)
        }
        no_cid = {
            h: d.person.anonymous_id for h, d in members.items() if d.reason is Reason.NO_CUSTOMER_ID and d.person
        }
        member_without_cid = next(h for h, a in no_cid.items() if a)
        outsider = next(
            u["id"] for u in services.source.iter_users(None) if u["id"] not in members and u.get("external_id")
        )
        # Events we know are there: one by a member without customerId, one by a user with a customerId
        # whom the marketer did not choose (outside the segments), one by an anonymous visitor.
        t = 1_900_000_000.0
        sandbox.org.add_event(member_without_cid, "Viewed Page", event_type="page", created_at=t, anonymous_id="own")
        sandbox.org.add_event(outsider, "Signed Up", created_at=t + 1, anonymous_id="leak-if-sent")
        sandbox.org.add_event(None, "Viewed Page", event_type="page", created_at=t + 2, anonymous_id="visitor-x")

        expected: Counter[tuple[str | None, str]] = Counter()
        for ev in services.source.iter_events(list(ctx.profile.events)):
            name = sent_name(ev, event_action(ev.name, ev.event_type))  # a page view goes by its URL
            if ev.user_id in no_cid:
                expected[(no_cid[ev.user_id] or ev.anonymous_id or None, name)] += 1
            elif not ev.user_id and ev.anonymous_id:
                expected[(ev.anonymous_id, name)] += 1
        summary = services.engine().run(RunMode.FULL)
        assert summary.status is RunStatus.COMPLETED and summary.failed == 0

    events = sandbox.cio_events()
    anonymous = Counter((e["anonymous_id"], e["name"]) for e in events if not e["person"])
    assert anonymous == expected
    assert anonymous[(no_cid[member_without_cid], "Viewed Page")] >= 1, "the member's own first anonymous id"
    assert anonymous[("visitor-x", "Viewed Page")] == 1
    assert {e["type"] for e in events if not e["person"] and e["name"] == "Viewed Page"} == {"page"}
    assert all(e["anonymous_id"] != "leak-if-sent" for e in events)
    assert summary.counts["event skip: user not synced"] >= 1
    # Person events only for people who are in Customer.io.
    people = sandbox.cio_people()
    assert all(e["person"]["id"] in people for e in events if e["person"])


def test_a_single_send_looks_the_user_up_by_id_instead_of_paging_every_user() -> None:
    with Sandbox(users=3000, seed=3) as sandbox, open_anonymous(sandbox) as services:
        ctx = services.engine().context()
        members = services.source.iter_users(ctx.profile.segment_ids)
        last = max(u["id"] for u in members if plan_user(u, ctx, None, now=0.0).operations)
        before = sandbox.request_counts()["hull"]
        summary = services.engine().send_one(last)
        assert summary.status is RunStatus.COMPLETED and summary.people_sent == 1
        # Segments + attribute types for the mapping, then one search; paging would take 6 pages.
        assert sandbox.request_counts()["hull"] - before <= 4


def test_a_changed_customer_id_is_merged_into_the_new_person_in_customer_io(sandbox: Sandbox) -> None:
    with demo_services(sandbox, profile=sandbox.demo_profile().replace(write_back=False)) as services:
        ctx = services.engine().context()
        user = next(
            u
            for u in services.source.iter_users(ctx.profile.segment_ids)
            if plan_user(u, ctx, None, now=0.0).operations
        )
        old = user["external_id"]
        assert services.engine().run(RunMode.FULL).failed == 0
        index = sandbox.org.index_of_id(user["id"])
        assert index is not None
        sandbox.org.update(index, {"external_id": "renamed-" + old})
        summary = services.engine().run(RunMode.FULL)
        assert summary.counts["merge (customerId changed)"] == 1 and summary.failed == 0
    people = sandbox.cio_people()
    assert "renamed-" + old in people and old not in people
    assert [(m["primary"], m["secondary"]) for m in sandbox.cio_merges()] == [({"id": "renamed-" + old}, {"id": old})]
