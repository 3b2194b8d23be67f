"""Hollow nodes: a SIMULATED kubelet for tests and scale (no containers are run).

`kubelab-kubelet --runtime hollow --nodes 1000` registers 1,000 fake Nodes
(labelled `kubelab.io/hollow=true`, runtime `hollow://`) from one process and
plays the kubelet's part for the pods bound to them, through the real API. Its
simulated runtime reports container instances as Docker does, and the whole
status comes from them as the Docker kubelet computes it (kubelet.status):

    bound pod ─▶ Pending (ContainerCreating, until --start-delay has passed)
              ─▶ Running: podIP, hostIP, startTime, init containers terminated
                 Completed, containerStatuses running; Events Pulled, Created, Started
              ─▶ Ready after --ready-delay (or a readiness probe's initialDelaySeconds);
                 never, for images matching --never-ready-images
    image matching --missing-images (default `*:missing`), a kubelab/ image
    the lab does not build (kubelab.catalogue.CATALOGUE), or a tag the lab
    registry lacks of a repository it mirrors (kubelab.catalogue.STAND_INS:
    `jocatalin/kubernetes-bootcamp:v10`, not `:v1`; both off with --any-kubelab-image)
              ─▶ waiting ErrImagePull (2 s), then ImagePullBackOff, pulled again with
                 back-off (10 s doubling to 300 s): the Docker kubelet's kubelet.pulls.PullBackoff;
                 Events Pulling, Failed, BackOff
    image Docker cannot parse (`Nginx:1.16`, `nginx:`; kubelet.pulls.invalid_image_name)
              ─▶ waiting InvalidImageName with Docker's words; Events InspectFailed, Failed
    image matching --failing-liveness-images
              ─▶ restarted every --liveness-failure-after seconds (Unhealthy, Killing),
                 the killed instance (exit 137) its lastState, as is the instance a new image replaced
    deletionTimestamp ─▶ a short simulated stop (Killing), then
                 delete(grace 0, precondition uid), as a kubelet does
    a status write the apiserver refuses
              ─▶ a FailedSync Warning and a doubling delay (kubelet.status_manager.refused_write)

Per-pod annotations override the rules: `hollow.kubelab.io/start-delay`,
`hollow.kubelab.io/ready-delay` (seconds), `hollow.kubelab.io/ready: "false"`,
`hollow.kubelab.io/liveness: "fail"`.

Cheap enough for 1,000 nodes in one process: one pod informer for all
nodes (indexed by spec.nodeName, no per-node watch), one work queue with a
few workers writing statuses, and heartbeats batched and staggered by
kubelet/node.py's HeartbeatGroup. A SIGKILLed runner simply stops
heartbeating, so the node lifecycle controller sees its nodes go silent.

kubelet/main.py (`--runtime hollow`) builds the HollowConfig and calls `run_hollow_nodes(client, n, config)`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import hashlib
import logging
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable

import kubelab
from kubelab import errors, kinds, nodes
from kubelab.client import Client
from kubelab.events import EventRecorder
from kubelab.informer import Informer, by_node
from kubelab.catalogue import CATALOGUE, STAND_INS
from kubelab.imageref import InvalidReference, with_default_tag
from kubelab.v1 import objects_pb2 as pb
from kubelab.timeutil import Clock, RealClock
from kubelab.workqueue import WorkQueue, run_workers

from . import status as podstatus
from .pulls import PullBackoff, invalid_image_name, pull_target
from .node import HeartbeatGroup, NodeAgent, NodeConfig, rfc3339, utc_now
from .status_manager import refused_write

log = logging.getLogger(__name__)

HOLLOW_LABEL = "kubelab.io/hollow"
ANNOTATION = "hollow.kubelab.io/"
RUNTIME_VERSION = nodes.runtime_version(nodes.SIMULATED_RUNTIME, kubelab.__version__)
COMPONENT = "kubelet"


@dataclass
class HollowConfig:
    node_names: list[str] = field(default_factory=list)   # explicit names; else name_prefix + index
    name_prefix: str = "hollow-node-"
    first_index: int = 0
    cpu: str = "4"
    memory: str = "16Gi"
    max_pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[pb.Taint] = field(default_factory=list)
    heartbeat: float = 10.0
    start_delay: float = 0.0
    ready_delay: float = 0.0
    stop_delay: float = 0.5
    missing_images: tuple[str, ...] = ("*:missing",)
    lab_images_only: bool = True           # kubelab/ images outside the lab's catalogue are missing too
    never_ready_images: tuple[str, ...] = ()
    failing_liveness_images: tuple[str, ...] = ()
    liveness_failure_after: float = 10.0
    image_pull_backoff: float = 10.0
    image_pull_backoff_max: float = 300.0
    events: bool = True
    status_backoff: float = 1.0            # a refused status write is tried again after this, doubling
    status_backoff_max: float = 300.0
    resync: float = 60.0                   # every so often, look at every pod again (a safety net for timers)
    workers: int = 128
    heartbeat_concurrency: int = 32


# ---------------------------------------------------------------- names and addresses
def node_names(n: int, config: HollowConfig) -> list[str]:
    if config.node_names:
        return list(config.node_names)
    return [f"{config.name_prefix}{config.first_index + i}" for i in range(n)]


def node_index(name: str) -> int:
    """A stable number per node name (its trailing digits, else a hash): addresses derive from it."""
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) % 65536 if m else zlib.crc32(name.encode()) % 65536


def host_ip(index: int) -> str:
    """172.16.0.1 for node 0: hosts count from .1, as on a real subnet."""
    n = index + 1
    return f"172.{16 + n // 65536 % 16}.{n // 256 % 256}.{n % 256}"


def pod_cidr(index: int) -> str:
    return f"10.{index // 256 % 256}.{index % 256}.0/24"


class IPAllocator:
    """Pod IPs from a node's /24 (.2 to .254), reused once freed."""

    def __init__(self, cidr: str) -> None:
        self.prefix = cidr.rsplit(".", 1)[0] + "."
        self._free = list(range(254, 1, -1))
        self._used: set[str] = set()

    def allocate(self) -> str:
        if not self._free:
            return ""
        ip = self.prefix + str(self._free.pop())
        self._used.add(ip)
        return ip

    def reserve(self, ip: str) -> bool:
        last = ip.rsplit(".", 1)[-1]
        if not ip.startswith(self.prefix) or not last.isdigit() or int(last) not in self._free:
            return False
        self._free.remove(int(last))
        self._used.add(ip)
        return True

    def release(self, ip: str) -> None:
        if ip in self._used:
            self._used.discard(ip)
            self._free.append(int(ip.rsplit(".", 1)[-1]))


