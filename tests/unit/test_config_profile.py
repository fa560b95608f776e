"""The Profile model: defaults, validation messages that name the field, and the JSON round trip."""

from __future__ import annotations

from typing import Any

import pytest

from cio_desktop.config.profile import (
    AttributeMapping,
    Endpoints,
    FileSourceSettings,
    Profile,
    ProfileError,
    Region,
    SegmentRef,
    SourceKind,
    default_cio_name,
    parse_listen,
)


def full_profile() -> Profile:
    return Profile(
        name="Acme prod",
        hull_organization="acme.hullapp.io",
        hull_connector_id="5f0c1a2b3c4d5e6f7a8b9c0d",
        source=SourceKind.FILES,
        files=FileSourceSettings(users_path="/tmp/users.jsonl.gz", events_path="/tmp/events.jsonl", max_record_mb=64),
        cio_site_id="abc123",
        cio_region=Region.EU,
        rate_limit=42.5,
        segments=(SegmentRef("5f0c1a2b3c4d5e6f7a8b9c01", "Paying"), SegmentRef("s2", "Trial")),
        delete_on_leave=True,
        events=("Signed up", "Paid"),
        anonymous_events=True,
        customer_id_attribute="email",
        mappings=(AttributeMapping("traits_clearbit/given_name", "first_name"), AttributeMapping("id", "hull_id")),
        require_email=False,
        send_nulls=True,
        write_back=False,
        webhook_public_url="https://hooks.example.com",
        webhook_listen="[::1]:9000",
        endpoints=Endpoints(hull_api="http://127.0.0.1:5000/hull/api/v1", cio_track="http://127.0.0.1:5000/cio-track"),
        concurrency=8,
    )


def test_defaults_match_the_documented_behaviour() -> None:
    p = Profile(name="x")
    p.validate()
    assert p.rate_limit == 100.0
    assert p.segments == ()  # empty = send nobody
    assert p.delete_on_leave is False
    assert p.anonymous_events is False
    assert p.customer_id_attribute == "external_id"
    assert p.require_email is True
    assert p.send_nulls is False
    assert p.write_back is True
    assert p.cio_region is Region.AUTO
    assert p.files.max_record_mb == 16 and p.files.max_record_bytes == 16 << 20


def test_every_setting_survives_a_round_trip_through_its_json_shape() -> None:
    p = full_profile()
    assert Profile.from_dict(p.to_dict()) == p


def test_round_trip_output_is_plain_json_types() -> None:
    d = full_profile().to_dict()
    assert d["source"] == "files" and d["cio_region"] == "eu"
    assert d["segments"][0] == {"id": "5f0c1a2b3c4d5e6f7a8b9c01", "name": "Paying"}
    assert d["mappings"][1] == {"hull": "id", "cio": "hull_id"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a/b"}, "name"),
        ({"hull_organization": "not a host"}, "hull_organization"),
        ({"hull_connector_id": "XYZ"}, "hull_connector_id"),
        ({"cio_site_id": "a-b"}, "cio_site_id"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": float("nan")}, "rate_limit"),
        ({"concurrency": 0}, "concurrency"),
        ({"segments": (SegmentRef("a", "A"), SegmentRef("a", "B"))}, "segments[1].id"),
        ({"events": ("",)}, "events[0]"),
        ({"customer_id_attribute": ""}, "customer_id_attribute"),
        ({"mappings": (AttributeMapping("a", "x"), AttributeMapping("b", "x"))}, "mappings[1].cio"),
        ({"mappings": (AttributeMapping("a", "x" * 151),)}, "mappings[0].cio"),
        ({"webhook_public_url": "ftp://x"}, "webhook_public_url"),
        ({"webhook_listen": "localhost"}, "webhook_listen"),
        ({"endpoints": Endpoints(cio_app="nope")}, "endpoints.cio_app"),
        ({"files": FileSourceSettings(max_record_mb=0)}, "files.max_record_mb"),
        ({"files": FileSourceSettings(max_record_mb=1025)}, "files.max_record_mb"),
        ({"files": FileSourceSettings(max_record_mb=True)}, "files.max_record_mb"),
    ],
)
def test_invalid_settings_are_reported_with_the_field_name(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ProfileError) as err:
        Profile(name="ok").replace(**change)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({}, "name", "missing"),
        ({"name": "x", "colour": "red"}, "colour", "not a known setting"),
        ({"name": "x", "rate_limit": "fast"}, "rate_limit", "number"),
        ({"name": "x", "require_email": "yes"}, "require_email", "true or false"),
        ({"name": "x", "concurrency": True}, "concurrency", "not true/false"),
        ({"name": "x", "cio_region": "asia"}, "cio_region", "auto, us, eu"),
        ({"name": "x", "segments": [{"name": "no id"}]}, "segments[0].id", "text"),
        ({"name": "x", "endpoints": {"hull": "x"}}, "endpoints.hull", "not a known setting"),
        ({"name": "x", "files": {"max_record_mb": 1.5}}, "files.max_record_mb", "whole number of megabytes"),
        ({"name": "x", "files": {"max_record_mb": "16"}}, "files.max_record_mb", "whole number of megabytes"),
        ({"name": "x", "files": {"max_record_mb": 2048}}, "files.max_record_mb", "between 1 and 1024"),
        ({"name": "x", "files": {"users_path": 3}}, "files.users_path", "text"),
        ([], "(profile)", "JSON object"),
    ],
)
def test_from_dict_rejects_bad_json_naming_the_field(data: Any, field: str, words: str) -> None:
    with pytest.raises(ProfileError) as err:
        Profile.from_dict(data)
    assert err.value.field == field
    assert words in str(err.value)


