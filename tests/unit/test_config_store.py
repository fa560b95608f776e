"""ProfileStore: files on disk, atomic writes, migrations, set-aside of unreadable files, export/import."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import platformdirs.macos
import platformdirs.windows
import pytest

from cio_desktop import APP_NAME
from cio_desktop.config import paths
from cio_desktop.config.lock import profile_run_lock
from cio_desktop.config.profile import (
    SCHEMA_VERSION,
    AttributeMapping,
    FileSourceSettings,
    Profile,
    ProfileError,
    SegmentRef,
)
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import (
    NewerSchemaError,
    ProfileInUseError,
    ProfileLoadError,
    ProfileNotFoundError,
    ProfileStore,
)
from cio_desktop.hull.files import FileSource

posix_only = pytest.mark.posix_only  # skipped off POSIX by tests/conftest.py


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


def test_a_name_typed_in_another_case_is_the_stored_profile_under_its_stored_spelling(store: ProfileStore) -> None:
    store.save(sample("Acme"))
    assert store.resolve("ACME") == "Acme"
    assert store.load("acme").name == "Acme", "secrets and data folders are keyed by the stored spelling"
    assert store.exists("aCmE")
    store.delete("acme")
    assert store.names() == []
    with pytest.raises(ProfileNotFoundError, match="No profile named 'acme'"):
        store.resolve("acme")


def test_names_differing_only_in_case_are_refused(store: ProfileStore) -> None:
    store.save(sample("Acme"))
    with pytest.raises(ProfileError, match="already exists"):
        store.save(sample("acme"))


@pytest.mark.parametrize("name", ["CON", "nul.txt", "x.corrupt-20260101T000000"])
def test_names_that_cannot_be_files_are_refused(store: ProfileStore, name: str) -> None:
    with pytest.raises(ProfileError) as err:
        store.save(sample(name))
    assert err.value.field == "name"


@pytest.mark.parametrize("name", ["profiles", "Profiles", "logs", "Logs", "file-cache", "FILE-CACHE", "gui.ini"])
def test_names_of_the_apps_own_folders_are_refused_everywhere(
    store: ProfileStore, tmp_path: Path, name: str, memory_secrets: SecretStore
) -> None:
    with pytest.raises(ProfileError, match="folder cio-desktop keeps for itself") as err:
        store.save(sample(name))
    assert err.value.field == "name"
    store.save(sample("acme"))
    with pytest.raises(ProfileError, match="keeps for itself"):
        store.rename("acme", name, memory_secrets)
    exported = store.export("acme", tmp_path / "acme.json")
    with pytest.raises(ProfileError, match="keeps for itself"):
        store.import_file(exported, name=name)
    assert store.names() == ["acme"]


def test_every_entry_the_app_keeps_beside_profile_folders_is_a_reserved_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # On Windows config, data and logs share one folder; on macOS config and data do (platformdirs).
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", lambda _csidl: str(tmp_path / "AppData" / "Local"))
    win = platformdirs.windows.Windows(APP_NAME, appauthor=False)
    mac = platformdirs.macos.MacOS(APP_NAME, appauthor=False)
    assert win.user_config_dir == win.user_data_dir == str(Path(win.user_log_dir).parent)
    assert mac.user_config_dir == mac.user_data_dir
    # What the app creates there: profiles, the export-file cache (written by a scan), the GUI's settings.
    users = tmp_path / "users.jsonl"
    users.write_text('{"id": "u1", "segment_ids": ["s1"]}\n', encoding="utf-8")
    FileSource(users).segments()
    ProfileStore(paths.data_dir() / paths.PROFILES_DIRNAME).save(sample("acme"))
    entries = {p.name for p in paths.data_dir().iterdir()} | {Path(win.user_log_dir).name, paths.GUI_SETTINGS_FILENAME}
    assert {"profiles", "file-cache", "Logs"} <= entries
    assert all(paths.is_reserved_name(entry) for entry in entries)


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
    (paths.profile_data_dir("acme")).mkdir(parents=True)
    with pytest.raises(KeyringUnavailableError):
        store.rename("acme", "acme2", SecretStore(fail.Keyring()))
    assert store.names() == ["acme"]
    assert [p.name for p in paths.data_dir().iterdir()] == ["acme"], "the data folder was put back"


def test_rename_changing_only_case_works(store: ProfileStore, memory_secrets: SecretStore) -> None:
    store.save(sample("acme"))
    memory_secrets.set("acme", SecretKey.HULL_SECRET, "hull-secret-1")
    (paths.profile_data_dir("acme") / "ledger.sqlite3").parent.mkdir(parents=True)
    (paths.profile_data_dir("acme") / "ledger.sqlite3").write_text("x")
    store.rename("acme", "ACME", memory_secrets)
    assert store.names() == ["ACME"]
    assert memory_secrets.get("ACME", SecretKey.HULL_SECRET) == "hull-secret-1"
    assert memory_secrets.get("acme", SecretKey.HULL_SECRET) is None
    assert [p.name for p in paths.data_dir().iterdir()] == ["ACME"], "no temporary name is left behind"
    assert (paths.profile_data_dir("ACME") / "ledger.sqlite3").read_text() == "x"


def test_rename_while_a_sync_of_the_profile_runs_is_refused_and_changes_nothing(
    store: ProfileStore, memory_secrets: SecretStore
) -> None:
    store.save(sample("acme"))
    memory_secrets.set("acme", SecretKey.HULL_SECRET, "hull-secret-1")
    with profile_run_lock("acme"):
        with pytest.raises(ProfileInUseError, match="A sync of profile 'acme' is running"):
            store.rename("Acme", "acme-eu", memory_secrets)
    assert store.names() == ["acme"]
    assert memory_secrets.get("acme", SecretKey.HULL_SECRET) == "hull-secret-1"
    assert [p.name for p in paths.data_dir().iterdir()] == ["acme"]


def test_rename_whose_data_folder_is_held_open_says_so_and_changes_nothing(
    store: ProfileStore, memory_secrets: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows refuses to rename a folder while a program (the webhook receiver) has a file in it open.
    store.save(sample("acme"))
    memory_secrets.set("acme", SecretKey.HULL_SECRET, "hull-secret-1")
    real_rename = os.rename

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(src) == paths.profile_data_dir("acme"):
            raise PermissionError(13, "The process cannot access the file because it is being used by another process")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(ProfileInUseError, match="stop the webhook receiver and any sync of this profile") as err:
        store.rename("acme", "acme-eu", memory_secrets)
    assert "being used by another process" in str(err.value)
    assert store.names() == ["acme"]
    assert memory_secrets.get("acme", SecretKey.HULL_SECRET) == "hull-secret-1"
    assert memory_secrets.get("acme-eu", SecretKey.HULL_SECRET) is None


def test_rename_onto_the_left_over_history_of_a_deleted_profile_is_refused(store: ProfileStore) -> None:
    store.save(sample("acme"))
    paths.profile_data_dir("acme-eu").mkdir(parents=True)  # delete keeps the sync history
    with pytest.raises(ProfileError, match="sync history of an earlier profile named 'acme-eu'"):
        store.rename("acme", "acme-eu")
    assert store.names() == ["acme"]


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
