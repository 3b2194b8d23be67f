"""Terminal escapes in what the CLI prints from objects: kubectl's printers.EscapeTerminal.

Where this sits: under every human-readable printer of the CLI (tables in
`kubectl.printers`, `describe`'s writer, custom-columns, `rollout history`);
machine formats (yaml, json, jsonpath, go-template, name) print data as it is,
as kubectl's do.  An annotation, an event message or a label value is
written by whoever can write the object; printed raw, an ESC starts a
terminal control sequence (retitle the window, rewrite earlier lines, hide
text) and a CR overwrites the line.  Like k8s.io/cli-runtime/pkg/printers
(terminal.go), ESC becomes the visible ``^[`` and CR the two characters
``\\r``: what is left of a sequence prints as inert text (a BEL that ended one
is left as kubectl leaves it).
"""
from __future__ import annotations

_ESCAPES = str.maketrans({"\x1b": "^[", "\r": "\\r"})


def escape_terminal(text: str) -> str:
    """kubectl's EscapeTerminal: ESC -> `^[`, CR -> `\\r`; the rest unchanged."""
    return text.translate(_ESCAPES)


def table_cell(text: str) -> str:
    """A table cell as kubectl's table printer writes it: cut at the first line break (CR, LF or FF, which
    would break the row) with `...` to say so, then escaped."""
    cut = min((i for i in (text.find(c) for c in "\f\n\r") if i >= 0), default=-1)
    if cut >= 0:
        return escape_terminal(text[:cut]) + "..."
    return escape_terminal(text)
