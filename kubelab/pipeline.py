"""Pipelined writes: many requests on one Writes stream, sent in batches.

grpc.aio spends as much CPU on a call as the apiserver spends on the write
itself, and nearly all of it per message, not per byte. A component that
writes by the thousand (the scheduler's binds, Events, kubelets' status)
sends its writes on one stream instead: whatever was asked while the
previous batch went out goes in the next message, and answers come back the
same way. Each write is still a request of its own on the server (its own
validation, etcd transaction, resourceVersion and error), so callers see
exactly what the unary call would have given them.

A broken stream fails what it carried as Unavailable (the client's retry
loop retries what is idempotent, as for a failed call); the next write opens
a new stream. A write the broken stream never sent is sent again on a new
one, whatever its verb: the server cannot have seen it.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc

from kubelab import errors
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import objects_pb2 as pb

log = logging.getLogger(__name__)

# The initial metadata the apiserver sends once it has accepted a stream: Writes at once, Exec and PortForward
# once it has found the pod's kubelet. A client writes (input, batches) only after it: had it written while the
# apiserver was refusing the stream (a wrong token, a pod on a hollow node), grpc.aio would report "Internal
# error from Core" in place of the refusal.
STREAM_ACCEPTED = ("kubelab-stream", "accepted")


def _stream_error(e: grpc.aio.AioRpcError) -> errors.ApiError:
    """What a write hears of its broken stream: the server's refusal (a bad token) as it is; anything else
    (the apiserver went away, the stream was cancelled) as Unavailable, since the write's fate is unknown."""
    err = errors.from_rpc_error(e)
    if errors.reason_of(e) or isinstance(err, (errors.Unauthenticated, errors.Forbidden)):
        return err
    return errors.Unavailable(f"write stream broken: {e.details() or e.code().name}")


# The most one WriteBatch carries: under the apiserver's limit on a message (3 MiB, as kube-apiserver's on a
# request body), which would end the whole stream. A write bigger than this goes alone, as a unary call.
MAX_BATCH_BYTES = 2 * 1024 * 1024


def _take_batch(pending: list[api.WriteRequest]) -> list[api.WriteRequest]:
    """Take from the front of `pending` the writes of one batch (at least one, at most MAX_BATCH_BYTES)."""
    size = 0
    for n, item in enumerate(pending):
        size += item.ByteSize() + 8          # the field tag and length around each write
        if size > MAX_BATCH_BYTES and n:
            break
    else:
        n = len(pending)
    taken = pending[:n]
    del pending[:n]
    return taken


class _NotSent(Exception):
    """The stream broke (`error`) before this write went out: safe to send again."""

    def __init__(self, error: errors.ApiError) -> None:
        super().__init__(error.message)
        self.error = error


class _Stream:
    """One open Writes call: what it has to send, and who waits for which answer."""

    def __init__(self, stub: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        self.pending: list[api.WriteRequest] = []
        self.waiting: dict[int, asyncio.Future[pb.Object]] = {}
        self.closed = False
        self.wake = asyncio.Event()
        self.call = stub.Writes(metadata=metadata)
        self.reader = asyncio.create_task(self._read())
        self.sender = asyncio.create_task(self._send())

    def submit(self, item: api.WriteRequest) -> asyncio.Future[pb.Object]:
        fut: asyncio.Future[pb.Object] = asyncio.get_running_loop().create_future()
        self.waiting[item.id] = fut
        self.pending.append(item)
        self.wake.set()
        return fut

    async def _send(self) -> None:
        try:
            # Nothing goes out before the apiserver has accepted the stream: a batch written while it was
            # refusing (a wrong token) would fail as "Internal error from Core" and hide the refusal, which
            # the reader reports.
            if STREAM_ACCEPTED not in tuple(await self.call.initial_metadata() or ()):
                return
            while True:
                await self.wake.wait()
                self.wake.clear()
                if self.closed:
                    return
                while self.pending:
                    # Everything asked while the last batch was on its way goes in this one, as far as the
                    # apiserver's limit on a message allows; the rest in the next.
                    batch = api.WriteBatch(requests=_take_batch(self.pending))
                    await self.call.write(batch)
        except grpc.aio.AioRpcError as e:
            self.close(_stream_error(e))
        except Exception as e:  # noqa: BLE001 - the call ended under the write (InvalidStateError, UsageError)
            self.close(errors.Unavailable(f"write stream broken: {e!r}"))

    async def _read(self) -> None:
        try:
            async for msg in self.call:
                for r in msg.results:
                    fut = self.waiting.pop(r.id, None)
                    if fut is None or fut.done():
                        continue          # its caller gave up (timeout, cancelled)
                    if r.code == 0:
                        fut.set_result(r.object)
                    else:
                        fut.set_exception(errors.from_status(r.code, r.reason, r.message))
            self.close(errors.Unavailable("the apiserver closed the write stream"))
        except grpc.aio.AioRpcError as e:
            self.close(_stream_error(e))
        except asyncio.CancelledError:
            self.close(errors.Unavailable("write stream cancelled"))
            raise

    def close(self, err: errors.ApiError) -> None:
        """Fail every write still waiting with `err` (each its own exception) and end the call. Synchronous,
        so no write can join a stream between its breaking and its writes failing."""
        if self.closed:
            return
        self.closed = True
        self.wake.set()
        self.call.cancel()
        unsent = {item.id for item in self.pending}
        waiting, self.waiting, self.pending = self.waiting, {}, []
        for id_, fut in waiting.items():
            if not fut.done():
                fut.set_exception(_NotSent(err) if id_ in unsent else type(err)(err.message))


class WritePipeline:
    """Create, Update, Patch, Delete and Bind over one Writes stream (opened on first use, reopened after a
    break). `write(op, request)` answers as the unary call would: the object, or the ApiError."""

    def __init__(self, stub: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        self._stub = stub
        self._metadata = metadata
        self._stream: _Stream | None = None
        self._last_id = 0

    async def write(self, op: str, request: Any, timeout: float = 30.0) -> pb.Object:
        self._last_id += 1
        item = api.WriteRequest(id=self._last_id, **{op: request})
        if item.ByteSize() > MAX_BATCH_BYTES:
            # Too big to share a message: alone, so the apiserver's refusal (RequestEntityTooLarge) is this
            # write's answer, not the end of a stream other writes are on.
            try:
                call = getattr(self._stub, op.capitalize())
                return await call(request, metadata=self._metadata, timeout=timeout)  # type: ignore[no-any-return]
            except grpc.aio.AioRpcError as e:
                raise errors.from_rpc_error(e) from e
        deadline = asyncio.get_running_loop().time() + timeout
        broken: errors.ApiError = errors.Unavailable("write stream broken")
        for _ in range(2):
            stream = self._stream
            if stream is None or stream.closed:
                stream = self._stream = _Stream(self._stub, self._metadata)
            fut = stream.submit(item)
            try:
                async with asyncio.timeout_at(deadline):
                    return await fut
            except _NotSent as e:
                broken = e.error          # once more, on a new stream
            except TimeoutError:
                raise errors.Timeout("Deadline Exceeded") from None
            finally:
                stream.waiting.pop(item.id, None)
        raise type(broken)(broken.message)

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close(errors.Unavailable("the client is closed"))
            for task in (stream.sender, stream.reader):
                task.cancel()
            await asyncio.gather(stream.sender, stream.reader, return_exceptions=True)
