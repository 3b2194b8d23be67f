"""Test harness: run a controller's reconcile against an in-memory API, no processes.

`Harness(ControllerClass)` builds the controller over a `FakeClient` (a dict
of objects with uids, resourceVersions, generateName and the delete
semantics controllers rely on: graceful pods, finalizers) and unstarted
informers that tests fill by hand with `seen(obj)` — so a test decides
exactly when the "watch" shows a write, which is what expectations are
about. Every write is recorded in `client.actions`.

The second half has the integration helpers: a local cluster from the
launcher with short lab timings, extra component processes, polling (async and blocking), the
ReplicaSets and Deployments the tests create, a watch that tracks a rollout's
extremes.

Lives under tests/: the running controller manager never imports it (the integration tests of
DNS and the proxy, and bench/, use its second half).
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from kubelab import conditions, errors, kinds, manifests, patch as patching, timeutil
from kubelab.v1 import objects_pb2 as pb

from controller_manager.base import Context, Controller
from controller_manager.config import Config
from controller_manager.informers import SharedInformers


class FakeClient:
    """Just enough of kubelab.client.Client, in memory."""

    def __init__(self, clock: Any = None) -> None:
        self.objects: dict[tuple[str, str, str], Any] = {}
        self.rv = 100
        self.actions: list[tuple[str, str, str]] = []     # (verb, kind, namespace/name)
        self.clock = clock or timeutil.FakeClock()
        self.fail: dict[str, errors.ApiError] = {}        # verb -> error to raise once

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _key(kind: str, namespace: str, name: str) -> tuple[str, str, str]:
        return (kind, namespace if kinds.BY_KIND[kind].namespaced else "", name)

    def _copy(self, obj: Any) -> Any:
        out = type(obj)()
        out.CopyFrom(obj)
        return out

    def _bump(self, obj: Any) -> Any:
        self.rv += 1
        obj.metadata.resource_version = str(self.rv)
        self.objects[self._key(kinds.info_of(obj).kind, obj.metadata.namespace, obj.metadata.name)] = self._copy(obj)
        return obj

    def _maybe_fail(self, verb: str) -> None:
        err = self.fail.pop(verb, None)
        if err is not None:
            raise err

    def put(self, obj: Any) -> Any:
        """Store an object as if it had been created (uid, timestamps), bypassing actions."""
        obj = self._copy(obj)
        info = kinds.info_of(obj)
        obj.api_version, obj.kind = info.api_version, info.kind
        if info.namespaced and not obj.metadata.namespace:
            obj.metadata.namespace = "default"
        obj.metadata.uid = obj.metadata.uid or str(uuid.uuid4())
        obj.metadata.creation_timestamp = obj.metadata.creation_timestamp or timeutil.fmt(self.clock())
        if info.kind in ("Deployment", "ReplicaSet", "PodDisruptionBudget") and not obj.metadata.generation:
            obj.metadata.generation = 1
        return self._bump(obj)

    def stored(self, kind: str, name: str, namespace: str = "default") -> Any | None:
        return self.objects.get(self._key(kind, namespace, name))

    def all(self, kind: str) -> list[Any]:
        return [o for (k, _, _), o in self.objects.items() if k == kind]

    # -------------------------------------------------------------- verbs
    async def get(self, kind: str, name: str, namespace: str | None = None) -> Any:
        obj = self.objects.get(self._key(kind, namespace or "default", name))
        if obj is None:
            raise errors.NotFound(f'{kinds.BY_KIND[kind].plural} "{name}" not found')
        return self._copy(obj)

    async def list(self, kind: str, namespace: str | None = None, label_selector: str = "",
                   field_selector: str = "", limit: int = 0) -> tuple[list[Any], str]:
        items = [self._copy(o) for (k, ns, _), o in self.objects.items()
                 if k == kind and (not namespace or ns == namespace)]
        return items, str(self.rv)

    async def create(self, obj: Any, dry_run: bool = False) -> Any:
        self._maybe_fail("create")
        obj = self._copy(obj)
        info = kinds.info_of(obj)
        if info.namespaced and not obj.metadata.namespace:
            obj.metadata.namespace = "default"
        if not obj.metadata.name:
            # A generated name that is taken is generated again, as the Store does (8 tries): 1,000 pods from
            # 27^5 suffixes clash in about 3% of runs.
            for _ in range(8):
                obj.metadata.name = obj.metadata.generate_name + "".join(
                    random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
                if self._key(info.kind, obj.metadata.namespace, obj.metadata.name) not in self.objects:
                    break
        if self._key(info.kind, obj.metadata.namespace, obj.metadata.name) in self.objects:
            raise errors.AlreadyExists(f'{info.plural} "{obj.metadata.name}" already exists')
        self.actions.append(("create", info.kind, kinds.key_of(obj)))
        return self.put(obj)

    async def _replace(self, obj: Any, subresource: str) -> Any:
        info = kinds.info_of(obj)
        key = self._key(info.kind, obj.metadata.namespace or "default", obj.metadata.name)
        old = self.objects.get(key)
        if old is None:
            raise errors.NotFound(f'{info.plural} "{obj.metadata.name}" not found')
        if obj.metadata.resource_version and obj.metadata.resource_version != old.metadata.resource_version:
            raise errors.Conflict(f'Operation cannot be fulfilled on {info.plural} "{obj.metadata.name}"')
        new = self._copy(old)
        if subresource == "status":
            new.status.CopyFrom(obj.status)
        elif subresource == "finalize":
            del new.spec.finalizers[:]
            new.spec.finalizers.extend(obj.spec.finalizers)
        else:
            status_copy = self._copy(old.status) if info.has_status else None
            new = self._copy(obj)
            if status_copy is not None:
                new.status.CopyFrom(status_copy)
            if hasattr(new, "spec") and info.kind in ("Deployment", "ReplicaSet", "PodDisruptionBudget") \
                    and new.spec != old.spec:
                new.metadata.generation = old.metadata.generation + 1
            new.metadata.uid, new.metadata.deletion_timestamp = old.metadata.uid, old.metadata.deletion_timestamp
            if info.kind == "Namespace":           # as the apiserver: only finalize changes them
                del new.spec.finalizers[:]
                new.spec.finalizers.extend(old.spec.finalizers)
        if new.metadata.deletion_timestamp and not new.metadata.finalizers and not (
                info.kind == "Namespace" and new.spec.finalizers):
            del self.objects[key]
            return new
        return self._bump(new)

    async def update(self, obj: Any, dry_run: bool = False) -> Any:
        self._maybe_fail("update")
        self.actions.append(("update", kinds.info_of(obj).kind, kinds.key_of(obj)))
        return await self._replace(obj, "")

    async def update_status(self, obj: Any) -> Any:
        self._maybe_fail("update_status")
        self.actions.append(("update_status", kinds.info_of(obj).kind, kinds.key_of(obj)))
        return await self._replace(obj, "status")

    async def finalize(self, obj: Any) -> Any:
        self._maybe_fail("finalize")
        self.actions.append(("finalize", kinds.info_of(obj).kind, kinds.key_of(obj)))
        return await self._replace(obj, "finalize")

    async def patch(self, kind: str, name: str, patch: dict[str, Any] | str, namespace: str | None = None,
                    patch_type: str = "strategic", subresource: str = "", dry_run: bool = False) -> Any:
        live = await self.get(kind, name, namespace)
        doc = json.loads(patch) if isinstance(patch, str) else patch
        merged = patching.strategic_merge(manifests.to_dict(live), doc)
        new = manifests.from_dict(merged)
        if new.metadata.uid != live.metadata.uid:
            raise errors.Invalid("metadata.uid: field is immutable")
        new.metadata.resource_version = live.metadata.resource_version
        self.actions.append(("patch", kind, kinds.key_of(live)))
        return await self._replace(new, "")

    async def delete(self, kind: str, name: str, namespace: str | None = None,
                     grace_period_seconds: int | None = None, propagation_policy: str = "",
                     precondition_uid: str = "", precondition_resource_version: str = "",
                     dry_run: bool = False) -> Any:
        self._maybe_fail("delete")
        key = self._key(kind, namespace or "default", name)
        obj = self.objects.get(key)
        if obj is None:
            raise errors.NotFound(f'{kinds.BY_KIND[kind].plural} "{name}" not found')
        if precondition_uid and precondition_uid != obj.metadata.uid:
            raise errors.Conflict("Precondition failed: UID")
        self.actions.append(("delete", kind, kinds.key_of(obj)))
        obj = self._copy(obj)
        fin = list(obj.metadata.finalizers)
        if propagation_policy == "Foreground" and "foregroundDeletion" not in fin:
            fin.append("foregroundDeletion")
        if propagation_policy == "Orphan" and "orphan" not in fin:
            fin.append("orphan")
        graceful = kind == "Pod" and obj.spec.node_name and grace_period_seconds != 0
        if fin or graceful:
            obj.metadata.deletion_timestamp = obj.metadata.deletion_timestamp or timeutil.fmt(self.clock())
            del obj.metadata.finalizers[:]
            obj.metadata.finalizers.extend(fin)
            return self._bump(obj)
        del self.objects[key]
        return obj

    async def close(self) -> None:
        pass


class Harness:
    """One controller over a FakeClient, its informers filled by hand."""

    def __init__(self, controller: type[Controller], config: Config | None = None) -> None:
        self.clock = timeutil.FakeClock()
        self.client = FakeClient(self.clock)
        self.informers = SharedInformers(self.client)  # type: ignore[arg-type]
        self.ctx = Context(client=self.client, informers=self.informers,  # type: ignore[arg-type]
                           config=config or Config(), clock=self.clock)
        self.controller = controller(self.ctx)
        self.controller.recorder.event = self._event  # type: ignore[method-assign]
        self.events: list[tuple[str, str, str]] = []  # (reason, message, object name)
        self.controller.setup()

    def _event(self, obj: Any, type_: str, reason: str, message: str) -> None:
        self.events.append((reason, message, obj.metadata.name))

    def seen(self, *objs: Any) -> None:
        """The watch shows these objects (added or updated): caches and handlers see them."""
        for obj in objs:
            self.informers.get(kinds.info_of(obj).kind)._put(obj)

    def gone(self, *objs: Any) -> None:
        for obj in objs:
            self.informers.get(kinds.info_of(obj).kind)._remove(obj)

    def sync_all(self) -> None:
        """Show every stored object in the caches, and drop what the store no longer has."""
        for kind in self.informers.kinds():
            inf = self.informers.get(kind)
            live = {kinds.key_of(o): o for o in self.client.all(kind)}
            for key, obj in list(inf.store.items()):
                if key not in live:
                    inf._remove(obj)
            for obj in live.values():
                cached = inf.store.get(kinds.key_of(obj))
                if cached is None or cached.metadata.resource_version != obj.metadata.resource_version:
                    inf._put(obj)

    def queued(self) -> list[str]:
        return list(self.controller.queue._queue)

    async def reconcile(self, key: str) -> None:
        await self.controller.reconcile(key)
        await asyncio.sleep(0)


def pod_status_ready(pod: pb.Pod, ready: bool, since: float) -> pb.Pod:
    """Mark a pod Running and Ready (or not) since `since`."""
    pod.status.phase = "Running"
    pod.status.pod_ip = pod.status.pod_ip or f"10.0.0.{random.randint(2, 250)}"
    del pod.status.conditions[:]
    pod.status.conditions.add(type="Ready", status="True" if ready else "False",
                              last_transition_time=timeutil.fmt(since))
    return pod


# ====================================================================== integration helpers
# Used by tests/integration/test_controllers.py, test_rollout.py and bench/bench_rollout.py:
# a local cluster from the launcher (etcd, apiserver, scheduler, this controller manager,
# hollow nodes) in a temporary state directory, and polling helpers.

# Short lab timings so failure handling fits in a test.
FAST_CONTROLLER_MANAGER = ["-v", "--leader-elect-lease-duration", "4", "--leader-elect-renew-deadline", "3",
                           "--leader-elect-retry-period", "0.5", "--node-monitor-grace-period", "8",
                           "--node-monitor-period", "1", "--pod-eviction-timeout", "6"]
FAST_HOLLOW = ["--heartbeat", "2", "--stop-delay", "0.2"]
# Kubernetes' own lease and node timings, for tests of load: under load the short ones provoke the failover
# they are made for (a lease lost while the machine is busy), which is not what such a test is about.
K8S_TIMINGS = ["--leader-elect-lease-duration", "15", "--leader-elect-renew-deadline", "10",
               "--leader-elect-retry-period", "2", "--node-monitor-grace-period", "40",
               "--pod-eviction-timeout", "300"]
_SYNC = re.compile(r"(creating|deleting) (\d+) pods (?:for|of) replica set (\S+) \(have (\d+), want (\d+)\)")


def replicaset_syncs(info: dict[str, Any], key: str) -> list[tuple[str, int, int]]:
    """(creating|deleting, n, pods the sync saw) for every sync of ReplicaSet `key` that wrote, from the
    controller manager's log."""
    text = (Path(info["state_path"]) / "logs" / "controller-manager.log").read_text(errors="replace")
    return [(m[1], int(m[2]), int(m[4])) for m in _SYNC.finditer(text) if m[3] == key]


