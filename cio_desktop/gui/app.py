"""Start the Qt application and open the main window (optionally on the built-in demo organization)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from cio_desktop import APP_NAME, APP_TITLE, __version__
from cio_desktop.config import paths
from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui import backend, platform
from cio_desktop.gui.resources import app_icon, stylesheet
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.workers import JobContext, JobRunner
from cio_desktop.webhooks.demo_event import demo_signing_key

if TYPE_CHECKING:
    from cio_desktop.gui.main_window import MainWindow
    from cio_desktop.sandbox.child import SandboxProcess

DEMO_USERS = 2000
DEMO_SEED = 7


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication with name, icon and stylesheet (reused when one exists, as in tests)."""
    platform.set_app_user_model_id()  # before any window, so the taskbar and notifications use it
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_TITLE)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_NAME)  # matches resources/cio-desktop.desktop on Linux
    app.setWindowIcon(app_icon())
    # The stylesheet only uses palette() colours, so it follows the OS light/dark scheme; re-polish on change.
    follow_color_scheme(app)
    app.styleHints().colorSchemeChanged.connect(lambda _s: follow_color_scheme(app))
    return app


def follow_color_scheme(app: QApplication) -> None:
    """Use a dark palette when the OS says dark but the platform theme handed Qt a light one.

    Native themes (macOS, Windows 11, GNOME/KDE platform themes) already switch palettes; this covers
    the rest (e.g. the Fusion style under a desktop that only reports its colour scheme).
    """
    global _dark_applied
    dark = app.styleHints().colorScheme() == Qt.ColorScheme.Dark
    if platform.is_windows():
        windows_style_for_scheme(app, dark)  # first: a new style resets the palette
    if dark and not _dark_applied and app.palette().color(QPalette.ColorRole.Window).lightness() > 128:
        app.setPalette(dark_palette())
        _dark_applied = True
    elif not dark and _dark_applied:
        app.setPalette(app.style().standardPalette())
        _dark_applied = False
    app.setStyleSheet(stylesheet())


_native_style: str | None = None  # the Windows style set aside while the scheme is dark


def windows_style_for_scheme(app: QApplication, dark: bool) -> None:
    """Windows 10's native style ("windowsvista") draws light whatever the palette, so in dark mode use
    Fusion, which follows it; back to the native style when the scheme turns light (Windows 11's own
    style follows the palette and is kept)."""
    global _native_style
    name = app.style().name().lower()
    if dark and name == "windowsvista":
        _native_style = name
        app.setStyle("Fusion")
    elif not dark and _native_style is not None:
        app.setStyle(_native_style)
        _native_style = None


_dark_applied = False


def dark_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#2b2d31",
        QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1f2023",
        QPalette.ColorRole.AlternateBase: "#26282c",
        QPalette.ColorRole.Text: "#e6e6e6",
        QPalette.ColorRole.Button: "#34363b",
        QPalette.ColorRole.ButtonText: "#e6e6e6",
        QPalette.ColorRole.ToolTipBase: "#34363b",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.Highlight: "#3d7bd9",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#6ea8ff",
        QPalette.ColorRole.PlaceholderText: "#9a9ca3",
        QPalette.ColorRole.Mid: "#4a4d54",
        QPalette.ColorRole.Midlight: "#3c3f45",
        QPalette.ColorRole.Dark: "#1a1b1e",
        QPalette.ColorRole.Shadow: "#000000",
        QPalette.ColorRole.BrightText: "#ffffff",
    }
    for role, color in roles.items():
        p.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7d7f85"))
    return p


