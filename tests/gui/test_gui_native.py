"""Feels native: the menu bar's standard roles and keys, shortcuts in the platform's own spelling, the
monospace font, the window size on a small screen and the Windows AppUserModelID (platforms faked)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QAction, QFont, QFontDatabase, QFontInfo, QKeySequence, QScreen
from PySide6.QtWidgets import QMessageBox, QWidget

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui import app as app_module
from cio_desktop.gui import platform
from cio_desktop.gui.app import make_app, windows_style_for_scheme
from cio_desktop.gui.main_window import MainWindow
from cio_desktop.gui.platform import default_window_size
from cio_desktop.gui.resources import font_values, stylesheet
from cio_desktop.gui.workers import JobRunner
from cio_desktop.sync.summary import RunMode

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


@pytest.fixture
def window(qtbot) -> MainWindow:
    w = MainWindow(JobRunner(), ProfileStore(), SecretStore.in_memory())
    qtbot.addWidget(w)
    return w


def test_menu_bar_has_about_settings_and_quit_in_their_standard_roles(window) -> None:
    actions = window.menu_actions
    assert actions.about.menuRole() is QAction.MenuRole.AboutRole
    assert actions.settings.menuRole() is QAction.MenuRole.PreferencesRole
    assert actions.quit.menuRole() is QAction.MenuRole.QuitRole
    assert actions.close.menuRole() is QAction.MenuRole.NoRole
    in_bar = [a for menu in window.menuBar().actions() for a in menu.menu().actions()]
    for action in (actions.about, actions.settings, actions.quit, actions.close):
        assert action in in_bar


def test_quit_and_close_window_use_the_platforms_standard_keys(window) -> None:
    actions = window.menu_actions
    assert actions.close.shortcuts() == QKeySequence.keyBindings(QKeySequence.StandardKey.Close)
    # Ctrl is ⌘ on macOS, so this is ⌘W there and Ctrl+W elsewhere.
    assert QKeySequence("Ctrl+W") in actions.close.shortcuts()
    assert QKeySequence("Ctrl+Q") in actions.quit.shortcuts()


def test_quit_has_no_made_up_key_on_windows_where_alt_f4_closes(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(platform, "is_windows", lambda: True)
    w = MainWindow(JobRunner(), ProfileStore(), SecretStore.in_memory())
    qtbot.addWidget(w)
    assert QKeySequence("Ctrl+Q") not in w.menu_actions.quit.shortcuts()


def test_settings_opens_the_connect_page_and_close_window_closes(qtbot, window) -> None:
    window.show()
    window.show_page("History")
    window.menu_actions.settings.trigger()
    assert window.current_page_name() == "Connect"
    window.menu_actions.close.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())


def test_about_names_the_app_and_its_version(window, monkeypatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "about", lambda _parent, title, text: shown.append(title + " " + text))
    window.menu_actions.about.trigger()
    assert shown and "Hull to Customer.io" in shown[0] and "0.1.0" in shown[0]


def _mac_spelling(monkeypatch) -> None:
    """Make NativeText spell keys as a Mac does, so a hard-coded "Ctrl+" in a tooltip shows up on Linux."""
    to_string = QKeySequence.toString

    def mac(seq: QKeySequence, fmt: QKeySequence.SequenceFormat = QKeySequence.SequenceFormat.PortableText) -> str:
        text = to_string(seq, QKeySequence.SequenceFormat.PortableText)
        if fmt is QKeySequence.SequenceFormat.NativeText:
            text = text.replace("Ctrl+", "⌘").replace("Alt+", "⌥")
        return text

    monkeypatch.setattr(QKeySequence, "toString", mac)


def test_tooltips_and_hints_spell_shortcuts_the_platforms_way(qtbot, monkeypatch) -> None:
    _mac_spelling(monkeypatch)
    window = MainWindow(JobRunner(), ProfileStore(), SecretStore.in_memory())
    qtbot.addWidget(window)
    tips = [w.toolTip() for w in window.findChildren(QWidget)]
    tips += [window.sidebar.item(i).toolTip() for i in range(window.sidebar.count())]
    spelled = [t for t in tips if "Ctrl+" in t or "Alt+" in t]
    assert spelled == []
    assert "⌘R" in window.sidebar.toolTip() and "⌘." in window.sidebar.toolTip()
    assert "⌘1" in window.sidebar.item(0).toolTip()
    assert "⌥S" in window.sync_page.mode_buttons[RunMode.INCREMENTAL].toolTip()
    assert "⌥C" in window.sync_page.cancel_button.toolTip()


def test_on_macos_the_sync_buttons_alt_keys_are_real_shortcuts(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(platform, "is_macos", lambda: True)
    store = ProfileStore()
    store.save(Profile(name="Mac"))  # without a profile the pages cannot be clicked
    window = MainWindow(JobRunner(), store, SecretStore.in_memory())
    qtbot.addWidget(window)
    window.load_profiles("Mac")
    qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=5000)
    page = window.sync_page
    keys = [s.key().toString() for s in page.mnemonic_shortcuts]
    assert keys == ["Alt+S", "Alt+F", "Alt+D", "Alt+C"]
    assert all(s.context() is Qt.ShortcutContext.WidgetWithChildrenShortcut for s in page.mnemonic_shortcuts)
    with qtbot.waitSignal(page.mode_buttons[RunMode.DRY_RUN].clicked, timeout=2000):
        page.mnemonic_shortcuts[2].activated.emit()


def test_elsewhere_the_mnemonics_alone_carry_the_alt_keys(window) -> None:
    # A QShortcut beside a working mnemonic would make Alt+S ambiguous and neither would fire.
    assert window.sync_page.mnemonic_shortcuts == []


def test_reload_key_is_not_the_sync_key_on_any_platform(window) -> None:
    # StandardKey.Refresh is Ctrl+R (⌘R) on macOS and GNOME, which syncs here: reload stays on F5.
    assert window.reload_shortcut.key() == QKeySequence(Qt.Key.Key_F5)
    assert window.reload_shortcut.key() != window.sync_shortcut.key()


def test_stylesheet_names_the_platforms_own_monospace_font_and_no_missing_family(qapp) -> None:
    css = stylesheet()
    fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
    assert f'font-family: "{fixed}";' in css
    assert "DejaVu" not in css and "$" not in css


def test_log_and_json_views_render_in_a_fixed_pitch_font(qapp, window) -> None:
    qapp.setStyleSheet(stylesheet())  # as make_app does
    try:
        window.show()
        for view in (window.sync_page.log_view, window.preview_page.json_view):
            view.ensurePolished()
            assert QFontInfo(view.font()).fixedPitch(), view.objectName()
    finally:
        qapp.setStyleSheet("")


@pytest.mark.parametrize(
    ("base", "sidebar", "title", "mono"), [(9.0, "10.5pt", "15pt", "9pt"), (13.0, "13pt", "19pt", "13pt")]
)
def test_font_sizes_follow_the_application_font_and_never_shrink_below_it(base, sidebar, title, mono) -> None:
    font = QFont("Sans")
    font.setPointSizeF(base)  # 13 pt is macOS's default
    values = font_values(font, "Menlo")
    assert (values["sidebar_size"], values["title_size"], values["mono_size"]) == (sidebar, title, mono)


@pytest.mark.parametrize("windows", [True, False])
def test_app_user_model_id_is_set_on_windows_only(qapp, monkeypatch, windows: bool) -> None:
    calls: list[str] = []
    monkeypatch.setattr(platform, "is_windows", lambda: windows)
    monkeypatch.setattr(platform, "set_app_id", calls.append)
    make_app()
    qapp.setStyleSheet("")  # make_app styled the shared test application: later tests expect it plain
    assert calls == (["cio-desktop.cio-desktop"] if windows else [])


def test_default_window_fits_a_1080p_laptop_at_150_percent() -> None:
    laptop = QRect(0, 0, 1280, 672)  # 1920x1080 / 1.5, less a 48-pixel taskbar
    size = default_window_size(laptop)
    assert size.width() <= 0.9 * 1280 and size.height() <= 0.9 * 672
    assert default_window_size(QRect(0, 0, 2560, 1400)) == QSize(1180, 780)  # big screens: the usual size


def test_main_window_opens_within_a_small_screen_and_its_layout_fits_there(qtbot, monkeypatch) -> None:
    laptop = QRect(0, 0, 1280, 672)
    monkeypatch.setattr(QScreen, "availableGeometry", lambda _screen: laptop)
    window = MainWindow(JobRunner(), ProfileStore(), SecretStore.in_memory())
    qtbot.addWidget(window)
    assert window.size() == QSize(1152, 604)  # 90% of the free area
    hint = window.minimumSizeHint()
    assert hint.width() <= window.width() and hint.height() <= window.height()


class _FakeStyledApp:
    """Just the style calls of a QApplication, so Windows' "windowsvista" style can be faked on Linux."""

    def __init__(self, style: str) -> None:
        self.style_name = style

    def style(self) -> _FakeStyledApp:
        return self

    def name(self) -> str:
        return self.style_name

    def setStyle(self, name: str) -> None:
        self.style_name = name.lower()