def image_matches(image: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(image, p) for p in patterns if p)


def image_missing(image: str, config: HollowConfig) -> bool:
    """Whether pulling `image` fails on a hollow node: a --missing-images pattern, or a kubelab/ image the lab's
    nodes could not run either (`kubelab/hello:v10` in the tutorials' rollback exercise)."""
    if image_matches(image, config.missing_images):
        return True
    if not config.lab_images_only:
        return False
    if not image.startswith("kubelab/"):
        # The lab's nodes pull these names from the lab registry: what it lacks fails there too.
        try:
            target = pull_target(image)
        except InvalidReference:
            return False
        return target != image and str(with_default_tag(image)) not in _STAND_IN_NAMES
    tagged = image if ":" in image.rsplit("/", 1)[-1] else image + ":latest"
    return tagged not in CATALOGUE


_STAND_IN_NAMES = frozenset(name for name, _ in STAND_INS)


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()


# ---------------------------------------------------------------- simulated state
@dataclass
class SimInstance:
    """One instance of a container as the simulated runtime reports it (a kubelet.status.RuntimeContainer)."""
    id: str
    container_name: str
    image: str
    image_id: str
    restart_count: int
    started_at: str                       # wall clock, RFC 3339
    finished_at: str = ""
    exit_code: int = 0
    running: bool = True
    error: str = ""

    @property
    def exited(self) -> bool:
        return not self.running

    @property
    def termination_reason(self) -> str:
        return "Completed" if self.exit_code == 0 else "Error"


def _instance(sim: "PodSim", c: Any, restart: int, started_at: str) -> SimInstance:
    return SimInstance(_digest(sim.uid, c.name, restart)[:32], c.name, c.image, f"sha256:{_digest(c.image)}",
                       restart, started_at)


def _reported(s: Any) -> list[SimInstance]:
    """The instances a written container status shows, newest first: a restarted runner carries on from them."""
    out: list[SimInstance] = []
    if s.state.HasField("running"):
        out.append(SimInstance(s.container_id.partition("://")[2], s.name, s.image, s.image_id.partition("://")[2],
                               s.restart_count, s.state.running.started_at))
    if s.last_state.HasField("terminated"):
        t = s.last_state.terminated
        out.append(SimInstance(t.container_id.partition("://")[2], s.name, s.image, s.image_id.partition("://")[2],
                               s.restart_count - len(out), t.started_at, t.finished_at, t.exit_code, running=False))
    return out


