"""What the Webhook page's Receiver box does: start/stop, the test event, the tunnel, coming back after sleep.

Mixed into :class:`~cio_desktop.gui.pages.webhook.WebhookPage`, which owns the widgets (through its
:class:`ReceiverPanel`), the profile and the :class:`WebhookService`. Every action runs on a worker;
the callbacks only update widgets. Receiver and tunnel jobs are serial so a stop never overtakes a start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer

from cio_desktop.config.secrets import SecretKey
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.workers import JobContext
from cio_desktop.webhooks.demo_event import DemoPerson, demo_opened_event, find_demo_person
from cio_desktop.webhooks.inbox import EventStatus, InboxRow
from cio_desktop.webhooks.service import ResumeReport, WebhookStatus
from cio_desktop.webhooks.setup import TestResult, send_test_event
from cio_desktop.webhooks.tunnel import find_tunnel_tools, install_help

if TYPE_CHECKING:
    from cio_desktop.config.profile import Profile
    from cio_desktop.config.secrets import SecretStore
    from cio_desktop.gui.pages.webhook_receiver import ReceiverPanel
    from cio_desktop.gui.workers import JobRunner
    from cio_desktop.webhooks.service import WebhookService
    from cio_desktop.webhooks.wake import WakeDetector

# After a sleep the network often needs a few seconds: a tunnel that cannot start is tried again.
RESUME_ATTEMPTS = 6
RESUME_RETRY_MS = 15000

REAL_TEST_NOTE = (
    " This test event only checks that requests reach the receiver: it is kept in the inbox as \u201cunknown\u201d "
    "and not sent to Hull, so no real person gets a made-up email event."
)


class ReceiverActions:
    """Receiver, test event and tunnel actions of the Webhook page (see the module docstring)."""

    resume_retry_ms = RESUME_RETRY_MS

    if TYPE_CHECKING:  # provided by WebhookPage
        runner: JobRunner
        profile: Profile | None
        secrets: SecretStore | None
        demo: bool
        service: WebhookService | None
        receiver_panel: ReceiverPanel
        wake: WakeDetector
        timer: QTimer
        _url: str
        _local_url: str
        _url_before_tunnel: str | None
        _watched_test: tuple[str, str] | None

        def refresh(self) -> None: ...
        def _set_public_url(self, url: str) -> None: ...
        def _announce_receiver(self, running: bool) -> None: ...

    # ------------------------------------------------------------------ receiver
    def start_receiver(self) -> None:
        service, panel = self.service, self.receiver_panel
        if service is None:
            return
        panel.start_button.setEnabled(False)
        panel.receiver_status.show_status(ErrorKind.BUSY, "Starting…")

        def work(_job: JobContext) -> WebhookStatus:
            service.start()
            return service.status()

        def done(status: WebhookStatus) -> None:
            self._show_running(status)
            self._announce_receiver(True)
            self.refresh()

        def failed(exc: BaseException) -> None:
            panel.start_button.setEnabled(True)
            panel.receiver_status.show_status(ErrorKind.ERROR, str(exc))

        self.runner.submit("webhook-start", work, on_result=done, on_error=failed, serial=True)

    def stop_receiver(self) -> None:
        """Stop the receiver, and the tunnel with it (its address would lead nowhere)."""
        service, panel = self.service, self.receiver_panel
        if service is None:
            return
        panel.stop_button.setEnabled(False)
        panel.receiver_status.show_status(ErrorKind.BUSY, "Stopping…")
        had_tunnel = self._url_before_tunnel is not None

        def done(_result: object) -> None:
            self._show_stopped()
            if had_tunnel:
                self._tunnel_stopped("The public URL stopped with the receiver")
            self._announce_receiver(False)
            self.refresh()

        self.runner.submit(
            "webhook-stop",
            lambda _j: service.stop(),
            on_result=done,
            on_error=lambda e: panel.receiver_status.show_status(ErrorKind.ERROR, str(e)),
            serial=True,
        )

    # ------------------------------------------------------------------ test event
    def send_test(self) -> None:
        """Post a test event. In the demo it is a real "email opened" about a demo person, forwarded to Hull."""
        profile, secrets, service, panel = self.profile, self.secrets, self.service, self.receiver_panel
        if profile is None or secrets is None or service is None:
            return
        target = self._url or self._local_url
        local = not self._url
        demo = self.demo
        panel.test_button.setEnabled(False)
        panel.test_status.show_status(ErrorKind.BUSY, "Sending a test event…")
        self._watched_test = None

        def work(_job: JobContext) -> tuple[TestResult, DemoPerson | None]:
            person = find_demo_person(profile, secrets) if demo else None
            payload = demo_opened_event(person) if person is not None else None
            key = secrets.get(profile.name, SecretKey.WEBHOOK_SIGNING_KEY)
            return send_test_event(target, key, payload=payload), person

        def done(result: tuple[TestResult, DemoPerson | None]) -> None:
            test, person = result
            panel.test_button.setEnabled(service.receiver is not None)
            text = f"{test.message} ({test.elapsed_ms:.0f} ms)"
            if local:
                text += " Sent to the local URL: Customer.io cannot reach it until a public URL is set."
            if test.ok and person is not None:
                text += (
                    f" It was a signed \u201cEmail Opened\u201d for {person.describe()}, a person in the demo "
                    "organization; waiting for Hull to accept it…"
                )
                self._watched_test = (test.event_id, person.describe())
            elif test.ok:
                text += REAL_TEST_NOTE
            panel.test_status.show_status(ErrorKind.OK if test.ok else ErrorKind.ERROR, text)
            self.refresh()

        def failed(exc: BaseException) -> None:
            panel.test_button.setEnabled(True)
            panel.test_status.show_status(ErrorKind.ERROR, f"Test failed: {exc}")

        self.runner.submit("webhook-test", work, on_result=done, on_error=failed)

    def _check_test_event(self) -> None:
        """Say when Hull took the demo test event (or why not)."""
        service, watched = self.service, self._watched_test
        if service is None or watched is None or self.runner.is_running("webhook-test-watch"):
            return
        event_id, who = watched

        def done(row: InboxRow | None) -> None:
            if row is None or self._watched_test != watched or row.status is EventStatus.PENDING:
                return
            self._watched_test = None
            if row.status is EventStatus.FORWARDED:
                self.receiver_panel.test_status.show_status(
                    ErrorKind.OK,
                    f"Test event delivered: Hull accepted \u201c{row.name}\u201d for {who} in the demo organization.",
                )
            else:
                self.receiver_panel.test_status.show_status(
                    ErrorKind.ERROR, f"The test event reached the receiver but not Hull: {row.reason or row.status}."
                )

        self.runner.submit("webhook-test-watch", lambda _j: service.inbox.get(event_id), on_result=done)

    # ------------------------------------------------------------------ tunnel
    def toggle_tunnel(self) -> None:
        if self.receiver_panel.tunnel_running:
            self.stop_tunnel()
        else:
            self.get_public_url()

    def get_public_url(self) -> None:
        """Start the receiver if needed, then cloudflared or ngrok for it, and use its address as the public URL."""
        service, profile, panel = self.service, self.profile, self.receiver_panel
        if service is None or profile is None:
            return
        panel.tunnel_button.setEnabled(False)
        panel.tunnel_status.show_status(
            ErrorKind.BUSY, "Looking for cloudflared or ngrok and starting it (this can take up to 30 seconds)…"
        )

        def work(_job: JobContext) -> tuple[str, WebhookStatus] | None:
            tools = find_tunnel_tools()
            if not tools:
                return None
            service.start()
            url = service.start_tunnel(tools[0])
            return url, service.status()

        def done(result: tuple[str, WebhookStatus] | None) -> None:
            panel.tunnel_button.setEnabled(True)
            if result is None:
                panel.tunnel_status.show_status(ErrorKind.WARNING, install_help())
                return
            url, status = result
            if self._url_before_tunnel is None:
                self._url_before_tunnel = profile.webhook_public_url
            self._set_public_url(url)
            self._show_running(status)
            panel.show_tunnel(status.tunnel)
            self._announce_receiver(True)
            self.refresh()

        def failed(exc: BaseException) -> None:
            panel.tunnel_button.setEnabled(True)
            panel.show_tunnel(None)
            panel.tunnel_status.show_status(ErrorKind.ERROR, str(exc))
            self.refresh()

        self.runner.submit("webhook-tunnel", work, on_result=done, on_error=failed, serial=True)

    def stop_tunnel(self) -> None:
        service, panel = self.service, self.receiver_panel
        if service is None:
            return
        panel.tunnel_button.setEnabled(False)
        panel.tunnel_status.show_status(ErrorKind.BUSY, "Stopping the tunnel…")

        def done(_result: object) -> None:
            panel.tunnel_button.setEnabled(True)
            self._tunnel_stopped("Public URL stopped")

        self.runner.submit(
            "webhook-tunnel",
            lambda _j: service.stop_tunnel(),
            on_result=done,
            on_error=lambda e: panel.tunnel_status.show_status(ErrorKind.ERROR, str(e)),
            serial=True,
        )

    def _tunnel_stopped(self, what: str) -> None:
        """The tunnel's address is gone: put the public URL back to what it was before, and say so."""
        gone = self.profile.webhook_public_url if self.profile is not None else ""
        previous, self._url_before_tunnel = self._url_before_tunnel, None
        if previous is not None:
            self._set_public_url(previous)
        self.receiver_panel.show_tunnel(None)
        self.receiver_panel.tunnel_status.show_status(
            ErrorKind.PLAIN,
            f"{what}: Customer.io can no longer reach this computer" + (f" at {gone}." if gone else "."),
        )

    # ------------------------------------------------------------------ after a sleep
    def _tick(self) -> None:
        """Once a second: after a sleep bring the receiver and tunnel back; follow the demo test event."""
        slept = self.wake.check()
        if slept is not None and self.service is not None:
            self._resume(slept)
        if self._watched_test is not None:
            self._check_test_event()

    def _resume(self, slept: float, attempt: int = 1) -> None:
        service, panel = self.service, self.receiver_panel
        if service is None:
            return

        def done(report: ResumeReport) -> None:
            if service is not self.service:
                return
            away = f"The computer was away for {slept / 60:.0f} min"
            if report.tunnel_pending and attempt < RESUME_ATTEMPTS:
                panel.tunnel_status.show_status(
                    ErrorKind.WARNING,
                    f"{away}; the tunnel could not start again yet ({report.problem}). Trying again in "
                    f"{self.resume_retry_ms // 1000} s.",
                )
                QTimer.singleShot(self.resume_retry_ms, lambda: self._resume(slept, attempt + 1))
            elif report.problem:
                status = panel.tunnel_status if report.tunnel_pending else panel.receiver_status
                status.show_status(ErrorKind.ERROR, f"{away}; bringing it back failed: {report.problem}")
            elif report.url_changed and report.new_url:
                self._set_public_url(report.new_url)
                panel.note_tunnel(
                    ErrorKind.WARNING,
                    f"{away} and the tunnel came back with a new address, {report.new_url}. Customer.io still posts "
                    "to the old one: copy the new webhook URL into Customer.io's Reporting Webhook.",
                    report.new_url,
                )
            elif report.tunnel_restarted:
                again = f"{away}; the tunnel was started again at the same address."
                panel.note_tunnel(ErrorKind.OK, again, report.new_url or "")
            elif report.receiver_restarted:
                panel.receiver_status.show_status(ErrorKind.OK, f"{away}; the receiver was started again.")
            self.refresh()

        self.runner.submit("webhook-resume", lambda _j: service.resume(), on_result=done, serial=True)

    def _start_timer(self) -> None:
        if not self.timer.isActive():
            self.wake.reset()  # the pause since the last tick was ours, not a sleep
            self.timer.start()

    # ------------------------------------------------------------------ display
    def _show_running(self, status: WebhookStatus) -> None:
        self._local_url = status.local_url or ""
        self.receiver_panel.show_running(status.listening)
        self._start_timer()

    def _show_stopped(self) -> None:
        self._local_url = ""
        self.receiver_panel.show_stopped(can_start=self.service is not None or self.profile is not None)


__all__ = ["REAL_TEST_NOTE", "ReceiverActions"]
