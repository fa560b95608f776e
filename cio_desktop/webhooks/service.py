"""Receiver + inbox + forwarder (+ optional tunnel) for one profile, started and stopped as one thing.

Used by ``cio-desktop webhook serve`` and by the app's Webhook page (from a worker thread), so both
behave the same: the receiver stores every accepted event; the forwarder, when the profile has
Hull credentials, drains the inbox to Hull. Without Hull credentials events still arrive and are
kept (``forwarding_problem`` says why nothing goes to Hull). When the profile has an HTTPS
destination (``forward_url`` and an HMAC key), a second forwarder sends every forwardable event
there too, independently of Hull. On start, activity older than the profile's retention is pruned.
A tunnel (cloudflared, ngrok) gives the receiver a public URL; it stops with the receiver. After the
computer slept, :meth:`WebhookService.resume` brings back whichever of them should run but no longer does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cio_desktop.config.profile import Profile, parse_listen
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.hull.client import HullClient
from cio_desktop.webhooks.activity import DAY
from cio_desktop.webhooks.events import decode_body, map_payload
from cio_desktop.webhooks.forward_http import HttpDestination, HttpForwarder, http_destination_for
from cio_desktop.webhooks.forwarder import (
    FirehoseSender,
    Forwarder,
    ForwarderConfigError,
    ForwarderStats,
    hull_sender_for,
)
from cio_desktop.webhooks.inbox import Inbox, InboxCounts, InboxRow
from cio_desktop.webhooks.receiver import ReceiverStats, WebhookReceiver
from cio_desktop.webhooks.setup import WebhookUrlError, ensure_token, webhook_url
from cio_desktop.webhooks.tunnel import START_TIMEOUT, Tunnel, TunnelError, TunnelStatus, TunnelTool


@dataclass(frozen=True)
class WebhookStatus:
    """Everything the status line / page shows."""

    running: bool
    listening: str | None
    local_url: str | None
    public_url: str | None
    url_problem: str | None
    counts: InboxCounts
    receiver: ReceiverStats | None
    forwarder: ForwarderStats | None
    forwarding_problem: str | None
    last_event: InboxRow | None
    http_forwarder: ForwarderStats | None = None
    http_problem: str | None = None  # why the HTTPS destination is not receiving, when it is set
    tunnel: TunnelStatus | None = None


@dataclass(frozen=True)
class ResumeReport:
    """What :meth:`WebhookService.resume` had to bring back after a sleep, and what went wrong."""

    receiver_restarted: bool = False
    tunnel_restarted: bool = False
    old_url: str | None = None
    new_url: str | None = None
    problem: str | None = None
    tunnel_pending: bool = False  # the tunnel could not start yet and is still wanted

    @property
    def url_changed(self) -> bool:
        return self.tunnel_restarted and self.new_url != self.old_url


class WebhookService:
    """Owns the inbox for ``profile``; ``start()`` opens the receiver (and forwarder), ``close()`` all."""

    def __init__(
        self,
        profile: Profile,
        secrets: SecretStore,
        *,
        host: str | None = None,
        port: int | None = None,
        allow_public: bool = False,
        sender: FirehoseSender | None = None,
        inbox: Inbox | None = None,
        forward: bool = True,
        http_sender: HttpDestination | None = None,
    ) -> None:
        self.profile = profile
        self.secrets = secrets
        listen_host, listen_port = parse_listen(profile.webhook_listen)
        self.host = host or listen_host
        self.port = listen_port if port is None else port
        self.allow_public = allow_public
        self.inbox = inbox or Inbox.for_profile(profile.name)
        self._sender = sender
        self._forward = forward
        self.receiver: WebhookReceiver | None = None
        self.forwarder: Forwarder | None = None
        self.forwarding_problem: str | None = None
        self._own_client: HullClient | None = None
        self.http_forwarder: HttpForwarder | None = None
        self.http_problem: str | None = None
        self._http_sender = http_sender
        self.tunnel: Tunnel | None = None
        # What the user asked to run, so resume() knows what to bring back after a sleep.
        self._want_receiver = False
        self._tunnel_tool: TunnelTool | None = None
        self._last_tunnel_url: str | None = None  # the address Customer.io was last given

    def start(self) -> None:
        """Start listening (raises ReceiverError with the reason) and forwarding when possible."""
        if self.receiver is not None and self.receiver.running:
            return
        if self.receiver is not None:  # its thread ended (e.g. across a sleep): start afresh
            self._stop_receiver_and_forwarder()
        token = ensure_token(self.profile.name, self.secrets)
        signing_key = self.secrets.get(self.profile.name, SecretKey.WEBHOOK_SIGNING_KEY)
        receiver = WebhookReceiver(
            self.inbox,
            token,
            signing_key,
            host=self.host,
            port=self.port,
            allow_public=self.allow_public,
            customer_id_attribute=self.profile.customer_id_attribute,
        )
        receiver.start()
        self.receiver = receiver
        self._want_receiver = True
        self._start_hull()
        self._start_http()
        self.inbox.set_destinations(hull=self.forwarder is not None, http=self.http_forwarder is not None)
        # After the destinations: events kept while Hull was not connected are pending again now that it
        # is, and retention never prunes what still waits for a destination.
        self.inbox.prune_older_than(time.time() - self.profile.activity_retention_days * DAY)
        for forwarder in (self.forwarder, self.http_forwarder):
            if forwarder is not None:
                forwarder.start()

    def _start_hull(self) -> None:
        if not self._forward:
            self.forwarding_problem = "forwarding to Hull is switched off"
            return
        try:
            sender: FirehoseSender = self._sender or hull_sender_for(self.profile, self.secrets)
        except ForwarderConfigError as exc:
            self.forwarding_problem = str(exc)
            return
        self._own_client = sender if isinstance(sender, HullClient) and self._sender is None else None
        self.forwarding_problem = None
        self.forwarder = Forwarder(self.inbox, sender)

    def _start_http(self) -> None:
        try:
            target = self._http_sender or http_destination_for(self.profile, self.secrets)
        except ForwarderConfigError as exc:
            self.http_problem = str(exc)
            return
        self.http_problem = None
        if target is not None:
            self.http_forwarder = HttpForwarder(self.inbox, target)

    def stop(self) -> None:
        """Stop the tunnel, the forwarder and the receiver."""
        self._want_receiver = False
        self.stop_tunnel()
        self._stop_receiver_and_forwarder()

    def _stop_receiver_and_forwarder(self) -> None:
        if self.forwarder is not None:
            self.forwarder.stop()
            self.forwarder = None
        if self.http_forwarder is not None:
            self.http_forwarder.stop()
            self.http_forwarder.sender.close()
            self.http_forwarder = None
        if self._own_client is not None:
            self._own_client.close()
            self._own_client = None
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None

    def close(self) -> None:
        self.stop()
        self.inbox.close()

    def start_tunnel(self, tool: TunnelTool, *, start_timeout: float = START_TIMEOUT) -> str:
        """Run ``tool`` for the receiver's port and return the public https URL (TunnelError if none)."""
        receiver = self.receiver
        if receiver is None or not receiver.running:
            raise TunnelError("Start the receiver first: the tunnel forwards to it.")
        self.stop_tunnel()
        tunnel = Tunnel(tool, receiver.host, receiver.port, start_timeout=start_timeout)
        self.tunnel = tunnel
        self._tunnel_tool = tool
        try:
            self._last_tunnel_url = tunnel.start()
            return self._last_tunnel_url
        except TunnelError:
            # It stopped itself; the exception says why, and there is nothing to bring back after a sleep.
            self.tunnel = None
            self._tunnel_tool = None
            raise

    def stop_tunnel(self) -> None:
        self._tunnel_tool = None
        tunnel, self.tunnel = self.tunnel, None
        if tunnel is not None:
            tunnel.stop()

    def resume(self) -> ResumeReport:
        """After a sleep: restart the receiver and the tunnel if they should run but no longer do.

        A tunnel that is still running is left alone (cloudflared and ngrok reconnect by themselves,
        and a new quick tunnel would get a new address that Customer.io does not know). A tunnel that
        cannot start yet (the network often comes back a few seconds after the computer) stays wanted:
        ``tunnel_pending`` says so, and the next ``resume()`` tries again.
        """
        receiver_restarted = tunnel_restarted = False
        new_url: str | None = None
        try:
            if self._want_receiver and (self.receiver is None or not self.receiver.running):
                self.start()
                receiver_restarted = True
        except Exception as exc:  # shown on the page; the user can still start it by hand
            return ResumeReport(problem=str(exc))
        if self.forwarder is not None:
            self.forwarder.wake()  # its back-off was measured before the sleep
        tool, old_url = self._tunnel_tool, self._last_tunnel_url
        if tool is not None and (self.tunnel is None or not self.tunnel.alive or receiver_restarted):
            try:
                new_url = self.start_tunnel(tool)
                tunnel_restarted = True
            except TunnelError as exc:
                self._tunnel_tool = tool
                return ResumeReport(receiver_restarted, False, old_url, None, str(exc), tunnel_pending=True)
        return ResumeReport(receiver_restarted, tunnel_restarted, old_url, new_url)

    def set_signing_key(self, signing_key: str | None) -> None:
        if self.receiver is not None:
            self.receiver.set_signing_key(signing_key)

    def retry_failed(self) -> int:
        """Queue again what Hull and the HTTPS destination failed on; returns how many events."""
        moved = self.inbox.retry_http_failed()
        if self.http_forwarder is not None:
            self.http_forwarder.wake()
        moved += self.inbox.retry_failed(
            lambda body, at: map_payload(
                decode_body(body), body, customer_id_attribute=self.profile.customer_id_attribute, received_at=at
            )
        )
        if self.forwarder is not None:
            self.forwarder.wake()
        return moved

    def status(self) -> WebhookStatus:
        token = self.secrets.get(self.profile.name, SecretKey.WEBHOOK_TOKEN)
        public_url: str | None = None
        url_problem: str | None = None
        if token:
            try:
                public_url = webhook_url(self.profile, token)
            except WebhookUrlError as exc:
                url_problem = str(exc)
        receiver = self.receiver
        running = receiver is not None and receiver.running
        return WebhookStatus(
            running=running,
            listening=receiver.address if receiver is not None and running else None,
            local_url=receiver.local_url if receiver is not None and running else None,
            public_url=public_url,
            url_problem=url_problem,
            counts=self.inbox.counts(),
            receiver=receiver.stats() if receiver is not None else None,
            forwarder=self.forwarder.stats() if self.forwarder is not None else None,
            forwarding_problem=self.forwarding_problem,
            last_event=self.inbox.last_event(),
            http_forwarder=self.http_forwarder.stats() if self.http_forwarder is not None else None,
            http_problem=self.http_problem,
            tunnel=self.tunnel.status() if self.tunnel is not None else None,
        )

    def __enter__(self) -> WebhookService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ResumeReport", "WebhookService", "WebhookStatus"]
