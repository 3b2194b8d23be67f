"""Go's text/tabwriter, which is what gives kubectl output its look.

Cells are tab-terminated; the text after a line's last tab is not part of
any column and is never padded. A column's width is decided per *column
block* (a run of consecutive lines that all have that column), so the key
column of `describe` re-aligns after a header line such as `Containers:`,
exactly as kubectl's does.

kubectl uses minwidth=6, padding=3 for tables (`get`) and minwidth=0,
padding=2 for `describe`.
"""
from __future__ import annotations

import unicodedata


def _width(s: str) -> int:
    w = 0
    for ch in s:
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def format_text(text: str, minwidth: int = 0, padding: int = 2) -> str:
    """Align tab-separated `text` as tabwriter.NewWriter(out, minwidth, 8, padding, ' ', 0)."""
    trailing_newline = text.endswith("\n")
    body = text[:-1] if trailing_newline else text
    lines = [line.split("\t") for line in body.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            parts: list[str] = []
            for j, cell in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(cell + " " * (widths[j] - _width(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, _width(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))
    result = "\n".join(out)
    return result + "\n" if trailing_newline else result


def table(rows: list[list[str]]) -> str:
    """kubectl's table look: columns padded to the widest cell plus three spaces."""
    if not rows:
        return ""
    return format_text("".join("\t".join(r) + "\n" for r in rows), minwidth=6, padding=3)


class RowPadder:
    """Keeps column widths across calls, for `get -w` rows that arrive one by one."""

    def __init__(self) -> None:
        self.widths: list[int] = []

    def format(self, rows: list[list[str]]) -> str:
        for r in rows:
            for j, cell in enumerate(r[:-1]):
                w = max(_width(cell) + 3, 6)
                if j >= len(self.widths):
                    self.widths.append(w)
                elif w > self.widths[j]:
                    self.widths[j] = w
        lines = []
        for r in rows:
            parts = [cell + " " * (self.widths[j] - _width(cell)) for j, cell in enumerate(r[:-1])]
            lines.append("".join(parts) + (r[-1] if r else ""))
        return "".join(line + "\n" for line in lines)
