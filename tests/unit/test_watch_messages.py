"""Watch events travel in WatchEvents messages: what was waiting goes in one, and comes out one event at a time.

The apiserver serialises each event once, as an element of WatchEvents, and
joins what a watcher has queued; the client's WatchStream hands the events
back singly, in order. An error queued after events ends the stream after
them, not in their place.
"""
from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from apiserver import watchcache
from kubelab import errors, kinds
from kubelab.client import WatchStream, new_object
from kubelab.v1 import api_pb2 as api


def event(name: str, type_: str = "ADDED") -> api.WatchEvent:
    return api.WatchEvent(type=type_, object=kinds.wrap(new_object("Pod", name, "default")))


def names(message: bytes) -> list[str]:
    return [kinds.unwrap(e.object).metadata.name or e.type for e in api.WatchEvents.FromString(message).events]


async def collect(queue: "asyncio.Queue[Any]") -> tuple[list[list[str]], Exception | None]:
    """The messages until the stream ends with an error or waits for more (then: None)."""
    out: list[list[str]] = []
    stream = watchcache.messages(queue)
    try:
        while True:
            out.append(names(await asyncio.wait_for(stream.__anext__(), 0.2)))
    except asyncio.TimeoutError:
        return out, None
    except Exception as e:  # noqa: BLE001 - what ended the stream
        return out, e


def queue_of(*items: Any) -> "asyncio.Queue[Any]":
    q: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        q.put_nowait(item)
    return q


async def test_what_was_waiting_goes_in_one_message_in_order() -> None:
    got, failure = await collect(queue_of(*(watchcache.framed(event(f"p{i}")) for i in range(300))))
    assert failure is None
    assert got == [[f"p{i}" for i in range(300)]]


async def test_a_large_backlog_is_split_into_bounded_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    one = watchcache.framed(event("p0"))
    monkeypatch.setattr(watchcache, "MAX_MESSAGE_BYTES", len(one) * 10)
    got, _ = await collect(queue_of(*(watchcache.framed(event(f"p{i}")) for i in range(25))))
    assert [len(m) for m in got] == [10, 10, 5]
    assert sum(got, []) == [f"p{i}" for i in range(25)]


async def test_an_error_after_events_ends_the_stream_after_them() -> None:
    gone = errors.Gone("too old resource version")
    got, failure = await collect(queue_of(watchcache.framed(event("a")), watchcache.framed(event("b")), gone))
    assert got == [["a", "b"]] and failure is gone


def test_framing_survives_events_longer_than_one_varint_byte() -> None:
    big = new_object("Pod", "big", "default")
    big.metadata.annotations["x"] = "y" * 70000          # a three-byte length
    framed = watchcache.framed(api.WatchEvent(type="MODIFIED", object=kinds.wrap(big)))
    joined = framed + watchcache.bookmark_bytes(42) + watchcache.framed(event("small"))
    events = api.WatchEvents.FromString(joined).events
    assert [e.type for e in events] == ["MODIFIED", "BOOKMARK", "ADDED"]
    assert kinds.unwrap(events[0].object).metadata.annotations["x"] == "y" * 70000
    assert events[1].resource_version == "42"


class Call:
    """A watch call's read(): the messages, then EOF or an error."""

    def __init__(self, *messages: Any) -> None:
        self.messages = list(messages)

    async def read(self) -> Any:
        item = self.messages.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


async def test_the_client_hands_out_events_one_at_a_time() -> None:
    call = Call(api.WatchEvents(events=[event("a"), event("b")]), api.WatchEvents(),
                api.WatchEvents(events=[event("c", "DELETED")]), grpc.aio.EOF)
    got = [(e.type, kinds.unwrap(e.object).metadata.name) async for e in WatchStream(call)]
    assert got == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "c")]


async def test_the_client_raises_the_streams_error_after_its_events() -> None:
    failure = grpc.aio.AioRpcError(grpc.StatusCode.OUT_OF_RANGE, grpc.aio.Metadata(),
                                   grpc.aio.Metadata((errors.REASON_KEY, "Gone")), "too old resource version")
    stream = WatchStream(Call(api.WatchEvents(events=[event("a")]), failure))
    assert kinds.unwrap((await stream.__anext__()).object).metadata.name == "a"
    with pytest.raises(errors.Gone):
        await stream.__anext__()
