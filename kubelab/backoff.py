"""Exponential back-off, the one home of "wait longer after each failure, up to a cap".

Where it sits: below every retry loop. `doubling` is the pure delay after the n-th failure in a row (as
client-go's ItemExponentialFailureRateLimiter); `RetryDelay` carries it through a loop that resets it on
success (as client-go's wait.Backoff, Factor 2). Jitter stays with the callers, which differ in how much.
"""
from __future__ import annotations

_MAX_DOUBLINGS = 64     # past this any sane base is past any sane cap (and 2.0 ** 1024 overflows)


def doubling(attempt: int, base: float, cap: float) -> float:
    """The delay after the `attempt`-th failure in a row (1, 2, ...): base, 2×base, 4×base, ... at most cap."""
    exponent = max(0, attempt - 1)
    if exponent > _MAX_DOUBLINGS:
        return float(cap)
    return float(min(base * 2.0 ** exponent, cap))


class RetryDelay:
    """The delay a retry loop waits: `step()` after each failure (base, then doubling up to cap), `reset()` on
    success. As client-go's wait.Backoff, the first step is `base` even when base exceeds cap."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap = base, cap
        self.failures = 0

    @property
    def delay(self) -> float:
        """What the next `step()` returns."""
        return self.base if self.failures == 0 else doubling(self.failures + 1, self.base, self.cap)

    def step(self) -> float:
        """The delay to wait now, after one more failure."""
        delay = self.delay
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
