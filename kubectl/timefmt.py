"""Ages and timestamps as kubectl prints them (`5s`, `3m20s`, `2d`, RFC 1123)."""
from __future__ import annotations

from datetime import datetime, timezone

from kubelab import timeutil
from kubelab.timeutil import age, human_duration  # noqa: F401 - shared with kubelab.tables


def parse_time(ts: str) -> datetime | None:
    """An RFC 3339 timestamp (`2024-01-02T03:04:05Z`, with or without fraction); None if unset or unreadable."""
    t = timeutil.parse(ts.strip())
    return None if t is None else datetime.fromtimestamp(t, timezone.utc)


def now() -> datetime:
    return datetime.now(timezone.utc)


def rfc1123(ts: str) -> str:
    """`Mon, 02 Jan 2006 15:04:05 +0000`, describe's time format."""
    t = parse_time(ts)
    if t is None:
        return "<unset>"
    return t.strftime("%a, %d %b %Y %H:%M:%S %z")


def parse_duration(text: str) -> float:
    """Go-style durations for --timeout: `30s`, `5m`, `1h30m`, `500ms`, a bare number = seconds."""
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    try:
        return float(s)
    except ValueError:
        pass
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, i = 0.0, 0
    neg = s.startswith("-")
    if s[0] in "+-":
        i = 1
    if i >= len(s):
        raise ValueError(f'invalid duration "{text}"')
    while i < len(s):
        j = i
        while j < len(s) and (s[j].isdigit() or s[j] == "."):
            j += 1
        if j == i:
            raise ValueError(f'invalid duration "{text}"')
        num = float(s[i:j])
        k = j
        while k < len(s) and not (s[k].isdigit() or s[k] == "."):
            k += 1
        unit = s[j:k]
        if unit not in units:
            raise ValueError(f'invalid duration "{text}"' if unit else f'missing unit in duration "{text}"')
        total += num * units[unit]
        i = k
    return -total if neg else total
