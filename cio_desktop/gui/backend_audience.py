"""The Preview and Fields pages' work on the whole audience: search it, sample its attributes.

Runs on worker threads (see :mod:`cio_desktop.gui.workers`); kept apart from :mod:`backend` so each
stays small. Nothing here imports Qt.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretStore
from cio_desktop.gui.backend import open_engine, open_source
from cio_desktop.gui.workers import JobContext
from cio_desktop.hull.source import HullUser

if TYPE_CHECKING:
    from cio_desktop.hull.attribute_catalog import AttributeSample
    from cio_desktop.sync.audience_search import SearchUpdate


def search_audience(
    profile: Profile, secrets: SecretStore, secret_name: str, query: str, job: JobContext
) -> SearchUpdate:
    """Search every member of the chosen segments; each new match reaches ``job.progress``."""
    from cio_desktop.sync.audience_search import search_audience as search

    with open_engine(profile, secrets, secret_name, send=False) as engine:
        update = search(engine, query, job.progress, cancel=job.cancel)
    job.check_cancelled()
    return update


def sample_attributes(
    profile: Profile, secrets: SecretStore, secret_name: str, sample: int, job: JobContext
) -> AttributeSample:
    """Which attributes the first ``sample`` users of the chosen segments have, with examples."""
    from cio_desktop.hull.attribute_catalog import sample_users

    source = open_source(profile, secrets, secret_name)
    users = source.iter_users(profile.segment_ids)
    try:
        result = sample_users(_until_cancelled(users, job), sample)
    finally:
        close = getattr(users, "close", None)
        if callable(close):
            close()
    job.check_cancelled()
    return result


def _until_cancelled(users: Iterator[HullUser], job: JobContext) -> Iterator[HullUser]:
    for user in users:
        job.check_cancelled()
        yield user
