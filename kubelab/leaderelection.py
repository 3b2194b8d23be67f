"""Leader election on a Lease object (coordination.k8s.io/v1), as client-go does.

A candidate acquires or renews the lease with optimistic concurrency (the
resourceVersion); it leads while its renewals succeed and loses leadership
if it cannot renew within the renew deadline. Others wait and take over
once the holder's renewTime is older than the lease duration.

A leader that stops (its `run` cancelled: a graceful shutdown) gives the
lease back (client-go's ReleaseOnCancel), so a standby takes over at once
instead of waiting the lease out. Losing the lease raises `LostLeadership`,
a `serving.Fatal`: the process ends with one log line, as kube components
do, since a replica that may have been replaced must not keep writing.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import Awaitable, Callable

from kubelab import errors, timeutil
from kubelab.client import Client
from kubelab.serving import Fatal
from kubelab.v1 import objects_pb2 as pb

log = logging.getLogger(__name__)

RELEASE_TIMEOUT = 5.0     # seconds a stopping leader spends giving the lease back, at most


class LostLeadership(Fatal):
    """Renewals failed past the renew deadline: another replica may lead now."""


def default_identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


class LeaderElector:
    def __init__(self, client: Client, name: str, namespace: str = "kube-system", identity: str = "",
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.is_leader = False

    async def _try_acquire_or_renew(self) -> bool:
        now = time.time()
        try:
            lease = await self.client.get("Lease", self.name, self.namespace)
        except errors.NotFound:
            lease = pb.Lease(api_version="coordination.k8s.io/v1", kind="Lease")
            lease.metadata.name, lease.metadata.namespace = self.name, self.namespace
            lease.spec.holder_identity = self.identity
            lease.spec.lease_duration_seconds = int(self.lease_duration)
            lease.spec.acquire_time = lease.spec.renew_time = timeutil.fmt_micro(now)
            try:
                await self.client.create(lease)
                return True
            except (errors.AlreadyExists, errors.Conflict):
                return False
        spec = lease.spec
        # An unreadable renewTime counts as long ago: the lease is free.
        expired = (timeutil.parse(spec.renew_time) or 0.0) + spec.lease_duration_seconds < now
        if spec.holder_identity and spec.holder_identity != self.identity and not expired:
            return False
        if spec.holder_identity != self.identity:
            spec.lease_transitions += 1
            spec.acquire_time = timeutil.fmt_micro(now)
            spec.holder_identity = self.identity
        spec.lease_duration_seconds = int(self.lease_duration)
        spec.renew_time = timeutil.fmt_micro(now)
        try:
            await self.client.update(lease)
            return True
        except (errors.Conflict, errors.NotFound):
            return False

    async def release(self) -> None:
        """Give the lease back (holder cleared, duration 1 s) if it is still ours."""
        try:
            lease = await self.client.get("Lease", self.name, self.namespace)
            if lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = ""
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = timeutil.now_str()
            await self.client.update(lease)
            log.info("released lease %s/%s", self.namespace, self.name)
        except errors.ApiError as e:
            log.info("could not release the lease %s/%s: %s", self.namespace, self.name, e)

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Wait to lead, then run `lead()` while renewing.

        Cancelled (a graceful stop): `lead()` is cancelled, then the lease released. Renewals failing past
        the renew deadline: `lead()` is cancelled and `LostLeadership` raised.
        """
        while True:
            try:
                if await self._try_acquire_or_renew():
                    break
            except errors.ApiError as e:
                log.info("leader election %s: %s", self.name, e)
            await asyncio.sleep(self.retry_period)
        self.is_leader = True
        log.info("%s became leader of %s/%s", self.identity, self.namespace, self.name)
        task = asyncio.create_task(lead())
        lost = False
        try:
            last_renew = asyncio.get_running_loop().time()
            while not task.done():
                await asyncio.wait([task], timeout=self.retry_period)
                if task.done():
                    break
                try:
                    ok = await asyncio.wait_for(self._try_acquire_or_renew(), self.renew_deadline)
                except (errors.ApiError, asyncio.TimeoutError):
                    ok = False
                loop_now = asyncio.get_running_loop().time()
                if ok:
                    last_renew = loop_now
                elif loop_now - last_renew > self.renew_deadline:
                    lost = True
                    break
        finally:
            self.is_leader = False
            await timeutil.cancel(task)
            if not lost:    # the work has stopped: a standby may start at once
                try:
                    await asyncio.wait_for(self.release(), RELEASE_TIMEOUT)
                except asyncio.TimeoutError:
                    log.info("could not release the lease %s/%s in time", self.namespace, self.name)
        if lost:
            raise LostLeadership(f"{self.identity} lost leadership of {self.namespace}/{self.name}")
        if not task.cancelled() and task.exception():
            raise task.exception()  # type: ignore[misc]
