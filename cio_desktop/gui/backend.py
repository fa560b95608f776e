"""The GUI's facade onto the engine and the Qt-free core: sources, connection tests, the ledger.

(The Webhook page has its own facade, :class:`cio_desktop.webhooks.service.WebhookService`.)

Everything here runs on worker threads, except the small functions that turn the engine's results
(:class:`RunSummary`, :class:`RunRecord`, :class:`PreviewRow`) into text and an :class:`ErrorKind`.
Keeping the calls in one module means the pages stay about widgets, and a change in a core API is
fixed in one place.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from cio_desktop.config.private import StorageError
from cio_desktop.config.profile import Profile, ProfileError, Region, SourceKind
from cio_desktop.config.secrets import KeyringUnavailableError, SecretKey, SecretStore
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.workers import JobCancelled, JobContext
from cio_desktop.hull.source import HullUser, SourceError, UserSource
from cio_desktop.net.errors import ServiceError
from cio_desktop.sync.deletions import WITHHELD_PREFIX
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.progress import Phase
from cio_desktop.sync.run_text import PROBLEM_TEXT as PROBLEM_TEXT
from cio_desktop.sync.run_text import duration_text as duration_text
from cio_desktop.sync.run_text import run_outcome_text as run_outcome_text
from cio_desktop.sync.run_text import run_tooltip as run_tooltip
from cio_desktop.sync.run_text import run_totals as run_totals
from cio_desktop.sync.run_text import totals as totals
from cio_desktop.sync.run_text import withheld_text as withheld_text
from cio_desktop.sync.runs import LedgerError, RunError, RunRecord, RunStatus, WithheldDeletion
from cio_desktop.sync.summary import RunMode, RunSummary
from cio_desktop.sync.words import mode_text as mode_text
from cio_desktop.sync.words import run_kind_text

if TYPE_CHECKING:
    # Only for annotations: the engine module loads the HTTP clients, which start-up does not need.
    from cio_desktop.sync.child_run import Task
    from cio_desktop.sync.engine import PreviewRow, SyncEngine
    from cio_desktop.sync.plan import Plan, PlanChanged

# The secrets a profile keeps, in the order the Connect page shows them.
PROFILE_SECRETS = (SecretKey.HULL_SECRET, SecretKey.CIO_API_KEY, SecretKey.CIO_APP_KEY)

# Labels of profile fields, for messages a marketer reads.
FIELD_LABELS = {
    "name": "Profile name",
    "hull_organization": "Hull organization",
    "hull_connector_id": "Connector ID",
    "cio_site_id": "Site ID",
    "customer_id_attribute": "customerId attribute",
    "webhook_public_url": "Public URL",  # the Webhook page's labels
    "webhook_listen": "Listen address",
    # The Connect page's Advanced section.
    "endpoints.hull_api": "Hull API address",
    "endpoints.hull_firehose": "Hull firehose address",
    "endpoints.cio_track": "Track API address",
    "endpoints.cio_app": "App API address",
}


def describe_profile_error(exc: ProfileError) -> str:
    field = exc.field.split("[")[0].split(".")[0]
    label = FIELD_LABELS.get(exc.field) or FIELD_LABELS.get(field, exc.field.replace("_", " "))
    return f"{label} {exc.problem}"


def _is_user_facing(exc: BaseException) -> bool:
    """The core's own errors whose message already says what is wrong and what to do."""
    if isinstance(exc, ServiceError | SourceError | KeyringUnavailableError | StorageError | LedgerError):
        return True
    # Only the factory raises ConfigurationError. Importing it just for this check would load the Hull
    # and Customer.io clients on the GUI thread; while it is not loaded, nothing can have raised one.
    if "cio_desktop.sync.factory" in sys.modules:
        from cio_desktop.sync.factory import ConfigurationError

        return isinstance(exc, ConfigurationError)
    return False


def error_text(exc: BaseException) -> str:
    """A message for the user: the core's own user-facing messages pass through as they are."""
    if isinstance(exc, JobCancelled):
        return "Cancelled."
    if isinstance(exc, ProfileError):
        return describe_profile_error(exc)
    if _is_user_facing(exc):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"Could not read or write a file{where}: {exc.strerror or exc}."
    # Anything else is a bug: say so plainly, without dumping internals (the log has the traceback).
    return f"Something went wrong ({type(exc).__name__}: {str(exc)[:200]}). The log file has the details."


def has_source_settings(profile: Profile) -> bool:
    if profile.source is SourceKind.FILES:
        return bool(profile.files.users_path)
    return bool(profile.hull_organization and profile.hull_connector_id)


