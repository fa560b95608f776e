"""Hull search emulation: the Elasticsearch subset, paging, keyset and the 10,000-result window."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cio_desktop.sandbox.data import FakeOrg
from cio_desktop.sandbox.dates import parse_date
from cio_desktop.sandbox.query import QueryError
from cio_desktop.sandbox.search import WINDOW_MESSAGE, UserSearch, search_events


@pytest.fixture(scope="module")
def org() -> FakeOrg:
    return FakeOrg(3000, seed=11)


def _seg(org: FakeOrg, name: str) -> str:
    return dict((n, s) for s, n in org.segments)[name]


def _all_ids(org: FakeOrg, keep: Callable[[dict[str, Any]], bool]) -> list[str]:
    return [org.id_of(i) for i in range(org.size) if keep(org.doc(i))]


def _search(org: FakeOrg, query: Any, **extra: Any) -> dict[str, Any]:
    body = {"query": query, "raw": True, "page": 1, "per_page": 500, "sort": {"id": "asc"}, **extra}
    return UserSearch(org).search(body)


def _read_keyset(search: UserSearch, filters: list[Any], per_page: int = 500) -> list[str]:
    seen: list[str] = []
    while True:
        f = list(filters)
        if seen:
            f.append({"range": {"id": {"gt": seen[-1]}}})
        page = search.search({"query": {"bool": {"filter": f}}, "page": 1, "per_page": per_page, "sort": {"id": "asc"}})
        if not page["data"]:
            return seen
        seen.extend(u["id"] for u in page["data"])


def test_terms_on_segment_ids_returns_exactly_the_members_with_the_right_total(org: FakeOrg) -> None:
    trial, vip = _seg(org, "Trial"), _seg(org, "VIP")
    page = _search(org, {"bool": {"filter": [{"terms": {"segment_ids": [trial, vip]}}]}})
    expected = _all_ids(org, lambda d: trial in d["segment_ids"] or vip in d["segment_ids"])
    assert page["pagination"]["total"] == len(expected)
    assert [u["id"] for u in page["data"]] == expected[:500]
    assert page["pagination"]["pages"] == -(-len(expected) // 500)


def test_bool_clauses_combine_like_elasticsearch(org: FakeOrg) -> None:
    active, paying = _seg(org, "Active"), _seg(org, "Paying Customers")
    query = {
        "bool": {
            "must": [{"term": {"segment_ids": active}}],
            "must_not": [{"term": {"segment_ids": paying}}, {"term": {"traits_plan": "enterprise"}}],
            "should": [{"exists": {"field": "email"}}, {"range": {"traits_mrr": {"gte": 100}}}],
            "minimum_should_match": 1,
        }
    }
    expected = _all_ids(
        org,
        lambda d: (
            active in d["segment_ids"]
            and paying not in d["segment_ids"]
            and d["traits_plan"] != "enterprise"
            and ("email" in d or d["traits_mrr"] >= 100)
        ),
    )
    page = _search(org, query)
    assert page["pagination"]["total"] == len(expected)
    assert [u["id"] for u in page["data"]] == expected[:500]


def test_range_on_dates_compares_instants_whatever_the_format(org: FakeOrg) -> None:
    cut = "2025-06-01T00:00:00Z"
    expected = _all_ids(org, lambda d: parse_date(d["updated_at"]) >= parse_date(cut))  # type: ignore[operator]
    assert _search(org, {"range": {"updated_at": {"gte": cut}}})["pagination"]["total"] == len(expected)
    same = _search(org, {"range": {"updated_at": {"gte": "2025-06-01 00:00:00 UTC"}}})
    assert same["pagination"]["total"] == len(expected)
    millis = _search(org, {"range": {"updated_at": {"gte": 1748736000000}}})
    assert millis["pagination"]["total"] == len(expected)
    login = _search(org, {"range": {"traits_last_login_date": {"lt": "2025-06-01T00:00:00+00:00"}}})
    expected_login = _all_ids(org, lambda d: parse_date(d["traits_last_login_date"]) < parse_date(cut))  # type: ignore[operator]
    assert login["pagination"]["total"] == len(expected_login)


def test_keyset_paging_reads_every_member_of_a_segment_larger_than_the_window_exactly_once() -> None:
    big = FakeOrg(16_000, seed=2)
    everyone = _seg(big, "All Users")
    ids = _read_keyset(UserSearch(big), [{"terms": {"segment_ids": [everyone]}}])
    assert len(ids) == 16_000 == len(set(ids))
    assert ids == sorted(ids)


def test_keyset_paging_with_a_non_segment_filter_counts_and_reads_correctly() -> None:
    big = FakeOrg(6000, seed=4)
    search = UserSearch(big)
    filters: list[Any] = [{"term": {"traits_plan": "pro"}}]
    expected = _all_ids(big, lambda d: d["traits_plan"] == "pro")
    assert _read_keyset(search, filters, per_page=300) == expected
    mid = expected[len(expected) // 2]
    page = search.search({"query": {"bool": {"filter": [*filters, {"range": {"id": {"gt": mid}}}]}}, "per_page": 10})
    assert page["pagination"]["total"] == len(expected) - len(expected) // 2 - 1
    big.update(big.index_of_id(expected[-1]) or 0, {"traits_plan": "free"})
    page = search.search({"query": {"bool": {"filter": [*filters, {"range": {"id": {"gt": mid}}}]}}, "per_page": 10})
    assert page["pagination"]["total"] == len(expected) - len(expected) // 2 - 2


def test_paging_past_ten_thousand_results_is_refused_with_elasticsearch_message(org: FakeOrg) -> None:
    search = UserSearch(org)
    assert search.search({"query": {"match_all": {}}, "page": 20, "per_page": 500})["pagination"]["page"] == 20
    with pytest.raises(QueryError) as err:
        search.search({"query": {"match_all": {}}, "page": 21, "per_page": 500})
    assert str(err.value) == WINDOW_MESSAGE
    with pytest.raises(QueryError, match="per_page"):
        search.search({"query": {"match_all": {}}, "page": 1, "per_page": 501})


def test_page_numbers_skip_results_in_id_order(org: FakeOrg) -> None:
    search = UserSearch(org)
    p1 = search.search({"query": {"match_all": {}}, "page": 1, "per_page": 7})
    p2 = search.search({"query": {"match_all": {}}, "page": 2, "per_page": 7})
    both = search.search({"query": {"match_all": {}}, "page": 1, "per_page": 14})
    assert [u["id"] for u in p1["data"] + p2["data"]] == [u["id"] for u in both["data"]]


def test_unsupported_clauses_are_refused_instead_of_ignored(org: FakeOrg) -> None:
    queries: list[dict[str, Any]] = [{"match": {"email": "x"}}, {"bool": {"filters": []}}, {"wildcard": {"email": "*"}}]
    for query in queries:
        with pytest.raises(QueryError):
            _search(org, query)


def test_include_returns_only_the_requested_fields_and_the_id(org: FakeOrg) -> None:
    page = _search(org, {"match_all": {}}, include=["email", "account.domain", "segment_ids"], per_page=5)
    for u in page["data"]:
        assert set(u) <= {"id", "email", "account", "segment_ids"}
        assert "id" in u and "segment_ids" in u
        if "account" in u:
            assert set(u["account"]) == {"domain"}


def test_sorting_on_another_field_orders_all_matches(org: FakeOrg) -> None:
    page = _search(org, {"match_all": {}}, sort=[{"traits_mrr": "desc"}, {"id": "asc"}], per_page=50)
    mrrs = [u["traits_mrr"] for u in page["data"]]
    assert mrrs == sorted(mrrs, reverse=True)
    page = _search(org, {"match_all": {}}, sort={"updated_at": {"order": "asc"}}, per_page=50)
    times = [parse_date(u["updated_at"]) for u in page["data"]]
    assert times == sorted(times)  # type: ignore[type-var]


def test_json_answer_matches_the_object_answer(org: FakeOrg) -> None:
    search = UserSearch(org)
    body = {"query": {"term": {"traits_plan": "pro"}}, "page": 2, "per_page": 20}
    assert json.loads(search.search_json(body)) == search.search(body)


def test_event_search_filters_by_name_time_and_parent_user() -> None:
    org = FakeOrg(800, seed=5)
    paying = _seg(org, "Paying Customers")
    body = {
        "query": {
            "bool": {
                "filter": [
                    {"terms": {"event": ["Completed Order", "Viewed Page"]}},
                    {"range": {"created_at": {"gte": "2025-01-01T00:00:00Z"}}},
                    {"has_parent": {"parent_type": "user_report", "query": {"term": {"segment_ids": paying}}}},
                ]
            }
        },
        "page": 1,
        "per_page": 500,
    }
    got = search_events(org, body)
    members = {org.id_of(i) for i in range(org.size) if paying in org.segment_ids_of(i)}
    expected = [
        e["id"]
        for e in org.events()
        if e["event"] in ("Completed Order", "Viewed Page")
        and e["_t"] >= (parse_date("2025-01-01T00:00:00Z") or 0)
        and e["user_id"] in members
    ]
    assert got["pagination"]["total"] == len(expected) > 0
    assert [e["id"] for e in got["data"]] == expected[:500]
    assert all("_t" not in e and "_u" not in e for e in got["data"])


def test_event_search_finds_anonymous_events_and_refuses_deep_pages() -> None:
    org = FakeOrg(400, seed=5)
    anon = search_events(org, {"query": {"bool": {"must_not": [{"exists": {"field": "user_id"}}]}}, "per_page": 50})
    assert anon["data"] and all(e["user_id"] is None and e["anonymous_id"] for e in anon["data"])
    with pytest.raises(QueryError, match="Result window is too large"):
        search_events(org, {"query": {"match_all": {}}, "page": 101, "per_page": 100})


def test_json_answer_with_include_matches_the_object_answer_for_changed_and_unchanged_users() -> None:
    org = FakeOrg(400, seed=12)
    org.update(3, {"traits_customerio/hash": "h", "email": "new@example.com"})
    search = UserSearch(org)
    for include in (
        ["email", "account.domain", "traits_plan", "traits_customerio/hash"],
        ["account.name", "account.plan", "segment_ids", "external_id", "traits_intercom/tags"],
        ["nothing_like_this"],
    ):
        body = {"query": {"match_all": {}}, "page": 1, "per_page": 40, "include": include}
        assert json.loads(search.search_json(body)) == search.search(body)
