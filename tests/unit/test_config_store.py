"""ProfileStore: files on disk, atomic writes, migrations, set-aside of unreadable files, export/import."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cio_desktop.config import paths
from cio_desktop.config.profile import (
    SCHEMA_VERSION,
    AttributeMapping,
    FileSourceSettings,
    Profile,
    ProfileError,
    SegmentRef,
)
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import NewerSchemaError, ProfileLoadError, ProfileNotFoundError, ProfileStore

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def sample(name: str = "acme") -> Profile:
    return Profile(
        name=name,
        hull_organization="acme.hullapp.io",
        cio_site_id="site1",
        segments=(SegmentRef("seg1", "Paying"),),
        mappings=(AttributeMapping("traits_clearbit/given_name", "first_name"),),
    )


@pytest.fixture
def store() -> ProfileStore:
    return ProfileStore()


def test_default_folder_is_the_profiles_folder(store: ProfileStore) -> None:
    assert store.directory == paths.profiles_dir()


def test_saved_profile_loads_back_equal(store: ProfileStore) -> None:
    store.save(sample())
    assert store.load("acme") == sample()
    assert store.names() == ["acme"]


def test_file_is_versioned_json(store: ProfileStore) -> None:
    path = store.save(sample())
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["hull_organization"] == "acme.hullapp.io"


@posix_only
def test_profile_file_is_private_and_its_folder_too(store: ProfileStore) -> None:
    path = store.save(sample())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_several_profiles_listed_case_insensitively(store: ProfileStore) -> None:
    for name in ("beta", "Alpha", "gamma"):
        store.save(sample(name))
    assert store.names() == ["Alpha", "beta", "gamma"]
    profiles, errors = store.load_all()
    assert [p.name for p in profiles] == ["Alpha", "beta", "gamma"] and errors == []


def test_a_crash_between_write_and_rename_leaves_the_old_file_intact(
    store: ProfileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = store.save(sample())
    before = path.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        store.save(sample().replace(cio_site_id="changed"))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert store.load("acme").cio_site_id == "site1"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind


def test_invalid_profile_is_not_saved(store: ProfileStore) -> None:
    bad = Profile(name="acme", rate_limit=-1)
    with pytest.raises(ProfileError) as err:
        store.save(bad)
    assert err.value.field == "rate_limit"
    assert store.names() == []


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"schema_version": 2, "rate_limit": "fast"}', b"\xff"])
def test_unreadable_file_is_set_aside_and_the_user_told_where(store: ProfileStore, content: bytes) -> None:
    store.directory.mkdir(parents=True)
    path = store.directory / "broken.json"
    path.write_bytes(content)
    with pytest.raises(ProfileLoadError) as err:
        store.load("broken")
    aside = err.value.set_aside
    assert aside is not None and aside.read_bytes() == content
    assert aside.name.startswith("broken.corrupt-") and aside.suffix == ".json"
    assert str(aside) in str(err.value)
    assert not path.exists()
    assert store.names() == []  # the set-aside file is not a profile


def test_load_all_reports_bad_files_and_still_loads_the_good_ones(store: ProfileStore) -> None:
    store.save(sample("good"))
    (store.directory / "bad.json").write_text("{")
    profiles, errors = store.load_all()
    assert [p.name for p in profiles] == ["good"]
    assert len(errors) == 1 and errors[0].path.name == "bad.json"


def test_two_set_asides_in_the_same_second_both_survive(store: ProfileStore) -> None:
    store.directory.mkdir(parents=True)
    for text in ("{1", "{2"):
        (store.directory / "x.json").write_text(text)
        with pytest.raises(ProfileLoadError):
            store.load("x")
    contents = sorted(p.read_text() for p in store.directory.glob("x.corrupt-*.json"))
    assert contents == ["{1", "{2"]


def test_saving_over_an_unreadable_file_moves_it_aside_first(store: ProfileStore) -> None:
    store.directory.mkdir(parents=True)
    (store.directory / "acme.json").write_text("garbage")
    store.save(sample())
    assert [p.read_text() for p in store.directory.glob("acme.corrupt-*.json")] == ["garbage"]
    assert store.load("acme") == sample()


def test_file_from_a_newer_version_is_refused_and_left_alone(store: ProfileStore) -> None:
    store.directory.mkdir(parents=True)
    path = store.directory / "future.json"
    text = json.dumps({"schema_version": SCHEMA_VERSION + 1, "name": "future", "hologram": True})
    path.write_text(text)
    with pytest.raises(NewerSchemaError) as err:
        store.load("future")
    assert "newer cio-desktop" in str(err.value) and err.value.set_aside is None
    with pytest.raises(NewerSchemaError):
        store.save(Profile(name="future"))
    assert path.read_text() == text


def test_the_record_limit_of_export_files_is_saved_and_a_file_without_it_gets_the_default(
    store: ProfileStore,
) -> None:
    store.save(sample().replace(files=FileSourceSettings("/data/users.jsonl", max_record_mb=64)))
    assert json.loads((store.directory / "acme.json").read_text())["files"]["max_record_mb"] == 64
    assert store.load("acme").files.max_record_bytes == 64 << 20
    (store.directory / "older.json").write_text(
        json.dumps({"schema_version": SCHEMA_VERSION, "name": "older", "files": {"users_path": "/data/u.jsonl"}})
    )
    assert store.load("older").files.max_record_mb == 16


def test_version_1_file_is_migrated(store: ProfileStore) -> None:
    store.directory.mkdir(parents=True)
    v1 = {
        "schema_version": 1,
        "name": "old",
        "hull_org": "acme.hullapp.io",
        "cio_site_id": "site1",
        "segment_ids": ["s1", "s2"],
        "attributes": ["traits_clearbit/given_name", "id"],
        "delete_on_leave": True,
    }
    (store.directory / "old.json").write_text(json.dumps(v1))
    p = store.load("old")
    assert p.hull_organization == "acme.hullapp.io"
    assert p.segments == (SegmentRef("s1", "s1"), SegmentRef("s2", "s2"))
    assert p.mappings == (
        AttributeMapping("traits_clearbit/given_name", "clearbit-given_name"),
        AttributeMapping("id", "hull_id"),
    )
    assert p.delete_on_leave is True
    store.save(p)
    assert json.loads((store.directory / "old.json").read_text())["schema_version"] == SCHEMA_VERSION


def test_file_name_is_the_profile_name(store: ProfileStore) -> None:
    store.save(sample("acme"))
    os.rename(store.path_for("acme"), store.path_for("renamed by hand"))
    assert store.load("renamed by hand").name == "renamed by hand"


def test_missing_profile_names_the_known_ones(store: ProfileStore) -> None:
    store.save(sample("acme"))
    with pytest.raises(ProfileNotFoundError, match="Known profiles: acme"):
        store.load("nope")


def test_names_differing_only_in_case_are_refused(store: ProfileStore) -> None:
    store.save(sample("Acme"))
    with pytest.raises(ProfileError, match="already exists"):
        store.save(sample("acme"))


@pytest.mark.parametrize("name", ["CON", "nul.txt", "x.corrupt-20260101T000000"])
def test_names_that_cannot_be_files_are_refused(store: ProfileStore, name: str) -> None:
    with pytest.raises(ProfileError) as err:
        store.save(sample(name))
    assert err.value.field == "name"


def test_delete_removes_the_file_and_its_secrets_only(store: ProfileStore, memory_secrets: SecretStore) -> None:
    store.save(sample("acme"))
    store.save(sample("other"))
    memory_secrets.set("acme", SecretKey.CIO_API_KEY, "acme-api-key")
    memory_secrets.set("other", SecretKey.CIO_API_KEY, "other-api-key")
    data = paths.profile_data_dir("acme")
    data.mkdir(parents=True)
    store.delete("acme", memory_secrets)
    assert store.names() == ["other"]
    assert memory_secrets.get("acme", SecretKey.CIO_API_KEY) is None
    assert memory_secrets.get("other", SecretKey.CIO_API_KEY) == "other-api-key"
    assert data.is_dir()  # sync history is not the store's to delete
    with pytest.raises(ProfileNotFoundError):
        store.delete("acme")


def test_rename_moves_file_secrets_and_sync_history(store: ProfileStore, memory_secrets: SecretStore) -> None:
    store.save(sample("acme"))
    memory_secrets.set("acme", SecretKey.HULL_SECRET, "hull-secret-1")
    paths.profile_data_dir("acme").mkdir(parents=True)
    (paths.profile_data_dir("acme") / "ledger.sqlite3").write_text("x")
    renamed = store.rename("acme", "acme-eu", memory_secrets)
    assert renamed.name == "acme-eu"
    assert store.names() == ["acme-eu"]
    assert store.load("acme-eu") == sample("acme-eu")
    assert memory_secrets.get("acme-eu", SecretKey.HULL_SECRET) == "hull-secret-1"
    assert memory_secrets.get("acme", SecretKey.HULL_SECRET) is None
    assert (paths.profile_data_dir("acme-eu") / "ledger.sqlite3").exists()


def test_rename_without_a_usable_keyring_changes_nothing(store: ProfileStore) -> None:
    from keyring.backends import fail

    from cio_desktop.config.secrets import KeyringUnavailableError

    store.save(sample("acme"))
    with pytest.raises(KeyringUnavailableError):
        store.rename("acme", "acme2", SecretStore(fail.Keyring()))
    assert store.names() == ["acme"]


def test_rename_changing_only_case_works(store: ProfileStore) -> None:
    store.save(sample("acme"))
    store.rename("acme", "ACME")
    assert store.names() == ["ACME"]


def test_rename_onto_an_existing_profile_is_refused(store: ProfileStore) -> None:
    store.save(sample("a"))
    store.save(sample("b"))
    with pytest.raises(ProfileError, match="already exists"):
        store.rename("a", "B")
    assert store.names() == ["a", "b"]


def test_duplicate_copies_settings_under_a_new_name(store: ProfileStore) -> None:
    store.save(sample("acme"))
    copy = store.duplicate("acme", "acme copy")
    assert copy == sample("acme copy")
    assert store.names() == ["acme", "acme copy"]
    with pytest.raises(ProfileError):
        store.duplicate("acme", "ACME COPY")


def test_export_then_import_gives_the_same_profile(store: ProfileStore, tmp_path: Path) -> None:
    store.save(sample("acme"))
    exported = store.export("acme", tmp_path / "acme.json")
    imported = store.import_file(exported, name="acme again")
    assert imported == sample("acme again")
    assert store.load("acme again") == imported


def test_import_without_a_new_name_refuses_an_existing_profile(store: ProfileStore, tmp_path: Path) -> None:
    store.save(sample("acme"))
    exported = store.export("acme", tmp_path / "acme.json")
    with pytest.raises(ProfileError, match="already exists"):
        store.import_file(exported)


def test_import_refuses_files_carrying_secrets_without_echoing_them(store: ProfileStore, tmp_path: Path) -> None:
    doc = {**sample().to_dict(), "schema_version": SCHEMA_VERSION, "credentials": {"cio_api_key": "sk-leak-123"}}
    src = tmp_path / "p.json"
    src.write_text(json.dumps(doc))
    with pytest.raises(ProfileLoadError) as err:
        store.import_file(src)
    assert "credentials.cio_api_key" in str(err.value)
    assert "sk-leak-123" not in str(err.value)
    assert store.names() == [] and src.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [("{", "not valid JSON"), ("[]", "not a JSON object"), ('{"name": "x", "rate_limit": -5}', "rate_limit")],
)
def test_import_of_a_bad_file_names_the_problem_and_leaves_it_in_place(
    store: ProfileStore, tmp_path: Path, content: str, words: str
) -> None:
    src = tmp_path / "p.json"
    src.write_text(content)
    with pytest.raises(ProfileLoadError, match=words) as err:
        store.import_file(src)
    assert err.value.set_aside is None and src.read_text() == content


def test_import_of_a_version_1_export_migrates_it(store: ProfileStore, tmp_path: Path) -> None:
    src = tmp_path / "old.json"
    src.write_text(json.dumps({"schema_version": 1, "name": "old", "segment_ids": ["s1"]}))
    assert store.import_file(src).segments == (SegmentRef("s1", "s1"),)