def test_files_settings_written_before_the_record_limit_existed_load_with_the_default() -> None:
    p = Profile.from_dict({"name": "x", "source": "files", "files": {"users_path": "/data/users.jsonl"}})
    assert p.files == FileSourceSettings(users_path="/data/users.jsonl", max_record_mb=16)
    assert (
        Profile.from_dict(p.replace(files=FileSourceSettings(max_record_mb=1024)).to_dict()).files.max_record_mb == 1024
    )


def test_default_cio_names_follow_hulls_connector() -> None:
    assert default_cio_name("traits_clearbit/given_name") == "clearbit-given_name"
    assert default_cio_name("id") == "hull_id"
    assert default_cio_name("account.domain") == "account_domain"
    assert default_cio_name("email") == "email"


def test_listen_address_parses_ipv4_and_ipv6() -> None:
    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:80") == ("::1", 80)
    with pytest.raises(ProfileError, match="webhook_listen"):
        parse_listen("127.0.0.1:70000")


@pytest.mark.parametrize(
    "url",
    [
        "https://proxy.example.com",
        "https://proxy.example.com:8443/hull/api/v1",
        "http://127.0.0.1:5000/hull/api/v1",
        "http://[::1]:8080/cio-track",
        "http://localhost:9000",
        "http://LOCALHOST",
    ],
)
def test_service_addresses_accept_https_and_plain_http_only_to_this_computer(url: str) -> None:
    p = Profile(name="x").replace(endpoints=Endpoints(hull_api=url, hull_firehose=url, cio_track=url, cio_app=url))
    assert p.endpoints.cio_app == url
    assert Profile.from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://proxy.example.com", "must start with https://"),
        ("http://10.0.0.5:8080", "must start with https://"),
        ("http://127.0.0.1.evil.example", "must start with https://"),
        ("ftp://proxy.example.com", "is not a URL like"),
        ("proxy.example.com", "is not a URL like"),
        ("https://", "is not a URL like"),
        ("https://proxy.example.com:99999", "is not a URL like"),
        ("https://user:pw@proxy.example.com", "user name or password"),
        ("https://user:pw@proxy.example.com:99999", "user name or password"),
        ("https://proxy.example.com/?key=1", "'?' or '#'"),
        ("https://proxy.example.com/a b", "spaces"),
        ("https://proxy.example.com/" + "a" * 600, "longer than 500"),
    ],
)
def test_bad_service_addresses_are_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(ProfileError) as err:
        Profile(name="x").replace(endpoints=Endpoints(cio_track=url))
    assert err.value.field == "endpoints.cio_track"
    assert says in err.value.problem
    assert "pw@" not in str(err.value)


def test_a_profile_file_with_a_plain_http_proxy_is_refused_on_load_naming_the_key() -> None:
    data = Profile(name="x").to_dict()
    data["endpoints"] = {"hull_api": "http://proxy.example.com/api/v1"}
    with pytest.raises(ProfileError) as err:
        Profile.from_dict(data)
    assert err.value.field == "endpoints.hull_api"
