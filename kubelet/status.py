"""The pod status the kubelet reports, computed from what the runtime shows: pure, no I/O.

Where it sits: the Docker pod worker (`kubelet.worker`) hands it the pod's
containers as the runtime lists them, newest instance first, with what the
worker knows that the runtime does not (why a container waits; the probers'
readiness); the hollow kubelet (`kubelet.hollow`) hands it its simulated
runtime's instances the same way. Both report what Kubernetes 1.29+ does:

    container statuses ─▶ initialized ─▶ phase (getPhase) ─▶ conditions
                                                           PodReadyToStartContainers,
                                                           Initialized, Ready,
                                                           ContainersReady, PodScheduled

Writing the status to the API is `kubelet.status_manager`'s job.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

from kubelab.conditions import transition_time
from kubelab.v1 import objects_pb2 as pb

TERMINAL = ("Succeeded", "Failed")
CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")

ProbeResult = Callable[[str, str], bool]       # (container name, container id) -> ready / started


class RuntimeContainer(Protocol):
    """One instance of a container as the runtime reports it (`docker_runtime.ContainerInfo` is one)."""
    id: str
    image: str
    image_id: str
    started_at: str
    finished_at: str
    exit_code: int
    error: str

    @property
    def container_name(self) -> str: ...
    @property
    def restart_count(self) -> int: ...
    @property
    def running(self) -> bool: ...
    @property
    def exited(self) -> bool: ...
    @property
    def termination_reason(self) -> str: ...


def _terminated(t: Any, c: RuntimeContainer, scheme: str) -> None:
    t.exit_code = c.exit_code
    t.reason = c.termination_reason
    if c.error:
        t.message = c.error
    t.started_at = c.started_at
    t.finished_at = c.finished_at
    t.container_id = f"{scheme}://{c.id}"


def container_status(spec: Any, insts: Sequence[RuntimeContainer], waiting: tuple[str, str] | None,
                     ready: ProbeResult, started: ProbeResult, init: bool = False, scheme: str = "docker") -> Any:
    """One container's status: `insts` are its instances, newest first (the one before it gives lastState);
    `waiting` is why the kubelet has not started it (shown while it does not run)."""
    s = pb.ContainerStatus(name=spec.name, image=spec.image)
    cur = insts[0] if insts else None
    prev = insts[1] if len(insts) > 1 else None
    if cur is not None:
        s.restart_count = cur.restart_count
        s.container_id = f"{scheme}://{cur.id}"
        s.image_id = f"{scheme}://{cur.image_id}"
        if cur.image and cur.image != spec.image:
            s.image = cur.image
    if cur is not None and cur.running:
        s.state.running.started_at = cur.started_at
        if prev is not None and prev.exited:
            _terminated(s.last_state.terminated, prev, scheme)
        s.started = started(spec.name, cur.id) if spec.HasField("startup_probe") else True
        s.ready = False if init else ready(spec.name, cur.id)
    elif waiting:
        s.state.waiting.reason = waiting[0]
        if waiting[1]:
            s.state.waiting.message = waiting[1]
        last = cur if cur is not None and cur.exited else prev if prev is not None and prev.exited else None
        if last is not None:
            _terminated(s.last_state.terminated, last, scheme)
        s.started = False
    elif cur is not None and cur.exited:
        _terminated(s.state.terminated, cur, scheme)
        if prev is not None and prev.exited:
            _terminated(s.last_state.terminated, prev, scheme)
        s.started = False
        # As the kubelet's prober manager: an init container that ran to success is ready.
        s.ready = init and cur.exit_code == 0
    else:
        s.state.waiting.reason = "ContainerCreating"
        s.started = False
    return s


def initialized(init_statuses: Sequence[Any]) -> bool:
    """Every init container has run to success (a pod without any is initialized)."""
    return all(s.state.HasField("terminated") and s.state.terminated.exit_code == 0 for s in init_statuses)


def phase(restart_policy: str, init_statuses: Sequence[Any], statuses: Sequence[Any]) -> str:
    """Kubernetes' getPhase."""
    if not initialized(init_statuses):
        failed_init = any(s.state.HasField("terminated") and s.state.terminated.exit_code != 0
                          for s in init_statuses)
        if failed_init and restart_policy == "Never":
            return "Failed"
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for s in statuses:
        if s.state.HasField("running"):
            running += 1
        elif s.state.HasField("terminated"):
            stopped += 1
            if s.state.terminated.exit_code == 0:
                succeeded += 1
        elif s.state.HasField("waiting"):
            if s.last_state.HasField("terminated"):
                stopped += 1      # a restart waiting for its back-off has run before
            else:
                waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        policy = restart_policy or "Always"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def conditions(old: Sequence[Any], st: Any, sandbox_up: bool, scheduled_at: str, now: str) -> list[Any]:
    """The pod conditions the kubelet owns, for status `st` (its phase and container statuses set).

    A condition keeps its lastTransitionTime while its status stays the same; conditions others own
    (PodScheduled, DisruptionTarget, ...) are kept as they are; PodScheduled is added if missing."""
    prior = {c.type: c for c in old}
    is_initialized = initialized(st.init_container_statuses)
    not_ready = [s.name for s in st.container_statuses if not s.ready]
    running_ready = not not_ready and st.phase == "Running"
    if not not_ready:
        why, msg = "", ""
    elif st.phase in TERMINAL:
        why, msg = "PodCompleted", ""
    else:
        why, msg = "ContainersNotReady", f"containers with unready status: [{' '.join(not_ready)}]"
    incomplete = [s.name for s in st.init_container_statuses
                  if not s.state.HasField("terminated") or s.state.terminated.exit_code]
    wanted = [("PodReadyToStartContainers", sandbox_up, "", ""),
              ("Initialized", is_initialized, "" if is_initialized else "ContainersNotInitialized",
               "" if is_initialized else f"containers with incomplete status: [{' '.join(incomplete)}]"),
              ("Ready", running_ready, why, msg),
              ("ContainersReady", running_ready, why, msg)]
    out = []
    for type_, ok, reason, message in wanted:
        status = "True" if ok else "False"
        out.append(pb.Condition(type=type_, status=status, reason=reason, message=message,
                                last_transition_time=transition_time(prior.get(type_), status, now)))
    if "PodScheduled" not in prior:
        out.append(pb.Condition(type="PodScheduled", status="True", last_transition_time=scheduled_at or now))
    for c in old:
        if c.type not in KUBELET_CONDITIONS:
            copy = pb.Condition()
            copy.CopyFrom(c)
            out.append(copy)
    rank = {t: i for i, t in enumerate(CONDITION_ORDER)}
    return sorted(out, key=lambda c: rank.get(c.type, len(rank)))


