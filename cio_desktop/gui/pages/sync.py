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

from cio_desktop.gui import backend, plan_backend, platform
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.keys import CANCEL_KEY, SYNC_KEY
from cio_desktop.gui.plan_dialog import PlanDialog
from cio_desktop.gui.platform import native_keys
from cio_desktop.gui.resources import app_icon
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import Page, StatusLine, hint
from cio_desktop.gui.workers import JobCancelled, JobContext
from cio_desktop.sync.eta import eta_text
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.plan import Plan, PlanChanged
from cio_desktop.sync.progress import Progress
from cio_desktop.sync.run_people import Category
from cio_desktop.sync.runs import RunStatus
from cio_desktop.sync.summary import RunMode, RunSummary
from cio_desktop.sync.words import label_text, mode_text, planned_count_text

# A run longer than this that ends while the window is in the background gets a desktop notification.
NOTIFY_AFTER_S = 20.0
LOG_MAX_LINES = 5000

MODES = (
    (
        RunMode.INCREMENTAL,
        mode_text(RunMode.INCREMENTAL),
        "People updated and events created since the last sync (asks first if anyone would be deleted).",
    ),
    (
        RunMode.FULL,
        mode_text(RunMode.FULL),
        "Every person of the chosen segments, and deletions of people who left them; shows the plan and"
        " sends once you confirm.",
    ),
    (RunMode.DRY_RUN, mode_text(RunMode.DRY_RUN), "Plan everything, send nothing: see what a sync would do."),
)
MODE_NAMES = {mode: name for mode, name, _tip in MODES}
# What the progress bar says once a run is over.
END_TEXT = {
    RunStatus.COMPLETED: "Done",
    RunStatus.PARTIAL: "Done, with failures",
    RunStatus.INCOMPLETE: "Done, source not fully read",
    RunStatus.DELETIONS_WITHHELD: "Done, deletions withheld",
    RunStatus.CANCELLED: "Cancelled",
    RunStatus.FAILED: "Failed",
}
# Keyboard: Alt+letter on this page; "Sync changes" also Ctrl+R and Cancel also Ctrl+. from any page (main window).
# The same words as History and the CLI (sync/words.py), each with its first letter as the Alt key.
BUTTON_TEXT = {mode: f"&{name}" for mode, name in MODE_NAMES.items()}
CANCEL_TEXT = "&Cancel"


def shortcut_text(mode: RunMode) -> str:
    """The keys of a mode's button as this platform spells them (⌥S and ⌘R on a Mac)."""
    text = native_keys(QKeySequence.mnemonic(BUTTON_TEXT[mode]))
    if mode is RunMode.INCREMENTAL:
        text += f", or {native_keys(SYNC_KEY)} from any page"
    return text


# Phases of a plan or a dry run: nothing is sent, so no phase says "sending".
PLAN_PHASE_TEXT = {
    "starting": "starting",
    "users": "reading people",
    "deletions": "looking for people who left the segments",
    "objects": "working out accounts as objects",
    "events": "reading events",
    "finishing": "finishing",
    "done": "done",
}


