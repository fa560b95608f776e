"""Sync: run a full, incremental or dry run, watch it live, cancel it, read the summary."""

from __future__ import annotations

import time
from collections.abc import Mapping

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

from cio_desktop.gui import backend, platform, responsive
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.keys import CANCEL_KEY, SYNC_KEY
from cio_desktop.gui.platform import native_keys
from cio_desktop.gui.resources import app_icon
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import Page, StatusLine, hint
from cio_desktop.gui.workers import JobCancelled, JobContext
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.progress import Progress
from cio_desktop.sync.runs import RunStatus
from cio_desktop.sync.summary import RunMode, RunSummary

# A run longer than this that ends while the window is in the background gets a desktop notification.
NOTIFY_AFTER_S = 20.0
LOG_MAX_LINES = 5000

MODES = (
    (RunMode.INCREMENTAL, "Sync changes", "People updated and events created since the last sync."),
    (RunMode.FULL, "Full sync", "Every person of the chosen segments, and deletions of people who left them."),
    (RunMode.DRY_RUN, "Dry run", "Plan everything, send nothing: see what a sync would do."),
)
MODE_NAMES = {mode: name for mode, name, _tip in MODES}
# Keyboard: Alt+letter on this page; "Sync changes" also Ctrl+R and Cancel also Ctrl+. from any page (main window).
BUTTON_TEXT = {RunMode.INCREMENTAL: "&Sync changes", RunMode.FULL: "&Full sync", RunMode.DRY_RUN: "&Dry run"}
CANCEL_TEXT = "&Cancel"


