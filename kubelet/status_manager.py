"""Writing a pod's status to the API, as Kubernetes' status manager does.

Where it sits: each pod worker (`kubelet.worker`) owns one `StatusWriter`; it computes the status
(`kubelet.status`) and hands it here. A write happens only when the status differs from the API's (or
from our last write, while the informer has not caught up); conflicts are retried on a fresh read.

A write the apiserver refuses for another reason (RequestEntityTooLarge for a pod of thousands of
containers, Invalid, the apiserver unavailable) is not the pod's end: the writer backs off (doubling,
capped), logs one line per attempt and records a Warning event on the pod (reason FailedSync, the
kubelet's reason for a pod it cannot sync), instead of a traceback on every resync. The hollow kubelet
(`kubelet.hollow`) reports its refused writes with the same `refused_write`.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from kubelab import errors
from kubelab.backoff import doubling
from kubelab.client import Client
from kubelab.retry import cached_first, retry_on_conflict
from kubelab.v1 import objects_pb2 as pb


log = logging.getLogger(__name__)

Record = Callable[[str, str, str], None]       # (type, reason, message): an Event on the pod
FAILED_SYNC = "FailedSync"


def _rv(obj: Any) -> int:
    try:
        return int(obj.metadata.resource_version)
    except ValueError:
        return 0


class StatusWriter:
    """The status writes of one pod (by uid)."""

    def __init__(self, client: Client, uid: str, record: Record, base: float = 1.0, cap: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.uid = uid
        self.record = record
        self.base, self.cap, self.clock = base, cap, clock
        self.last_status: bytes | None = None
        self.last_status_rv = 0
        self.last_written: Any | None = None   # the pod as our last write left it (newer than the informer's, for a while)
        self.failures = 0                 # refused writes in a row
        self.retry_at = 0.0               # clock time before which no write is tried again

    async def write(self, pod: Any, status: Any) -> float | None:
        """Write `status` if it changed; the seconds after which to try again if it could not be written."""
        if status == pod.status:
            return None
        blob = status.SerializeToString(deterministic=True)
        if blob == self.last_status and _rv(pod) <= self.last_status_rv:
            return None
        wait = self.retry_at - self.clock()
        if wait > 0:
            return wait                  # backing off from a refused write: stay quiet until then
        name = f"{pod.metadata.namespace}/{pod.metadata.name}"
        # Our own last write is newer than the informer's copy until the informer catches up: start from it,
        # rather than from a copy that is sure to conflict.
        ours = self.last_written
        cached = ours if ours is not None and ours.metadata.uid == pod.metadata.uid and _rv(ours) > _rv(pod) else pod
        read = cached_first(cached, lambda: self.client.get("Pod", pod.metadata.name, pod.metadata.namespace))

        async def attempt() -> Any:
            obj = pb.Pod()
            obj.CopyFrom(await read())
            if obj.metadata.uid != self.uid:
                return None              # another pod of that name now: not ours to write
            obj.status.CopyFrom(status)
            return await self.client.update_status(obj)
        try:
            written = await retry_on_conflict(attempt)
        except errors.Conflict:
            log.warning("could not write the status of %s (conflicts)", name)
            return 1.0
        except errors.NotFound:
            return None
        except errors.ApiError as e:
            return self._refused(pod, name, e)
        if written is None:
            return None
        self.last_status = blob
        self.last_status_rv = _rv(written)
        self.last_written = written
        self.failures, self.retry_at = 0, 0.0
        log.debug("status of %s: %s", name, status.phase)
        return None

    def _refused(self, pod: Any, name: str, e: errors.ApiError) -> float:
        self.failures += 1
        delay = refused_write(name, e, self.failures, self.base, self.cap, self.record)
        self.retry_at = self.clock() + delay
        return delay


def refused_write(name: str, e: errors.ApiError, failures: int, base: float, cap: float, record: Record) -> float:
    """The `failures`-th status write in a row of pod `name` ("namespace/name") that the apiserver refused:
    one log line and a FailedSync Warning event; the seconds before the next try (base, doubling, at most
    cap). Both kubelets report a refused write so: this one's `StatusWriter` and the hollow one's runner."""
    delay = doubling(failures, base, cap)
    log.warning("could not write the status of %s: %s: %s (attempt %d; next in %gs)", name, e.reason, e,
                failures, delay)
    record("Warning", FAILED_SYNC, f"error updating pod status: {e}")
    return delay
