"""A page that is a searchable checklist of catalog items plus one option: Audience and Events.

Both pages pick keys from the source's catalog (segments, event names) and store them in the profile;
subclasses say what the items are and which profile fields they change.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QHeaderView, QPushButton, QTableView, QWidget

from cio_desktop.config.profile import Profile
from cio_desktop.gui.context import AppContext, Catalog
from cio_desktop.gui.keys import RELOAD_KEY
from cio_desktop.gui.models import CheckItem, CheckListModel, filter_proxy
from cio_desktop.gui.platform import native_keys
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import Page, SearchField, StatusLine, compact_rows, hint, tab_chain


class ChecklistPage(Page):
    """Search, Reload, a checklist table, a summary, one option checkbox with its explanation.

    Subclasses set the texts below and implement the ``*_items``/``*_keys``/``changes`` hooks.
    """

    count_header = ""  # header of the count column ("Members", "Seen")
    noun = ""  # what the items are, plural ("segments", "event names")
    option_text = ""
    option_name = ""  # accessible name of the option checkbox
    option_explained = ""
    option_field = ""  # the profile's boolean field behind the option (see option_checked)

    def __init__(self, ctx: AppContext, title: str, intro: str, parent: QWidget | None = None) -> None:
        super().__init__(title, intro, parent)
        self.ctx = ctx
        self.model = CheckListModel(self.count_header, self)
        self.proxy = filter_proxy(self.model, self)
        self.search = SearchField(f"Search {self.noun}", f"Search {self.noun}")
        self.reload = QPushButton("Reload")
        self.reload.setAccessibleName(f"Reload {self.noun} from Hull")
        self.reload.setToolTip(f"Read the {self.noun} again ({native_keys(RELOAD_KEY)})")
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.reload)
        self.body_layout.addLayout(top)
        self.table = QTableView()
        self.table.setAccessibleName(self.noun.capitalize())
        compact_rows(self.table)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(220)
        self.body_layout.addWidget(self.table, 1)
        self.summary = StatusLine(name=f"{title}: chosen")
        self.body_layout.addWidget(self.summary)
        self.load_status = StatusLine(name=f"{title}: loading")
        self.body_layout.addWidget(self.load_status)
        self.option_box = QCheckBox(self.option_text)
        self.option_box.setAccessibleName(self.option_name)
        self.body_layout.addWidget(self.option_box)
        self.body_layout.addWidget(hint(self.option_explained))
        self.error_line = StatusLine(name=f"{title} problem")
        self.body_layout.addWidget(self.error_line)

        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.model.checked_changed.connect(self._checked_changed)
        self.option_box.toggled.connect(self._option_toggled)
        self.reload.clicked.connect(ctx.load_catalog)
        self.table.activated.connect(self._toggle_row)
        ctx.catalog_changed.connect(self._catalog_changed)
        ctx.catalog_loading.connect(lambda: self.load_status.show_status(ErrorKind.BUSY, f"Loading {self.noun}…"))
        ctx.catalog_failed.connect(lambda m: self.load_status.show_status(ErrorKind.ERROR, m))
        ctx.profile_changed.connect(self._profile_changed)
        tab_chain((self.search, self.reload, self.table, self.option_box))
        self._profile_changed(ctx.profile)
        self._catalog_changed(ctx.catalog)

    # ------------------------------------------------------------------ hooks
    def profile_items(self, profile: Profile) -> list[CheckItem]:
        """The profile's chosen items (shown until the source's catalog arrives)."""
        raise NotImplementedError

    def catalog_items(self, catalog: Catalog) -> list[CheckItem]:
        raise NotImplementedError

    def chosen_keys(self, profile: Profile) -> tuple[str, ...]:
        raise NotImplementedError

    def option_checked(self, profile: Profile) -> bool:
        """The profile's value of ``option_field``."""
        raise NotImplementedError

    def changes(self) -> dict[str, object]:
        """The profile fields to update for the checked keys."""
        raise NotImplementedError

    def update_summary(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ behaviour
    def _toggle_row(self, index: QModelIndex) -> None:
        src = self.proxy.mapToSource(index.siblingAtColumn(0))
        checked = self.model.data(src, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
        self.model.setData(src, not checked, Qt.ItemDataRole.CheckStateRole)

    def _profile_changed(self, profile: Profile | None) -> None:
        if profile is None:
            return
        self.option_box.blockSignals(True)
        self.option_box.setChecked(self.option_checked(profile))
        self.option_box.blockSignals(False)
        chosen = self.chosen_keys(profile)
        if set(self.model.checked_keys()) != set(chosen):
            if self.model.rowCount() == 0:
                self.model.set_items(self.profile_items(profile), chosen)
            else:
                self.model.set_checked(chosen)
        self.update_summary()

    def _catalog_changed(self, catalog: Catalog | None) -> None:
        profile = self.ctx.profile
        if catalog is None:
            # Another profile (or a reload): show only what this profile chose until its source answers.
            items = self.profile_items(profile) if profile is not None else []
            self.model.set_items(items, [i.key for i in items])
            self.update_summary()
            return
        items = self.catalog_items(catalog)
        self.load_status.show_status(ErrorKind.OK, f"{len(items)} {self.noun} in {catalog.description}")
        self.model.set_items(items, self.chosen_keys(profile) if profile is not None else ())
        self.table.resizeColumnToContents(1)
        self.update_summary()

    def _checked_changed(self) -> None:
        self._apply(self.changes())
        self.update_summary()

    def _option_toggled(self, on: bool) -> None:
        self._apply({self.option_field: on})

    def _apply(self, changes: dict[str, object]) -> None:
        err = self.ctx.update(**changes)
        if err:
            self.error_line.show_status(ErrorKind.ERROR, err)
        else:
            self.error_line.clear_status()