def test_windows_10_uses_fusion_while_dark_so_widgets_follow_the_dark_palette_then_goes_back() -> None:
    app = _FakeStyledApp("windowsvista")
    windows_style_for_scheme(app, dark=True)
    assert app.style_name == "fusion"
    windows_style_for_scheme(app, dark=True)  # a repeated dark signal changes nothing
    assert app.style_name == "fusion"
    windows_style_for_scheme(app, dark=False)
    assert app.style_name == "windowsvista"


def test_windows_11_keeps_its_own_style_in_dark_mode() -> None:
    app = _FakeStyledApp("windows11")
    windows_style_for_scheme(app, dark=True)
    windows_style_for_scheme(app, dark=False)
    assert app.style_name == "windows11"


def test_the_style_is_left_alone_off_windows(qapp, monkeypatch) -> None:
    monkeypatch.setattr(platform, "is_windows", lambda: False)
    touched: list[object] = []
    monkeypatch.setattr(app_module, "windows_style_for_scheme", lambda *a: touched.append(a))
    app_module.follow_color_scheme(qapp)
    qapp.setStyleSheet("")
    assert touched == []
    monkeypatch.setattr(platform, "is_windows", lambda: True)
    app_module.follow_color_scheme(qapp)
    qapp.setStyleSheet("")
    assert len(touched) == 1
