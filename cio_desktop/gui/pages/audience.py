"""Audience: which Hull segments are sent, and whether people who leave them are deleted."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QHeaderView, QPushButton, QTableView, QWidget

from cio_desktop.config.profile import Profile, SegmentRef
from cio_desktop.gui.context import AppContext, Catalog
from cio_desktop.gui.models import CheckItem, CheckListModel, filter_proxy
from cio_desktop.gui.widgets import Page, SearchField, StatusLine, compact_rows, hint, tab_chain

DELETE_EXPLAINED = (
    "When someone leaves all the segments above, delete them from Customer.io. Only people this app "
    "created are deleted; people who were already in Customer.io, or that another tool added, are never "
    "touched. Deleting removes the person and their activity history in Customer.io."
)


class AudiencePage(Page):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            "Audience",
            "Choose the Hull segments whose members are sent to Customer.io. Someone in any chosen segment is sent.",
            parent,
        )
        self.ctx = ctx
        self.model = CheckListModel("Members", self)
        self.proxy = filter_proxy(self.model, self)
        self.search = SearchField("Search segments", "Search segments")
        self.reload = QPushButton("Reload")
        self.reload.setAccessibleName("Reload segments from Hull")
        self.reload.setToolTip("Read the segments again (F5)")
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.reload)
        self.body_layout.addLayout(top)
        self.table = QTableView()
        self.table.setAccessibleName("Segments")
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
        self.summary = StatusLine(name="Segments chosen")
        self.body_layout.addWidget(self.summary)
        self.load_status = StatusLine(name="Segment loading")
        self.body_layout.addWidget(self.load_status)
        self.delete_box = QCheckBox("Delete people from Customer.io when they leave these segments")
        self.delete_box.setAccessibleName("Delete people who leave the segments")
        self.body_layout.addWidget(self.delete_box)
        self.body_layout.addWidget(hint(DELETE_EXPLAINED))
        self.error_line = StatusLine(name="Audience problem")
        self.body_layout.addWidget(self.error_line)

        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.model.checked_changed.connect(self._checked_changed)
        self.delete_box.toggled.connect(self._delete_toggled)
        self.reload.clicked.connect(ctx.load_catalog)
        self.table.activated.connect(self._toggle_row)
        ctx.catalog_changed.connect(self._catalog_changed)
        ctx.catalog_loading.connect(lambda: self.load_status.show_status("busy", "Loading segments…"))
        ctx.catalog_failed.connect(lambda m: self.load_status.show_status("error", m))
        ctx.profile_changed.connect(self._profile_changed)
        tab_chain((self.search, self.reload, self.table, self.delete_box))
        self._profile_changed(ctx.profile)
        self._catalog_changed(ctx.catalog)

    def _toggle_row(self, index: QModelIndex) -> None:
        src = self.proxy.mapToSource(index.siblingAtColumn(0))
        checked = self.model.data(src, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
        self.model.setData(src, not checked, Qt.ItemDataRole.CheckStateRole)

    def _profile_changed(self, profile: Profile | None) -> None:
        if profile is None:
            return
        self.delete_box.blockSignals(True)
        self.delete_box.setChecked(profile.delete_on_leave)
        self.delete_box.blockSignals(False)
        if set(self.model.checked_keys()) != set(profile.segment_ids):
            if self.model.rowCount() == 0:
                self.model.set_items([CheckItem(s.id, s.name, None) for s in profile.segments], profile.segment_ids)
            else:
                self.model.set_checked(profile.segment_ids)
        self._update_summary()

    def _catalog_changed(self, catalog: Catalog | None) -> None:
        if catalog is None:
            # Another profile (or a reload): show only what this profile chose until its source answers.
            profile = self.ctx.profile
            refs = profile.segments if profile is not None else ()
            self.model.set_items([CheckItem(s.id, s.name, None) for s in refs], [s.id for s in refs])
            self._update_summary()
            return
        self.load_status.show_status("ok", f"{len(catalog.segments)} segments in {catalog.description}")
        checked = self.ctx.profile.segment_ids if self.ctx.profile else ()
        self.model.set_items([CheckItem(s.id, s.name, s.size) for s in catalog.segments], checked)
        self.table.resizeColumnToContents(1)
        self._update_summary()

    def _checked_changed(self) -> None:
        names = {self.model.item(r).key: self.model.item(r).name for r in range(self.model.rowCount())}
        refs = tuple(SegmentRef(k, names.get(k, k)) for k in self.model.checked_keys())
        err = self.ctx.update(segments=refs)
        if err:
            self.error_line.show_status("error", err)
        else:
            self.error_line.clear_status()
        self._update_summary()

    def _delete_toggled(self, on: bool) -> None:
        err = self.ctx.update(delete_on_leave=on)
        if err:
            self.error_line.show_status("error", err)

    def _update_summary(self) -> None:
        chosen = self.model.checked_keys()
        if not chosen:
            self.summary.show_status("warning", "No segment chosen: nobody will be sent to Customer.io.")
            return
        total = 0
        known = True
        for r in range(self.model.rowCount()):
            item = self.model.item(r)
            if item.key in chosen:
                if item.count is None:
                    known = False
                else:
                    total += item.count
        members = f", up to {total:,} people" if known else ""
        self.summary.show_status("ok", f"{len(chosen)} segment{'s' if len(chosen) != 1 else ''} chosen{members}.")
