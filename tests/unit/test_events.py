"""Events as the recorder builds them."""
from __future__ import annotations

import time

from kubelab import timeutil
from kubelab.client import new_object
from kubelab.events import EventRecorder


def test_an_event_carries_its_time_to_the_microsecond_beside_the_seconds() -> None:
    pod = new_object("Pod", "web", "shop")
    before = time.time()
    ev = EventRecorder(None, "kubelet", host="node1")._new_event(pod, "Normal", "Pulling", 'Pulling image "x"',
                                                                 "", "node1")   # type: ignore[arg-type]
    first = timeutil.parse(ev.event_time)
    assert first is not None and before - 1e-6 <= first <= time.time()   # microseconds: truncated
    assert ev.event_time.endswith("Z") and "." in ev.event_time
    assert ev.first_timestamp == ev.last_timestamp == timeutil.fmt(first)
