"""First-run wizard: Connect, Audience, Events, Identity and fields, Preview; saved only on Finish.

It works on its own context (``autosave=False``, secrets in memory under a draft name), so
cancelling leaves nothing behind; Finish writes the profile and copies the secrets to the real store.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QListWidget,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.config.profile import Profile, SourceKind
from cio_desktop.config.secrets import SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui import backend
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.pages.audience import AudiencePage
from cio_desktop.gui.pages.connect import ConnectPage
from cio_desktop.gui.pages.events import EventsPage
from cio_desktop.gui.pages.fields import FieldsPage
from cio_desktop.gui.pages.preview import PreviewPage
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import StatusLine
from cio_desktop.gui.workers import JobContext, JobRunner

DRAFT_OWNER = "wizard-draft"
STEPS = ("Connect", "Audience", "Events", "Identity and fields", "Preview")


def suggest_name(existing: list[str]) -> str:
    base = "My workspace"
    if base not in existing:
        return base
    n = 2
    while f"{base} {n}" in existing:
        n += 1
    return f"{base} {n}"


class SetupWizard(QDialog):
    """Signals: ``profile_created(Profile)`` once the profile and its secrets are saved."""

    profile_created = Signal(object)

    def __init__(
        self,
        runner: JobRunner,
        store: ProfileStore,
        secrets: SecretStore,
        existing: list[str],
        *,
        start: Profile | None = None,
        source: SourceKind = SourceKind.HULL_API,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set up a connection")
        self.setAccessibleName("Setup wizard")
        self.resize(980, 700)
        self.real_secrets = secrets
        self.store = store
        self.existing = existing
        self.ctx = AppContext(runner, store, SecretStore.in_memory(), autosave=False, parent=self)
        self.ctx.secret_owner = DRAFT_OWNER
        self.ctx.display_secrets = secrets
        self.ctx.set_profile(start or Profile(name=suggest_name(existing), source=source), reload_catalog=False)

        self.connect_page = ConnectPage(self.ctx, show_name=True)
        self.audience_page = AudiencePage(self.ctx, ask_nobody=True)
        self.events_page = EventsPage(self.ctx)
        self.fields_page = FieldsPage(self.ctx)
        self.preview_page = PreviewPage(self.ctx)
        self.pages: list[QWidget] = [
            self.connect_page,
            self.audience_page,
            self.events_page,
            self.fields_page,
            self.preview_page,
        ]

        self.steps = QListWidget()
        self.steps.setObjectName("sidebar")
        self.steps.setAccessibleName("Setup steps")
        self.steps.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.steps.setFixedWidth(200)
        self.steps.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for i, s in enumerate(STEPS):
            self.steps.addItem(f"{i + 1}. {s}")
        self.stack = QStackedWidget()
        for p in self.pages:
            self.stack.addWidget(p)

        self.problem = StatusLine(name="Why you cannot continue")
        # Two lines of room whether or not there is a problem: the buttons never move under the mouse.
        self.problem.setMinimumHeight(self.problem.fontMetrics().lineSpacing() * 2)
        policy = self.problem.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.problem.setSizePolicy(policy)
        self.back_button = QPushButton("Back")
        self.next_button = QPushButton("Next")
        self.next_button.setObjectName("primary")
        self.next_button.setDefault(True)
        self.finish_button = QPushButton("Save and finish")
        self.finish_button.setObjectName("primary")
        self.cancel_button = QPushButton("Cancel")
        for b in (self.back_button, self.next_button, self.finish_button, self.cancel_button):
            b.setAccessibleName(b.text())
            b.setAutoDefault(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.problem, 1)
        buttons.addStretch(0)  # keeps the buttons at their size while there is no problem to show
        for b in (self.cancel_button, self.back_button, self.next_button, self.finish_button):
            buttons.addWidget(b, 0, Qt.AlignmentFlag.AlignTop)

        right = QVBoxLayout()
        right.addWidget(self.stack, 1)
        right.addLayout(buttons)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 12, 12)
        outer.addWidget(self.steps)
        outer.addLayout(right, 1)

        self.back_button.clicked.connect(lambda: self.go(self.stack.currentIndex() - 1))
        self.next_button.clicked.connect(self.next)
        self.finish_button.clicked.connect(self.finish)
        self.cancel_button.clicked.connect(self.reject)
        self.go(0)

    @property
    def current(self) -> int:
        return self.stack.currentIndex()

    def go(self, index: int) -> None:
        index = max(0, min(len(self.pages) - 1, index))
        self.stack.setCurrentIndex(index)
        self.steps.setCurrentRow(index)
        self.back_button.setEnabled(index > 0)
        last = index == len(self.pages) - 1
        self.next_button.setVisible(not last)
        self.finish_button.setVisible(last)
        self.problem.clear_status()
        self.pages[index].setFocus(Qt.FocusReason.OtherFocusReason)

    def step_problem(self, index: int) -> str:
        """Why the user cannot leave step ``index`` yet ("" when they can)."""
        p = self.ctx.profile
        assert p is not None
        if index == 0:
            name = self.connect_page.name_edit.text().strip()
            if name != p.name:
                return self.ctx.update(name=name) or ""
            if p.name in self.existing:
                return f"A profile named “{p.name}” already exists: choose another name."
            if p.source is SourceKind.FILES and not p.files.users_path:
                return "Choose the Users file (a Hull export)."
            if p.source is SourceKind.FILES and self.connect_page.files_checking:
                return "Wait for the file check to finish."
            if p.source is SourceKind.FILES and self.connect_page.files_error:
                return self.connect_page.files_error
            if p.source is SourceKind.HULL_API and not (p.hull_organization and p.hull_connector_id):
                return "Fill in the Hull organization and connector ID."
            if not p.cio_site_id:
                return "Fill in the Customer.io Site ID."
            if self.connect_page.endpoints.problem:
                return self.connect_page.endpoints.problem
        if index == 1 and not p.segments and not self.audience_page.nobody_chosen:
            return "Choose at least one segment, or tick “Send nobody for now”."
        if index == 3:
            problems = self.fields_page.model.problems()
            if problems:
                row, text = problems[0]
                return f"Attribute row {row + 1}: {text}"
        return ""

    def next(self) -> None:
        if self.current == 0:
            self.connect_page.commit(on_done=self.ctx.load_catalog)
        problem = self.step_problem(self.current)
        if problem:
            self.problem.show_status(ErrorKind.ERROR, problem)
            return
        self.go(self.current + 1)

    def finish(self) -> None:
        for i in range(len(self.pages)):
            problem = self.step_problem(i)
            if problem:
                self.go(i)
                self.problem.show_status(ErrorKind.ERROR, problem)
                return
        profile = self.ctx.profile
        assert profile is not None
        draft, real, store = self.ctx.secrets, self.real_secrets, self.store
        self.finish_button.setEnabled(False)
        self.problem.show_status(ErrorKind.BUSY, "Saving…")

        def work(_job: JobContext) -> Profile:
            store.save(profile)
            for key in backend.PROFILE_SECRETS:
                value = draft.get(DRAFT_OWNER, key)
                if value:
                    real.set(profile.name, key, value)
            return profile

        def saved(p: Profile) -> None:
            self.profile_created.emit(p)
            self.accept()

        def failed(exc: BaseException) -> None:
            self.finish_button.setEnabled(True)
            self.problem.show_status(ErrorKind.ERROR, backend.error_text(exc))

        self.ctx.runner.submit(self.ctx.key("wizard-save"), work, on_result=saved, on_error=failed, serial=True)