def unseen_writes(steps: list[tuple[str, int, int]], start: int) -> list[str]:
    """Where a sync saw other than what the syncs before it left (a create or delete it had not observed)."""
    have, out = start, []
    for verb, n, seen in steps:
        if seen != have:
            out.append(f"{verb} {n}: saw {seen}, expected {have}")
        have = seen + (n if verb == "creating" else -n)
    return out


def start_cluster(tmp: Path, hollow_nodes: int = 3, controller_manager: list[str] | None = None,
                  hollow: list[str] | None = None, scheduler: list[str] | None = None) -> dict[str, Any]:
    """Start a local cluster in `tmp` (kubeconfig there too); returns the launcher's info."""
    from lab import local as launcher
    os.environ["KUBELAB_CONFIG"] = str(tmp / "kubeconfig")
    extra = {"controller-manager": FAST_CONTROLLER_MANAGER + (controller_manager or []),
             "hollow-nodes": FAST_HOLLOW + (hollow or []),
             "scheduler": scheduler or []}
    info = asyncio.run(launcher.up_local(hollow_nodes=hollow_nodes, state_dir=tmp / "state",
                                         write_kubeconfig=False, extra_args=extra))
    info["state_path"] = tmp / "state"
    return info


def stop_cluster(info: dict[str, Any]) -> None:
    from lab import local as launcher
    launcher.down_local(info["state_path"], remove_context=False)


