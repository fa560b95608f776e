"""Building a sync from a profile: missing settings and secrets are named, with where to set them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cio_desktop.cli import EXIT_CONFIG, main
from cio_desktop.config.profile import (
    Endpoints,
    FileSourceSettings,
    Profile,
    ScheduleKind,
    ScheduleSettings,
    SourceKind,
)
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.sync.factory import ConfigurationError, open_services

ORG = "acme.hullapp.io"
CONNECTOR = "0123456789abcdef01234567"


def api_profile(**kw: object) -> Profile:
    base: dict[str, object] = dict(
        name="Acme", hull_organization=ORG, hull_connector_id=CONNECTOR, cio_site_id="site1", write_back=True
    )
    base.update(kw)
    return Profile(**base)  # type: ignore[arg-type]


def test_missing_hull_secret_names_the_secret_and_where_to_set_it() -> None:
    with pytest.raises(ConfigurationError, match="Hull connector secret") as info:
        open_services(api_profile(), SecretStore.in_memory())
    assert info.value.setting == "hull_secret"
    assert "Connect page" in str(info.value)


def test_missing_track_key_is_reported_unless_only_previewing() -> None:
    secrets = SecretStore.in_memory()
    secrets.set("Acme", SecretKey.HULL_SECRET, "s3cr3t-value")
    with pytest.raises(ConfigurationError, match="Track API key") as info:
        open_services(api_profile(), secrets)
    assert "s3cr3t-value" not in str(info.value)
    with open_services(api_profile(), secrets, need_track=False) as services:
        assert services.track is None
        assert services.hull is not None and services.hull_writer is not None


def test_missing_site_id_and_organization_are_named() -> None:
    secrets = SecretStore.in_memory()
    secrets.set("Acme", SecretKey.HULL_SECRET, "x")
    with pytest.raises(ConfigurationError) as info:
        open_services(api_profile(cio_site_id=""), secrets)
    assert info.value.setting == "cio_site_id"
    with pytest.raises(ConfigurationError) as info:
        open_services(api_profile(hull_organization=""), secrets)
    assert info.value.setting == "hull_organization"


def test_complete_profile_gets_clients_pointed_at_its_endpoints() -> None:
    secrets = SecretStore.in_memory()
    secrets.set("Acme", SecretKey.HULL_SECRET, "x")
    secrets.set("Acme", SecretKey.CIO_API_KEY, "k")
    profile = api_profile().replace(
        endpoints=Endpoints(hull_api="http://127.0.0.1:9/hull/api/v1", cio_track="http://127.0.0.1:9/cio-track")
    )
    with open_services(profile, secrets) as services:
        assert services.track is not None and services.track.base_url == "http://127.0.0.1:9/cio-track"
        assert services.hull is not None and services.hull.base_url == "http://127.0.0.1:9/hull/api/v1"
        assert services.ledger.path.name == "ledger.sqlite3"
        assert services.app is None
        engine = services.engine()
        assert engine.track is services.track


def test_file_source_without_a_users_file_is_a_configuration_error() -> None:
    profile = Profile(name="Files", source=SourceKind.FILES, files=FileSourceSettings())
    with pytest.raises(ConfigurationError, match="no users file"):
        open_services(profile, SecretStore.in_memory(), need_track=False)


def test_sync_without_profiles_exits_2_and_says_how_to_choose(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync"]) == EXIT_CONFIG
    assert "--profile" in capsys.readouterr().err


def test_sync_of_an_unknown_profile_exits_2_with_json_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    ProfileStore().save(api_profile())
    assert main(["sync", "--profile", "Nope", "--json"]) == EXIT_CONFIG
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "failed" and out["problem"] == "configuration"


def test_preview_refuses_a_limit_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", "--limit", "0"]) == EXIT_CONFIG
    assert "--limit" in capsys.readouterr().err


def test_a_scheduled_sync_of_a_profile_without_a_schedule_does_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An OS job left behind (the profile deleted and made again, or its schedule turned off) syncs nothing.
    users = tmp_path / "users.jsonl"
    users.write_text('{"id": "h1", "external_id": "c1", "email": "a@example.com", "segment_ids": ["s1"]}\n')
    files = FileSourceSettings(str(users))
    ProfileStore().save(Profile(name="Acme", source=SourceKind.FILES, files=files))
    assert main(["sync", "--profile", "Acme", "--dry-run", "--scheduled", "--json"]) == EXIT_CONFIG
    out = json.loads(capsys.readouterr().out)
    assert "has no schedule any more" in out["message"] and "schedule remove --profile Acme" in out["message"]
    scheduled = ScheduleSettings(kind=ScheduleKind.EVERY, every_hours=1)
    ProfileStore().save(Profile(name="Acme", source=SourceKind.FILES, files=files, schedule=scheduled))
    assert main(["sync", "--profile", "Acme", "--dry-run", "--scheduled", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "completed"