def read_secrets(secrets: SecretStore, name: str) -> dict[SecretKey, str]:
    out: dict[SecretKey, str] = {}
    for key in PROFILE_SECRETS:
        value = secrets.get(name, key)
        if value:
            out[key] = value
    return out


def secrets_where(secrets: SecretStore) -> tuple[ErrorKind, str]:
    """The kind and sentence of the line under the Connect form."""
    if not secrets.is_available():
        from cio_desktop.config.secrets import fix_instructions

        return ErrorKind.ERROR, secrets.where_text() + ". " + fix_instructions()
    return ErrorKind.OK, secrets.where_text() + "."


def open_source(profile: Profile, secrets: SecretStore, secret_name: str) -> UserSource:
    """The user source the profile describes (Hull API or export files)."""
    if profile.source is SourceKind.FILES:
        from cio_desktop.hull.files import FileSource

        if not profile.files.users_path:
            raise SourceError("Choose the users export file on the Connect page.")
        return FileSource(
            profile.files.users_path,
            profile.files.events_path or None,
            max_record_bytes=profile.files.max_record_bytes,
        )
    from cio_desktop.hull.api_source import HullApiSource
    from cio_desktop.hull.client import HullClient

    secret = secrets.get(secret_name, SecretKey.HULL_SECRET)
    if not (profile.hull_organization and profile.hull_connector_id and secret):
        raise SourceError("Fill in the Hull organization, connector ID and secret on the Connect page.")
    client = HullClient(
        profile.hull_organization,
        profile.hull_connector_id,
        secret,
        base_url=profile.endpoints.hull_api or None,
        firehose_url=profile.endpoints.hull_firehose or None,
    )
    return HullApiSource(client)


def test_hull(profile: Profile, secret: str) -> str:
    from cio_desktop.hull.api_source import HullApiSource
    from cio_desktop.hull.client import HullClient

    client = HullClient(
        profile.hull_organization,
        profile.hull_connector_id,
        secret,
        base_url=profile.endpoints.hull_api or None,
        firehose_url=profile.endpoints.hull_firehose or None,
    )
    with client:
        return HullApiSource(client).check()


def test_cio(profile: Profile, api_key: str, app_key: str) -> tuple[str, Region | None]:
    """Check the Track credentials (and the App key when given); returns the message and the region."""
    from cio_desktop.customerio.app import AppClient
    from cio_desktop.customerio.track import TrackClient

    with TrackClient(
        profile.cio_site_id,
        api_key,
        profile.cio_region.value,
        base_url=profile.endpoints.cio_track or None,
    ) as track:
        info = track.check()
    region = Region(info.region)
    if profile.cio_region is not Region.AUTO and profile.cio_region is not region:
        return (
            f"Credentials accepted, but this workspace is in the {region.value.upper()} region while the profile "
            f"says {profile.cio_region.value.upper()}. Choose {region.value.upper()} or 'Detect automatically'.",
            region,
        )
    message = f"Connected to Customer.io workspace {profile.cio_site_id} ({region.value.upper()} region)."
    if app_key:
        with AppClient(app_key, region.value, base_url=profile.endpoints.cio_app or None) as app:
            app.segments()
        message += " App API key accepted."
    return message, region


def detect_region(profile: Profile, secrets: SecretStore, secret_name: str, job: JobContext) -> Region | None:
    """The workspace's region, asked from Customer.io (the Track region check); None without an API key."""
    from cio_desktop.customerio.track import TrackClient

    api_key = secrets.get(secret_name, SecretKey.CIO_API_KEY)
    if not (profile.cio_site_id and api_key):
        return None
    job.check_cancelled()
    with TrackClient(
        profile.cio_site_id,
        api_key,
        "auto",
        base_url=profile.endpoints.cio_track or None,
        cancel=job.cancel,
    ) as track:
        return Region(track.check().region)


def check_files(profile: Profile, job: JobContext) -> str:
    """Scan the export files once (cached by the file source) and describe what they hold."""
    from cio_desktop.hull.files import FileSource, ScanCancelled

    source = FileSource(
        profile.files.users_path,
        profile.files.events_path or None,
        max_record_bytes=profile.files.max_record_bytes,
    )
    try:
        s = source.scan(on_progress=lambda p: job.progress((p.bytes_read, p.bytes_total)), cancel=job.cancel)
    except ScanCancelled:
        raise JobCancelled() from None
    first = s.problems[0] if s.problems else None
    where = f" First: {first.file} line {first.line}: {first.reason}." if first else ""
    if s.users == 0:
        # Whatever else the files hold, nothing could be synced: an error, not a summary with a tick.
        unreadable = f"{plural(s.user_bad_rows, 'row')} could not be read" if s.user_bad_rows else "it holds no users"
        raise SourceError(f"The users file has no usable users: {unreadable}.{where}")
    text = (
        f"{plural(s.users, 'user')} ({s.users_format}), {plural(len(s.segments), 'segment')}, "
        f"{plural(len(s.attributes), 'attribute')}"
        + (
            f", {plural(s.events_total, 'event')} of {plural(len(s.events), 'kind')}"
            if profile.files.events_path
            else ""
        )
        + "."
    )
    if s.bad_rows:
        text += f" {plural(s.bad_rows, 'row')} could not be read and will be skipped.{where}"
    return text


