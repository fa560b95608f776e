"""Single-person lookups by Hull id: a search by id for the API, a read up to the match for files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from cio_desktop.hull.api_source import HullApiSource
from cio_desktop.hull.client import HullClient
from cio_desktop.hull.files import FileSource
from cio_desktop.hull.source import SourceError, UserSource
from cio_desktop.net.retry import RetryPolicy

ORG = "acme.hullapp.io"
API = f"https://{ORG}/api/v1"


def uid(n: int) -> str:
    return f"{n:024x}"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def source() -> HullApiSource:
    client = HullClient(ORG, "5a1b2c3d4e5f60718293a4b5", "s" * 32, retry=RetryPolicy(sleep=lambda _s: None))
    return HullApiSource(client, fields=["email"])


def test_api_source_finds_a_user_with_one_search_on_the_id(rsps: responses.RequestsMock, source: HullApiSource) -> None:
    user = {"id": uid(7), "email": "a@example.com", "segment_ids": ["s"]}
    rsps.post(f"{API}/search/user_reports", json={"data": [user], "pagination": {"total": 1, "pages": 1}})
    assert source.get_user(uid(7)) == user
    assert len(rsps.calls) == 1
    body = json.loads(rsps.calls[0].request.body)
    assert body["query"] == {"bool": {"filter": [{"term": {"id": uid(7)}}]}}
    assert body["per_page"] == 1 and body["include"] == ["email", "id", "segment_ids"]


def test_api_source_says_none_for_an_unknown_id_and_wraps_errors(
    rsps: responses.RequestsMock, source: HullApiSource
) -> None:
    rsps.post(f"{API}/search/user_reports", json={"data": [], "pagination": {"total": 0}})
    assert source.get_user(uid(8)) is None
    rsps.replace(responses.POST, f"{API}/search/user_reports", status=401, json={"message": "bad token"})
    with pytest.raises(SourceError, match="bad token"):
        source.get_user(uid(8))


def test_sources_declare_whether_traits_can_be_written_back(source: HullApiSource, tmp_path: Path) -> None:
    files = FileSource(tmp_path / "users.jsonl")
    assert isinstance(source, UserSource) and isinstance(files, UserSource)
    assert (source.supports_write_back, files.supports_write_back) == (True, False)


def _user(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": uid(n), "email": f"u{n}@example.com", "segment_ids": ["s"], **extra}


def test_file_source_stops_reading_at_the_users_row(tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    lines = [json.dumps(_user(1)), json.dumps(_user(2, name="Two")), "{broken after the match", json.dumps(_user(3))]
    path.write_text("\n".join(lines) + "\n")
    source = FileSource(path)
    source.scan()  # the metadata pass reads the whole file once (cached); the lookup then stops early
    found = source.get_user(uid(2))
    assert found is not None and found["name"] == "Two"
    assert source.problems() == [], "the broken line after the match was never read"
    assert source.get_user(uid(9)) is None
    assert [p.line for p in source.problems()] == [3]


def test_file_source_lookup_uses_the_later_row_of_a_user_listed_twice(tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    lines = [json.dumps(_user(1, name="old")), json.dumps(_user(2)), json.dumps(_user(1, name="new"))]
    path.write_text("\n".join(lines) + "\n")
    found = FileSource(path).get_user(uid(1))
    assert found is not None and found["name"] == "new"
