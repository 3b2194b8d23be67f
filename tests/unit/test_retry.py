"""kubelab.retry: a read-change-write run again on Conflict (client-go's RetryOnConflict with DefaultRetry), against
a store that bumps the resourceVersion on every write and refuses a stale one as the apiserver does."""
from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from kubelab import errors
from kubelab.retry import DEFAULT_STEPS, cached_first, retry_on_conflict


@dataclass(frozen=True)
class Obj:
    rv: int
    replicas: int = 1
    labels: tuple[str, ...] = ()


class Store:
    """One object; `update` refuses a stale rv (Conflict), and `meddle` writes as another client would."""

    def __init__(self) -> None:
        self.obj = Obj(rv=1)
        self.gets = self.updates = 0
        self.meddles = 0                      # other writers' updates still to land, one before each of ours

    async def get(self) -> Obj:
        self.gets += 1
        return self.obj

    async def update(self, obj: Obj) -> Obj:
        self.updates += 1
        if self.meddles:
            self.meddles -= 1
            self.obj = replace(self.obj, rv=self.obj.rv + 1, labels=(*self.obj.labels, "theirs"))
        if obj.rv != self.obj.rv:
            raise errors.Conflict("the object has been modified; please apply your changes to the latest version")
        self.obj = replace(obj, rv=obj.rv + 1)
        return self.obj


class Sleeps:
    def __init__(self) -> None:
        self.waited: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.waited.append(delay)


async def test_a_conflict_is_retried_on_the_fresh_object_until_it_is_written() -> None:
    store, sleep = Store(), Sleeps()
    store.meddles = 2
    seen: list[Obj] = []

    async def scale() -> Obj:
        obj = await store.get()
        seen.append(obj)
        return await store.update(replace(obj, replicas=3))
    written = await retry_on_conflict(scale, sleep=sleep)
    assert written.replicas == 3 and written.labels == ("theirs", "theirs")    # their writes kept, ours on top
    assert [o.rv for o in seen] == [1, 2, 3]                 # each try changed the object as it was then
    assert store.updates == 3 and len(sleep.waited) == 2
    assert all(0.01 <= d <= 0.011 for d in sleep.waited)     # DefaultRetry: 10 ms, up to a tenth more


async def test_it_gives_up_after_the_steps_with_the_last_conflict() -> None:
    store, sleep = Store(), Sleeps()
    store.meddles = 100

    async def scale() -> Obj:
        return await store.update(replace(await store.get(), replicas=3))
    with pytest.raises(errors.Conflict, match="has been modified"):
        await retry_on_conflict(scale, sleep=sleep)
    assert store.updates == DEFAULT_STEPS and len(sleep.waited) == DEFAULT_STEPS - 1   # no wait after the last
    assert store.obj.replicas == 1
    store.updates = 0
    with pytest.raises(errors.Conflict):
        await retry_on_conflict(scale, steps=2, sleep=sleep)
    assert store.updates == 2


@pytest.mark.parametrize("error", [errors.NotFound('deployments "web" not found'), errors.Invalid("bad"),
                                   errors.Unavailable("down"), ValueError("a bug")], ids=lambda e: type(e).__name__)
async def test_other_errors_are_not_retried(error: Exception) -> None:
    calls, sleep = 0, Sleeps()

    async def fails() -> None:
        nonlocal calls
        calls += 1
        raise error
    with pytest.raises(type(error)):
        await retry_on_conflict(fails, sleep=sleep)
    assert calls == 1 and sleep.waited == []


async def test_a_larger_cap_doubles_the_wait_up_to_it() -> None:
    store, sleep = Store(), Sleeps()
    store.meddles = 100

    async def touch() -> Obj:
        return await store.update(await store.get())
    with pytest.raises(errors.Conflict):
        await retry_on_conflict(touch, steps=5, base=0.01, cap=0.03, sleep=sleep)
    assert len(sleep.waited) == 4
    assert all(base <= d <= base * 1.1 for d, base in zip(sleep.waited, [0.01, 0.02, 0.03, 0.03]))


async def test_cached_first_reads_only_after_a_conflict() -> None:
    store, sleep = Store(), Sleeps()
    cached = Obj(rv=1)
    read = cached_first(cached, store.get)

    async def scale() -> Obj:
        return await store.update(replace(await read(), replicas=3))
    assert (await retry_on_conflict(scale, sleep=sleep)).replicas == 3
    assert store.gets == 0                                   # no one else wrote: the copy in hand was enough

    store.meddles = 1
    read = cached_first(store.obj, store.get)                # current when read, but theirs lands before ours
    assert (await retry_on_conflict(scale, sleep=sleep)).labels == ("theirs",)
    assert store.gets == 1


async def test_steps_must_allow_one_try() -> None:
    async def never() -> None:
        raise AssertionError("not called")
    with pytest.raises(ValueError):
        await retry_on_conflict(never, steps=0)
