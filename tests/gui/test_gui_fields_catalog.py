"""Fields: an attribute the source does not have is flagged at once and saved only when confirmed;
rows show sample values of real users; the Hull attribute cell suggests names by similarity; a whole
group of attributes can be added at once."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QMessageBox

from cio_desktop.config.profile import AttributeMapping, Profile
from cio_desktop.config.secrets import SecretStore
from cio_desktop.gui.context import AppContext, Catalog
from cio_desktop.gui.pages.fields import FieldsPage
from cio_desktop.gui.pages.fields_model import COL_FILLED, COL_HULL, COL_PROBLEM, COL_SAMPLES
from cio_desktop.gui.workers import JobRunner
from cio_desktop.hull.source import Attribute

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]

ATTRIBUTES = (
    Attribute("traits_plan"),
    Attribute("traits_clearbit/given_name"),
    Attribute("traits_clearbit/family_name"),
    Attribute("traits_clearbit/company"),
)
PLAN = AttributeMapping("traits_plan", "plan")


def _page(qtbot, attributes=ATTRIBUTES, mappings=(PLAN,)) -> tuple[FieldsPage, AppContext]:
    ctx = AppContext(JobRunner(), store=None, secrets=SecretStore.in_memory(), autosave=False)
    ctx.set_profile(Profile(name="p", mappings=mappings), reload_catalog=False)
    page = FieldsPage(ctx)
    qtbot.addWidget(page)
    ctx.catalog = Catalog("test", (), tuple(attributes), ())
    ctx.catalog_changed.emit(ctx.catalog)
    return page, ctx


def _type_in_new_row(page: FieldsPage, text: str) -> int:
    row = page.model.add("")
    page.model.setData(page.model.index(row, COL_HULL), text)
    return row


def test_a_typo_is_flagged_at_once_with_the_likely_name(qtbot) -> None:
    page, ctx = _page(qtbot)
    asked: list[list[str]] = []
    page.ask_keep_unknown = lambda names: asked.append(names) or False
    row = _type_in_new_row(page, "traits_plann")
    problem = page.model.index(row, COL_PROBLEM).data()
    assert "No such Hull attribute" in problem and "“traits_plan”" in problem
    assert "did you mean “traits_plan”" in page.mapping_status.text()
    qtbot.waitUntil(lambda: bool(asked))
    assert asked == [["traits_plann"]]
    assert ctx.profile.mappings == (PLAN,)  # "Fix it": not saved
    page.model.setData(page.model.index(row, COL_HULL), "traits_clearbit/company")
    assert page.model.index(row, COL_PROBLEM).data() == ""
    assert ctx.profile.mappings == (PLAN, AttributeMapping("traits_clearbit/company", "clearbit-company"))


def test_an_unknown_attribute_is_saved_only_after_the_user_keeps_it_in_the_dialog(qtbot) -> None:
    page, ctx = _page(qtbot)
    seen: list[str] = []

    def answer(button_text: str) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, lambda: answer(button_text))
            return
        seen.append(box.text())
        button = next(b for b in box.buttons() if b.text() == button_text)
        button.click()

    QTimer.singleShot(0, lambda: answer("Fix it"))
    row = _type_in_new_row(page, "traits_favourite_colour")
    qtbot.waitUntil(lambda: len(seen) == 1)
    assert "traits_favourite_colour" in seen[0]
    assert ctx.profile.mappings == (PLAN,)

    QTimer.singleShot(0, lambda: answer("Keep it and save"))
    page.model.setData(page.model.index(row, COL_HULL), "traits_favourite_colour")  # edited again
    qtbot.waitUntil(lambda: len(seen) == 2)
    qtbot.waitUntil(lambda: len(ctx.profile.mappings) == 2)
    assert ctx.profile.mappings[1] == AttributeMapping("traits_favourite_colour", "favourite_colour")
    assert "Kept on purpose" in page.model.index(row, COL_PROBLEM).data()
    assert "2 attributes mapped" in page.mapping_status.text()


def test_nothing_is_flagged_when_the_source_lists_no_attributes(qtbot) -> None:
    page, ctx = _page(qtbot, attributes=())
    page.ask_keep_unknown = lambda names: pytest.fail("asked without a catalogue")
    row = _type_in_new_row(page, "traits_anything")
    assert page.model.index(row, COL_PROBLEM).data() == ""
    assert ctx.profile.mappings[-1].hull == "traits_anything"


def test_a_whole_group_is_added_at_once_and_saved(qtbot) -> None:
    page, ctx = _page(qtbot, mappings=(AttributeMapping("traits_clearbit/company", "clearbit-company"),))
    actions = {a.text(): a for a in page.group_menu.actions()}
    assert list(actions) == ["traits_clearbit (3 attributes)"]
    actions["traits_clearbit (3 attributes)"].trigger()
    assert [m.hull for m in ctx.profile.mappings] == [
        "traits_clearbit/company",
        "traits_clearbit/family_name",
        "traits_clearbit/given_name",
    ]
    assert "Added 2 attributes of traits_clearbit; 1 already mapped" in page.error_line.text()


@pytest.mark.qt_log_ignore("This plugin does not support")  # the offscreen platform and popups
def test_the_hull_attribute_cell_suggests_names_by_similarity_as_you_type(qtbot) -> None:
    page, _ctx = _page(qtbot)
    page.show()
    index = page.model.index(0, COL_HULL)
    page.table.setCurrentIndex(index)
    page.table.edit(index)
    combo = next(w for w in page.table.findChildren(QComboBox) if w.accessibleName() == "Hull attribute")
    combo.lineEdit().clear()
    QTest.keyClicks(combo.lineEdit(), "givn")
    suggestions = combo.completer().model().stringList()
    assert suggestions[0] == "traits_clearbit/given_name"
    combo.lineEdit().clear()
    QTest.keyClicks(combo.lineEdit(), "famly")
    assert combo.completer().model().stringList()[0] == "traits_clearbit/family_name"


def test_rows_show_how_many_sampled_users_have_a_value_and_real_examples(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=300)
    window = make_window(sb)
    page = window.fields_page
    with qtbot.waitSignal(page.attributes_sampled, timeout=20000) as sampled:
        window.show_page("Fields")
        page._sampled_for = None  # sample now, whether or not the page's own timer already did
        page.load_attribute_sample()
    users = sampled.args[0]
    assert 0 < users <= 200
    row = next(i for i, (hull, _c) in enumerate(page.model.rows) if hull == "traits_plan")
    filled = page.model.index(row, COL_FILLED).data()
    assert filled.endswith(f" of {users}")
    plans = {u.get("traits_plan") for seg in window.ctx.profile.segment_ids for u in sb.users_in_segment(seg)}
    examples = page.model.index(row, COL_SAMPLES).data().split(", ")
    assert examples and set(examples) <= {str(p) for p in plans}
    assert page.model.index(row, COL_PROBLEM).data() == ""  # the demo's attributes all exist
    assert all(not page.model.problem(i) for i in range(len(page.model.rows)))
    assert page.model.headerData(COL_FILLED, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole).startswith(
        f"From the first {users:,} users"
    )
