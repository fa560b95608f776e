"""Audience: which Hull segments are sent, and whether people who leave them are deleted."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QWidget

from cio_desktop.config.profile import Profile, SegmentRef
from cio_desktop.gui.context import AppContext, Catalog
from cio_desktop.gui.models import CheckItem
from cio_desktop.gui.pages.checklist import ChecklistPage
from cio_desktop.gui.status import ErrorKind

DELETE_EXPLAINED = (
    "When someone leaves all the segments above, delete them from Customer.io. Only people this app "
    "created are deleted; people who were already in Customer.io, or that another tool added, are never "
    "touched. Deleting removes the person and their activity history in Customer.io."
)


class AudiencePage(ChecklistPage):
    count_header = "Members"
    noun = "segments"
    option_text = "Delete people from Customer.io when they leave these segments"
    option_name = "Delete people who leave the segments"
    option_explained = DELETE_EXPLAINED
    option_field = "delete_on_leave"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, *, ask_nobody: bool = False) -> None:
        # The wizard asks for an explicit "nobody for now" instead of letting an empty choice pass unnoticed.
        self.nobody_box = QCheckBox("Send nobody for now: I will choose segments later")
        self.nobody_box.setAccessibleName("Send nobody for now")
        self.nobody_box.setVisible(False)
        self.ask_nobody = ask_nobody
        super().__init__(
            ctx,
            "Audience",
            "Choose the Hull segments whose members are sent to Customer.io. Someone in any chosen segment is sent.",
            parent,
        )
        self.body_layout.insertWidget(self.body_layout.indexOf(self.summary) + 1, self.nobody_box)
        self.update_summary()

    @property
    def nobody_chosen(self) -> bool:
        """No segment chosen, and "Send nobody for now" ticked."""
        return not self.model.checked_keys() and self.nobody_box.isChecked()

    def profile_items(self, profile: Profile) -> list[CheckItem]:
        return [CheckItem(s.id, s.name, None) for s in profile.segments]

    def catalog_items(self, catalog: Catalog) -> list[CheckItem]:
        return [CheckItem(s.id, s.name, s.size) for s in catalog.segments]

    def chosen_keys(self, profile: Profile) -> tuple[str, ...]:
        return profile.segment_ids

    def option_checked(self, profile: Profile) -> bool:
        return profile.delete_on_leave

    def changes(self) -> dict[str, object]:
        names = {self.model.item(r).key: self.model.item(r).name for r in range(self.model.rowCount())}
        return {"segments": tuple(SegmentRef(k, names.get(k, k)) for k in self.model.checked_keys())}

    def update_summary(self) -> None:
        chosen = self.model.checked_keys()
        self.nobody_box.setVisible(self.ask_nobody and not chosen)
        if not chosen:
            self.summary.show_status(ErrorKind.WARNING, "No segment chosen: nobody will be sent to Customer.io.")
            return
        counts = [self.model.item(r).count for r in range(self.model.rowCount()) if self.model.item(r).key in chosen]
        members = f", up to {sum(c for c in counts if c is not None):,} people" if None not in counts else ""
        self.summary.show_status(
            ErrorKind.OK, f"{len(chosen)} segment{'s' if len(chosen) != 1 else ''} chosen{members}."
        )
