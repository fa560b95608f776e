"""Events: which Hull events are forwarded to Customer.io, and whether anonymous ones are too."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QHeaderView, QPushButton, QTableView, QWidget

from cio_desktop.config.profile import Profile
from cio_desktop.gui.context import AppContext, Catalog
from cio_desktop.gui.models import CheckItem, CheckListModel, filter_proxy
from cio_desktop.gui.widgets import Page, SearchField, StatusLine, compact_rows, hint, tab_chain

ANON_EXPLAINED = (
    "Events of visitors Customer.io does not know yet (no customerId) are sent as anonymous events with "
    "their Hull anonymous id. Customer.io attaches them to the person once that visitor is identified, so "
    "campaigns can react to what they did before signing up. This is an advanced Customer.io feature: "
    "leave it off unless your workspace uses anonymous events."
)


class EventsPage(Page):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            "Events",
            "Choose the Hull events to forward to Customer.io, where they can trigger campaigns. "
            "Only events of people who are sent are forwarded.",
            parent,
        )
        self.ctx = ctx
        self.model = CheckListModel("Seen", self)
        self.proxy = filter_proxy(self.model, self)
        self.search = SearchField("Search events", "Search events")
        self.reload = QPushButton("Reload")
        self.reload.setAccessibleName("Reload event names from Hull")
        self.reload.setToolTip("Read the event names again (F5)")
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.reload)
        self.body_layout.addLayout(top)
        self.table = QTableView()
        self.table.setAccessibleName("Event names")
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
        self.summary = StatusLine(name="Events chosen")
        self.body_layout.addWidget(self.summary)
        self.load_status = StatusLine(name="Event loading")
        self.body_layout.addWidget(self.load_status)
        self.anon_box = QCheckBox("Send anonymous events")
        self.anon_box.setAccessibleName("Send anonymous events")
        self.body_layout.addWidget(self.anon_box)
        self.body_layout.addWidget(hint(ANON_EXPLAINED))
        self.error_line = StatusLine(name="Events problem")
        self.body_layout.addWidget(self.error_line)

        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.model.checked_changed.connect(self._checked_changed)
        self.anon_box.toggled.connect(self._anon_toggled)
        self.reload.clicked.connect(ctx.load_catalog)
        self.table.activated.connect(self._toggle_row)
        ctx.catalog_changed.connect(self._catalog_changed)
        ctx.catalog_loading.connect(lambda: self.load_status.show_status("busy", "Loading event names…"))
        ctx.catalog_failed.connect(lambda m: self.load_status.show_status("error", m))
        ctx.profile_changed.connect(self._profile_changed)
        tab_chain((self.search, self.reload, self.table, self.anon_box))
        self._profile_changed(ctx.profile)
        self._catalog_changed(ctx.catalog)

    def _toggle_row(self, index: QModelIndex) -> None:
        src = self.proxy.mapToSource(index.siblingAtColumn(0))
        checked = self.model.data(src, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
        self.model.setData(src, not checked, Qt.ItemDataRole.CheckStateRole)

    def _profile_changed(self, profile: Profile | None) -> None:
        if profile is None:
            return
        self.anon_box.blockSignals(True)
        self.anon_box.setChecked(profile.anonymous_events)
        self.anon_box.blockSignals(False)
        if set(self.model.checked_keys()) != set(profile.events):
            if self.model.rowCount() == 0:
                self.model.set_items([CheckItem(e, e, None) for e in profile.events], profile.events)
            else:
                self.model.set_checked(profile.events)
        self._update_summary()

    def _catalog_changed(self, catalog: Catalog | None) -> None:
        if catalog is None:
            # Another profile (or a reload): show only what this profile chose until its source answers.
            chosen = self.ctx.profile.events if self.ctx.profile is not None else ()
            self.model.set_items([CheckItem(e, e, None) for e in chosen], chosen)
            self._update_summary()
            return
        self.load_status.show_status("ok", f"{len(catalog.events)} event names in {catalog.description}")
        checked = self.ctx.profile.events if self.ctx.profile else ()
        self.model.set_items([CheckItem(e.name, e.name, e.count) for e in catalog.events], checked)
        self._update_summary()

    def _checked_changed(self) -> None:
        err = self.ctx.update(events=tuple(self.model.checked_keys()))
        if err:
            self.error_line.show_status("error", err)
        else:
            self.error_line.clear_status()
        self._update_summary()

    def _anon_toggled(self, on: bool) -> None:
        err = self.ctx.update(anonymous_events=on)
        if err:
            self.error_line.show_status("error", err)

    def _update_summary(self) -> None:
        n = len(self.model.checked_keys())
        if n == 0:
            self.summary.show_status("", "No event chosen: only people (no events) are sent.")
        else:
            self.summary.show_status("ok", f"{n} event{'s' if n != 1 else ''} forwarded.")