class SyncPage(Page):
    """Signals: ``run_started(RunMode)`` (planning included); ``run_finished(RunStatus, RunSummary | None)``:
    how the run ended, and its summary (None when it raised instead of returning one, or when planning
    ended without a run: then the status is FAILED or CANCELLED); ``run_ended()`` once the run's worker
    is gone (after ``run_finished``); ``plan_ready(Plan)`` before the confirmation; ``plan_changed(str)``
    when a confirmed plan no longer held (the page plans again)."""

    run_started = Signal(RunMode)
    run_finished = Signal(RunStatus, object)
    run_ended = Signal()
    plan_ready = Signal(object)
    plan_changed = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Sync", "Send the chosen people and events to Customer.io now.", parent)
        self.ctx = ctx
        self.tray: QSystemTrayIcon | None = None
        self._started_at = 0.0
        self.last_progress: Progress | None = None
        self._active = False
        self.plan: Plan | None = None
        self.plan_dialog: PlanDialog | None = None
        self._stage = ""  # "planning" or "running"
        self._awaiting = False  # a plan waits for the user's confirmation (nothing runs meanwhile)
        self._cancelling = False
        self._sends_nothing = False  # planning or a dry run

        modes = QHBoxLayout()
        self.mode_buttons: dict[RunMode, QPushButton] = {}
        for mode, text, tip in MODES:
            b = QPushButton(BUTTON_TEXT[mode])
            b.setToolTip(f"{tip} ({shortcut_text(mode)})")
            b.setAccessibleName(text)
            b.setAccessibleDescription(tip)
            if mode is RunMode.INCREMENTAL:
                b.setObjectName("primary")
            b.clicked.connect(lambda _c=False, m=mode: self.request(m))
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
        modes_hint = hint(" · ".join(f"{t}: {tip}" for _m, t, tip in MODES))
        modes_hint.setToolTip("; ".join(f"{t}: {shortcut_text(m)}" for m, t, _tip in MODES))
        self.body_layout.addWidget(modes_hint)

        box = QGroupBox("Progress")
        bl = QVBoxLayout(box)
        self.phase_label = QLabel("Not running.")
        self.phase_label.setAccessibleName("Sync phase")
        self.phase_label.setToolTip(
            "What the sync is doing now: planning (reading, nothing sent), sending people, deletions, events"
        )
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Sync progress")
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.bar.setFormat("")
        self.bar.setToolTip("How far the current step is: people (or events) handled of those to handle")
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
        tips = (
            "People (or events) handled per second, over the last few seconds",
            "Time left in the current step: the longest of reading what is left, sending it at the speed"
            " requests went out so far, and sending it within Customer.io's rate limit (the profile's requests"
            " per second). \u201cestimating\u2026\u201d until a few seconds and a few batches went out;"
            " \u201croughly\u201d when a step's size is itself estimated (accounts: from those noted while"
            " reading people); for a step whose size cannot be known ahead (events, deletions), what it is doing.",
            "People and events Customer.io did not accept in this run (listed in History; sent again next run)",
        )
        for col, (title, value, tip) in enumerate(
            zip(
                ("Rate:", "Time left:", "Failed:"),
                (self.rate_label, self.eta_label, self.failed_label),
                tips,
                strict=True,
            )
        ):
            caption = QLabel(title)
            caption.setToolTip(tip)
            value.setToolTip(tip)
            grid.addWidget(caption, 0, 2 * col)
            grid.addWidget(value, 0, 2 * col + 1)
        grid.setColumnStretch(6, 1)
        bl.addLayout(grid)
        self.counts_label = QLabel("")
        self.counts_label.setWordWrap(True)
        self.counts_label.setAccessibleName("Counts per decision")
        self.counts_label.setToolTip(
            "How many people and events got each decision so far: created, updated, unchanged (nothing to"
            " send), not sent and why; while planning and in a dry run, what the run would do (nothing is"
            " sent). History lists every person with the decision and its reason."
        )
        bl.addWidget(self.counts_label)
        self.body_layout.addWidget(box)

        self.summary = StatusLine(name="Sync summary")
        self.summary.setToolTip("The outcome of the last sync, in the same numbers as its line in History")
        self.body_layout.addWidget(self.summary)
        log_title = QLabel("Log")
        log_title.setToolTip("What this sync did, line by line (the app's log file has more)")
        self.body_layout.addWidget(log_title)
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

    def request(self, mode: RunMode | str) -> None:
        """What the buttons (and the sync key) do: a dry run starts at once; a full sync is planned first
        and starts once the user confirmed the plan; "Sync changes" is planned first too and asks only
        when it would delete anyone (otherwise it starts, bounded by its plan: it deletes nobody)."""
        run_mode = RunMode(mode)
        if run_mode is RunMode.DRY_RUN:
            self.start(run_mode)
        else:
            self.plan_first(run_mode)

    def plan_first(self, mode: RunMode, *, keep_log: bool = False) -> None:
        """Compute the plan of a run of ``mode`` on a worker, then confirm it (see :meth:`request`)."""
        profile = self.ctx.profile
        if profile is None or self.running or self._awaiting:
            return
        if not profile.segments:
            self.summary.show_status(ErrorKind.WARNING, "No segment chosen on the Audience page: nobody would be sent.")
            return
        secrets, secret_name = self.ctx.secrets, self.ctx.secret_name
        self.plan = None
        self._begin(mode, "Planning", keep_log=keep_log)
        self.summary.show_status(
            ErrorKind.BUSY, f"Planning the {MODE_NAMES[mode].lower()}: nothing is sent until you confirm…"
        )
        self.ctx.runner.submit(
            self.ctx.key("sync"),
            lambda job: plan_backend.plan_sync(profile, secrets, secret_name, mode, job),
            on_result=self._planned,
            on_error=self._plan_failed,
            on_progress=self.show_progress,
        )

    def _begin(self, mode: RunMode, what: str, *, keep_log: bool = False) -> None:
        self._stage = "planning" if what == "Planning" else "running"
        self._sends_nothing = self._stage == "planning" or mode is RunMode.DRY_RUN
        self._cancelling = False
        self._started_at = time.monotonic()
        self.last_progress = None
        self.ctx.sync_running = True
        self._active = True
        self._set_running(True)
        if not keep_log:
            self.log_view.clear()
        self.counts_label.setText("")
        self.bar.setRange(0, 0)
        self.phase_label.setText(f"{what}…")
        self.append_log([f"{time.strftime('%H:%M:%S')} {what} {MODE_NAMES[mode]}"])
        self.run_started.emit(mode)

    def _planned(self, plan: Plan) -> None:
        self.plan = plan
        self._active = False
        self.append_log([f"{time.strftime('%H:%M:%S')} Plan ready in {plan.seconds:.1f} s (nothing sent):"])
        self.append_log(["    " + line.strip() for line in plan.lines()[2:]])
        self.plan_ready.emit(plan)
        if plan.mode is RunMode.INCREMENTAL and not plan.deletions and not plan.count(Category.WITHHELD):
            self.start(plan.mode, plan=plan)
            return
        self._awaiting = True  # the run waits for the user's word: no other run starts meanwhile
        self.cancel_button.setEnabled(False)
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFormat("Waiting for your confirmation")
        self.phase_label.setText("Waiting for your confirmation: nothing has been sent.")
        self.summary.show_status(ErrorKind.PLAIN, "Confirm the plan to send it, or close it to send nothing.")
        dialog = PlanDialog(self.ctx, plan, self)
        dialog.confirmed.connect(lambda confirmed: self._confirmed(confirmed))
        dialog.rejected.connect(self._refused)
        self.plan_dialog = dialog
        dialog.open()

    def _confirmed(self, plan: Plan) -> None:
        self._awaiting = False
        self.start(plan.mode, plan=plan)

    def _refused(self) -> None:
        self._idle("Nothing was sent: the plan was not confirmed.", ErrorKind.PLAIN, RunStatus.CANCELLED)

    def _plan_failed(self, exc: BaseException) -> None:
        if isinstance(exc, JobCancelled):
            self._idle("Planning cancelled: nothing was sent.", ErrorKind.WARNING, RunStatus.CANCELLED)
        else:
            text = "The plan could not be made, so nothing was sent: " + backend.error_text(exc)
            self._idle(text, ErrorKind.ERROR, RunStatus.FAILED)

    def _idle(self, text: str, kind: ErrorKind, status: RunStatus) -> None:
        """Back to idle after planning, without a run: say why, and let listeners know nothing ran."""
        self._active = False
        self._awaiting = False
        self.ctx.sync_running = False
        self._set_running(False)
        self.summary.show_status(kind, text)
        self.append_log([f"{time.strftime('%H:%M:%S')} {text}"])
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFormat("Nothing sent")
        self.phase_label.setText("Not running.")
        self.run_finished.emit(status, None)
        self.run_ended.emit()

    def start(self, mode: RunMode | str, approval: DeletionApproval | None = None, *, plan: Plan | None = None) -> None:
        """Start a run (``mode`` may be given by its value, "full"); ``approval`` carries deletions the
        user approved in History, ``plan`` a plan the user confirmed (the run is bounded by it)."""
        run_mode = RunMode(mode)
        profile = self.ctx.profile
        if profile is None or self.running or self._awaiting:
            return
        if not profile.segments:
            self.summary.show_status(ErrorKind.WARNING, "No segment chosen on the Audience page: nobody would be sent.")
            return
        secrets, secret_name = self.ctx.secrets, self.ctx.secret_name
        self._begin(run_mode, "Starting", keep_log=plan is not None)  # the plan's lines stay above the run's
        self.summary.show_status(ErrorKind.BUSY, f"Starting the {MODE_NAMES[run_mode].lower()}…")
        if plan is not None:
            approval = None  # the plan carries the approval (at most its deletions)
            self.append_log([f"{time.strftime('%H:%M:%S')} Sending the confirmed plan"])
        if approval is not None:
            approved = f"with your approval to delete up to {approval.max_count:,} people"
            self.append_log([f"{time.strftime('%H:%M:%S')} {approved}"])

        def work(job: JobContext) -> RunSummary | PlanChanged:
            return backend.run_sync(profile, secrets, secret_name, run_mode, job, approval, plan)

        self.ctx.runner.submit(
            self.ctx.key("sync"),
            work,
            on_result=self._done,
            on_error=self._failed,
            on_progress=self.show_progress,
            on_log=self.append_log,
            on_finished=self._finished,
        )

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
            self._cancelling = True
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
        planning = self._stage == "planning"
        if planning:
            phase = "Planning: " + PLAN_PHASE_TEXT.get(p.phase, p.phase)
        elif self._sends_nothing:
            phase = "Dry run: " + PLAN_PHASE_TEXT.get(p.phase, p.phase)
        else:
            phase = backend.phase_text(p.phase)
        self.phase_label.setText(phase + (f" — {p.message}" if p.message else ""))
        if not self._cancelling:
            what = f"{phase}: {p.done:,}" + (f" of {p.total:,}" if p.total else "") + "…"
            self.summary.show_status(ErrorKind.BUSY, what)
        self.rate_label.setText(f"{p.rate:,.0f} / s")
        self.eta_label.setText(eta_text(p.eta, p.phase, then=self._after(p.phase)))
        self.failed_label.setText(f"{p.failed:,}")
        self._show_counts(p.counts)

    def _after(self, phase: str) -> str:
        """What a run of this profile does after ``phase`` (accounts, events): not in the time left."""
        profile = self.ctx.profile
        if profile is None:
            return ""
        steps = {"users": [("accounts", profile.objects.enabled), ("events", bool(profile.events))]}
        steps["deletions"] = steps["users"]
        steps["objects"] = [("events", bool(profile.events))]
        return " and ".join(name for name, on in steps.get(phase, []) if on)

    def _show_counts(self, counts: Mapping[str, int]) -> None:
        ordered = sorted(counts.items(), key=lambda kv: -kv[1])
        if self._sends_nothing:  # a plan or a dry run: its counts are what it would do
            self.counts_label.setText("   ".join(planned_count_text(label, n) for label, n in ordered))
        else:
            self.counts_label.setText("   ".join(f"{label_text(label)}: {n:,}" for label, n in ordered))

    def append_log(self, lines: list[str]) -> None:
        self.log_view.appendPlainText("\n".join(lines))

    def _done(self, result: RunSummary | PlanChanged) -> None:
        if isinstance(result, PlanChanged):
            # The source moved since the user confirmed: nothing was sent; plan again and ask again.
            mode = self.plan.mode if self.plan is not None else RunMode.FULL
            self._active = False
            self.append_log([f"{time.strftime('%H:%M:%S')} {result.message}"])
            self.plan_changed.emit(result.reason)
            self.plan_first(mode, keep_log=True)
            self.summary.show_status(ErrorKind.WARNING, result.message)
            return
        summary = result
        self._active = False
        # Buttons follow the outcome at once: run_finished listeners may start the next run.
        self._set_running(False)
        kind, text = backend.summary_text(summary)
        self.summary.show_status(kind, text)
        self.append_log([f"{time.strftime('%H:%M:%S')} {text}"])
        self.bar.setRange(0, 1000)
        self.bar.setValue(1000)
        self.bar.setFormat(END_TEXT.get(summary.status, "Finished with problems"))
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
