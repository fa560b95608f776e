"""Sync: run a full, incremental or dry run, watch it live, cancel it, read the summary."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.gui import core, responsive
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.resources import app_icon
from cio_desktop.gui.widgets import Page, StatusLine, hint
from cio_desktop.gui.workers import JobContext
from cio_desktop.sync.guard import DeletionApproval

# A run longer than this that ends while the window is in the background gets a desktop notification.
NOTIFY_AFTER_S = 20.0
LOG_MAX_LINES = 5000

MODES = (
    ("incremental", "Sync changes", "People updated and events created since the last sync."),
    ("full", "Full sync", "Every person of the chosen segments, and deletions of people who left them."),
    ("dry_run", "Dry run", "Plan everything, send nothing: see what a sync would do."),
)
# Keyboard: Alt+letter on this page; "Sync changes" also Ctrl+R and Cancel also Ctrl+. from any page (main window).
BUTTON_TEXT = {"incremental": "&Sync changes", "full": "&Full sync", "dry_run": "&Dry run"}
SHORTCUT_TEXT = {"incremental": "Alt+S, or Ctrl+R from any page", "full": "Alt+F", "dry_run": "Alt+D"}


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class SyncPage(Page):
    """Signals: ``run_started(str)``, ``run_finished(str, object)`` (status, summary or None),
    ``run_ended()`` once the run's worker is gone (after ``run_finished``)."""

    run_started = Signal(str)
    run_finished = Signal(str, object)
    run_ended = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Sync", "Send the chosen people and events to Customer.io now.", parent)
        self.ctx = ctx
        self.tray: QSystemTrayIcon | None = None
        self._started_at = 0.0
        self._mode = ""
        self.last_progress: Any = None
        self._active = False

        modes = QHBoxLayout()
        self.mode_buttons: dict[str, QPushButton] = {}
        for mode, text, tip in MODES:
            b = QPushButton(BUTTON_TEXT[mode])
            b.setToolTip(f"{tip} ({SHORTCUT_TEXT[mode]})")
            b.setAccessibleName(text)
            b.setAccessibleDescription(tip)
            if mode == "incremental":
                b.setObjectName("primary")
            b.clicked.connect(lambda _c=False, m=mode: self.start(m))
            modes.addWidget(b)
            self.mode_buttons[mode] = b
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.setAccessibleName("Cancel the running sync")
        self.cancel_button.setToolTip(
            "Stop after the batch in flight (Esc or Alt+C on this page, Ctrl+. from any page)"
        )
        # Esc cancels while the focus is on this page (it is not a dialog: Esc has no other meaning here).
        self.escape_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self.escape_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.escape_shortcut.activated.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        modes.addStretch(1)
        modes.addWidget(self.cancel_button)
        self.body_layout.addLayout(modes)
        self.body_layout.addWidget(hint(" · ".join(f"{t}: {tip}" for _m, t, tip in MODES)))

        box = QGroupBox("Progress")
        bl = QVBoxLayout(box)
        self.phase_label = QLabel("Not running.")
        self.phase_label.setAccessibleName("Sync phase")
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Sync progress")
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.bar.setFormat("")
        bl.addWidget(self.phase_label)
        bl.addWidget(self.bar)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        for col in (1, 3):
            grid.setColumnMinimumWidth(col, 90)
        self.rate_label = QLabel("—")
        self.eta_label = QLabel("—")
        self.failed_label = QLabel("0")
        self.rate_label.setAccessibleName("Rate")
        self.eta_label.setAccessibleName("Time left")
        self.failed_label.setAccessibleName("Failed")
        grid.addWidget(QLabel("Rate:"), 0, 0)
        grid.addWidget(self.rate_label, 0, 1)
        grid.addWidget(QLabel("Time left:"), 0, 2)
        grid.addWidget(self.eta_label, 0, 3)
        grid.addWidget(QLabel("Failed:"), 0, 4)
        grid.addWidget(self.failed_label, 0, 5)
        grid.setColumnStretch(6, 1)
        bl.addLayout(grid)
        self.counts_label = QLabel("")
        self.counts_label.setWordWrap(True)
        self.counts_label.setAccessibleName("Counts per decision")
        bl.addWidget(self.counts_label)
        self.body_layout.addWidget(box)

        self.summary = StatusLine(name="Sync summary")
        self.body_layout.addWidget(self.summary)
        self.body_layout.addWidget(QLabel("Log"))
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_MAX_LINES)
        self.log_view.setAccessibleName("Sync log")
        self.log_view.setMinimumHeight(160)
        self.body_layout.addWidget(self.log_view, 1)

    # ------------------------------------------------------------------ run
    @property
    def running(self) -> bool:
        """True from start until the run's outcome arrived (``run_finished``)."""
        return self._active

    def start(self, mode: str, approval: DeletionApproval | None = None) -> None:
        """Start a run; ``approval`` carries deletions the user approved in History."""
        profile = self.ctx.profile
        if profile is None or self.running:
            return
        if not profile.segments:
            self.summary.show_status("warning", "No segment chosen on the Audience page: nobody would be sent.")
            return
        secrets, secret_name = self.ctx.secrets, self.ctx.secret_name
        self._mode = mode
        self._started_at = time.monotonic()
        self.last_progress = None
        self.ctx.sync_running = True
        self._active = True
        self._set_running(True)
        self.summary.show_status("busy", "Starting…")
        self.log_view.clear()
        self.counts_label.setText("")
        self.bar.setRange(0, 0)
        self.append_log([f"{time.strftime('%H:%M:%S')} {dict((m, t) for m, t, _ in MODES)[mode]} started"])
        if approval is not None:
            approved = f"with your approval to delete up to {approval.max_count:,} people"
            self.append_log([f"{time.strftime('%H:%M:%S')} {approved}"])

        def work(job: JobContext) -> Any:
            # Held for exactly the run's lifetime, on the worker: released even if the window is gone.
            responsive.hold()
            try:
                return core.run_sync(profile, secrets, secret_name, mode, job, approval)
            finally:
                responsive.release()

        self.ctx.runner.submit(
            self.ctx.key("sync"),
            work,
            on_result=self._done,
            on_error=self._failed,
            on_progress=self.show_progress,
            on_log=self.append_log,
            on_finished=self._finished,
        )
        self.run_started.emit(mode)

    def cancel(self) -> None:
        if self.running:
            self.ctx.runner.cancel(self.ctx.key("sync"))
            self.cancel_button.setEnabled(False)
            self.summary.show_status("busy", "Cancelling: finishing the batch in flight…")

    def _set_running(self, on: bool) -> None:
        for b in self.mode_buttons.values():
            b.setEnabled(not on)
        self.cancel_button.setEnabled(on)

    def show_progress(self, p: Any) -> None:
        self.last_progress = p
        total = getattr(p, "total", None)
        done = getattr(p, "done", 0)
        phase = str(getattr(p, "phase", ""))
        message = getattr(p, "message", "")
        if total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(1.0, done / total)))
            self.bar.setFormat(f"{done:,} / {total:,}")
        else:
            self.bar.setRange(0, 0)
        self.phase_label.setText(core.phase_text(phase) + (f" — {message}" if message else ""))
        rate = getattr(p, "rate", 0.0) or 0.0
        self.rate_label.setText(f"{rate:,.0f} / s")
        self.eta_label.setText(format_eta(getattr(p, "eta_s", None)))
        self.failed_label.setText(f"{getattr(p, 'failed', 0):,}")
        counts = dict(getattr(p, "counts", {}) or {})
        self.counts_label.setText("   ".join(f"{label}: {n:,}" for label, n in sorted(counts.items())))

    def append_log(self, lines: list[str]) -> None:
        self.log_view.appendPlainText("\n".join(lines))

    def _done(self, summary: Any) -> None:
        self._active = False
        # Buttons follow the outcome at once: run_finished listeners may start the next run.
        self._set_running(False)
        status, text = core.summary_text(summary)
        self.summary.show_status(status, text)
        self.append_log([f"{time.strftime('%H:%M:%S')} {text}"])
        self.bar.setRange(0, 1000)
        self.bar.setValue(1000)
        self.bar.setFormat("Done" if status == "ok" else "Finished with problems")
        self.rate_label.setText("—")
        self.eta_label.setText("—")
        self.failed_label.setText(f"{getattr(summary, 'failed', 0):,}")
        counts = dict(getattr(summary, "counts", {}) or {})
        self.counts_label.setText("   ".join(f"{label}: {n:,}" for label, n in sorted(counts.items())))
        self._notify(text)
        self.run_finished.emit(core.summary_status(summary), summary)

    def _failed(self, exc: BaseException) -> None:
        self._active = False
        self._set_running(False)
        text = core.error_text(exc)
        cancelled = text == "Cancelled."
        self.summary.show_status("warning" if cancelled else "error", text if not cancelled else "Sync cancelled.")
        self.append_log([f"{time.strftime('%H:%M:%S')} {text}"])
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1000)
        self.bar.setFormat("Cancelled" if cancelled else "Failed")
        self.rate_label.setText("—")
        self.eta_label.setText("—")
        self._notify(text)
        self.run_finished.emit("cancelled" if cancelled else "failed", None)

    def _finished(self) -> None:
        self.ctx.sync_running = False
        self._set_running(False)
        self.phase_label.setText("Not running.")
        self.run_ended.emit()

    def _notify(self, text: str) -> None:
        window = self.window()
        in_background = not window.isActiveWindow() or window.isMinimized()
        if time.monotonic() - self._started_at < NOTIFY_AFTER_S or not in_background:
            return
        if self.tray is None and QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(app_icon(), self)
            self.tray.show()
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            self.tray.showMessage("Sync finished", text, QSystemTrayIcon.MessageIcon.Information, 8000)
        else:
            QApplication.alert(window)
