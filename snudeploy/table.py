"""The one table renderer: Markdown pipe tables, readable in a terminal and pasteable into docs."""

from __future__ import annotations


def render(header, rows, align: str | None = None) -> str:
    """A Markdown pipe table with padded columns.

    Args:
        header: column titles.
        rows: rows of cells (any values; ``None`` shows as ``-``).
        align: one letter per column, ``l`` or ``r`` (default: all left).
    """
    cells = [[_cell(c) for c in row] for row in rows]
    header = [str(h) for h in header]
    align = align or "l" * len(header)
    widths = [max(len(cell) for cell in column) for column in zip(header, *cells)]

    def line(row):
        return "| " + " | ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else "-" * (w + 2) for w, a in zip(widths, align)) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in cells])


def _cell(value) -> str:
    return "-" if value is None else str(value)
