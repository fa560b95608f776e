"""``cio-desktop webhook serve|url|inbox|export``: receive Customer.io email activity and forward it to Hull.

``serve`` runs the receiver and the forwarder until interrupted (Ctrl-C or SIGTERM), printing the
webhook URL (its secret token masked unless ``--show-url``: stdout often ends up in logs) and a
counters line. ``--demo`` needs no profile or keyring: it
starts an in-process sandbox and forwards to its Hull firehose with in-memory secrets.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from cio_desktop.commands.common import EXIT_CONFIG, EXIT_OK, Subparsers, err
from cio_desktop.config.private import StorageError
from cio_desktop.config.profile import Profile, ProfileError
from cio_desktop.config.secrets import KeyringUnavailableError, SecretKey, SecretStore
from cio_desktop.config.store import ProfileLoadError, ProfileNotFoundError, ProfileStore
from cio_desktop.webhooks.activity import ActivityFilter, parse_date
from cio_desktop.webhooks.export import ExportFormat, export_activity
from cio_desktop.webhooks.inbox import INBOX_FILENAME, EventStatus, Inbox
from cio_desktop.webhooks.receiver import WEBHOOK_PATH_PREFIX, ReceiverError, is_loopback
from cio_desktop.webhooks.service import WebhookService, WebhookStatus
from cio_desktop.webhooks.setup import WebhookUrlError, ensure_token, setup_instructions, webhook_url

DEMO_PROFILE = "demo-webhook"


def add_parser(subparsers: Subparsers) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "webhook", help="receive Customer.io email activity (reporting webhooks) and forward it to Hull"
    )
    sub = parser.add_subparsers(dest="webhook_command", metavar="ACTION", required=True)

    serve = sub.add_parser("serve", help="run the webhook receiver and the forwarder to Hull until interrupted")
    who = serve.add_mutually_exclusive_group(required=True)
    who.add_argument("--profile", help="profile whose inbox, token, signing key and Hull connector to use")
    who.add_argument("--demo", action="store_true", help="forward to an in-process sandbox (no credentials needed)")
    serve.add_argument("--host", help="address to listen on (default: the profile's, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: the profile's, 8765; 0 = any free)")
    serve.add_argument(
        "--public",
        action="store_true",
        help="allow listening on a non-loopback address (reachable by other machines: use with care)",
    )
    serve.add_argument("--no-forward", action="store_true", help="only receive and store; do not forward to Hull")
    serve.add_argument(
        "--show-url",
        action="store_true",
        help="print the webhook URL with its secret token (masked by default: output often ends up in logs)",
    )
    serve.add_argument(
        "--status-every", type=float, default=10.0, metavar="SECONDS", help="print counters this often (0 = never)"
    )

    url = sub.add_parser("url", help="print the URL to paste into Customer.io and the setup steps")
    url.add_argument("--profile", required=True)

    inbox = sub.add_parser("inbox", help="list received events, or put failed ones back in the queue")
    inbox.add_argument("--profile", required=True)
    inbox.add_argument("--status", choices=[s.value for s in EventStatus], help="only events with this status")
    inbox.add_argument("--limit", type=int, default=50)
    inbox.add_argument("--retry-failed", action="store_true", help="queue failed events for forwarding again")

    export = sub.add_parser(
        "export", help="write the stored email activity to a file (JSON lines in Hull's event shape, or CSV)"
    )
    export.add_argument("--profile", required=True)
    export.add_argument(
        "--format", choices=[f.value for f in ExportFormat], help="default: from FILE's extension (.csv), else jsonl"
    )
    export.add_argument("--since", metavar="DATE", help="only events from this date on (YYYY-MM-DD, UTC)")
    export.add_argument("--until", metavar="DATE", help="only events up to this date, inclusive (YYYY-MM-DD, UTC)")
    export.add_argument("file", metavar="FILE", help="where to write (replaced only once the export is complete)")


def run(args: argparse.Namespace) -> int:
    try:
        if args.webhook_command == "serve":
            return _serve(args)
        if args.webhook_command == "url":
            return _url(args.profile)
        if args.webhook_command == "inbox":
            return _inbox(args)
        if args.webhook_command == "export":
            return _export(args)
    except (
        ProfileNotFoundError,
        ProfileLoadError,
        ProfileError,
        KeyringUnavailableError,
        ReceiverError,
        StorageError,  # the inbox file: newer version, not a database, cannot be created
    ) as exc:
        err(str(exc))
        return EXIT_CONFIG
    raise AssertionError(f"unhandled action {args.webhook_command!r}")  # argparse restricts the choices


# ---------------------------------------------------------------------------------------- serve
def _serve(args: argparse.Namespace) -> int:
    with _context(args) as (profile, secrets, inbox):
        host = args.host
        if host is not None and not is_loopback(host):
            if not args.public:
                err(
                    f"refusing to listen on {host}: anyone who can reach it could post events. "
                    "Add --public if that is really what you want (and set a signing key)."
                )
                return EXIT_CONFIG
            err(f"WARNING: listening on {host}, reachable from other machines. Keep the signing key set.")
        service = WebhookService(
            profile,
            secrets,
            host=host,
            port=args.port,
            allow_public=args.public,
            forward=not args.no_forward,
            inbox=inbox,
        )
        stop = threading.Event()
        _install_stop_handlers(stop)
        try:
            service.start()
            _print_start(service, show_url=args.show_url)
            next_status = time.monotonic() + args.status_every
            while not stop.wait(0.2):
                if args.status_every > 0 and time.monotonic() >= next_status:
                    print(_status_line(service.status()), flush=True)
                    next_status = time.monotonic() + args.status_every
            service.stop()
            print("Stopped. " + _status_line(service.status()), flush=True)
        finally:
            service.close()
    return EXIT_OK


@contextlib.contextmanager
def _context(args: argparse.Namespace) -> Iterator[tuple[Profile, SecretStore, Inbox | None]]:
    if not args.demo:
        yield ProfileStore().load(args.profile), SecretStore(), None
        return
    from cio_desktop.sandbox import Sandbox  # only demo mode needs the emulator

    # The demo's inbox is thrown away with the demo: nothing lands in the user's data folder.
    with Sandbox(users=200) as sandbox, tempfile.TemporaryDirectory(prefix="cio-desktop-demo-") as tmp:
        profile = sandbox.demo_profile(DEMO_PROFILE)
        secrets = SecretStore.in_memory()
        for key, value in sandbox.credentials.secrets().items():
            secrets.set(DEMO_PROFILE, SecretKey(key), value)
        print(f"Demo: forwarding to the sandbox's Hull firehose at {sandbox.urls.hull_firehose}", flush=True)
        yield profile, secrets, Inbox(Path(tmp) / INBOX_FILENAME)


def _install_stop_handlers(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def _print_start(service: WebhookService, *, show_url: bool) -> None:
    status = service.status()
    assert status.local_url is not None

    def shown(url: str) -> str:
        return url if show_url else mask_token(url)

    print(f"Listening on http://{status.listening}", flush=True)
    print(f"Local webhook URL: {shown(status.local_url)}", flush=True)
    if status.public_url:
        print(f"Paste into Customer.io: {shown(status.public_url)}", flush=True)
    if not show_url:
        print("(The URL's secret token is shown as …: add --show-url to print it whole.)", flush=True)
    elif status.url_problem:
        print(
            f"No public URL yet: Customer.io cannot reach http://{status.listening} until it is exposed (a tunnel "
            "or reverse proxy) and its https address is set as the profile's public webhook URL.",
            flush=True,
        )
    if service.secrets.get(service.profile.name, SecretKey.WEBHOOK_SIGNING_KEY) is None:
        print("No signing key set: only the token in the URL authenticates requests.", flush=True)
    if status.forwarding_problem:
        print(f"Not forwarding to Hull (events are kept in the inbox): {status.forwarding_problem}", flush=True)
    else:
        print("Forwarding to Hull.", flush=True)
    if status.http_problem:
        print(f"Not forwarding to the HTTPS endpoint: {status.http_problem}", flush=True)
    elif status.http_forwarder is not None:
        print(f"Also forwarding to {service.profile.forward_url}.", flush=True)
    print(_status_line(status), flush=True)


def mask_token(url: str) -> str:
    """``url`` with the secret token after ``/webhooks/customerio/`` replaced by an ellipsis."""
    base, prefix, _ = url.partition(WEBHOOK_PATH_PREFIX)
    return f"{base}{prefix}…" if prefix else url


def _status_line(status: WebhookStatus) -> str:
    c = status.counts
    line = (
        f"received {c.received}  pending {c.pending}  forwarded {c.forwarded}  kept {c.kept}  failed {c.failed}  "
        f"unknown {c.unknown}  duplicates {c.duplicates}  rejected {c.rejected}"
    )
    if status.http_forwarder is not None:
        line += f"  endpoint: sent {c.http_forwarded} waiting {c.http_pending} failed {c.http_failed}"
    if status.last_event is not None:
        when = datetime.fromtimestamp(status.last_event.received_at, UTC).strftime("%H:%M:%S")
        line += f"  last: {status.last_event.name} at {when} UTC"
    if status.forwarder is not None and status.forwarder.last_error:
        line += f"  (Hull: {status.forwarder.last_error})"
    if status.http_forwarder is not None and status.http_forwarder.last_error:
        line += f"  (endpoint: {status.http_forwarder.last_error})"
    return line


# ---------------------------------------------------------------------------------------- url / inbox
def _url(profile_name: str) -> int:
    profile = ProfileStore().load(profile_name)
    secrets = SecretStore()
    token = ensure_token(profile.name, secrets)
    try:
        url = webhook_url(profile, token)
    except WebhookUrlError as exc:
        err(str(exc))
        return EXIT_CONFIG
    print(url)
    print()
    signing = secrets.get(profile.name, SecretKey.WEBHOOK_SIGNING_KEY) is not None
    print(setup_instructions(profile, url, signing_key_set=signing))
    return EXIT_OK


def _inbox(args: argparse.Namespace) -> int:
    profile = ProfileStore().load(args.profile)
    service = WebhookService(profile, SecretStore())
    try:
        if args.retry_failed:
            print(f"{service.retry_failed()} failed event(s) queued for forwarding again")
            return EXIT_OK
        statuses = [EventStatus(args.status)] if args.status else None
        for row in service.inbox.list_events(statuses=statuses, limit=args.limit):
            who = ", ".join(f"{k}={v}" for k, v in (row.as_user or {}).items()) or "-"
            reason = f"  ({row.reason})" if row.reason else ""
            print(f"{row.created_at}  {row.status.value:<9}  {row.name}  [{who}]  {row.event_id}{reason}")
        c = service.inbox.counts()
        print(
            f"total {c.received}: pending {c.pending}, forwarded {c.forwarded}, kept {c.kept}, failed {c.failed},"
            f" unknown {c.unknown}"
        )
    finally:
        service.close()
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    try:
        since = parse_date(args.since) if args.since else None
        until = parse_date(args.until, end=True) if args.until else None
    except ValueError as exc:
        err(f"--since/--until: {exc}")
        return EXIT_CONFIG
    if since is not None and until is not None and until <= since:
        err(f"--until {args.until} is before --since {args.since}: nothing would be exported")
        return EXIT_CONFIG
    out = Path(args.file)
    if out.is_dir():
        err(f"{out} is a folder: give a file name, e.g. {out / 'activity.jsonl'}")
        return EXIT_CONFIG
    fmt = (
        ExportFormat(args.format)
        if args.format
        else (ExportFormat.CSV if out.suffix.lower() == ".csv" else ExportFormat.JSONL)
    )
    profile = ProfileStore().load(args.profile)
    inbox = Inbox.for_profile(profile.name)  # creates or migrates the inbox, so an empty one exports 0
    try:
        count = export_activity(inbox.path, out, fmt, ActivityFilter(since=since, until=until))
    except StorageError:
        raise
    except OSError as exc:
        err(f"cannot write {out}: {exc.strerror or exc}. Nothing was written.")
        return EXIT_CONFIG
    finally:
        inbox.close()
    print(f"{count:,} event(s) written to {out} ({fmt.value})")
    return EXIT_OK
