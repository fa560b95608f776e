"""LazyTableModel: rows streamed in keep the filter, the view's rows and the selection."""

from __future__ import annotations

import pytest

from cio_desktop.gui.models import Column, LazyTableModel

pytestmark = [pytest.mark.gui]


def _model() -> LazyTableModel[int]:
    return LazyTableModel([Column("n", str, tooltip=lambda n: f"number {n}")])


def test_appended_rows_are_shown_and_filtered_like_the_others(qtbot) -> None:
    model = _model()
    model.set_rows([1, 2, 3])
    model.set_filter(lambda n: n % 2 == 1)
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    model.append_rows([4, 5, 7])
    assert [model.row(i) for i in range(model.rowCount())] == [1, 3, 5, 7]
    assert inserted == [(2, 3)]  # inserted, not reset: the view keeps its selection and scroll
    assert model.index(0, 0).data(3) == "number 1"  # ToolTipRole: the column's own tooltip


def test_find_fetches_a_row_past_the_first_chunk_into_the_view(qtbot) -> None:
    model = _model()
    model.set_rows(list(range(LazyTableModel.CHUNK * 3)))
    assert model.rowCount() == LazyTableModel.CHUNK
    pos = model.find(lambda n: n == LazyTableModel.CHUNK * 2 + 5)
    assert pos == LazyTableModel.CHUNK * 2 + 5
    assert model.rowCount() > pos
    assert model.find(lambda n: n < 0) == -1