class DemoSession(QObject):
    """The in-process sandbox behind demo mode: started on a worker so the window paints first.

    Signals: ``ready(Profile)`` once the demo profile is saved and its secrets are in memory;
    ``failed(str)`` if the sandbox could not start.
    """

    ready = Signal(object)
    failed = Signal(str)

    def __init__(
        self, runner: JobRunner, store: ProfileStore, secrets: SecretStore, home: str | None, users: int = DEMO_USERS
    ) -> None:
        super().__init__()
        self.runner = runner
        self.store = store
        self.secrets = secrets
        self.home = home
        self.users = users
        self.sandbox: SandboxProcess | None = None

    def start(self) -> None:
        store, secrets, users = self.store, self.secrets, self.users

        def work(_job: JobContext) -> tuple[SandboxProcess, Profile]:
            from cio_desktop.sandbox.child import SandboxProcess

            # In a child process: serving a sync's requests must not compete with the window for the GIL.
            sandbox = SandboxProcess(users=users, seed=DEMO_SEED)
            info = sandbox.start()
            try:
                # The demo's "Customer.io" is on this machine: the receiver's own address is the public
                # URL, on a port that is free now, so the webhook page works end to end (Send test event).
                port = _free_loopback_port()
                profile = info.profile.replace(
                    webhook_listen=f"127.0.0.1:{port}", webhook_public_url=f"http://127.0.0.1:{port}"
                )
                store.save(profile)
                for key, value in info.secrets.items():
                    secrets.set(profile.name, SecretKey(key), value)
                # Signed like Customer.io's, so the demo's "Send test event" shows signatures being checked.
                secrets.set(profile.name, SecretKey.WEBHOOK_SIGNING_KEY, demo_signing_key())
            except BaseException:
                sandbox.stop()
                raise
            return sandbox, profile

        def started(result: tuple[SandboxProcess, Profile]) -> None:
            self.sandbox, profile = result
            self.ready.emit(profile)

        self.runner.submit(
            "demo-start",
            work,
            on_result=started,
            on_error=lambda e: self.failed.emit(backend.error_text(e)),
            serial=True,
        )

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        if self.home:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def create_window(
    *, demo: bool = False, profile: str | None = None, runner: JobRunner | None = None, demo_users: int = DEMO_USERS
) -> MainWindow:
    """Build (not show) the main window; in demo mode also the sandbox session (``window.demo_session``).

    Demo mode points CIO_DESKTOP_HOME at a temporary folder and keeps secrets in memory, so nothing is
    written to the user's real profiles, ledgers or keyring.
    """
    from cio_desktop.gui.main_window import MainWindow

    home = None
    if demo:
        home = tempfile.mkdtemp(prefix="cio-desktop-demo-")
        os.environ[paths.HOME_ENV] = home
        secrets = SecretStore.in_memory()
    else:
        secrets = SecretStore()
    store = ProfileStore()
    runner = runner or JobRunner()
    window = MainWindow(runner, store, secrets, demo=demo)
    runner.setParent(window)
    # Scheduled syncs, the Sync page's schedule panel, and the tray that keeps them going when closed.
    from cio_desktop.gui.schedule_panel import add_scheduling
    from cio_desktop.gui.tray import system_tray

    window.scheduling = add_scheduling(window, system_tray(window))
    if demo:
        session = DemoSession(runner, store, secrets, home, users=demo_users)
        session.setParent(window)
        window.demo_session = session
        window.header_status.show_status(ErrorKind.BUSY, "Starting the demo organization…")

        def demo_ready(p: Profile) -> None:
            window.header_status.clear_status()
            window.load_profiles(p.name)
            window.onboarding.start(p.name)  # point at Preview, then Sync

        session.ready.connect(demo_ready)
        session.failed.connect(
            lambda m: window.header_status.show_status(ErrorKind.ERROR, f"The demo could not start: {m}")
        )
        session.start()
        # However the app ends (also a demo window opened from the welcome screen): stop it, remove its folder.
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(session.stop)
    else:
        window.onboarding.demo_requested.connect(lambda: open_demo_instead(window))
        window.load_profiles(profile)
    return window


def open_demo_instead(window: MainWindow) -> MainWindow:
    """ "Try the demo" on the welcome screen: a demo window takes the place of ``window`` (no profile yet,
    so nothing is lost by closing it)."""
    demo = create_window(demo=True)
    demo.setGeometry(window.geometry())
    demo.show()
    window.close()
    window.deleteLater()
    return demo


def run_gui(*, demo: bool = False, profile: str | None = None) -> int:
    app = make_app()
    window = create_window(demo=demo, profile=profile)
    window.show()
    # Ctrl-C in the terminal closes the window like the close button (asking first during a sync).
    # Python only runs signal handlers between bytecodes, so a timer lets the interpreter in regularly.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(250)
    code = int(app.exec())
    if window.demo_session is not None:
        window.demo_session.stop()
    return code