def plural(n: int, noun: str) -> str:
    """ "1 row", "2 rows", "1,000 rows"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def count_missing(
    profile: Profile, secrets: SecretStore, secret_name: str, attribute: str, sample: int, job: JobContext
) -> tuple[int, int]:
    """How many of the first ``sample`` users of the chosen segments lack ``attribute``."""
    source = open_source(profile, secrets, secret_name)
    missing = total = 0
    for user in itertools.islice(source.iter_users(profile.segment_ids), sample):
        job.check_cancelled()
        total += 1
        if _value(user, attribute) in (None, "", []):
            missing += 1
    return missing, total


def _value(user: HullUser, key: str) -> object:
    if key.startswith("account."):
        account = user.get("account") or {}
        return account.get(key[len("account.") :]) if isinstance(account, dict) else None
    return user.get(key)


# ---------------------------------------------------------------------- history (ledger reads)
CHART_RUNS = 30


def list_runs(profile_name: str, limit: int = 200) -> list[RunRecord]:
    from cio_desktop.sync.ledger import Ledger, ledger_path

    if not ledger_path(profile_name).exists():
        return []  # no sync yet: do not create a ledger just to look at it
    with Ledger.for_profile(profile_name) as ledger:
        return ledger.runs(limit)


WITHHELD_SHOWN = 10_000


def list_withheld(
    profile_name: str, run_id: int, limit: int = WITHHELD_SHOWN
) -> tuple[list[WithheldDeletion], int, int]:
    """The first ``limit`` deletions a run withheld (each with whether the person is still in
    Customer.io), how many it listed and how many of those are still in Customer.io."""
    from cio_desktop.sync.ledger import Ledger

    with Ledger.for_profile(profile_name) as ledger:
        listed, active = ledger.withheld_counts(run_id)
        return ledger.withheld_deletions(run_id, limit=limit), listed, active


def list_errors(profile_name: str, run_id: int, search: str | None, limit: int = 100_000) -> list[RunError]:
    from cio_desktop.sync.ledger import Ledger

    with Ledger.for_profile(profile_name) as ledger:
        return ledger.run_errors(run_id, search, limit=limit)


def export_errors(profile_name: str, run_id: int, path: str, search: str | None) -> int:
    from cio_desktop.sync.ledger import Ledger

    with Ledger.for_profile(profile_name) as ledger:
        return ledger.export_errors_csv(run_id, path, search)


def run_status_level(run: RunRecord) -> ErrorKind:
    """How a stored run is shown: a tick only for a completed run without failures."""
    if run.status is RunStatus.COMPLETED:
        return ErrorKind.WARNING if run.failed else ErrorKind.OK
    if run.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
        return ErrorKind.ERROR
    if run.status is RunStatus.RUNNING:
        return ErrorKind.BUSY
    return ErrorKind.WARNING


def run_mode_text(run: RunRecord) -> str:
    """A run's kind as History shows it: a plan by the mode it planned, not as "Dry run"."""
    return run_kind_text(run.mode, run.plan_of)


# Keyed by the enum; looked up with Progress.phase, which is its value.
PHASE_TEXT: Mapping[str, str] = {
    Phase.STARTING: "Starting",
    Phase.USERS: "Sending people",
    Phase.DELETIONS: "Deleting people who left the segments",
    Phase.OBJECTS: "Sending accounts as objects",
    Phase.EVENTS: "Sending events",
    Phase.FINISHING: "Finishing",
    Phase.DONE: "Done",
}


def phase_text(phase: str) -> str:
    return PHASE_TEXT.get(phase, phase.capitalize())


# ---------------------------------------------------------------------- engine: preview, sync, send one
def _secrets_for(profile: Profile, secrets: SecretStore, secret_name: str) -> SecretStore:
    """The factory reads secrets under the profile's name; the wizard keeps its draft under another."""
    if secret_name == profile.name:
        return secrets
    copy = SecretStore.in_memory()
    for key, value in read_secrets(secrets, secret_name).items():
        copy.set(profile.name, key, value)
    return copy


