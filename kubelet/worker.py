"""The pod worker: the serialized life of one pod (by uid) on this node.

Where it sits: the pod manager (`kubelet.manager`) makes one `PodWorker` per pod and wakes it; the worker
reads the runtime (the pod's containers, by label, through `kubelet.docker_runtime`) and does what is
missing, with its collaborators passed in explicitly:

    volumes (kubelet.volumes) ─▶ sandbox (kubelet.sandbox) ─▶ init containers in order ─▶ app containers
        images: kubelet.pulls · environment: kubelet.environment · hooks and stopping: kubelet.hooks
        restarts: kubelet.backoff · liveness/readiness/startup: kubelet.probes
    ─▶ status computed from what the runtime shows (kubelet.status) ─▶ written (kubelet.status_manager)

The restart policy applies with Kubernetes' back-off, the image pull policy with its own. A pod with a
deletionTimestamp is stopped gracefully (SIGTERM, grace period, SIGKILL) and then deleted from the API
with grace 0; a pod gone from the API has its containers and volumes removed.

Time is read on the clock passed in (`kubelab.timeutil.Clock`): wall time for what the runtime and the API
stamp (a container's finish, the restart back-off, startTime), monotonic time for the worker's own timers
(`schedule`, and its loop sleeps on the clock), so a test moves a FakeClock through a crash loop.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from typing import Any, Callable

from kubelab import errors, timeutil
from kubelab.client import Client
from kubelab.events import EventRecorder
from kubelab.timeutil import Clock

from . import status as podstatus
from .backoff import Backoff, fmt_duration
from .config import FORCE_GRACE, PodConfig
from .docker_runtime import L_HASH, L_IMAGE, ContainerInfo, DockerRuntime, RuntimeError_, docker_name, pod_labels
from .environment import container_env, expand
from .hooks import run_hook, stop_container
from .probes import ProbeManager
from .pulls import ImagePuller
from .sandbox import Sandboxes
from .status_manager import StatusWriter
from .volumes import VolumeManager

log = logging.getLogger(__name__)

TERMINAL = podstatus.TERMINAL


def container_hash(c: Any) -> str:
    return hashlib.sha256(c.SerializeToString(deterministic=True)).hexdigest()[:16]


def should_restart(policy: str, exit_code: int) -> bool:
    if policy == "Never":
        return False
    if policy == "OnFailure":
        return exit_code != 0
    return True


class PodWorker:
    """The serialized life of one pod (by uid) on this node."""

    def __init__(self, uid: str, pod: Any | None, *, config: PodConfig, runtime: DockerRuntime, client: Client,
                 recorder: EventRecorder, probes: ProbeManager, volumes: VolumeManager, sandboxes: Sandboxes,
                 images: ImagePuller, restarts: Backoff, services: Callable[[], list[Any]] | None,
                 on_done: Callable[["PodWorker"], None], clock: Clock) -> None:
        self.uid = uid
        self.pod = pod
        self.cfg = config
        self.rt = runtime
        self.client = client
        self.recorder = recorder
        self.probes = probes
        self.volumes = volumes
        self.sandboxes = sandboxes
        self.images = images
        self.restarts = restarts
        self.services = services
        self.on_done = on_done
        self.clock = clock
        self.status_writer = StatusWriter(client, uid, self.record, config.status_backoff_base,
                                          config.status_backoff_max, clock=clock.now)
        self.wake = asyncio.Event()
        self.wake.set()
        self.task: asyncio.Task[None] | None = None
        self.next_sync: float | None = None                # clock.now() time of the next sync wanted
        self.waiting: dict[str, tuple[str, str]] = {}     # container -> (reason, message) shown while not running
        self.start_time = ""
        self.sandbox: ContainerInfo | None = None
        self.adopted_ready: dict[str, bool] = {}
        self.first_sync = True
        self.terminated = False                            # containers stopped for deletion
        self.done = False
        if pod is not None:
            self.adopted_ready = {s.name: s.ready for s in pod.status.container_statuses}
            self.start_time = pod.status.start_time

    def name(self) -> str:
        if self.pod is not None:
            return f"{self.pod.metadata.namespace}/{self.pod.metadata.name}"
        return self.uid

    # ------------------------------------------------------------ loop
    async def run(self) -> None:
        while not self.done:
            await self._until_woken_or_due()
            self.wake.clear()
            self.next_sync = None
            try:
                await self.sync()
                self.first_sync = False
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - retry later; one pod's trouble is not the node's
                log.exception("sync of pod %s failed: %s", self.name(), e)
                self.schedule(2.0)
        self.on_done(self)

    async def _until_woken_or_due(self) -> None:
        """Wait for a wake-up, or until the next sync is due on the clock."""
        if self.next_sync is None:
            await self.wake.wait()
            return
        woken = asyncio.create_task(self.wake.wait())
        due = asyncio.create_task(self.clock.sleep(self.next_sync - self.clock.now()))
        try:
            await asyncio.wait([woken, due], return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            due.cancel()

    def schedule(self, delay: float) -> None:
        at = self.clock.now() + delay
        if self.next_sync is None or at < self.next_sync:
            self.next_sync = at

    def record(self, type_: str, reason: str, message: str) -> None:
        if self.pod is not None:
            self.recorder.event(self.pod, type_, reason, message)

    # ------------------------------------------------------------ sync
    async def sync(self) -> None:
        pod = self.pod
        containers = await self.rt.list_containers(self.uid)
        if pod is None:
            await self._cleanup(containers)
            return
        if pod.metadata.deletion_timestamp:
            await self._terminate(pod, containers)
            return
        if pod.status.phase in TERMINAL or self.terminated:
            # Finished (or stopped for deletion): nothing runs again; containers stay for logs.
            await self._stop_running(pod, containers, pod.spec.termination_grace_period_seconds, "")
            return
        if not self.start_time:
            self.start_time = timeutil.now_str(self.clock)
        sandbox = next((c for c in containers if c.is_sandbox), None)
        apps = [c for c in containers if not c.is_sandbox]
        if sandbox is not None and pod.spec.host_network:
            sandbox = self.sandboxes.on_node_network(sandbox, self.name())
        if sandbox is None or not sandbox.running:
            if sandbox is not None and self._all_done(pod, apps):
                # restartPolicy says nothing restarts: no new sandbox for a finished pod.
                await self._write_status(pod, self._status(pod, containers, sandbox))
                return
            had_sandbox = sandbox is not None
            sandbox = await self._new_sandbox(pod, sandbox, apps)
            if sandbox is None:
                await self._write_status(pod, self._status(pod, containers, None))
                return
            if had_sandbox or apps:      # old containers were stopped: see them as they are now
                containers = await self.rt.list_containers(self.uid)
                apps = [c for c in containers if not c.is_sandbox]
            else:
                containers = [sandbox]
        self.sandbox = sandbox
        await self.sandboxes.prepare(pod, sandbox, self.record)
        if not await self._project_volumes(pod, sandbox):
            await self._write_status(pod, self._status(pod, containers, sandbox))
            return
        by_name: dict[str, list[ContainerInfo]] = {}
        for c in apps:
            by_name.setdefault(c.container_name, []).append(c)
        changed = False
        if await self._init_containers(pod, sandbox, by_name):
            for c in pod.spec.containers:
                changed = await self._sync_container(pod, c, sandbox, by_name.get(c.name, [])) or changed
        if changed:
            containers = await self.rt.list_containers(self.uid)
        self._sync_probes(pod, containers, sandbox)
        status = self._status(pod, containers, sandbox)
        await self._write_status(pod, status)
        if status.phase in TERMINAL:
            await self._stop_running(pod, containers, 2, "")
            self.probes.forget_pod(self.uid)

    def _sync_probes(self, pod: Any, containers: list[ContainerInfo], sandbox: ContainerInfo) -> None:
        """Probe the running instance of every app container (new instances get new probe workers)."""
        latest: dict[str, ContainerInfo] = {}
        for c in containers:
            if not c.is_sandbox:
                latest.setdefault(c.container_name, c)
        for c in pod.spec.containers:
            cur = latest.get(c.name)
            if cur is not None and cur.running:
                self.probes.sync(pod, c, cur.id, cur.started_ts, sandbox.ip,
                                 was_ready=self.adopted_ready.pop(c.name, False))

    def _all_done(self, pod: Any, apps: list[ContainerInfo]) -> bool:
        """Every container has run, and none may run again (restartPolicy)."""
        latest: dict[str, ContainerInfo] = {}
        for c in apps:
            latest.setdefault(c.container_name, c)
        for c in pod.spec.containers:
            cur = latest.get(c.name)
            if cur is None or not cur.exited or should_restart(pod.spec.restart_policy, cur.exit_code):
                return False
        return True

    # ------------------------------------------------------------ sandbox
    async def _new_sandbox(self, pod: Any, old: ContainerInfo | None, apps: list[ContainerInfo]) -> ContainerInfo | None:
        attempt = 0
        if old is not None:
            attempt = old.restart_count + 1
            log.info("sandbox of %s is gone (%s); creating a new one", self.name(), old.status)
            self.record("Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
            running = [c for c in apps if c.running]
            await asyncio.gather(*(self.rt.stop(c.id, 2) for c in running))
            for c in running:
                self.probes.forget_container(self.uid, c.container_name)
            await self.rt.remove(old.id)
            self.sandboxes.forget(old.id)
        try:
            await self.volumes.setup(pod)
        except RuntimeError_ as e:
            self.record("Warning", "FailedMount", f"MountVolume.SetUp failed: {e.message}")
            for c in pod.spec.containers:
                self.waiting[c.name] = ("ContainerCreating", "")
            self.schedule(5.0)
            return None
        if not await self._have_pause_image(pod):
            return None
        sandbox = await self.sandboxes.start(pod, attempt, self.record)
        if sandbox is None:
            self.schedule(self.restarts.next(f"{self.uid}/sandbox", self.clock()) / 2)
        return sandbox

    async def _project_volumes(self, pod: Any, sandbox: ContainerInfo) -> bool:
        """The projected volumes' files (the ServiceAccount token), before any container starts and again
        when the token is due; False (FailedMount, containers kept waiting) when they could not be written."""
        try:
            due = await self.volumes.project(pod, sandbox.id, sandbox.ip)
        except RuntimeError_ as e:
            self.record("Warning", "FailedMount", e.message)
            for c in pod.spec.containers:
                self.waiting.setdefault(c.name, ("ContainerCreating", ""))
            self.schedule(5.0)
            return False
        if due is not None:
            self.schedule(max(0.0, due - self.clock()))
        return True

    async def _have_pause_image(self, pod: Any) -> bool:
        if await self.images.present(self.cfg.pause_image):
            return True
        msg = f'failed to get sandbox image "{self.cfg.pause_image}": not present on this machine ' \
              f'(build it: python3 images/build.py --only pause)'
        self.record("Warning", "FailedCreatePodSandBox", msg)
        for c in pod.spec.containers:
            self.waiting[c.name] = ("ContainerCreating", msg)
        self.schedule(10.0)
        return False

    # ------------------------------------------------------------ containers
    async def _init_containers(self, pod: Any, sandbox: ContainerInfo,
                               by_name: dict[str, list[ContainerInfo]]) -> bool:
        """Run init containers in order; True once all succeeded (app containers may start)."""
        if not pod.spec.init_containers:
            return True
        if any(by_name.get(c.name) for c in pod.spec.containers):
            return True                        # already initialized (app containers exist)
        for ic in pod.spec.init_containers:
            insts = by_name.get(ic.name, [])
            cur = insts[0] if insts else None
            if cur is not None and cur.exited and cur.exit_code == 0:
                continue
            if cur is not None and cur.running:
                return False
            policy = "Never" if pod.spec.restart_policy == "Never" else "OnFailure"
            await self._start_or_backoff(pod, ic, sandbox, cur, insts, policy)
            return False
        return True

    async def _sync_container(self, pod: Any, c: Any, sandbox: ContainerInfo, insts: list[ContainerInfo]) -> bool:
        """Bring one app container to its wanted state; True if the runtime changed."""
        cur = insts[0] if insts else None
        if cur is not None and cur.running:
            reason = self.probes.must_restart(self.uid, c.name, cur.id)
            hash_changed = cur.spec_hash and cur.spec_hash != container_hash(c)
            if not reason and not hash_changed:
                self.waiting.pop(c.name, None)
                return False
            if reason:
                msg = f"Container {c.name} failed {reason} probe, will be restarted"
                probe = c.liveness_probe if reason == "liveness" else c.startup_probe
                grace = probe.termination_grace_period_seconds if probe.HasField(
                    "termination_grace_period_seconds") else pod.spec.termination_grace_period_seconds
            else:
                msg = f"Container {c.name} definition changed, will be restarted"
                grace = pod.spec.termination_grace_period_seconds
            log.info("%s: %s", self.name(), msg)
            self.record("Normal", "Killing", msg)
            self.probes.forget_container(self.uid, c.name)
            await self._stop_container(pod, cur, grace)
            cur = await self.rt.inspect(cur.id)
            insts = [cur] + insts[1:]
            if pod.spec.restart_policy == "Never":
                return True
            # A container killed by the kubelet restarts at once (not a crash: no back-off).
            return await self._start(pod, c, sandbox, cur.restart_count + 1, insts) or True
        return await self._start_or_backoff(pod, c, sandbox, cur, insts, pod.spec.restart_policy)

    async def _start_or_backoff(self, pod: Any, c: Any, sandbox: ContainerInfo, cur: ContainerInfo | None,
                                insts: list[ContainerInfo], policy: str) -> bool:
        if cur is not None and cur.never_started:
            # Created by a kubelet that stopped before starting it.
            return await self._start_existing(c, cur)
        restart = 0
        if cur is not None:
            if not should_restart(policy, cur.exit_code):
                self.waiting.pop(c.name, None)
                return False
            key = f"{self.uid}/{c.name}"
            finished = cur.finished_ts or self.clock()
            wait = self.restarts.remaining(key, finished)
            if wait > 0:
                delay = self.restarts.delay(key)
                pod_ref = f"{pod.metadata.name}_{pod.metadata.namespace}({pod.metadata.uid})"
                self.waiting[c.name] = ("CrashLoopBackOff",
                                        f"back-off {fmt_duration(delay)} restarting failed container={c.name} "
                                        f"pod={pod_ref}")
                self.record("Warning", "BackOff", f"Back-off restarting failed container {c.name} in pod {pod_ref}")
                self.schedule(wait + 0.05)
                return False
            self.restarts.next(key, finished)
            restart = cur.restart_count + 1
        return await self._start(pod, c, sandbox, restart, insts)

    def _config_error(self, c: Any, e: RuntimeError_) -> bool:
        self.waiting[c.name] = (e.reason, e.message)
        self.record("Warning", "Failed", f"Error: {e.message}")
        self.schedule(10.0)
        return False

    async def _start(self, pod: Any, c: Any, sandbox: ContainerInfo, restart: int,
                     insts: list[ContainerInfo]) -> bool:
        pulled = await self.images.ensure(self.uid, self.name(), c, self.record)
        if not pulled.ok:
            if pulled.waiting is not None:
                self.waiting[c.name] = pulled.waiting
            if pulled.retry_in is not None:
                self.schedule(pulled.retry_in)
            return False
        try:
            env = container_env(pod, c, sandbox.ip, self.cfg, self.services() if self.services else None)
        except RuntimeError_ as e:
            return self._config_error(c, e)
        envmap = dict(kv.split("=", 1) for kv in env)
        try:
            mounts, binds = self.volumes.mounts(pod, c)
        except RuntimeError_ as e:
            return self._config_error(c, e)
        hc = self.rt.container_host_config(sandbox.id, c, mounts, binds, self.cfg.log_max_size)
        labels = pod_labels(self.cfg.node_name, pod, c.name, "container", restart)
        labels[L_HASH] = container_hash(c)
        labels[L_IMAGE] = c.image   # the name the user wrote; pulled.image may be the lab registry's copy
        # stdinOnce: the container's stdin closes when the first attached client detaches (kubectl run -i).
        kwargs: dict[str, Any] = {"environment": env, "tty": c.tty, "stdin_open": c.stdin,
                                  "stdin_once": c.stdin_once}
        if c.command:
            kwargs["entrypoint"] = [expand(a, envmap) for a in c.command]
            kwargs["command"] = [expand(a, envmap) for a in c.args]
        elif c.args:
            kwargs["command"] = [expand(a, envmap) for a in c.args]
        if c.working_dir:
            kwargs["working_dir"] = c.working_dir
        try:
            cid = await self.rt.create(docker_name(pod, c.name, restart), pulled.image or c.image, labels, hc,
                                       **kwargs)
        except RuntimeError_ as e:
            self.waiting[c.name] = ("CreateContainerError", e.message)
            self.record("Warning", "Failed", f"Error: {e.message}")
            self.schedule(self.restarts.next(f"{self.uid}/{c.name}", self.clock()))
            return True
        self.record("Normal", "Created", f"Created container {c.name}")
        try:
            await self.rt.start(cid)
        except RuntimeError_ as e:
            log.info("%s: starting %s failed: %s", self.name(), c.name, e.message)
            self.waiting.pop(c.name, None)
            self.record("Warning", "Failed", f"Error: failed to start container \"{c.name}\": {e.message}")
            self.wake.set()          # its state shows ContainerCannotRun; the next sync backs off
            await self._prune(insts, keep=cid)
            return True
        self.waiting.pop(c.name, None)
        self.record("Normal", "Started", f"Started container {c.name}")
        await self._prune(insts, keep=cid)
        if c.HasField("lifecycle") and c.lifecycle.HasField("post_start"):
            ok, msg = await run_hook(self.rt, c.lifecycle.post_start, c, cid, sandbox.ip, 30.0)
            if not ok:
                self.record("Warning", "FailedPostStartHook", f"PostStartHook failed: {msg}".strip())
                self.record("Normal", "Killing", f"Container {c.name} failed to run its post-start hook, "
                                                 f"will be restarted")
                await self.rt.stop(cid, pod.spec.termination_grace_period_seconds)
        return True

    async def _stop_container(self, pod: Any, c: ContainerInfo, grace: int) -> None:
        ip = self.sandbox.ip if self.sandbox is not None else pod.status.pod_ip
        await stop_container(self.rt, pod, c, grace, ip, self.record, self.clock)

    async def _start_existing(self, c: Any, cur: ContainerInfo) -> bool:
        try:
            await self.rt.start(cur.id)
            self.record("Normal", "Started", f"Started container {c.name}")
        except RuntimeError_ as e:
            self.record("Warning", "Failed", f"Error: {e.message}")
            await self.rt.remove(cur.id)
        return True

    async def _prune(self, insts: list[ContainerInfo], keep: str) -> None:
        """Keep the new instance and the one before it (for `logs --previous`); remove older ones."""
        for old in insts[1:]:
            if old.id != keep and not old.running:
                await self.rt.remove(old.id)

    # ------------------------------------------------------------ status
    def _status(self, pod: Any, containers: list[ContainerInfo], sandbox: ContainerInfo | None) -> Any:
        up = sandbox is not None and sandbox.running
        return podstatus.pod_status(
            pod, [c for c in containers if not c.is_sandbox], sandbox.ip if up and sandbox else None,
            self.cfg.node_ip, self.start_time, self.waiting, functools.partial(self.probes.ready, self.uid),
            functools.partial(self.probes.started, self.uid), timeutil.now_str(self.clock))

    async def _write_status(self, pod: Any, status: Any) -> None:
        retry = await self.status_writer.write(pod, status)
        if retry is not None:
            self.schedule(retry)

    # ------------------------------------------------------------ stopping
    async def _stop_running(self, pod: Any | None, containers: list[ContainerInfo], grace: int, reason: str) -> None:
        apps = [c for c in containers if c.running and not c.is_sandbox]
        if pod is not None:
            for c in apps:
                self.record("Normal", "Killing", reason or f"Stopping container {c.container_name}")
        await asyncio.gather(*(self.rt.stop(c.id, grace) for c in apps))
        sandboxes = [c for c in containers if c.running and c.is_sandbox]
        await asyncio.gather(*(self.rt.stop(c.id, 2) for c in sandboxes))

    async def _terminate(self, pod: Any, containers: list[ContainerInfo]) -> None:
        """Graceful deletion: stop everything within the grace period, then delete the pod (grace 0)."""
        if not self.terminated:
            grace = pod.metadata.deletion_grace_period_seconds if pod.metadata.HasField(
                "deletion_grace_period_seconds") else pod.spec.termination_grace_period_seconds
            running = [c for c in containers if c.running and not c.is_sandbox]
            log.info("stopping pod %s (grace %ss)", self.name(), grace)
            for c in running:
                self.record("Normal", "Killing", f"Stopping container {c.container_name}")
            stops = [asyncio.create_task(self._stop_container(pod, c, grace)) for c in running]
            while stops and not all(t.done() for t in stops):
                waker = asyncio.create_task(self.wake.wait())
                done, _ = await asyncio.wait([*stops, waker], return_when=asyncio.FIRST_COMPLETED)
                if waker in done:
                    self.wake.clear()
                    new = self.pod
                    new_grace = None if new is None else (new.metadata.deletion_grace_period_seconds
                                                          if new.metadata.HasField("deletion_grace_period_seconds")
                                                          else grace)
                    if new is None or (new_grace is not None and new_grace < grace):
                        log.info("grace period of %s shortened: killing", self.name())
                        await asyncio.gather(*(self.rt.kill(c.id) for c in running), return_exceptions=True)
                else:
                    waker.cancel()
            await asyncio.gather(*stops, return_exceptions=True)
            containers = await self.rt.list_containers(self.uid)
            await asyncio.gather(*(self.rt.stop(c.id, 2) for c in containers if c.is_sandbox and c.running))
            self.probes.forget_pod(self.uid)
            self.terminated = True
            containers = await self.rt.list_containers(self.uid)
            if self.pod is not None:
                status = podstatus.terminated(self._status(self.pod, containers, None), timeutil.now_str(self.clock))
                await self._write_status(self.pod, status)
        pod = self.pod
        if pod is None:
            self.schedule(0)        # deleted meanwhile (its wake-up was used above): clean up now
            return
        try:
            await self.client.delete("Pod", pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0,
                                     precondition_uid=self.uid)
            log.info("deleted pod %s", self.name())
        except errors.NotFound:
            pass
        except errors.Conflict:
            pass      # a new pod of that name: ours is gone already
        except errors.ApiError as e:
            log.warning("deleting pod %s: %s", self.name(), e)
            self.schedule(2.0)

    async def _cleanup(self, containers: list[ContainerInfo]) -> None:
        """The pod is gone from the API: stop (fast) and remove its containers and volumes."""
        running = [c for c in containers if c.running]
        if running:
            grace = FORCE_GRACE
            log.info("pod %s was deleted; stopping %d containers", self.name(), len(running))
            await asyncio.gather(*(self.rt.stop(c.id, grace if not c.is_sandbox else 1) for c in running))
        await asyncio.gather(*(self.rt.remove(c.id) for c in containers))
        self.sandboxes.forget(*(c.id for c in containers))
        self.probes.forget_pod(self.uid)
        self.restarts.forget_prefix(self.uid + "/")
        self.images.forget(self.uid)
        if not await self.volumes.teardown(self.uid):
            self.schedule(5.0)
            return
        self.done = True
