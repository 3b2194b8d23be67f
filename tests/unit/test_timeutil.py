"""The API's timestamps, written once (kubelab.timeutil): what the apiserver, the audit log, the proxy's reports
and the CLI write, and what they read back."""
from __future__ import annotations

import datetime
import random

from kubelab import timeutil

T0 = 1_700_000_000.0          # 2023-11-14T22:13:20Z


def test_fmt_is_rfc3339_whole_seconds_utc() -> None:
    assert timeutil.fmt(T0 + 0.999) == "2023-11-14T22:13:20Z"       # truncated, as metav1.Time is
    assert timeutil.now_str(lambda: T0) == "2023-11-14T22:13:20Z"
    assert timeutil.parse(timeutil.fmt(T0)) == T0


def test_fmt_micro_is_a_microtime() -> None:
    assert timeutil.fmt_micro(T0 + 0.25) == "2023-11-14T22:13:20.250000Z"
    assert timeutil.now_micro(lambda: T0) == "2023-11-14T22:13:20.000000Z"
    assert timeutil.parse(timeutil.fmt_micro(T0 + 0.5)) == T0 + 0.5


def test_fmt_micro_writes_what_datetime_writes_including_halfway_microseconds() -> None:
    def slow(t: float) -> str:
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rnd = random.Random(15)
    times = [rnd.uniform(0, 4e9) for _ in range(20_000)]
    times += [int(rnd.uniform(1.7e9, 1.8e9)) + k / 2e6 for k in range(0, 2_000_001, 97)]   # on .5 µs
    times += [0.0, 0.9999995, 0.9999994, 1.5e-6, 2.5e-6, T0 + 0.9999996, -1.25]
    assert [timeutil.fmt_micro(t) for t in times] == [slow(t) for t in times]
