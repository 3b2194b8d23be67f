"""Unit tests for kubelab.workqueue: client-go queue semantics, delays and
rate limiting on a fake clock, and the run_workers loop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kubelab.timeutil import FakeClock, RealClock, settle
from kubelab.workqueue import (
    BucketRateLimiter,
    ItemExponentialRateLimiter,
    MaxOfRateLimiter,
    QueueShutDown,
    Requeue,
    WorkQueue,
    default_controller_rate_limiter,
    run_workers,
)


def make_queue(base_delay: float = 0.005, max_delay: float = 1000.0) -> tuple[WorkQueue[str], FakeClock]:
    clock = FakeClock()
    q = WorkQueue[str](clock, name="test", base_delay=base_delay, max_delay=max_delay)
    return q, clock


async def drain(q: WorkQueue[str]) -> list[str]:
    """Get and finish every ready key, in order."""
    out = []
    while q.len():
        key = await q.get()
        out.append(key)
        q.done(key)
    return out


# ---------------------------------------------------------------- basic semantics


@pytest.mark.parametrize(
    "adds, expected",
    [
        pytest.param(["a"], ["a"], id="single"),
        pytest.param(["a", "b", "c"], ["a", "b", "c"], id="fifo"),
        pytest.param(["a", "a", "a"], ["a"], id="deduplicated"),
        pytest.param(["a", "b", "a", "c", "b"], ["a", "b", "c"], id="dedup-keeps-first-position"),
        pytest.param([], [], id="empty"),
    ],
)
@pytest.mark.asyncio
async def test_add_dedup_and_order(adds: list[str], expected: list[str]) -> None:
    q, _ = make_queue()
    for k in adds:
        q.add(k)
    assert q.len() == len(expected) == len(q)
    assert await drain(q) == expected


@pytest.mark.asyncio
async def test_add_while_processing_requeues_on_done() -> None:
    q, _ = make_queue()
    q.add("a")
    key = await q.get()
    q.add("a")  # dirty, but not handed out while processing
    q.add("a")
    assert q.len() == 0
    q.done(key)
    assert q.len() == 1
    assert await q.get() == "a"
    q.done("a")
    assert q.len() == 0
    q.add("a")                  # no longer processing: ready at once
    assert q.len() == 1


@pytest.mark.asyncio
async def test_done_without_dirty_does_not_requeue() -> None:
    q, _ = make_queue()
    q.add("a")
    q.done(await q.get())
    assert q.len() == 0
    q.done("never-seen")  # tolerated, as in client-go
    assert q.len() == 0


@pytest.mark.asyncio
async def test_get_blocks_until_add() -> None:
    q, _ = make_queue()
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"


@pytest.mark.asyncio
async def test_cancelled_getter_does_not_lose_the_key() -> None:
    q, _ = make_queue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await settle()
    q.add("x")  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it runs
    await settle()
    assert first.cancelled()
    assert await asyncio.wait_for(second, 1) == "x"


@pytest.mark.asyncio
async def test_one_key_never_processed_concurrently() -> None:
    q, clock = make_queue()
    active: set[str] = set()
    overlaps: list[str] = []
    calls: list[str] = []
    release = asyncio.Event()

    async def reconcile(key: str) -> None:
        if key in active:
            overlaps.append(key)
        active.add(key)
        calls.append(key)
        if len(calls) == 1:
            await release.wait()
        active.discard(key)

    workers = asyncio.create_task(run_workers(q, reconcile, workers=3))
    q.add("a")
    await settle()
    q.add("a")  # arrives while "a" is being reconciled
    q.add("b")
    await settle()
    assert calls == ["a", "b"]  # b proceeds, the second "a" waits
    release.set()
    await settle()
    assert calls == ["a", "b", "a"]
    assert overlaps == []
    q.shut_down()
    await asyncio.wait_for(workers, 1)


# ---------------------------------------------------------------- shutdown


@pytest.mark.asyncio
async def test_get_after_shutdown_raises() -> None:
    q, _ = make_queue()
    q.shut_down()
    with pytest.raises(QueueShutDown):
        await q.get()


@pytest.mark.asyncio
async def test_shutdown_wakes_blocked_getters() -> None:
    q, _ = make_queue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    q.shut_down()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, QueueShutDown) for r in results)


@pytest.mark.parametrize(
    "discard, expected",
    [
        pytest.param(False, ["a", "b"], id="drains-queued-keys"),
        pytest.param(True, [], id="discard-queued"),
    ],
)
@pytest.mark.asyncio
async def test_shutdown_drain(discard: bool, expected: list[str]) -> None:
    q, _ = make_queue()
    q.add("a")
    q.add("b")
    q.shut_down(discard_queued=discard)
    q.add("c")  # ignored after shutdown
    assert await drain(q) == expected
    with pytest.raises(QueueShutDown):
        await q.get()


@pytest.mark.asyncio
async def test_shutdown_cancels_pending_delays() -> None:
    q, clock = make_queue()
    q.add_after("a", 1.0)
    assert q.waiting == 1
    q.shut_down()
    await clock.advance(5)
    assert q.len() == 0 and q.waiting == 0
    q.add_after("b", 1.0)  # ignored
    assert q.waiting == 0


# ---------------------------------------------------------------- delays


@pytest.mark.parametrize(
    "delays, checkpoints",
    [
        pytest.param([1.0], [(0.5, 0), (0.5, 1)], id="fires-at-deadline"),
        pytest.param([0.0], [(0.0, 1)], id="zero-delay-immediate"),
        pytest.param([-1.0], [(0.0, 1)], id="negative-delay-immediate"),
        pytest.param([5.0, 1.0], [(1.0, 1)], id="earlier-deadline-wins"),
        pytest.param([1.0, 5.0], [(1.0, 1)], id="later-deadline-ignored"),
        pytest.param([2.0, 2.0, 2.0], [(1.9, 0), (0.1, 1)], id="duplicates-collapse"),
    ],
)
@pytest.mark.asyncio
async def test_add_after(delays: list[float], checkpoints: list[tuple[float, int]]) -> None:
    q, clock = make_queue()
    for d in delays:
        q.add_after("k", d)
    for step, ready in checkpoints:
        await clock.advance(step)
        assert q.len() == ready, f"at t={clock.now()}"
    assert await drain(q) == ["k"]
    await clock.advance(100)  # no stale timer re-adds the key later
    assert q.len() == 0
    assert q.waiting == 0


@pytest.mark.asyncio
async def test_add_after_different_keys_fire_in_deadline_order() -> None:
    q, clock = make_queue()
    q.add_after("late", 3)
    q.add_after("early", 1)
    q.add_after("mid", 2)
    await clock.advance(3)
    assert await drain(q) == ["early", "mid", "late"]


# ---------------------------------------------------------------- rate limiting


@pytest.mark.parametrize(
    "base, cap, expected",
    [
        pytest.param(0.005, 1000.0, [0.005, 0.01, 0.02, 0.04, 0.08], id="default-doubling"),
        pytest.param(1.0, 5.0, [1.0, 2.0, 4.0, 5.0, 5.0], id="capped"),
        pytest.param(0.0, 1.0, [0.0, 0.0, 0.0], id="zero-base"),
    ],
)
def test_item_exponential(base: float, cap: float, expected: list[float]) -> None:
    rl = ItemExponentialRateLimiter(base, cap)
    assert [rl.when("k") for _ in expected] == pytest.approx(expected)
    assert rl.num_requeues("k") == len(expected)
    assert rl.num_requeues("other") == 0
    rl.forget("k")
    assert rl.num_requeues("k") == 0
    assert rl.when("k") == pytest.approx(base)


def test_item_exponential_huge_exponent_is_capped() -> None:
    rl = ItemExponentialRateLimiter(0.005, 10.0)
    for _ in range(2000):
        delay = rl.when("k")
    assert delay == 10.0


@pytest.mark.asyncio
async def test_bucket_rate_limiter() -> None:
    clock = FakeClock()
    rl = BucketRateLimiter(qps=1.0, burst=2, clock=clock)
    assert [rl.when(i) for i in range(4)] == pytest.approx([0.0, 0.0, 1.0, 2.0])
    await clock.advance(10)  # bucket refills, capped at burst
    assert [rl.when(i) for i in range(3)] == pytest.approx([0.0, 0.0, 1.0])
    assert rl.num_requeues("x") == 0


def test_max_of_rate_limiter() -> None:
    clock = FakeClock()
    rl = MaxOfRateLimiter(ItemExponentialRateLimiter(1.0, 100.0), BucketRateLimiter(1.0, 1, clock))
    assert rl.when("a") == 1.0  # both say 0 / 1.0 -> exponential's 1.0
    assert rl.when("b") == pytest.approx(1.0)  # bucket empty: 1 s
    assert rl.when("a") == pytest.approx(2.0)
    assert rl.num_requeues("a") == 2
    rl.forget("a")
    assert rl.num_requeues("a") == 0
    assert default_controller_rate_limiter(clock).when("z") == pytest.approx(0.005)


@pytest.mark.asyncio
async def test_add_rate_limited_backs_off() -> None:
    q, clock = make_queue(base_delay=1.0, max_delay=8.0)
    q.add_rate_limited("k")
    assert q.num_requeues("k") == 1
    await clock.advance(0.9)
    assert q.len() == 0
    await clock.advance(0.1)
    assert await drain(q) == ["k"]
    q.add_rate_limited("k")  # second failure: 2 s
    await clock.advance(1.5)
    assert q.len() == 0
    await clock.advance(0.5)
    assert q.len() == 1
    q.forget("k")
    assert q.num_requeues("k") == 0


# ---------------------------------------------------------------- run_workers


class Reconciler:
    def __init__(self, outcomes: dict[str, list[BaseException | None]]) -> None:
        self.outcomes = outcomes
        self.calls: list[str] = []

    async def __call__(self, key: str) -> None:
        self.calls.append(key)
        plan = self.outcomes.get(key, [])
        outcome = plan.pop(0) if plan else None
        if outcome is not None:
            raise outcome


@pytest.mark.parametrize(
    "outcomes, max_retries, advance, calls, dropped",
    [
        pytest.param([], 15, 0, 1, False, id="success"),
        pytest.param([ValueError("x")], 15, 0.005, 2, False, id="one-failure-retried"),
        pytest.param([ValueError("x")] * 3, 15, 1.0, 4, False, id="three-failures-then-success"),
        pytest.param([ValueError("x")] * 10, 3, 10.0, 4, True, id="dropped-after-max-retries"),
        pytest.param([ValueError("x")], 0, 10.0, 1, True, id="no-retries"),
        pytest.param([Requeue(5.0)], 0, 5.0, 2, False, id="requeue-is-not-an-error"),
        pytest.param([Requeue(0.0)], 0, 0, 2, False, id="requeue-immediately"),
    ],
)
@pytest.mark.asyncio
async def test_run_workers_retry_policy(
    outcomes: list[BaseException | None],
    max_retries: int,
    advance: float,
    calls: int,
    dropped: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    q, clock = make_queue()
    rec = Reconciler({"k": list(outcomes)})
    task = asyncio.create_task(run_workers(q, rec, workers=2, max_retries=max_retries))
    q.add("k")
    with caplog.at_level(logging.WARNING, logger="kubelab.workqueue"):
        await settle()
        await clock.advance(advance)
        await clock.advance(100)  # nothing else should happen afterwards
    assert rec.calls == ["k"] * calls
    assert q.num_requeues("k") == 0  # forgotten on success and on drop
    assert ("dropping 'k'" in caplog.text) is dropped
    q.shut_down()
    await asyncio.wait_for(task, 1)


@pytest.mark.asyncio
async def test_run_workers_requeue_delay_is_respected() -> None:
    q, clock = make_queue()
    rec = Reconciler({"k": [Requeue(10.0)]})
    task = asyncio.create_task(run_workers(q, rec))
    q.add("k")
    await settle()
    await clock.advance(9.9)
    assert rec.calls == ["k"]
    await clock.advance(0.1)
    assert rec.calls == ["k", "k"]
    q.shut_down()
    await asyncio.wait_for(task, 1)


@pytest.mark.asyncio
async def test_run_workers_logs_retries(caplog: pytest.LogCaptureFixture) -> None:
    q, clock = make_queue()
    rec = Reconciler({"k": [RuntimeError("boom")]})
    logger = logging.getLogger("test.workers")
    task = asyncio.create_task(run_workers(q, rec, logger=logger))
    with caplog.at_level(logging.WARNING, logger="test.workers"):
        q.add("k")
        await settle()
    assert "error reconciling 'k' (retry 1/15): RuntimeError: boom" in caplog.text
    q.shut_down()
    await asyncio.wait_for(task, 1)


@pytest.mark.asyncio
async def test_run_workers_processes_many_keys_in_parallel() -> None:
    q, _ = make_queue()
    running = 0
    peak = 0
    gate = asyncio.Event()

    async def reconcile(key: str) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1

    task = asyncio.create_task(run_workers(q, reconcile, workers=4))
    for i in range(10):
        q.add(f"k{i}")
    await settle()
    assert peak == 4
    gate.set()
    await settle()
    assert q.len() == 0 and running == 0
    q.shut_down()
    await asyncio.wait_for(task, 1)


@pytest.mark.asyncio
async def test_run_workers_cancellation_marks_done() -> None:
    q, _ = make_queue()
    started = asyncio.Event()

    async def reconcile(key: str) -> None:
        started.set()
        await asyncio.Event().wait()  # forever

    task = asyncio.create_task(run_workers(q, reconcile))
    q.add("k")
    await asyncio.wait_for(started.wait(), 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    q.add("k")                  # done: not dirty-while-processing, but ready at once
    assert q.len() == 1


# ---------------------------------------------------------------- clocks


@pytest.mark.asyncio
async def test_fake_clock() -> None:
    clock = FakeClock(start=100.0)
    woke: list[float] = []

    async def sleeper(d: float) -> None:
        await clock.sleep(d)
        woke.append(clock.now())

    tasks = [asyncio.create_task(sleeper(d)) for d in (3, 1, 2)]
    await settle()
    await clock.advance(2.5)
    assert woke == [101.0, 102.0]
    assert clock.now() == 102.5
    await clock.advance(1)
    assert woke == [101.0, 102.0, 103.0]
    await asyncio.gather(*tasks)
    await clock.sleep(0)  # returns immediately


@pytest.mark.asyncio
async def test_real_clock() -> None:
    clock = RealClock()
    t0 = clock.now()
    await clock.sleep(0)
    await clock.sleep(-1)
    assert clock.now() >= t0


def test_requeue_exception() -> None:
    r = Requeue(2.5)
    assert r.delay == 2.5 and isinstance(r, Exception)
    assert Requeue().delay == 0.0