def component_log(info: dict[str, Any], name: str = "controller-manager", tail: int = 6000) -> str:
    path = Path(info["state_path"]) / "logs" / f"{name}.log"
    return path.read_text(errors="replace")[-tail:] if path.exists() else ""


def spawn(info: dict[str, Any], module: str, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
    """Start one more component process (a second controller manager, another hollow runner)."""
    logs = Path(info["state_path"]) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = open(logs / f"{log_name}.log", "ab")
    env = {**os.environ, "KUBELAB_SERVER": info["server"], "KUBELAB_TOKEN": info["token"]}
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    out.close()
    return proc


def kill(proc: subprocess.Popen[bytes], sig: int = 9) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.2,
                   what: str = "condition") -> Any:
    """Poll `check()` until it returns something truthy; NotFound counts as not yet."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await check()
            if last:
                return last
        except errors.NotFound as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


def wait_until(fn: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Call `fn()` until it gives something truthy (an AssertionError it raises counts as not yet); that value.
    The blocking twin of `wait_for`, for tests that drive the CLI or the lab."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except AssertionError as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last})")
        time.sleep(interval)


async def until(fetch: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float, what: str) -> Any:
    """Poll `fetch()` until `ok` says yes to what it gave (a NotFound it raised is what `ok` is asked about);
    that value."""
    deadline = time.monotonic() + timeout
    value: Any = None
    while time.monotonic() < deadline:
        try:
            value = await fetch()
        except errors.NotFound as e:
            value = e
        if ok(value):
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last saw {value!r}")


async def wait_gone(client: Any, kind: str, name: str, namespace: str | None = None, timeout: float = 30.0) -> None:
    async def gone() -> bool:
        try:
            await client.get(kind, name, namespace)
            return False
        except errors.NotFound:
            return True
    await wait_for(gone, timeout, what=f"{kind} {name} to be gone")


async def live_pods(client: Any, namespace: str, selector: str = "") -> list[pb.Pod]:
    """Pods that count: not terminating, not finished."""
    pods, _ = await client.list("Pod", namespace, label_selector=selector)
    return [p for p in pods if not p.metadata.deletion_timestamp and p.status.phase not in ("Succeeded", "Failed")]


is_ready = conditions.pod_ready


async def namespace_for_test(client: Any, test_name: str) -> str:
    """A namespace of its own for one test: readable slug plus a stable hash, created if missing."""
    import re
    import zlib
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower().replace("test_", ""))[:32].strip("-")
    name = f"{slug}-{zlib.crc32(test_name.encode()) % 10000:04d}"
    await ensure_namespace(client, name)
    return name


async def ensure_namespace(client: Any, name: str) -> None:
    ns = pb.Namespace(api_version="v1", kind="Namespace")
    ns.metadata.name = name
    try:
        await client.create(ns)
    except errors.AlreadyExists:
        pass


def workload_manifest(kind: str, name: str, namespace: str, replicas: int, image: str = "nginx:1.15") -> Any:
    """A ReplicaSet or Deployment of `replicas` pods labelled app=`name`, one container."""
    rs = getattr(pb, kind)(api_version="apps/v1", kind=kind)
    rs.metadata.name, rs.metadata.namespace = name, namespace
    rs.spec.replicas = replicas
    rs.spec.selector.match_labels["app"] = name
    rs.spec.template.metadata.labels["app"] = name
    rs.spec.template.spec.containers.add(name="nginx", image=image)
    return rs


def deployment_manifest(name: str, namespace: str, replicas: int, image: str, surge: int | str = "25%",
                        unavailable: int | str = "25%", ready_delay: float | None = None,
                        progress_deadline: int | None = None, strategy: str = "RollingUpdate",
                        min_ready: int = 0) -> pb.Deployment:
    """A Deployment like the seeds' nginx-deployment."""
    from google.protobuf import struct_pb2

    def v(x: int | str) -> struct_pb2.Value:
        return struct_pb2.Value(number_value=x) if isinstance(x, int) else struct_pb2.Value(string_value=x)
    d = pb.Deployment(api_version="apps/v1", kind="Deployment")
    d.metadata.name, d.metadata.namespace = name, namespace
    d.metadata.labels["component"] = name
    d.spec.replicas = replicas
    d.spec.min_ready_seconds = min_ready
    d.spec.selector.match_labels["component"] = name
    t = d.spec.template
    t.metadata.labels["component"] = name
    if ready_delay is not None:
        t.metadata.annotations["hollow.kubelab.io/ready-delay"] = str(ready_delay)
    t.spec.containers.add(name="nginx", image=image)
    d.spec.strategy.type = strategy
    if strategy == "RollingUpdate":
        d.spec.strategy.rolling_update.max_surge.CopyFrom(v(surge))
        d.spec.strategy.rolling_update.max_unavailable.CopyFrom(v(unavailable))
    if progress_deadline is not None:
        d.spec.progress_deadline_seconds = progress_deadline
    return d