def complete(pod: Any, st: Any, sandbox_up: bool, start_time: str, now: str) -> Any:
    """Fill in the pod-level parts of `st` from its container statuses: phase, reason, conditions."""
    st.phase = phase(pod.spec.restart_policy, st.init_container_statuses, st.container_statuses)
    st.reason, st.message = "", ""
    new = conditions(pod.status.conditions, st, sandbox_up, start_time, now)
    del st.conditions[:]
    st.conditions.extend(new)
    return st


def pod_status(pod: Any, instances: Sequence[RuntimeContainer], sandbox_ip: str | None, node_ip: str, start_time: str, waiting: dict[str, tuple[str, str]],
               ready: ProbeResult, started: ProbeResult, now: str) -> Any:
    """The status of a pod whose app and init containers the runtime lists as `instances` (each name's
    newest first, as the runtime lists them); `sandbox_ip` is None while no sandbox runs."""
    st = pb.PodStatus()
    st.CopyFrom(pod.status)
    del st.container_statuses[:]
    del st.init_container_statuses[:]
    st.host_ip = node_ip
    if sandbox_ip:
        st.pod_ip = sandbox_ip
        del st.pod_ips[:]
        st.pod_ips.add(ip=sandbox_ip)
    st.start_time = st.start_time or start_time
    by_name: dict[str, list[RuntimeContainer]] = {}
    for c in instances:
        by_name.setdefault(c.container_name, []).append(c)
    for c in pod.spec.init_containers:
        st.init_container_statuses.append(container_status(c, by_name.get(c.name, []), waiting.get(c.name),
                                                           ready, started, init=True))
    for c in pod.spec.containers:
        st.container_statuses.append(container_status(c, by_name.get(c.name, []), waiting.get(c.name),
                                                      ready, started))
    return complete(pod, st, sandbox_ip is not None, start_time, now)


def terminated(st: Any, now: str) -> Any:
    """A pod stopped for deletion: Succeeded if every container exited 0, else Failed; no longer Ready."""
    st.phase = "Succeeded" if all(s.state.HasField("terminated") and s.state.terminated.exit_code == 0
                                  for s in st.container_statuses) else "Failed"
    for cond in st.conditions:
        if cond.type in ("Ready", "ContainersReady") and cond.status == "True":
            cond.status, cond.last_transition_time = "False", now
    return st
