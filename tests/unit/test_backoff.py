"""kubelab.backoff: the pure doubling and the retry loops' RetryDelay (which must step through the same delays)."""
from __future__ import annotations

import pytest

from kubelab.backoff import RetryDelay, doubling


@pytest.mark.parametrize("attempt,delay", [
    pytest.param(1, 1.0, id="first-is-base"),
    pytest.param(2, 2.0, id="doubles"),
    pytest.param(3, 4.0, id="doubles-again"),
    pytest.param(9, 256.0, id="ninth"),
    pytest.param(10, 300.0, id="capped"),
    pytest.param(50, 300.0, id="stays-capped"),
    pytest.param(0, 1.0, id="no-failure-yet-is-base"),
    pytest.param(10_000, 300.0, id="huge-attempt-capped-not-overflowing"),
])
def test_doubling(attempt: int, delay: float) -> None:
    assert doubling(attempt, 1.0, 300.0) == delay


def test_doubling_caps_the_first_delay_too() -> None:
    assert doubling(1, 10.0, 3.0) == 3.0


@pytest.mark.parametrize("base,cap", [(0.1, 5.0), (0.2, 5.0), (0.5, 10.0), (0.005, 1000.0), (1.0, 1.0)])
def test_retry_delay_steps_through_doubling(base: float, cap: float) -> None:
    retry = RetryDelay(base, cap)
    assert [retry.step() for _ in range(20)] == [doubling(n, base, cap) for n in range(1, 21)]


def test_retry_delay_says_its_next_step_and_resets_on_success() -> None:
    retry = RetryDelay(0.2, 5.0)
    assert retry.delay == 0.2
    assert [retry.step() for _ in range(3)] == [0.2, 0.4, 0.8]
    assert retry.delay == 1.6 and retry.failures == 3
    retry.reset()
    assert retry.delay == 0.2 and retry.step() == 0.2 and retry.step() == 0.4


def test_retry_delay_first_step_is_base_even_above_the_cap() -> None:
    """As client-go's wait.Backoff: the node's registration waits 0.5 s first even with a 0.01 s heartbeat."""
    retry = RetryDelay(0.5, 0.01)
    assert [retry.step() for _ in range(3)] == [0.5, 0.01, 0.01]
