"""The App API host follows the workspace's region when the profile says "Detect automatically"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from cio_desktop.config.profile import Profile, Region
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.customerio.app import APP_HOSTS, AppClient
from cio_desktop.customerio.track import TRACK_HOSTS
from cio_desktop.sync.factory import open_services


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def profile(region: Region) -> Profile:
    return Profile(
        name="Acme",
        hull_organization="acme.hullapp.io",
        hull_connector_id="0123456789abcdef01234567",
        cio_site_id="site1",
        cio_region=region,
    )


def secrets() -> SecretStore:
    store = SecretStore.in_memory()
    for key, value in ((SecretKey.HULL_SECRET, "h"), (SecretKey.CIO_API_KEY, "k"), (SecretKey.CIO_APP_KEY, "a")):
        store.set("Acme", key, value)
    return store


def test_auto_region_reads_an_eu_workspace_on_the_eu_app_host(rsps: responses.RequestsMock) -> None:
    check = rsps.get(f"{TRACK_HOSTS['us']}/api/v1/accounts/region", json={"region": "eu", "url": "x"})
    with open_services(profile(Region.AUTO), secrets()) as services:
        assert services.app is not None and services.track is not None
        assert check.call_count == 0, "nothing is asked before the App API is used"
        assert services.app.base_url == APP_HOSTS["eu"]
        assert services.track.base_url == TRACK_HOSTS["eu"]
        assert services.app.base_url == APP_HOSTS["eu"] and check.call_count == 1, "asked once"


def test_a_region_detected_by_an_earlier_check_is_reused(rsps: responses.RequestsMock) -> None:
    check = rsps.get(f"{TRACK_HOSTS['us']}/api/v1/accounts/region", json={"region": "us", "url": "x"})
    with open_services(profile(Region.AUTO), secrets()) as services:
        assert services.track is not None and services.app is not None
        services.track.check()
        assert services.app.base_url == APP_HOSTS["us"] and check.call_count == 1


@pytest.mark.parametrize("region", [Region.US, Region.EU])
def test_a_chosen_region_is_used_without_asking(rsps: responses.RequestsMock, region: Region) -> None:
    with open_services(profile(region), secrets()) as services:
        assert services.app is not None and services.track is not None
        assert services.app.base_url == APP_HOSTS[region.value]
        assert services.track.workspace_region() == region.value
    assert len(rsps.calls) == 0


def test_app_client_with_a_fixed_url_never_resolves_the_region() -> None:
    def fail() -> str:
        raise AssertionError("must not be called")

    with AppClient("a", "auto", base_url="http://127.0.0.1:9/cio-app", resolve_region=fail) as app:
        assert app.base_url == "http://127.0.0.1:9/cio-app"
