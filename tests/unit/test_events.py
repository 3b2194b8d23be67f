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


def test_an_event_on_an_object_with_the_longest_name_has_a_name_that_fits() -> None:
    """Issue 12 item 12: a Deployment named with 250 characters got no Event: `<name>.<digest>` was refused."""
    from kubelab.events import event_name
    for length in (1, 242, 243, 250, 253):
        deploy = new_object("Deployment", "d" * length, "default")
        name = event_name(deploy, "deployment-controller", "ReplicaSetCreateError", "refused")
        assert len(name) <= 253 and name.startswith("d" * min(length, 242))
    # distinct objects sharing a 242-character prefix still get distinct events
    a, b = new_object("Deployment", "d" * 250, "default"), new_object("Deployment", "d" * 251, "default")
    a.metadata.uid, b.metadata.uid = "u1", "u2"
    assert event_name(a, "c", "r", "m") != event_name(b, "c", "r", "m")