@dataclass
class PodObserver:
    """Watches a namespace's pods; tracks the extremes while armed."""
    client: Any
    namespace: str
    pods: dict[str, pb.Pod] = field(default_factory=dict)
    max_live: int = 0
    min_available: int = 10**9
    events: int = 0
    overlap: bool = False             # an old-image and a new-image pod existed at once
    new_image: str = ""

    def _measure(self) -> None:
        live = [p for p in self.pods.values() if not p.metadata.deletion_timestamp
                and p.status.phase not in ("Succeeded", "Failed")]
        self.max_live = max(self.max_live, len(live))
        self.min_available = min(self.min_available, sum(1 for p in live if is_ready(p)))
        if self.new_image:
            images = {p.spec.containers[0].image for p in self.pods.values()}
            if self.new_image in images and len(images) > 1:
                self.overlap = True

    async def run(self, ready: asyncio.Event) -> None:
        pods, rv = await self.client.list("Pod", self.namespace)
        self.pods = {p.metadata.name: p for p in pods}
        self._measure()
        stream = self.client.watch("Pod", self.namespace, resource_version=rv)
        ready.set()
        try:
            async for ev in stream:
                if ev.type == "BOOKMARK":
                    continue
                pod = kinds.unwrap(ev.object)
                if ev.type == "DELETED":
                    self.pods.pop(pod.metadata.name, None)
                else:
                    self.pods[pod.metadata.name] = pod
                self.events += 1
                self._measure()
        finally:
            stream.cancel()


async def observe(client: Any, ns: str) -> tuple[PodObserver, asyncio.Task[None]]:
    """A PodObserver of namespace `ns`, its watch running (stop it by cancelling the task)."""
    obs = PodObserver(client, ns)
    ready = asyncio.Event()
    task = asyncio.create_task(obs.run(ready))
    await asyncio.wait_for(ready.wait(), 10)
    return obs, task
