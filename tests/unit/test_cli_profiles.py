"""``cio-desktop profiles ...`` end to end through cli.main (in-process, isolated folders and keyring)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cio_desktop.cli import main
from cio_desktop.config.profile import Profile, SegmentRef
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore


@pytest.fixture
def acme() -> Profile:
    profile = Profile(
        name="acme", hull_organization="acme.hullapp.io", cio_site_id="site1", segments=(SegmentRef("s1", "A"),)
    )
    ProfileStore().save(profile)
    return profile


def test_list_without_profiles_says_how_to_make_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "list"]) == 0
    assert "No profiles yet" in capsys.readouterr().out


def test_list_shows_a_row_per_profile(acme: Profile, capsys: pytest.CaptureFixture[str]) -> None:
    ProfileStore().save(Profile(name="beta"))
    assert main(["profiles", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "NAME"
    assert lines[1].split() == ["acme", "hull_api", "acme.hullapp.io", "site1", "1"]
    assert lines[2].split()[0] == "beta"


def test_list_reports_an_unreadable_profile_and_exits_1(acme: Profile, capsys: pytest.CaptureFixture[str]) -> None:
    (ProfileStore().directory / "bad.json").write_text("{")
    assert main(["profiles", "list"]) == 1
    out, err = capsys.readouterr()
    assert "acme" in out
    assert "bad.json" in err and "moved to" in err


def test_show_prints_settings_and_secret_status_never_values(acme: Profile, capsys: pytest.CaptureFixture[str]) -> None:
    SecretStore().set("acme", SecretKey.CIO_API_KEY, "the-api-key-value")
    assert main(["profiles", "show", "acme"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["hull_organization"] == "acme.hullapp.io"
    assert shown["secrets"]["cio_api_key"] == "set"
    assert shown["secrets"]["hull_secret"] == "missing"
    assert "the-api-key-value" not in out


def test_show_unknown_profile_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "show", "nope"]) == 2
    assert "No profile named 'nope'" in capsys.readouterr().err


def test_delete_needs_yes_when_not_interactive(
    acme: Profile, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["profiles", "delete", "acme"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert ProfileStore().names() == ["acme"]


def test_delete_with_yes_removes_profile_and_secrets(acme: Profile) -> None:
    SecretStore().set("acme", SecretKey.HULL_SECRET, "hull-secret-value")
    assert main(["profiles", "delete", "acme", "--yes"]) == 0
    assert ProfileStore().names() == []
    assert SecretStore().get("acme", SecretKey.HULL_SECRET) is None


def test_export_and_import_round_trip(acme: Profile, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "acme.json"
    assert main(["profiles", "export", "acme", str(target)]) == 0
    assert main(["profiles", "import", str(target), "--name", "acme2"]) == 0
    assert "Imported profile 'acme2'" in capsys.readouterr().out
    assert ProfileStore().load("acme2") == acme.replace(name="acme2")


def test_export_to_stdout(acme: Profile, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "export", "acme", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "acme"


@pytest.mark.parametrize(
    ("content", "words"),
    [("{", "not valid JSON"), ('{"name": "x", "hull_secret": "abc"}', "looks like a secret")],
)
def test_import_of_a_bad_file_exits_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, words: str
) -> None:
    src = tmp_path / "in.json"
    src.write_text(content)
    assert main(["profiles", "import", str(src)]) == 2
    assert words in capsys.readouterr().err


def test_import_of_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "import", str(tmp_path / "missing.json")]) == 2
    assert "cannot read it" in capsys.readouterr().err


def test_import_with_an_invalid_name_exits_2(acme: Profile, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "acme.json"
    main(["profiles", "export", "acme", str(target)])
    assert main(["profiles", "import", str(target), "--name", "bad/name"]) == 2
    assert "name:" in capsys.readouterr().err


def test_unknown_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["profiles", "frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_set_secret_reads_standard_input_and_stores_it_in_the_keyring(
    acme: Profile, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-api-key\n"))
    assert main(["profiles", "set-secret", "acme", "cio_api_key"]) == 0
    assert SecretStore().get("acme", SecretKey.CIO_API_KEY) == "s3cret-api-key"
    out = capsys.readouterr().out
    assert "cio_api_key stored" in out and "s3cret" not in out


def test_set_secret_for_an_unknown_profile_exits_2_and_stores_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("value\n"))
    assert main(["profiles", "set-secret", "ghost", "hull_secret"]) == 2
    assert "ghost" in capsys.readouterr().err
    assert SecretStore().get("ghost", SecretKey.HULL_SECRET) is None


def test_set_secret_and_delete_use_the_stored_spelling_of_the_name(
    acme: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("k\n"))
    assert main(["profiles", "set-secret", "ACME", "cio_api_key"]) == 0
    assert SecretStore().get("acme", SecretKey.CIO_API_KEY) == "k", "stored under the profile's own name"
    assert main(["profiles", "delete", "Acme", "--yes"]) == 0
    assert ProfileStore().names() == [] and SecretStore().get("acme", SecretKey.CIO_API_KEY) is None
