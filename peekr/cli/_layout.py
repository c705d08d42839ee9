"""Tables that fit the terminal: priority columns keep their width, free text wraps, the rest drop.

A :class:`Column` is either *fixed* (numbers, ids, status: never narrower than its content, never
wrapped) or *free text* (names, models, scores: wraps at spaces, then folds, but never below its
``min_width``). When the fixed columns plus the narrowest free columns do not fit, columns with a
``drop`` rank are left out, lowest rank first, until the table fits. The widths themselves are
then rich's: fixed columns are ``no_wrap`` with their content as ``min_width``, so rich only
narrows the free ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

__all__ = ["GAP", "Cell", "Column", "fit", "natural_widths", "table"]

Cell = str | Text
GAP = 2  # rich's default padding: one space each side of a column boundary


@dataclass(frozen=True)
class Column:
    """One table column and how it behaves on a narrow terminal."""

    header: str
    justify: Literal["left", "right"] = "left"
    #: Free text: may wrap over several lines, down to ``min_width`` columns.
    wrap: bool = False
    min_width: int = 0
    #: Dropped when the table does not fit, lowest rank first; ``None``: never dropped.
    drop: int | None = None


def _width(cell: Cell) -> int:
    text = cell.plain if isinstance(cell, Text) else cell
    return max((cell_len(line) for line in text.split("\n")), default=0)


def natural_widths(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> list[int]:
    """The width each column needs to show every cell (and its header) on one line."""
    return [max([cell_len(col.header), *(_width(row[i]) for row in rows)]) for i, col in enumerate(columns)]


def fit(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int, *, reserve: int = 0) -> list[int]:
    """Return the indices of the columns to show in ``width`` terminal columns.

    ``reserve`` columns are kept free for something the caller adds (a timeline bar).
    """
    natural = natural_widths(columns, rows)
    need = [min(n, c.min_width) if c.wrap and c.min_width else n for n, c in zip(natural, columns, strict=True)]
    kept = list(range(len(columns)))
    droppable = sorted((c.drop, i) for i, c in enumerate(columns) if c.drop is not None)

    def total() -> int:
        return sum(need[i] for i in kept) + GAP * (len(kept) - 1) + reserve

    for _, index in droppable:
        if total() <= width:
            break
        kept.remove(index)
    return kept


def table(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int, *, kept: Sequence[int] | None = None
) -> Table:
    """A borderless rich table of the columns that fit ``width`` (see :func:`fit`), or of ``kept``."""
    kept = fit(columns, rows, width) if kept is None else kept
    natural = natural_widths(columns, rows)
    out = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    for i in kept:
        col = columns[i]
        if col.wrap:
            out.add_column(col.header, justify=col.justify, overflow="fold", min_width=min(natural[i], col.min_width))
        else:
            out.add_column(col.header, justify=col.justify, no_wrap=True, min_width=natural[i])
    for row in rows:
        out.add_row(*(row[i] for i in kept))
    return out
