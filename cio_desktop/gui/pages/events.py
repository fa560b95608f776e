"""Events: which Hull events are forwarded to Customer.io, and whether anonymous ones are too."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from cio_desktop.config.profile import Profile
from cio_desktop.gui.context import AppContext, Catalog
from cio_desktop.gui.models import CheckItem
from cio_desktop.gui.pages.checklist import ChecklistPage
from cio_desktop.gui.status import ErrorKind

ANON_EXPLAINED = (
    "Events of visitors Customer.io does not know yet (no customerId) are sent as anonymous events with "
    "their Hull anonymous id. Customer.io attaches them to the person once that visitor is identified, so "
    "campaigns can react to what they did before signing up. This is an advanced Customer.io feature: "
    "leave it off unless your workspace uses anonymous events."
)


class EventsPage(ChecklistPage):
    count_header = "Seen"
    noun = "event names"
    option_text = "Send anonymous events"
    option_name = "Send anonymous events"
    option_explained = ANON_EXPLAINED
    option_field = "anonymous_events"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            ctx,
            "Events",
            "Choose the Hull events to forward to Customer.io, where they can trigger campaigns. "
            "Only events of people who are sent are forwarded.",
            parent,
        )

    def profile_items(self, profile: Profile) -> list[CheckItem]:
        return [CheckItem(e, e, None) for e in profile.events]

    def catalog_items(self, catalog: Catalog) -> list[CheckItem]:
        return [CheckItem(e.name, e.name, e.count) for e in catalog.events]

    def chosen_keys(self, profile: Profile) -> tuple[str, ...]:
        return profile.events

    def option_checked(self, profile: Profile) -> bool:
        return profile.anonymous_events

    def changes(self) -> dict[str, object]:
        return {"events": tuple(self.model.checked_keys())}

    def update_summary(self) -> None:
        n = len(self.model.checked_keys())
        if n == 0:
            self.summary.show_status(ErrorKind.PLAIN, "No event chosen: only people (no events) are sent.")
        else:
            # Chosen, not forwarded: nothing is sent until a sync runs (and only events that happen).
            self.summary.show_status(ErrorKind.OK, f"{n} event name{'s' if n != 1 else ''} chosen.")
