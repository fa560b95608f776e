"""The Webhook page's Receiver box: start/stop, test event, one-click public URL, and what is happening.

It sits at the top of the page so its controls and status are visible without scrolling. Widgets and
their wording only; the page runs the actions on workers and calls the ``show_*`` methods.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import StatusLine
from cio_desktop.webhooks.service import WebhookStatus
from cio_desktop.webhooks.tunnel import TunnelState, TunnelStatus

TUNNEL_BUTTON = "Get a public URL"
UNKNOWN_EXPLAINED = (
    "Unknown: an event cio-desktop does not recognise, or a test event sent from this page. It is kept in the "
    "inbox and not sent to Hull, so forwarding can be fine while it is counted. Nothing to do unless you "
    "expected it in Hull: then read its Reason in the inbox (filter Unknown)."
)


class ReceiverPanel(QGroupBox):
    """Receiver controls, tunnel controls and status lines."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Receiver", parent)
        rl = QVBoxLayout(self)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start receiver")
        self.start_button.setAccessibleName("Start webhook receiver")
        self.stop_button = QPushButton("Stop receiver")
        self.stop_button.setAccessibleName("Stop webhook receiver")
        self.stop_button.setEnabled(False)
        self.test_button = QPushButton("Send test event")
        self.test_button.setAccessibleName("Send test event")
        self.test_button.setEnabled(False)
        self.tunnel_button = QPushButton(TUNNEL_BUTTON)
        self.tunnel_button.setAccessibleName("Get a public URL through a tunnel")
        self.tunnel_button.setToolTip(
            "Runs cloudflared or ngrok, if installed, so Customer.io can reach this computer from the internet."
        )
        self.tunnel_button.setEnabled(False)
        for b in (self.start_button, self.stop_button, self.test_button, self.tunnel_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        rl.addLayout(buttons)
        self.receiver_status = StatusLine(name="Receiver status")
        self.receiver_status.show_status(ErrorKind.PLAIN, "Receiver stopped.")
        self.tunnel_status = StatusLine(name="Public URL (tunnel) status")
        self.forwarding_status = StatusLine(name="Forwarding to Hull")
        self.counts_label = QLabel("")
        self.counts_label.setAccessibleName("Event counts")
        self.unknown_hint = QLabel(UNKNOWN_EXPLAINED)
        self.unknown_hint.setObjectName("hint")
        self.unknown_hint.setWordWrap(True)
        self.unknown_hint.setAccessibleName("What unknown events are")
        self.unknown_hint.setVisible(False)
        self.last_event_label = QLabel("")
        self.last_event_label.setAccessibleName("Last event")
        self.test_status = StatusLine(name="Test event result")
        # The tunnel state last shown: the once-a-second refresh only rewrites the line when it changes,
        # so a note about it (a new address after a sleep) stays until something new happens.
        self._tunnel_shown: tuple[TunnelState, str | None] | None = None
        self.tunnel_running = False
        for w in (
            self.receiver_status,
            self.tunnel_status,
            self.forwarding_status,
            self.counts_label,
            self.unknown_hint,
            self.last_event_label,
            self.test_status,
        ):
            rl.addWidget(w)

    def set_demo(self, demo: bool) -> None:
        """Say what "Send test event" sends: in the demo a real event that reaches Hull, else a marked sample."""
        self.test_button.setToolTip(
            "Posts a signed Customer.io “email opened” about a person of the demo organization; it is "
            "forwarded to the demo organization's Hull."
            if demo
            else "Posts a sample Customer.io event to check that requests reach the receiver; it is kept in the "
            "inbox and not sent to Hull."
        )

    def show_running(self, listening: str | None) -> None:
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.test_button.setEnabled(True)
        self.receiver_status.show_status(ErrorKind.OK, f"Listening on {listening}.")

    def show_stopped(self, can_start: bool) -> None:
        self.start_button.setEnabled(can_start)
        self.stop_button.setEnabled(False)
        self.test_button.setEnabled(False)
        self.receiver_status.show_status(ErrorKind.PLAIN, "Receiver stopped.")
        self.forwarding_status.clear_status()

    def show_tunnel(self, tunnel: TunnelStatus | None) -> None:
        """The tunnel's state as the service reports it (None: no tunnel was started)."""
        key = (tunnel.state, tunnel.public_url) if tunnel is not None else None
        if key == self._tunnel_shown and key is not None:
            return
        self._tunnel_shown = key
        self._set_tunnel_button(tunnel is not None and tunnel.state in (TunnelState.STARTING, TunnelState.RUNNING))
        if tunnel is None:
            return
        kind = {
            TunnelState.RUNNING: ErrorKind.OK,
            TunnelState.STARTING: ErrorKind.BUSY,
            TunnelState.FAILED: ErrorKind.ERROR,
            TunnelState.STOPPED: ErrorKind.PLAIN,
        }[tunnel.state]
        text = tunnel.message
        if tunnel.state is TunnelState.RUNNING:
            text += " (Customer.io reaches this computer while it runs; a restart may give it a new address.)"
        self.tunnel_status.show_status(kind, text)

    def note_tunnel(self, kind: ErrorKind, text: str, running_at: str) -> None:
        """Say something about the tunnel now running at ``running_at`` (kept until its state changes)."""
        self._tunnel_shown = (TunnelState.RUNNING, running_at)
        self._set_tunnel_button(True)
        self.tunnel_status.show_status(kind, text)

    def _set_tunnel_button(self, running: bool) -> None:
        self.tunnel_running = running
        self.tunnel_button.setText("Stop public URL" if running else TUNNEL_BUTTON)
        self.tunnel_button.setAccessibleName("Stop the tunnel" if running else "Get a public URL through a tunnel")

    def show_status(self, status: WebhookStatus) -> None:
        c = status.counts
        self.counts_label.setText(
            f"Received {c.received:,} · forwarded {c.forwarded:,} · pending {c.pending:,} · kept {c.kept:,} · "
            f"failed {c.failed:,} · "
            f"unknown {c.unknown:,} · rejected {c.rejected:,} · duplicates {c.duplicates:,}"
        )
        self.unknown_hint.setVisible(c.unknown > 0)
        if status.last_event is not None:
            e = status.last_event
            self.last_event_label.setText(f"Last event: {e.name} ({e.status.value}) at {local_time(e.received_at)}")
        else:
            self.last_event_label.setText("No events received yet.")
        if status.running:
            self.receiver_status.show_status(ErrorKind.OK, f"Listening on {status.listening}.")
            if status.forwarding_problem:
                self.forwarding_status.show_status(ErrorKind.WARNING, status.forwarding_problem)
            elif status.forwarder is not None and status.forwarder.last_error:
                self.forwarding_status.show_status(
                    ErrorKind.WARNING, f"Hull did not take the last events yet: {status.forwarder.last_error}"
                )
            else:
                self.forwarding_status.show_status(ErrorKind.OK, "Forwarding to Hull.")
        if status.tunnel is not None:
            self.show_tunnel(status.tunnel)
        elif self.tunnel_running:  # it went away (stopped, or failed to come back): the button says so
            self.show_tunnel(None)


def local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


__all__ = ["TUNNEL_BUTTON", "UNKNOWN_EXPLAINED", "ReceiverPanel", "local_time"]
