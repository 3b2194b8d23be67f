"""kubectl's custom-columns printer: ``-o custom-columns=NAME:.metadata.name,...``.

Where this sits: one of the `kubectl.output` languages, called by
`kubectl.printers`, which lays the rows out with `kubectl.tabwriter`.  Each
column is ``HEADER:path``, the path a relaxed JSONPath (``.a.b``, ``a.b``,
``{.a.b}``) evaluated by `kubectl.output.jsonpath`; one row per object,
several values of a column joined with ``,``, nothing found -> ``<none>``.
Values print as Go's fmt prints them, terminal escapes neutralised as
kubectl's printers.EscapeTerminal does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubectl.output.gofmt import go_sprint
from kubectl.output.jsonpath import JSONPathError, Path, find, relaxed_jsonpath, single_path
from kubectl.output.terminal import escape_terminal


def _split_top_level(spec: str) -> list[str]:
    """Split on commas outside brackets, parentheses and quotes."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    i = 0
    while i < len(spec):
        c = spec[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])":
            depth -= 1
        elif c == "," and depth <= 0:
            parts.append(spec[start:i])
            start = i + 1
        i += 1
    parts.append(spec[start:])
    return parts


def _parse_columns(spec: str) -> list[tuple[str, Path]]:
    columns: list[tuple[str, Path]] = []
    for part in _split_top_level(spec):
        header, sep, expr = part.partition(":")
        if not sep or not header or not expr:
            raise JSONPathError(
                f"unexpected custom-columns spec: {part!r}, expected <header>:<json-path-expr>"
            )
        path = single_path(relaxed_jsonpath(expr))
        if path is None:
            raise JSONPathError(f"custom-columns path {expr!r} must be a single expression")
        columns.append((header, path))
    return columns


def custom_columns(
    spec: str, objs: Sequence[Any]
) -> tuple[list[str], list[list[str]]]:
    """kubectl ``-o custom-columns=NAME:.metadata.name,...``: (headers, rows)."""
    if not spec.strip():
        raise JSONPathError("custom-columns format specified but no custom columns given")
    columns = _parse_columns(spec)
    headers = [h for h, _ in columns]
    rows: list[list[str]] = []
    for obj in objs:
        row: list[str] = []
        for _, path in columns:
            values = find(path, obj)
            row.append(",".join(escape_terminal(go_sprint(v)) for v in values) if values else "<none>")
        rows.append(row)
    return headers, rows
