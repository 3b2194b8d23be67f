"""lab.apiserver_lb's choice of backend: round robin, down marks that expire, down ones tried last, state
changes reported once; its address parsing and log fields."""
from __future__ import annotations

import pytest

from lab.apiserver_lb import Backend, Choice, fields, parse_address

A, B, C = Backend("apiserver", 8443), Backend("apiserver2", 8443), Backend("apiserver3", 8443)


def firsts(c: Choice, n: int, now: float = 0.0) -> list[Backend]:
    return [c.order(now)[0] for _ in range(n)]


def test_round_robin_over_healthy_backends_each_order_lists_all() -> None:
    c = Choice((A, B, C))
    assert c.order(0.0) == [A, B, C]
    assert c.order(0.0) == [B, C, A]
    assert c.order(0.0) == [C, A, B]
    assert c.order(0.0) == [A, B, C]


def test_a_failed_backend_is_tried_last_and_the_others_take_its_turns() -> None:
    c = Choice((A, B), down_seconds=3.0)
    assert c.failed(A, now=10.0) is True            # a change: logged as backend-down
    for _ in range(4):
        assert c.order(11.0) == [B, A]              # A still offered, last: better than refusing the client
    assert firsts(c, 4, now=12.9) == [B, B, B, B]


def test_a_down_mark_expires_and_the_backend_gets_its_turn_again() -> None:
    c = Choice((A, B), down_seconds=3.0)
    c.failed(A, now=10.0)
    assert c.is_down(A, 12.9) and not c.is_down(A, 13.0)
    assert set(firsts(c, 2, now=13.0)) == {A, B}


def test_failures_of_a_backend_already_down_are_not_a_new_change() -> None:
    c = Choice((A, B), down_seconds=3.0)
    assert c.failed(A, 0.0) is True
    assert c.failed(A, 5.0) is False                # tried again after its rest, still refusing
    assert c.is_down(A, 7.0)                        # and the rest starts again from the last failure
    assert c.connected(A, 9.0) is True              # back: a change, logged as backend-up
    assert c.connected(A, 9.5) is False
    assert not c.is_down(A, 9.5)


def test_a_success_clears_the_down_mark_at_once() -> None:
    c = Choice((A, B), down_seconds=30.0)
    c.failed(A, 0.0)
    c.connected(A, 1.0)             # it took a connection as the last resort
    assert not c.is_down(A, 1.0)
    assert sorted(firsts(c, 4, now=1.0)) == [A, A, B, B]


def test_all_down_are_all_offered_the_one_back_soonest_first() -> None:
    c = Choice((A, B, C), down_seconds=3.0)
    c.failed(B, 0.0)
    c.failed(A, 1.0)
    c.failed(C, 2.0)
    assert c.order(2.5) == [B, A, C]
    assert c.order(3.5) == [B, A, C]                # B's rest is over: it leads, then the resting ones
    assert c.order(4.5) == [A, B, C]                # A's too: the two take turns again, C still last


def test_describe_says_each_backends_state() -> None:
    c = Choice((A, B), down_seconds=3.0)
    c.failed(B, 0.0)
    assert c.describe(1.0) == ["apiserver:8443 up", "apiserver2:8443 down"]
    assert c.describe(4.0) == ["apiserver:8443 up", "apiserver2:8443 down, due a try"]


def test_a_choice_needs_distinct_backends() -> None:
    with pytest.raises(ValueError, match="at least one backend"):
        Choice(())
    with pytest.raises(ValueError, match="named twice"):
        Choice((A, A))


@pytest.mark.parametrize("text, want", [("apiserver:8443", A), ("127.0.0.1:6443", Backend("127.0.0.1", 6443)),
                                        ("[::1]:8443", Backend("::1", 8443)), (" apiserver2:8443 ", B)])
def test_parse_address(text: str, want: Backend) -> None:
    assert parse_address(text) == want


def test_a_listen_address_may_take_a_free_port() -> None:
    assert parse_address("127.0.0.1:0", listen=True) == Backend("127.0.0.1", 0)


@pytest.mark.parametrize("text", ["apiserver", "apiserver:", ":8443", "apiserver:http", "apiserver:70000",
                                  "apiserver:0"])
def test_parse_address_refuses_what_is_not_host_port(text: str) -> None:
    with pytest.raises(ValueError, match="not host:port"):
        parse_address(text)


def test_log_fields_quote_what_needs_it() -> None:
    assert fields(event="backend-down", backend=A, error="Connection refused", retry_after="3s") == \
        'event=backend-down backend=apiserver:8443 error="Connection refused" retry_after=3s'
    assert fields(a="", b='say "hi"') == 'a="" b="say \\"hi\\""'