def shortcut_text(mode: RunMode) -> str:
    """The keys of a mode's button as this platform spells them (⌥S and ⌘R on a Mac)."""
    text = native_keys(QKeySequence.mnemonic(BUTTON_TEXT[mode]))
    if mode is RunMode.INCREMENTAL:
        text += f", or {native_keys(SYNC_KEY)} from any page"
    return text


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
    """Signals: ``run_started(RunMode)``; ``run_finished(RunStatus, RunSummary | None)``: how the run
    ended, and its summary (None when it raised instead of returning one: then the status is FAILED or
    CANCELLED); ``run_ended()`` once the run's worker is gone (after ``run_finished``)."""

    run_started = Signal(RunMode)
    run_finished = Signal(RunStatus, object)
    run_ended = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Sync", "Send the chosen people and events to Customer.io now.", parent)
        self.ctx = ctx
        self.tray: QSystemTrayIcon | None = None
        self._started_at = 0.0
        self.last_progress: Progress | None = None
        self._active = False

        modes = QHBoxLayout()
        self.mode_buttons: dict[RunMode, QPushButton] = {}
        for mode, text, tip in MODES:
            b = QPushButton(BUTTON_TEXT[mode])
            b.setToolTip(f"{tip} ({shortcut_text(mode)})")
            b.setAccessibleName(text)
            b.setAccessibleDescription(tip)
            if mode is RunMode.INCREMENTAL:
                b.setObjectName("primary")
            b.clicked.connect(lambda _c=False, m=mode: self.start(m))
            modes.addWidget(b)
            self.mode_buttons[mode] = b
        self.cancel_button = QPushButton(CANCEL_TEXT)
        self.cancel_button.setAccessibleName("Cancel the running sync")
        self.cancel_button.setToolTip(
            f"Stop after the batch in flight (Esc or {native_keys(QKeySequence.mnemonic(CANCEL_TEXT))} on this page, "
            f"{native_keys(CANCEL_KEY)} from any page)"
        )
        # Esc cancels while the focus is on this page (it is not a dialog: Esc has no other meaning here).
        self.escape_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self.escape_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.escape_shortcut.activated.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.mnemonic_shortcuts = self._mnemonic_shortcuts()
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

    def start(self, mode: RunMode | str, approval: DeletionApproval | None = None) -> None:
        """Start a run (``mode`` may be given by its value, "full"); ``approval`` carries deletions the
        user approved in History."""
        run_mode = RunMode(mode)
        profile = self.ctx.profile
        if profile is None or self.running:
            return
        if not profile.segments:
            self.summary.show_status(ErrorKind.WARNING, "No segment chosen on the Audience page: nobody would be sent.")
            return
        secrets, secret_name = self.ctx.secrets, self.ctx.secret_name
        self._started_at = time.monotonic()
        self.last_progress = None
        self.ctx.sync_running = True
        self._active = True
        self._set_running(True)
        self.summary.show_status(ErrorKind.BUSY, "Starting…")
        self.log_view.clear()
        self.counts_label.setText("")
        self.bar.setRange(0, 0)
        self.append_log([f"{time.strftime('%H:%M:%S')} {MODE_NAMES[run_mode]} started"])
        if approval is not None:
            approved = f"with your approval to delete up to {approval.max_count:,} people"
            self.append_log([f"{time.strftime('%H:%M:%S')} {approved}"])

        def work(job: JobContext) -> RunSummary:
            # Held for exactly the run's lifetime, on the worker: released even if the window is gone.
            responsive.hold()
            try:
                return backend.run_sync(profile, secrets, secret_name, run_mode, job, approval)
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
        self.run_started.emit(run_mode)

    def _mnemonic_shortcuts(self) -> list[QShortcut]:
        """Qt ignores ``&`` mnemonics on macOS, so there the buttons' Alt (⌥) keys are real shortcuts."""
        if not platform.is_macos():
            return []  # a shortcut beside the mnemonic would make the key ambiguous: neither would fire
        shortcuts = []
        for button in (*self.mode_buttons.values(), self.cancel_button):
            shortcut = QShortcut(QKeySequence.mnemonic(button.text()), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(button.animateClick)
            shortcuts.append(shortcut)
        return shortcuts

    def cancel(self) -> None:
        if self.running:
            self.ctx.runner.cancel(self.ctx.key("sync"))
            self.cancel_button.setEnabled(False)
            self.summary.show_status(ErrorKind.BUSY, "Cancelling: finishing the batch in flight…")

    def _set_running(self, on: bool) -> None:
        for b in self.mode_buttons.values():
            b.setEnabled(not on)
        self.cancel_button.setEnabled(on)

    def show_progress(self, p: Progress) -> None:
        self.last_progress = p
        fraction = p.fraction
        if fraction is not None:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * fraction))
            self.bar.setFormat(f"{p.done:,} / {p.total:,}")
        else:
            self.bar.setRange(0, 0)
        self.phase_label.setText(backend.phase_text(p.phase) + (f" — {p.message}" if p.message else ""))
        self.rate_label.setText(f"{p.rate:,.0f} / s")
        self.eta_label.setText(format_eta(p.eta_s))
        self.failed_label.setText(f"{p.failed:,}")
        self._show_counts(p.counts)

    def _show_counts(self, counts: Mapping[str, int]) -> None:
        self.counts_label.setText("   ".join(f"{label}: {n:,}" for label, n in sorted(counts.items())))

    def append_log(self, lines: list[str]) -> None:
        self.log_view.appendPlainText("\n".join(lines))

    def _done(self, summary: RunSummary) -> None:
        self._active = False
        # Buttons follow the outcome at once: run_finished listeners may start the next run.
        self._set_running(False)
        kind, text = backend.summary_text(summary)
        self.summary.show_status(kind, text)
        self.append_log([f"{time.strftime('%H:%M:%S')} {text}"])
        self.bar.setRange(0, 1000)
        self.bar.setValue(1000)
        self.bar.setFormat("Done" if kind is ErrorKind.OK else "Finished with problems")
        self.rate_label.setText("—")
        self.eta_label.setText("—")
        self.failed_label.setText(f"{summary.failed:,}")
        self._show_counts(summary.counts)
        self._notify(text)
        self.run_finished.emit(summary.status, summary)

    def _failed(self, exc: BaseException) -> None:
        self._active = False
        self._set_running(False)
        text = backend.error_text(exc)
        cancelled = isinstance(exc, JobCancelled)
        if cancelled:
            self.summary.show_status(ErrorKind.WARNING, "Sync cancelled.")
        else:
            self.summary.show_status(ErrorKind.ERROR, text)
        self.append_log([f"{time.strftime('%H:%M:%S')} {text}"])
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1000)
        self.bar.setFormat("Cancelled" if cancelled else "Failed")
        self.rate_label.setText("—")
        self.eta_label.setText("—")
        self._notify(text)
        self.run_finished.emit(RunStatus.CANCELLED if cancelled else RunStatus.FAILED, None)

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
