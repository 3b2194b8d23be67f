"""Expectations: a controller waits for its own writes to show up before acting again."""
from __future__ import annotations

import pytest

from controller_manager.expectations import Expectations
from kubelab.timeutil import FakeClock


@pytest.mark.parametrize("adds,observed_adds,deletes,observed_deletes,satisfied", [
    pytest.param(0, 0, [], [], True, id="nothing-expected"),
    pytest.param(3, 2, [], [], False, id="one-create-outstanding"),
    pytest.param(3, 3, [], [], True, id="all-creates-seen"),
    pytest.param(3, 5, [], [], True, id="more-seen-than-expected-clamps"),
    pytest.param(0, 0, ["a", "b"], ["a"], False, id="one-delete-outstanding"),
    pytest.param(0, 0, ["a", "b"], ["a", "b"], True, id="all-deletes-seen"),
    pytest.param(0, 0, ["a", "b"], ["a", "a", "c"], False, id="a-pod-seen-twice-counts-once"),
])
def test_satisfied(adds: int, observed_adds: int, deletes: list[str], observed_deletes: list[str],
                   satisfied: bool) -> None:
    e = Expectations()
    if adds:
        e.expect_creations("ns/rs", adds)
    if deletes:
        e.expect_deletions("ns/rs", deletes)
    e.creation_observed("ns/rs", observed_adds) if observed_adds else None
    for d in observed_deletes:
        e.deletion_observed("ns/rs", d)
    assert e.satisfied("ns/rs") is satisfied


def test_no_record_is_satisfied_and_keys_are_separate() -> None:
    e = Expectations()
    assert e.satisfied("x")
    e.expect_creations("a", 1)
    assert not e.satisfied("a") and e.satisfied("b")
    e.forget("a")
    assert e.satisfied("a")


def test_expired_expectations_are_satisfied_and_reset_by_the_next_set() -> None:
    clock = FakeClock(start=0.0)
    e = Expectations(timeout=300, clock=clock)
    e.expect_creations("k", 2)
    clock.t = 299
    assert not e.satisfied("k")
    clock.t = 301
    assert e.satisfied("k")          # a lost watch event must not block the key forever
    e.expect_creations("k", 1)       # a new set replaces the stale count instead of adding to it
    assert e.pending("k") == (1, 0)
    e.creation_observed("k")
    assert e.satisfied("k")