@contextlib.contextmanager
def open_engine(profile: Profile, secrets: SecretStore, secret_name: str, *, send: bool) -> Iterator[SyncEngine]:
    """A SyncEngine for ``profile``; with ``send`` it gets the Track client and the Hull write-back."""
    from cio_desktop.sync.factory import open_services

    services = open_services(profile, _secrets_for(profile, secrets, secret_name), need_track=send)
    try:
        yield services.engine()
    finally:
        services.close()


def preview(profile: Profile, secrets: SecretStore, secret_name: str, limit: int, job: JobContext) -> list[PreviewRow]:
    with open_engine(profile, secrets, secret_name, send=False) as engine:
        rows = engine.preview(limit, cancel=job.cancel)
    job.check_cancelled()
    return rows


def run_sync(
    profile: Profile,
    secrets: SecretStore,
    secret_name: str,
    mode: RunMode,
    job: JobContext,
    approval: DeletionApproval | None = None,
    plan: Plan | None = None,
) -> RunSummary | PlanChanged:
    """Run a sync; progress and log lines go through the job's throttled forwarding. ``approval``
    is the user's consent to deletions the guard withheld (approved in History); ``plan`` a plan the
    user confirmed: the run is bounded by it, or refused (PlanChanged) when the source moved since."""
    from cio_desktop.sync.child_run import Task

    result: RunSummary | PlanChanged = in_child(
        Task.RUN, profile, secrets, secret_name, mode, job, approval=approval, plan=plan
    )
    return result


def in_child(
    task: Task,
    profile: Profile,
    secrets: SecretStore,
    secret_name: str,
    mode: RunMode,
    job: JobContext,
    *,
    approval: DeletionApproval | None = None,
    plan: Plan | None = None,
) -> Any:
    """A run or a plan in a child process (:mod:`cio_desktop.sync.child_run`): the window's own
    process only relays its progress and log lines, so the window never stalls behind it."""
    from cio_desktop.config.logs import file_logging_level, logging_to_console
    from cio_desktop.sync.child_run import ChildRequest, run_in_child

    request = ChildRequest(
        task=task,
        profile=profile,
        secrets=read_secrets(secrets, secret_name),
        mode=mode,
        approval=approval,
        plan=plan,
        log_level=file_logging_level(),
        log_console=logging_to_console(),
    )
    return run_in_child(request, on_progress=job.progress, on_log=job.log, cancel=job.cancel)


def send_one(profile: Profile, secrets: SecretStore, secret_name: str, hull_id: str, job: JobContext) -> str:
    with open_engine(profile, secrets, secret_name, send=True) as engine:
        summary = engine.send_one(hull_id, cancel=job.cancel)
    kind, text = summary_text(summary)
    if kind is ErrorKind.ERROR:
        raise SourceError(text)
    return text


def _summary_head(summary: RunSummary) -> str:
    """What a run did, in one sentence (without its outcome)."""
    counts = summary.counts
    duration = duration_text(summary.duration_s)
    t = totals(counts, summary.failed, summary.people_sent, summary.withheld)
    skipped = t["skipped"]
    if summary.mode is RunMode.DRY_RUN:
        planned = sum(n for label, n in counts.items() if not label.startswith(("skip", "event skip", WITHHELD_PREFIX)))
        return (
            f"Dry run finished in {duration}: {planned:,} operations planned, {t['unchanged']:,} people unchanged,"
            f" {skipped:,} skipped. Nothing was sent."
        )
    objects = (
        f", {summary.objects_sent:,} account objects, {summary.relationships_sent:,} relationships"
        if summary.objects_sent or summary.relationships_sent
        else ""
    )
    return (
        f"Sent {t['sent']:,} people{objects} and {summary.events_sent:,} events in {duration};"
        f" {t['unchanged']:,} unchanged, {skipped:,} skipped"
        + (f"; {summary.failed:,} failed (see History)." if summary.failed else ".")
    )


# Everything that could go out went out; the message says first what did not and what to do.
_WARNING_STATUSES = frozenset({RunStatus.PARTIAL, RunStatus.INCOMPLETE, RunStatus.DELETIONS_WITHHELD})


def summary_text(summary: RunSummary) -> tuple[ErrorKind, str]:
    """How a finished run is shown, and one paragraph describing it."""
    head = _summary_head(summary)
    message = summary.message
    if summary.status is RunStatus.COMPLETED:
        return (ErrorKind.WARNING if summary.failed else ErrorKind.OK), head
    if summary.status is RunStatus.CANCELLED:
        return ErrorKind.WARNING, f"Cancelled. {head}"
    if summary.status in _WARNING_STATUSES:
        return ErrorKind.WARNING, f"{message} {head}" if message else head
    sent_any = summary.people_sent or summary.events_sent
    return ErrorKind.ERROR, (message or "The sync failed.") + (f" {head}" if sent_any else "")
