"""First launch and first steps: the welcome screen while no profile exists, then the "next step" bar.

The welcome screen stands in for the main window's pages until a profile exists, so nothing half set up
can be clicked behind the wizard. Once a profile is set up, the next-step bar points at the Preview,
then at the Sync page; it only points (every page stays open) and goes away after the first sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cio_desktop import APP_TITLE
from cio_desktop.config.profile import Profile, SourceKind
from cio_desktop.gui.widgets import hint

if TYPE_CHECKING:
    from cio_desktop.gui.main_window import MainWindow
    from cio_desktop.gui.wizard import SetupWizard

INTRO = (
    "This app sends the people of a Hull organization, and the events you choose, to a Customer.io "
    "workspace, and can bring Customer.io's email activity back. How do you want to start?"
)
CHOICES = (
    (
        "demo",
        "Try the demo",
        "A sample organization and workspace running on this computer: every page works with real numbers. "
        "Nothing is sent anywhere and nothing is kept when you close it.",
    ),
    (
        "connect",
        "Connect Hull and Customer.io",
        "Hull's platform was switched off at the end of 2022, so hullapp.io organizations no longer answer. "
        "Choose this for a Hull-compatible service or a test environment that still does.",
    ),
    (
        "files",
        "Use Hull export files",
        "Send the users (and events) you exported from Hull before it closed: the way to go for most "
        "former Hull customers.",
    ),
)


class WelcomeScreen(QWidget):
    """Signals: ``chosen(str)``: "demo", "connect", "files" or "import"."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Welcome")
        column = QWidget()
        column.setMaximumWidth(720)
        cl = QVBoxLayout(column)
        cl.setSpacing(12)
        title = QLabel(f"Welcome to {APP_TITLE}")
        title.setObjectName("pageTitle")
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        cl.addWidget(title)
        cl.addWidget(intro)
        self.buttons: dict[str, QPushButton] = {}
        for key, text, explained in CHOICES:
            card = QFrame()
            card.setObjectName("card")
            box = QVBoxLayout(card)
            box.setContentsMargins(14, 12, 14, 12)
            button = QPushButton(text)
            button.setAccessibleName(text)
            button.setAccessibleDescription(explained)
            button.setMinimumWidth(260)
            button.clicked.connect(lambda _c=False, k=key: self.chosen.emit(k))
            box.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)
            box.addWidget(hint(explained))
            cl.addWidget(card)
            self.buttons[key] = button
        self.buttons["demo"].setObjectName("primary")
        self.import_button = QPushButton("Import a profile file…")
        self.import_button.setFlat(True)
        self.import_button.setAccessibleName("Import a profile file")
        self.import_button.clicked.connect(lambda: self.chosen.emit("import"))
        cl.addWidget(self.import_button, 0, Qt.AlignmentFlag.AlignLeft)
        # Centred with stretches, not alignment flags: an aligned widget gets its size hint, and the wrapped
        # explanations their one-line height.
        middle = QHBoxLayout()
        middle.addStretch(1)
        middle.addWidget(column, 4)
        middle.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(middle)
        outer.addStretch(2)


class NextStep(QFrame):
    """One line under the header: what to do next, a button that opens that page, and Hide."""

    STEPS = {
        "Preview": "Next step: Preview what will be sent to Customer.io (nothing is sent yet).",
        "Sync": "Next step: Run your first sync. The Sync page shows its progress and what was sent.",
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setAccessibleName("Next step")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 6, 12, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.go_button = QPushButton()
        self.go_button.setObjectName("primary")
        self.hide_button = QToolButton()
        self.hide_button.setText("Hide")
        self.hide_button.setAccessibleName("Hide the next step")
        self.hide_button.setAutoRaise(True)
        row.addWidget(self.label, 1)
        row.addWidget(self.go_button)
        row.addWidget(self.hide_button)
        self.page = ""  # the page the bar points at ("" when hidden)
        self.hide_button.clicked.connect(self.finish)
        self.setVisible(False)

    def point_at(self, page: str) -> None:
        self.page = page
        self.label.setText(self.STEPS[page])
        self.go_button.setText(f"Open {page}")
        self.go_button.setAccessibleName(f"Open the {page} page")
        self.setVisible(True)

    def finish(self) -> None:
        self.page = ""
        self.setVisible(False)


class Onboarding(QObject):
    """Wires the welcome screen and the next-step bar into ``window``.

    Signals: ``demo_requested()``: "Try the demo" was chosen (app.py opens the demo window).
    """

    demo_requested = Signal()

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.welcome = WelcomeScreen()
        self.next_step = NextStep()
        self.stack = QStackedWidget()
        self._profile = ""  # the profile the next step is for
        self.welcome.chosen.connect(self._chosen)
        self.next_step.go_button.clicked.connect(lambda: window.show_page(self.next_step.page))
        window.ctx.profile_changed.connect(self._profile_changed)
        window.profiles_loaded.connect(self._profiles_loaded)
        window.wizard_opened.connect(self._wizard_opened)
        window.sidebar.currentRowChanged.connect(self._page_shown)
        window.sync_page.run_finished.connect(lambda *_: self.next_step.finish())
        self._profile_changed(window.ctx.profile)

    def screens(self, pages: QWidget) -> QStackedWidget:
        """The window's central widget: ``pages`` (the header, sidebar and pages) or the welcome screen."""
        self.stack.addWidget(pages)
        self.stack.addWidget(self.welcome)
        return self.stack

    @property
    def welcome_shown(self) -> bool:
        return self.stack.currentWidget() is self.welcome

    def start(self, profile: str) -> None:
        """``profile`` was just set up (wizard or demo): point at its first steps."""
        self._profile = profile
        self.next_step.point_at("Preview")
        self._page_shown(self.window.sidebar.currentRow())

    def _chosen(self, choice: str) -> None:
        if choice == "demo":
            self.demo_requested.emit()
        elif choice == "import":
            self.window.import_profile()
        else:
            self.window.open_wizard(SourceKind.FILES if choice == "files" else SourceKind.HULL_API)

    def _profile_changed(self, profile: Profile | None) -> None:
        # No profile: nothing on the pages can work yet, so none of them can be clicked.
        self.window.sidebar.setEnabled(profile is not None)
        self.window.stack.setEnabled(profile is not None)
        if profile is not None:
            self.stack.setCurrentIndex(0)
            if profile.name != self._profile:
                self.next_step.finish()  # another profile: its first steps are not this one's

    def _profiles_loaded(self, names: list[str]) -> None:
        if not names:
            self.next_step.finish()
            self.stack.setCurrentWidget(self.welcome)
            self.welcome.buttons["demo"].setFocus(Qt.FocusReason.OtherFocusReason)  # keyboard users start here

    def _wizard_opened(self, wizard: SetupWizard) -> None:
        wizard.profile_created.connect(lambda p: self.start(p.name))

    def _page_shown(self, row: int) -> None:
        if self.next_step.page == "Preview" and self.window.page_names[row] == "Preview":
            self.next_step.point_at("Sync")
