"""Identity and fields: the customerId attribute and which Hull attributes Customer.io receives."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QMenu,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.config.profile import Profile
from cio_desktop.gui import backend, backend_audience
from cio_desktop.gui.context import AppContext, Catalog
from cio_desktop.gui.pages.fields_model import (
    COL_CIO,
    COL_FILLED,
    COL_HULL,
    COL_PROBLEM,
    COL_SAMPLES,
    COL_TYPE,
    AttributeDelegate,
    MappingModel,
    validate_cio_name,
)
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import Page, StatusLine, compact_rows, hint, tab_chain
from cio_desktop.hull.attribute_catalog import BASE_ATTRIBUTES, AttributeSample, attribute_groups, closest

ID_RECOMMENDATION = (
    "The customerId is how Customer.io recognises a person, so it must never change. Use "
    "<b>external_id</b> if you give your users your own identifier in Hull, otherwise the Hull "
    "<b>id</b>. People without a value are not sent."
)
EMAIL_ID_HINT = (
    "Only when the customerId is the email. Customer.io workspaces are set to identify people by "
    "<b>ID only</b> or by <b>email or ID</b> (Workspace Settings). Hull's hosted connector sent the "
    "email as the ID: in an ID-only workspace those people have their email as their ID, so choose "
    "<i>their email as their ID</i> to keep updating the same people."
)
# Above this share of the preview sample without a customerId, the choice is probably wrong.
MISSING_WARN_SHARE = 0.2
SAMPLE_SIZE = 200


class FieldsPage(Page):
    """Signals: ``sample_checked(int, int)``: missing customerIds, sample size;
    ``attributes_sampled(int)``: the attribute sample (of this many users) reached the table."""

    sample_checked = Signal(int, int)
    attributes_sampled = Signal(int)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            "Identity and fields",
            "Choose how people are identified in Customer.io and which Hull attributes they receive.",
            parent,
        )
        self.ctx = ctx
        self._loading = False
        self._types: dict[str, str] = {}
        self.attribute_keys_model = QStringListModel(self)

        # -- identity
        id_box = QGroupBox("customerId")
        idl = QVBoxLayout(id_box)
        form = QFormLayout()
        self.id_combo = QComboBox()
        self.id_combo.setEditable(True)
        self.id_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.id_combo.setAccessibleName("customerId attribute")
        # Attribute names can be 150+ characters: never let one widen the page.
        self.id_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.id_combo.setMinimumContentsLength(28)
        id_completer = QCompleter(self.attribute_keys_model, self.id_combo)
        id_completer.setFilterMode(Qt.MatchFlag.MatchContains)
        id_completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.id_combo.setCompleter(id_completer)
        form.addRow("Hull attribute", self.id_combo)
        idl.addLayout(form)
        idl.addWidget(hint(ID_RECOMMENDATION))
        self.id_status = StatusLine(name="customerId check")
        idl.addWidget(self.id_status)
        self.email_id_combo = QComboBox()
        self.email_id_combo.addItem("their email (workspace set to “Email or ID”)", False)
        self.email_id_combo.addItem("their email as their ID (workspace set to “ID only”)", True)
        self.email_id_combo.setAccessibleName("Identify people by")
        email_form = QFormLayout()
        email_form.addRow("Identify people by", self.email_id_combo)
        idl.addLayout(email_form)
        idl.addWidget(hint(EMAIL_ID_HINT))
        self.body_layout.addWidget(id_box)

        # -- mapping
        map_box = QGroupBox("Attributes sent to Customer.io")
        ml = QVBoxLayout(map_box)
        ml.addWidget(
            hint(
                "Every person also gets email, created_at and hull_segments (a row below with the same name "
                "replaces them). Double-click a cell to change it; "
                "type in the Hull attribute cell to search."
            )
        )
        self.model = MappingModel(self)
        self.table = QTableView()
        self.table.setAccessibleName("Attribute mapping")
        compact_rows(self.table, padding=14)  # room for the searchable combo box editor
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(COL_HULL, AttributeDelegate(self.attribute_items, self))
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(
            QTableView.EditTrigger.DoubleClicked
            | QTableView.EditTrigger.EditKeyPressed
            | QTableView.EditTrigger.AnyKeyPressed
        )
        hh = self.table.horizontalHeader()
        for col, mode in (
            (COL_HULL, QHeaderView.ResizeMode.Stretch),
            (COL_TYPE, QHeaderView.ResizeMode.ResizeToContents),
            (COL_CIO, QHeaderView.ResizeMode.Stretch),
            (COL_FILLED, QHeaderView.ResizeMode.ResizeToContents),
            (COL_SAMPLES, QHeaderView.ResizeMode.Stretch),
            (COL_PROBLEM, QHeaderView.ResizeMode.Stretch),
        ):
            hh.setSectionResizeMode(col, mode)
        self.table.setMinimumHeight(220)
        ml.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add attribute")
        self.group_button = QPushButton("Add a group")
        self.group_button.setToolTip("Add every attribute of a group at once, e.g. all of traits_clearbit/…")
        self.group_menu = QMenu(self.group_button)
        self.group_button.setMenu(self.group_menu)
        self.group_button.setEnabled(False)
        self.remove_button = QPushButton("Remove")
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        for b, name in (
            (self.add_button, "Add a mapped attribute"),
            (self.group_button, "Add all attributes of a group"),
            (self.remove_button, "Remove the selected attribute"),
            (self.up_button, "Move the selected attribute up"),
            (self.down_button, "Move the selected attribute down"),
        ):
            b.setAccessibleName(name)
            buttons.addWidget(b)
        buttons.addStretch(1)
        ml.addLayout(buttons)
        self.mapping_status = StatusLine(name="Mapping problems")
        ml.addWidget(self.mapping_status)
        self.body_layout.addWidget(map_box, 1)

        # -- options
        self.require_email = QCheckBox("Only send people who have an email address")
        self.require_email.setAccessibleName("Require email")
        self.send_nulls = QCheckBox("Clear attributes in Customer.io when they are empty in Hull (send nulls)")
        self.send_nulls.setAccessibleName("Send nulls")
        self.body_layout.addWidget(self.require_email)
        self.body_layout.addWidget(self.send_nulls)
        self.error_line = StatusLine(name="Fields problem")
        self.body_layout.addWidget(self.error_line)

        self._sample_timer = QTimer(self)
        self._sample_timer.setSingleShot(True)
        self._sample_timer.setInterval(400)
        self._sample_timer.timeout.connect(self.check_sample)
        self._sample_timer.timeout.connect(self.load_attribute_sample)
        self._sampled_for: tuple[str, ...] | None = None  # the segments the attribute sample is of

        self.id_combo.activated.connect(lambda _i: self._id_changed())
        id_edit = self.id_combo.lineEdit()
        assert id_edit is not None
        id_edit.editingFinished.connect(self._id_changed)
        self.model.edited.connect(self._mapping_edited)
        self.add_button.clicked.connect(self._add)
        self.remove_button.clicked.connect(self._remove)
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button.clicked.connect(lambda: self._move(1))
        self.email_id_combo.activated.connect(lambda i: self._set(email_as_id=bool(self.email_id_combo.itemData(i))))
        self.require_email.toggled.connect(lambda on: self._set(require_email=on))
        self.send_nulls.toggled.connect(lambda on: self._set(send_nulls=on))
        ctx.profile_changed.connect(self._profile_changed)
        ctx.catalog_changed.connect(self._catalog_changed)
        chain: list[QWidget] = [
            self.id_combo,
            self.email_id_combo,
            self.table,
            self.add_button,
            self.group_button,
            self.remove_button,
            self.up_button,
            self.down_button,
            self.require_email,
            self.send_nulls,
        ]
        tab_chain(chain)
        self._profile_changed(ctx.profile)
        self._catalog_changed(ctx.catalog)

    # ------------------------------------------------------------------ data
    def attribute_items(self) -> list[tuple[str, str]]:
        return sorted(self._types.items())

    def _catalog_changed(self, catalog: Catalog | None) -> None:
        if catalog is None:
            return
        self._types = {a.key: a.type for a in catalog.attributes}
        # The top-level user fields are attributes too, even when the schema leaves them out.
        for key in BASE_ATTRIBUTES:
            self._types.setdefault(key, "date" if key.endswith("_at") else "string")
        keys = sorted(self._types)
        self.attribute_keys_model.setStringList(keys)
        self._fill_group_menu(keys)
        current = self.id_combo.currentText()
        self.id_combo.blockSignals(True)
        self.id_combo.clear()
        preferred = ["external_id", "id", "email"]
        for key in preferred + [k for k in keys if k not in preferred]:
            label = {"external_id": "external_id (recommended)", "id": "id (Hull id)"}.get(key, key)
            self.id_combo.addItem(label, key)
        self._select_id(current if current else (self.ctx.profile.customer_id_attribute if self.ctx.profile else ""))
        self.id_combo.blockSignals(False)
        # An empty catalogue (a schema the API did not give) cannot tell a typo from a real attribute.
        self.model.set_types(self._types, judge=bool(catalog.attributes))
        self._update_mapping_status()
        self._sampled_for = None
        self._sample_timer.start()

    def _select_id(self, key: str) -> None:
        pos = self.id_combo.findData(key)
        if pos >= 0:
            self.id_combo.setCurrentIndex(pos)
        else:
            self.id_combo.setEditText(key)

    def _profile_changed(self, profile: Profile | None) -> None:
        if profile is None or self._loading:
            return
        if self._sampled_for is not None and tuple(profile.segment_ids) != self._sampled_for:
            self._sampled_for = None
            self._sample_timer.start()  # other segments: other sample users
        self._loading = True
        try:
            if not self.id_combo.hasFocus():
                self._select_id(profile.customer_id_attribute)
            if self.model.mappings() != profile.mappings and self.model.problems() == []:
                self.model.set_rows(profile.mappings)
            self.require_email.setChecked(profile.require_email)
            self.send_nulls.setChecked(profile.send_nulls)
            self.email_id_combo.setCurrentIndex(1 if profile.email_as_id else 0)
            self.email_id_combo.setEnabled(profile.customer_id_attribute == "email")
        finally:
            self._loading = False
        self._update_mapping_status()

    def _current_id(self) -> str:
        text = self.id_combo.currentText().strip()
        pos = self.id_combo.findText(text)
        if pos >= 0:
            return str(self.id_combo.itemData(pos))
        return text

    def _id_changed(self) -> None:
        if self._loading:
            return
        key = self._current_id()
        if self.ctx.profile is not None and key == self.ctx.profile.customer_id_attribute:
            return
        self._set(customer_id_attribute=key)
        self._sample_timer.start()

    def _set(self, **changes: object) -> None:
        if self._loading:
            return
        err = self.ctx.update(**changes)
        if err:
            self.error_line.show_status(ErrorKind.ERROR, err)
        else:
            self.error_line.clear_status()

    def _mapping_edited(self) -> None:
        self._update_mapping_status()
        # Only a valid table reaches the profile; while a row is wrong, the saved mapping stays as it was.
        if self.model.problems():
            return
        if self.model.unconfirmed_unknown():
            # Asked once the cell editor has closed, not from inside its commit.
            QTimer.singleShot(0, self._confirm_unknown)
            return
        self._set(mappings=self.model.mappings())

    def _confirm_unknown(self) -> None:
        unknown = self.model.unconfirmed_unknown()
        if self.model.problems() or not unknown:
            return
        if self.ask_keep_unknown(unknown):
            self.model.confirm(unknown)
            self._update_mapping_status()
            self._set(mappings=self.model.mappings())

    def ask_keep_unknown(self, names: list[str]) -> bool:
        """Ask whether to save attributes the source does not have; True only on an explicit "Keep"."""
        shown = ", ".join(f"“{n}”" for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Attribute not found")
        guess = closest(names[0], sorted(self._types)) if len(names) == 1 else None
        meant = f" Did you mean “{guess}”?" if guess else ""
        box.setText(f"Your Hull users have no attribute {shown}.{meant}")
        box.setInformativeText(
            "It may be a typo: as it is, Customer.io would never receive a value for it. "
            "Keep it only if the attribute will exist in Hull soon."
        )
        keep = box.addButton("Keep it and save", QMessageBox.ButtonRole.AcceptRole)
        fix = box.addButton("Fix it", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(fix)
        box.setEscapeButton(fix)
        box.exec()
        return box.clickedButton() is keep

    def _update_mapping_status(self) -> None:
        problems = self.model.problems()
        unknown = self.model.unconfirmed_unknown()
        if problems:
            row, text = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self.mapping_status.show_status(ErrorKind.ERROR, f"Row {row + 1}: {text}{more} Not saved until fixed.")
        elif unknown:
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            saved = self.ctx.profile is not None and self.ctx.profile.mappings == self.model.mappings()
            then = (
                "Customer.io never gets a value for it: fix the name."
                if saved
                else "Not saved: fix it, or edit it again and choose to keep it."
            )
            guess = closest(unknown[0], sorted(self._types))
            meant = f" (did you mean “{guess}”?)" if guess else ""
            self.mapping_status.show_status(
                ErrorKind.ERROR, f"“{unknown[0]}”{meant}{more} is not an attribute of your Hull users. {then}"
            )
        else:
            n = len(self.model.rows)
            self.mapping_status.show_status(ErrorKind.OK, f"{n} attribute{'s' if n != 1 else ''} mapped.")

    def _fill_group_menu(self, keys: list[str]) -> None:
        self.group_menu.clear()
        for group, members in attribute_groups(keys).items():
            action = self.group_menu.addAction(f"{group} ({len(members)} attributes)")
            action.triggered.connect(lambda _checked=False, g=group, m=members: self.add_group(g, m))
        self.group_button.setEnabled(not self.group_menu.isEmpty())

    def add_group(self, group: str, members: list[str]) -> None:
        """Map every attribute of ``group`` that is not mapped yet (one edit, one save)."""
        added, skipped = self.model.add_many(members)
        if skipped:
            left = f"{skipped} already mapped or their Customer.io name is taken"
            self.error_line.show_status(ErrorKind.WARNING, f"Added {added} attributes of {group}; {left}.")
        else:
            self.error_line.show_status(ErrorKind.OK, f"Added {added} attributes of {group}.")

    def _selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def _add(self) -> None:
        row = self.model.add("")
        index = self.model.index(row, 0)
        self.table.setCurrentIndex(index)
        self.table.edit(index)

    def _remove(self) -> None:
        row = self._selected_row()
        if row >= 0:
            self.model.remove(row)

    def _move(self, delta: int) -> None:
        row = self._selected_row()
        if row >= 0:
            target = self.model.move(row, delta)
            self.table.selectRow(target)

    # ------------------------------------------------------------------ attribute sample
    def load_attribute_sample(self) -> None:
        """Read the first users of the segments (on a worker): who has a value, and examples."""
        profile = self.ctx.profile
        if profile is None or not profile.segments or not backend.has_source_settings(profile):
            return
        segments = tuple(profile.segment_ids)
        if segments == self._sampled_for:
            return
        self._sampled_for = segments
        secrets, secret_name = self.ctx.secrets, self.ctx.secret_name

        def done(sample: AttributeSample) -> None:
            self.model.set_sample(sample)
            self.attributes_sampled.emit(sample.users)

        def failed(exc: BaseException) -> None:
            self._sampled_for = None  # try again next time
            self.mapping_status.show_status(ErrorKind.WARNING, "Sample values unavailable: " + backend.error_text(exc))

        self.ctx.runner.submit(
            self.ctx.key("attribute-sample"),
            lambda job: backend_audience.sample_attributes(profile, secrets, secret_name, SAMPLE_SIZE, job),
            on_result=done,
            on_error=failed,
        )

    # ------------------------------------------------------------------ sample check
    def check_sample(self) -> None:
        """Count users of the preview sample without the chosen customerId attribute (off the GUI thread)."""
        profile = self.ctx.profile
        if profile is None or not profile.segments or not backend.has_source_settings(profile):
            self.id_status.clear_status()
            return
        attribute = self._current_id()
        secrets, secret_name = self.ctx.secrets, self.ctx.secret_name
        self.id_status.show_status(ErrorKind.BUSY, "Checking a sample of your users…")

        def done(result: tuple[int, int]) -> None:
            missing, total = result
            self.sample_checked.emit(missing, total)
            if total == 0:
                self.id_status.show_status(ErrorKind.WARNING, "The chosen segments have no users to check yet.")
            elif missing / total > MISSING_WARN_SHARE:
                self.id_status.show_status(
                    ErrorKind.WARNING,
                    f"{missing} of the first {total} users have no “{attribute}”: they would not be sent. "
                    "Consider the Hull id or external_id.",
                )
            else:
                self.id_status.show_status(
                    ErrorKind.OK, f"{total - missing} of the first {total} users have “{attribute}”."
                )

        self.ctx.runner.submit(
            self.ctx.key("id-sample"),
            lambda job: backend.count_missing(profile, secrets, secret_name, attribute, SAMPLE_SIZE, job),
            on_result=done,
            on_error=lambda e: self.id_status.show_status(ErrorKind.ERROR, backend.error_text(e)),
        )


# Kept importable for tests that check the live validation without a window.
__all__ = ["FieldsPage", "MappingModel", "validate_cio_name"]