@dataclass
class ContainerSim:
    name: str
    image: str
    started: float | None = None          # monotonic: when the running instance started
    instances: list[SimInstance] = field(default_factory=list)   # newest first, the one before it kept
    pull_attempts: int = 0                # failed pulls of `image`
    backoff_reported: int = 0             # the failed pull whose ImagePullBackOff the events have told
    invalid_reported: bool = False


@dataclass
class PodSim:
    uid: str
    key: str
    node: str
    seen: float                           # monotonic: when the runner first saw it bound here
    start_time: str
    ip: str = ""
    containers: dict[str, ContainerSim] = field(default_factory=dict)
    stopping_since: float | None = None
    written_rv: str = ""
    last_written: Any = None
    status_failures: int = 0              # status writes refused in a row (RequestEntityTooLarge, ...)
    status_retry_at: float = 0.0          # monotonic: no status write before this


def _annotation_float(pod: Any, name: str, default: float) -> float:
    raw = pod.metadata.annotations.get(ANNOTATION + name)
    try:
        return float(raw) if raw is not None else default
    except ValueError:
        return default


# ---------------------------------------------------------------- events
# ---------------------------------------------------------------- the runner
class HollowRunner:
    """Many simulated nodes sharing one pod informer, one work queue and one heartbeat task."""

    def __init__(self, client: Client, names: list[str], config: HollowConfig, clock: Clock | None = None) -> None:
        self.client = client
        self.config = config
        self.clock: Clock = clock or RealClock()
        self.agents: dict[str, NodeAgent] = {}
        self.ips: dict[str, IPAllocator] = {}
        self.host_ips: dict[str, str] = {}
        for name in names:
            idx = node_index(name)
            cfg = NodeConfig(name=name, cpu=config.cpu, memory=config.memory, pods=config.max_pods,
                             internal_ip=host_ip(idx), pod_cidr=pod_cidr(idx),
                             labels={HOLLOW_LABEL: "true", **config.labels}, taints=list(config.taints),
                             container_runtime_version=RUNTIME_VERSION, os_image="kubelab hollow node (simulated)",
                             kernel_version="hollow", machine_id=_digest("machine", name)[:32])
            self.agents[name] = NodeAgent(client, cfg)
            self.ips[name] = IPAllocator(cfg.pod_cidr)
            self.host_ips[name] = cfg.internal_ip
        self.heartbeats = HeartbeatGroup(list(self.agents.values()), config.heartbeat, config.heartbeat_concurrency)
        self.pods = Informer(client, "Pod")
        self.pods.add_index("node", by_node)
        self.queue: WorkQueue[str] = WorkQueue(name="hollow-pods", base_delay=0.05, max_delay=5.0)
        self.sims: dict[str, PodSim] = {}
        self.pulls = PullBackoff(config.image_pull_backoff, config.image_pull_backoff_max)   # on clock.now()
        self.recorder = EventRecorder(client, COMPONENT, max_in_flight=16, enabled=config.events)
        self.pods.add_handlers(self._on_add, self._on_update, self._on_delete)

    def container_event(self, pod: Any, node: str, container: str, type_: str, reason: str, message: str) -> None:
        self.recorder.event(pod, type_, reason, message, field_path=f"spec.containers{{{container}}}", host=node)

    # ------------------------------------------------------------ handlers: objects to keys
    def _ours(self, pod: Any) -> bool:
        return pod.spec.node_name in self.agents

    def _on_add(self, pod: Any) -> None:
        if self._ours(pod):
            self.queue.add(kinds.key_of(pod))

    def _on_update(self, old: Any, new: Any) -> None:
        key = kinds.key_of(new)
        sim = self.sims.get(key)
        if sim is not None and sim.written_rv == new.metadata.resource_version:
            return     # the echo of our own status write
        if self._ours(new) or sim is not None:
            self.queue.add(key)

    def _on_delete(self, pod: Any) -> None:
        key = kinds.key_of(pod)
        if key in self.sims:
            self._drop(key)

    # ------------------------------------------------------------ per-pod state
    def _drop(self, key: str) -> None:
        sim = self.sims.pop(key, None)
        if sim is None:
            return
        self.pulls.forget(sim.uid)
        if sim.ip:
            self.ips[sim.node].release(sim.ip)

    def _adopt_or_create(self, pod: Any) -> PodSim:
        """A pod newly seen here; if it already runs (the runner restarted), carry its state on."""
        now = self.clock.now()
        key, node = kinds.key_of(pod), pod.spec.node_name
        sim = PodSim(pod.metadata.uid, key, node, now, pod.status.start_time or rfc3339(utc_now()))
        st = pod.status
        if st.pod_ip and st.host_ip == self.host_ips[node] and self.ips[node].reserve(st.pod_ip):
            sim.ip = st.pod_ip
            sim.seen = now - 1e6        # long past any start delay
            for cs in st.container_statuses:
                c = sim.containers[cs.name] = ContainerSim(cs.name, cs.image, instances=_reported(cs))
                if cs.state.HasField("running"):
                    c.started = now - 1e6
        else:
            sim.ip = self.ips[node].allocate()
        self.sims[key] = sim
        return sim

    # ------------------------------------------------------------ the work
    async def sync(self, key: str) -> None:
        pod = self.pods.get(key)
        sim = self.sims.get(key)
        if pod is None or not self._ours(pod):
            if sim is not None:
                self._drop(key)
            return
        if sim is not None and (sim.uid != pod.metadata.uid or sim.node != pod.spec.node_name):
            self._drop(key)
            sim = None
        if sim is None:
            sim = self._adopt_or_create(pod)
        if sim.last_written is not None and int(sim.last_written.metadata.resource_version) > int(
                pod.metadata.resource_version or 0):
            base = sim.last_written     # our own write is newer than what the informer has shown yet
        else:
            base = pod
        if pod.metadata.deletion_timestamp:
            await self._stop(pod, sim)
            return
        if pod.status.phase in ("Succeeded", "Failed"):
            return
        now = self.clock.now()
        status, wake = self.desired_status(base, sim, now)
        if status != base.status:
            if now < sim.status_retry_at:
                wake = min(wake, sim.status_retry_at) if wake is not None else sim.status_retry_at
            else:
                await self._write(base, sim, status)
        if wake is not None:
            self.queue.add_after(key, max(0.0, wake - now))

    async def _write(self, base: Any, sim: PodSim, status: Any) -> None:
        new = pb.Pod()
        new.CopyFrom(base)
        new.status.CopyFrom(status)
        try:
            written = await self.client.update_status(new)
        except errors.Conflict:
            self.queue.add_after(sim.key, 0.05)    # our copy was stale: the informer will catch up
            return
        except errors.NotFound:
            self._drop(sim.key)
            return
        except errors.ApiError as e:
            self._refused(base, sim, e)
            return
        sim.last_written, sim.written_rv = written, written.metadata.resource_version
        sim.status_failures, sim.status_retry_at = 0, 0.0

    def _refused(self, pod: Any, sim: PodSim, e: errors.ApiError) -> None:
        """A status write the apiserver refused for good reason (the status of 5,000 containers is larger
        than an object may be): as the Docker kubelet's status manager, a Warning event and a quiet back-off,
        not a traceback at every resync."""
        sim.status_failures += 1
        delay = refused_write(sim.key, e, sim.status_failures, self.config.status_backoff,
                              self.config.status_backoff_max,
                              lambda type_, reason, message: self.recorder.event(pod, type_, reason, message,
                                                                                 host=sim.node))
        sim.status_retry_at = self.clock.now() + delay
        self.queue.add_after(sim.key, delay)

    async def _stop(self, pod: Any, sim: PodSim) -> None:
        now = self.clock.now()
        if sim.stopping_since is None:
            sim.stopping_since = now
            for c in sim.containers.values():
                if c.started is not None:
                    self.container_event(pod, sim.node, c.name, "Normal", "Killing",
                                                  f"Stopping container {c.name}")
        md = pod.metadata
        grace = md.deletion_grace_period_seconds if md.HasField("deletion_grace_period_seconds") else 30
        due = sim.stopping_since + min(self.config.stop_delay, float(grace))
        if now < due:
            self.queue.add_after(sim.key, due - now)
            return
        try:
            await self.client.delete("Pod", md.name, md.namespace, grace_period_seconds=0, precondition_uid=md.uid)
            log.debug("pod %s stopped and deleted", sim.key)
        except (errors.NotFound, errors.Conflict):
            pass
        self._drop(sim.key)

    # ------------------------------------------------------------ the simulation (no I/O but events)
    def desired_status(self, pod: Any, sim: PodSim, now: float) -> tuple[Any, float | None]:
        """The status the simulated containers have at `now` (kubelet.status, as the Docker kubelet computes it
        from its runtime), and when it will change next."""
        wall = rfc3339(utc_now())
        wake: list[float] = []
        created_at = sim.seen + _annotation_float(pod, "start-delay", self.config.start_delay)
        instances: list[SimInstance] = []
        waiting: dict[str, tuple[str, str]] = {}
        if now < created_at:
            wake.append(created_at)
        else:
            # Init containers ran to completion as the sandbox came up.
            instances += [dataclasses.replace(_instance(sim, c, 0, sim.start_time), finished_at=sim.start_time,
                                              running=False) for c in pod.spec.init_containers]
            for c in pod.spec.containers:
                why = self._simulate(pod, sim, c, now, wall, wake)
                if why is not None:
                    waiting[c.name] = why
                instances += sim.containers[c.name].instances
        specs = {c.name: c for c in pod.spec.containers}

        def ready(name: str, _cid: str) -> bool:
            return self._ready(pod, specs[name], sim.containers[name], now, wake)
        st = podstatus.pod_status(pod, instances, sim.ip if now >= created_at else None, self.host_ips[sim.node],
                                  sim.start_time, waiting, ready, lambda _name, _cid: True, wall)
        return st, (min(wake) if wake else None)

    def _simulate(self, pod: Any, sim: PodSim, c: Any, now: float, wall: str,
                  wake: list[float]) -> tuple[str, str] | None:
        """Bring container `c`'s simulated instances (sim.containers) to `now`; why it waits, if it does."""
        cfg = self.config
        cs = sim.containers.get(c.name)
        if cs is not None and cs.image != c.image:
            if cs.started is not None:
                self._kill(pod, sim, cs, wall, f"Container {c.name} definition changed, will be restarted")
            cs = sim.containers[c.name] = ContainerSim(c.name, c.image, instances=cs.instances)
        if cs is None:
            cs = sim.containers[c.name] = ContainerSim(c.name, c.image)
        bad = invalid_image_name(c.image)
        if bad is not None:
            return self._invalid_image(pod, sim, cs, bad)
        if image_missing(c.image, cfg):
            return self._pull_failure(pod, sim, cs, now, wake)
        if cs.started is None:
            self._start(pod, sim, cs, c, now, wall)
        elif self._liveness_fails(pod, c) and now >= cs.started + cfg.liveness_failure_after:
            self.container_event(pod, sim.node, c.name, "Warning", "Unhealthy",
                                 "Liveness probe failed: simulated failure (hollow node)")
            self._kill(pod, sim, cs, wall, f"Container {c.name} failed liveness probe, will be restarted")
            self._start(pod, sim, cs, c, now, wall)
        if self._liveness_fails(pod, c):
            wake.append(cs.started + cfg.liveness_failure_after)   # type: ignore[operator]
        return None

    def _ready(self, pod: Any, c: Any, cs: ContainerSim, now: float, wake: list[float]) -> bool:
        if (pod.metadata.annotations.get(ANNOTATION + "ready", "").lower() == "false"
                or image_matches(c.image, self.config.never_ready_images)):
            return False
        delay = _annotation_float(pod, "ready-delay", self.config.ready_delay)
        if c.HasField("readiness_probe"):
            # The first probe after initialDelaySeconds, then one every periodSeconds until
            # successThreshold have passed in a row.
            probe = c.readiness_probe
            delay = max(delay, probe.initial_delay_seconds + (max(probe.success_threshold, 1) - 1) *
                        (probe.period_seconds or 10))
        ready_at = cs.started + delay   # type: ignore[operator]
        if now >= ready_at:
            return True
        wake.append(ready_at)
        return False

    def _liveness_fails(self, pod: Any, c: Any) -> bool:
        return (pod.metadata.annotations.get(ANNOTATION + "liveness", "").lower() == "fail"
                or image_matches(c.image, self.config.failing_liveness_images))

    def _start(self, pod: Any, sim: PodSim, cs: ContainerSim, c: Any, now: float, wall: str) -> None:
        """A new instance runs (restartCount one more than the last one's); the one before it is kept."""
        restart = cs.instances[0].restart_count + 1 if cs.instances else 0
        cs.instances = [_instance(sim, c, restart, wall)] + cs.instances[:1]
        cs.started = now
        ev = self.container_event
        if c.image_pull_policy == "Always":
            ev(pod, sim.node, c.name, "Normal", "Pulling", f'Pulling image "{c.image}"')
            ev(pod, sim.node, c.name, "Normal", "Pulled", f'Successfully pulled image "{c.image}" in 0s')
        else:
            ev(pod, sim.node, c.name, "Normal", "Pulled", f'Container image "{c.image}" already present on machine')
        ev(pod, sim.node, c.name, "Normal", "Created", f"Created container {c.name}")
        ev(pod, sim.node, c.name, "Normal", "Started", f"Started container {c.name}")

    def _kill(self, pod: Any, sim: PodSim, cs: ContainerSim, wall: str, why: str) -> None:
        """The running instance is killed (SIGKILL's exit code, 137)."""
        self.container_event(pod, sim.node, cs.name, "Normal", "Killing", why)
        cs.instances[0].finished_at, cs.instances[0].exit_code, cs.instances[0].running = wall, 137, False
        cs.started = None

    def _invalid_image(self, pod: Any, sim: PodSim, cs: ContainerSim, message: str) -> tuple[str, str]:
        """As the Docker kubelet (kubelet.pulls): waiting InvalidImageName with Docker's parse error, no pull;
        the events once (the image cannot change into a valid one without a new ContainerSim)."""
        if not cs.invalid_reported:
            cs.invalid_reported = True
            self.container_event(pod, sim.node, cs.name, "Warning", "InspectFailed", message)
            self.container_event(pod, sim.node, cs.name, "Warning", "Failed", "Error: InvalidImageName")
        return "InvalidImageName", message

    def _pull_failure(self, pod: Any, sim: PodSim, cs: ContainerSim, now: float,
                      wake: list[float]) -> tuple[str, str]:
        """A pull that fails, as on a Docker node (kubelet.pulls.PullBackoff: the same back-off, ErrImagePull
        and then ImagePullBackOff): pulled, and failing, again each time the back-off is over."""
        ev = self.container_event
        image = cs.image
        shown = self.pulls.waiting(sim.uid, image, now)
        if shown is None:
            error = (f"rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": "
                     f"manifest for {image} not found: manifest unknown (hollow node: image marked missing)")
            ev(pod, sim.node, cs.name, "Normal", "Pulling", f'Pulling image "{image}"')
            ev(pod, sim.node, cs.name, "Warning", "Failed", f'Failed to pull image "{image}": {error}')
            ev(pod, sim.node, cs.name, "Warning", "Failed", "Error: ErrImagePull")
            cs.pull_attempts += 1
            shown = self.pulls.failed(sim.uid, image, error, now)
        (reason, message), left = shown
        wake.append(now + left)
        if reason == "ImagePullBackOff" and cs.backoff_reported < cs.pull_attempts:
            cs.backoff_reported = cs.pull_attempts      # once per failed pull, not at every status computed
            ev(pod, sim.node, cs.name, "Normal", "BackOff", message)
            ev(pod, sim.node, cs.name, "Warning", "Failed", "Error: ImagePullBackOff")
        return reason, message

    # ------------------------------------------------------------ life cycle
    def pods_on(self, node: str) -> list[Any]:
        """The pods bound to one of our nodes (the informer's spec.nodeName index)."""
        return self.pods.by_index("node", node)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.config.resync)
            for name in self.agents:
                for pod in self.pods_on(name):
                    self.queue.add(kinds.key_of(pod))
                await asyncio.sleep(0)

    async def run(self) -> None:
        """Register the nodes, then heartbeat and run pods until cancelled."""
        await self.heartbeats.register_all()
        log.info("%d hollow nodes registered", len(self.agents))
        self.pods.start()
        try:
            await asyncio.gather(self.heartbeats.run(), self._resync(),
                                 run_workers(self.queue, self.sync, self.config.workers, logger=log))
        finally:
            self.queue.shut_down(discard_queued=True)
            await self.pods.stop()


async def run_hollow_nodes(client: Client, n: int, config: HollowConfig) -> None:
    """Run `n` hollow nodes (or `config.node_names`) until cancelled; `kubelab-kubelet --runtime hollow` uses this."""
    await HollowRunner(client, node_names(n, config), config).run()
