"""Events as the recorder builds them."""
from __future__ import annotations

import time

from kubelab import timeutil
from kubelab.client import new_object
from kubelab.events import EventRecorder
from tests.harness.fake_client import FakeClient


def test_an_event_carries_its_time_to_the_microsecond_beside_the_seconds() -> None:
    pod = new_object("Pod", "web", "shop")
    before = time.time()
    ev = EventRecorder(FakeClient(), "kubelet", host="node1")._new_event(pod, "Normal", "Pulling",
                                                                         'Pulling image "x"', "", "node1")
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


def _rs_event(correlator_rec: EventRecorder, rs: object, reason: str, message: str) -> object:
    return correlator_rec._new_event(rs, "Normal", reason, message, "", "")


def test_the_spam_filter_lets_25_events_on_one_object_through_then_one_every_5_minutes() -> None:
    """Issue 12 item 11: a ReplicaSet scaled by 10,000 pods wrote 20,000 Events (client-go writes 25)."""
    from kubelab.events import EventCorrelator
    clock = timeutil.FakeClock()
    correlator, rec = EventCorrelator(clock), EventRecorder(FakeClient(), "replicaset-controller")
    rs = new_object("ReplicaSet", "big", "default")
    rs.metadata.uid = "u1"
    passed = [correlator.correlate(_rs_event(rec, rs, "SuccessfulCreate", f"Created pod: big-{i}"))
              for i in range(100)]
    assert sum(e is not None for e in passed) == 25
    clock.t += 299
    assert correlator.correlate(_rs_event(rec, rs, "SuccessfulCreate", "Created pod: late")) is None
    clock.t += 2
    assert correlator.correlate(_rs_event(rec, rs, "SuccessfulCreate", "Created pod: later")) is not None
    # another object has a bucket of its own
    other = new_object("ReplicaSet", "small", "default")
    other.metadata.uid = "u2"
    assert correlator.correlate(_rs_event(rec, other, "SuccessfulCreate", "Created pod: small-1")) is not None


def test_similar_events_are_combined_after_10_into_one_event_counted_on() -> None:
    from kubelab.events import COMBINED, EventCorrelator
    correlator, rec = EventCorrelator(timeutil.FakeClock()), EventRecorder(FakeClient(), "rs")
    rs = new_object("ReplicaSet", "big", "default")
    rs.metadata.uid = "u1"
    out = [correlator.correlate(_rs_event(rec, rs, "SuccessfulDelete", f"Deleted pod: big-{i}")) for i in range(12)]
    assert all(not e.message.startswith(COMBINED) for e in out[:9])  # type: ignore[union-attr]
    assert len({e.metadata.name for e in out[:9]}) == 9              # type: ignore[union-attr]
    combined = out[9:]
    assert [e.message for e in combined] == [COMBINED + f"Deleted pod: big-{i}" for i in (9, 10, 11)]  # type: ignore[union-attr]
    assert len({e.metadata.name for e in combined}) == 1             # type: ignore[union-attr]
    # the same message again is not a new "similar" one: a repeat, counted on its own event
    again = correlator.correlate(_rs_event(EventRecorder(FakeClient(), "rs"), new_object("Pod", "p", "default"),
                                           "Killing", "Stopping container c"))
    assert again is not None and not again.message.startswith(COMBINED)
