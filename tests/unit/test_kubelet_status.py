"""The kubelet's pod status decisions (kubelet.status), without Docker: container statuses from the
runtime's instances, getPhase, and the conditions both kubelets report (Kubernetes 1.29+)."""
from __future__ import annotations

from typing import Any

import pytest

from kubelab.client import new_object
from kubelab.v1 import objects_pb2 as pb
from kubelet import status
from kubelet.docker_runtime import L_CONTAINER, L_RESTART, L_TYPE, ContainerInfo
from kubelet.hollow import HollowConfig, HollowRunner
from kubelet.pulls import PullBackoff

NOW = "2026-01-01T00:00:10Z"
EARLIER = "2026-01-01T00:00:00Z"


def never(name: str, cid: str) -> bool:
    return False


def always(name: str, cid: str) -> bool:
    return True


def inst(name: str, state: str, restart: int = 0, exit_code: int = 0, oom: bool = False, cid: str = "",
         error: str = "") -> ContainerInfo:
    """One Docker instance of container `name`, as the runtime reports it."""
    return ContainerInfo(id=cid or f"{name}-{restart}", name=f"k8s_{name}", status=state, image="kubelab/web",
                         image_id="sha256:abc", created=float(restart),
                         labels={L_CONTAINER: name, L_RESTART: str(restart), L_TYPE: "container"},
                         started_at="2026-01-01T00:00:0%dZ" % restart, exit_code=exit_code, oom_killed=oom,
                         error=error, finished_at="" if state == "running" else "2026-01-01T00:00:09Z")


def pod(*names: str, policy: str = "Always", init: tuple[str, ...] = ()) -> Any:
    p = new_object("Pod", "web", "shop")
    p.metadata.uid = "uid-1"
    p.spec.restart_policy = policy
    for n in init:
        p.spec.init_containers.add(name=n, image="kubelab/web")
    for n in names:
        p.spec.containers.add(name=n, image="kubelab/web")
    return p


def cs(state: str, exit_code: int = 0, last_exit: int | None = None, ready: bool = False, name: str = "c") -> Any:
    """A container status in one of the states getPhase looks at."""
    s = pb.ContainerStatus(name=name, ready=ready)
    if state == "running":
        s.state.running.started_at = EARLIER
    elif state == "terminated":
        s.state.terminated.exit_code = exit_code
    else:
        s.state.waiting.reason = state
    if last_exit is not None:
        s.last_state.terminated.exit_code = last_exit
    return s


# ---------------------------------------------------------------- phase
@pytest.mark.parametrize("policy,statuses,phase", [
    pytest.param("Always", [cs("running")], "Running", id="always-running"),
    pytest.param("Always", [cs("terminated", 0)], "Running", id="always-exited-0-restarts"),
    pytest.param("Always", [cs("terminated", 1)], "Running", id="always-exited-1-restarts"),
    pytest.param("Always", [cs("ContainerCreating")], "Pending", id="always-creating"),
    pytest.param("Always", [cs("CrashLoopBackOff", last_exit=1)], "Running", id="always-crashloop"),
    pytest.param("Always", [cs("running"), cs("ErrImagePull")], "Pending", id="always-one-still-waiting"),
    pytest.param("OnFailure", [cs("terminated", 0)], "Succeeded", id="onfailure-exited-0"),
    pytest.param("OnFailure", [cs("terminated", 1)], "Running", id="onfailure-exited-1-restarts"),
    pytest.param("OnFailure", [cs("terminated", 0), cs("running")], "Running", id="onfailure-one-running"),
    pytest.param("OnFailure", [cs("CrashLoopBackOff", last_exit=2)], "Running", id="onfailure-crashloop"),
    pytest.param("Never", [cs("terminated", 0), cs("terminated", 0)], "Succeeded", id="never-all-0"),
    pytest.param("Never", [cs("terminated", 0), cs("terminated", 3)], "Failed", id="never-one-failed"),
    pytest.param("Never", [cs("running"), cs("terminated", 3)], "Running", id="never-one-still-running"),
    pytest.param("Never", [cs("ContainerCreating")], "Pending", id="never-creating"),
    pytest.param("", [cs("terminated", 0)], "Running", id="default-policy-is-always"),
    pytest.param("Always", [], "Pending", id="no-statuses"),
])
def test_phase(policy: str, statuses: list[Any], phase: str) -> None:
    assert status.phase(policy, [], statuses) == phase


@pytest.mark.parametrize("policy,init,phase", [
    pytest.param("Always", [cs("terminated", 0)], "Running", id="init-done"),
    pytest.param("Always", [cs("running")], "Pending", id="init-running"),
    pytest.param("Always", [cs("terminated", 1)], "Pending", id="init-failed-retried"),
    pytest.param("OnFailure", [cs("terminated", 1)], "Pending", id="init-failed-onfailure-retried"),
    pytest.param("Never", [cs("terminated", 1)], "Failed", id="init-failed-never"),
    pytest.param("Never", [cs("terminated", 0), cs("ContainerCreating")], "Pending", id="second-init-waiting"),
])
def test_phase_while_initializing(policy: str, init: list[Any], phase: str) -> None:
    assert status.phase(policy, init, [cs("running")]) == phase


# ---------------------------------------------------------------- container statuses
def test_a_running_container_reports_the_instance_before_it_as_last_state() -> None:
    s = status.container_status(pod("c").spec.containers[0],
                                [inst("c", "running", restart=2), inst("c", "exited", restart=1, exit_code=137,
                                                                      oom=True)],
                                None, always, always)
    assert s.state.running.started_at == "2026-01-01T00:00:02Z"
    assert (s.restart_count, s.ready, s.started) == (2, True, True)
    assert s.container_id == "docker://c-2" and s.image_id == "docker://sha256:abc"
    t = s.last_state.terminated
    assert (t.exit_code, t.reason, t.container_id, t.finished_at) == (137, "OOMKilled", "docker://c-1",
                                                                       "2026-01-01T00:00:09Z")


def test_readiness_and_startup_come_from_the_probers_for_the_current_instance() -> None:
    spec = pod("c").spec.containers[0]
    spec.startup_probe.tcp_socket.port.number_value = 80
    asked: list[tuple[str, str]] = []

    def ready(name: str, cid: str) -> bool:
        asked.append((name, cid))
        return True
    s = status.container_status(spec, [inst("c", "running", restart=3)], None, ready, never)
    assert (s.ready, s.started) == (True, False) and asked == [("c", "c-3")]
    init = status.container_status(spec, [inst("c", "running")], None, always, always, init=True)
    assert not init.ready                        # a running init container is not ready (its probe is not asked)


@pytest.mark.parametrize("exit_code,ready", [(0, True), (1, False)])
def test_an_init_container_that_ran_to_success_is_ready(exit_code: int, ready: bool) -> None:
    """As the kubelet's prober manager says it (kubectl get pod -o yaml: initContainerStatuses[].ready)."""
    spec = pod("i").spec.containers[0]
    done = status.container_status(spec, [inst("i", "exited", exit_code=exit_code)], None, always, always, init=True)
    assert done.state.terminated.exit_code == exit_code and done.ready is ready
    app = status.container_status(spec, [inst("i", "exited", exit_code=0)], None, always, always)
    assert not app.ready                         # an app container that ended is not ready


def test_a_crash_looping_container_waits_with_its_last_termination() -> None:
    waiting = ("CrashLoopBackOff", "back-off 20s restarting failed container=c pod=web_shop(uid-1)")
    s = status.container_status(pod("c").spec.containers[0], [inst("c", "exited", restart=4, exit_code=1)],
                                waiting, always, always)
    assert (s.state.waiting.reason, s.state.waiting.message) == waiting
    assert (s.last_state.terminated.exit_code, s.last_state.terminated.reason) == (1, "Error")
    assert s.restart_count == 4 and not s.ready and not s.started


def test_an_exited_container_is_terminated_with_kubernetes_reasons() -> None:
    spec = pod("c").spec.containers[0]
    done = status.container_status(spec, [inst("c", "exited")], None, always, always)
    assert (done.state.terminated.reason, done.state.terminated.exit_code) == ("Completed", 0)
    assert not done.HasField("last_state") or not done.last_state.HasField("terminated")
    broken = status.container_status(spec, [inst("c", "exited", exit_code=127, error="exec: not found")],
                                     None, always, always)
    assert (broken.state.terminated.reason, broken.state.terminated.message) == ("ContainerCannotRun",
                                                                                "exec: not found")


def test_no_instance_yet_is_container_creating_or_why_it_waits() -> None:
    spec = pod("c").spec.containers[0]
    assert status.container_status(spec, [], None, always, always).state.waiting.reason == "ContainerCreating"
    pull = status.container_status(spec, [], ("ErrImagePull", "not found"), always, always)
    assert (pull.state.waiting.reason, pull.restart_count, pull.container_id) == ("ErrImagePull", 0, "")


# ---------------------------------------------------------------- conditions
def conds(p: Any, st: Any, sandbox_up: bool = True) -> dict[str, Any]:
    return {c.type: c for c in status.conditions(p.status.conditions, st, sandbox_up, EARLIER, NOW)}


def status_of(phase: str, *statuses: Any, init: tuple[Any, ...] = ()) -> Any:
    st = pb.PodStatus(phase=phase)
    st.container_statuses.extend(statuses)
    st.init_container_statuses.extend(init)
    return st


@pytest.mark.parametrize("st,sandbox_up,want", [
    pytest.param(status_of("Running", cs("running", ready=True, name="a")), True,
                 {"PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
                  "ContainersReady": "True", "PodScheduled": "True"}, id="all-ready"),
    pytest.param(status_of("Running", cs("running", ready=True, name="a"), cs("running", name="b")), True,
                 {"PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "False",
                  "ContainersReady": "False", "PodScheduled": "True"}, id="one-unready"),
    pytest.param(status_of("Pending", cs("ContainerCreating", name="a")), False,
                 {"PodReadyToStartContainers": "False", "Initialized": "True", "Ready": "False",
                  "ContainersReady": "False", "PodScheduled": "True"}, id="no-sandbox-yet"),
    pytest.param(status_of("Pending", cs("PodInitializing", name="a"), init=(cs("running", name="i"),)), True,
                 {"PodReadyToStartContainers": "True", "Initialized": "False", "Ready": "False",
                  "ContainersReady": "False", "PodScheduled": "True"}, id="initializing"),
    pytest.param(status_of("Succeeded", cs("terminated", name="a")), False,
                 {"PodReadyToStartContainers": "False", "Initialized": "True", "Ready": "False",
                  "ContainersReady": "False", "PodScheduled": "True"}, id="completed"),
])
def test_condition_statuses(st: Any, sandbox_up: bool, want: dict[str, str]) -> None:
    got = status.conditions([], st, sandbox_up, EARLIER, NOW)
    assert [c.type for c in got] == list(status.CONDITION_ORDER)
    assert {c.type: c.status for c in got} == want


def test_reasons_and_messages_say_which_containers() -> None:
    c = conds(pod("a", "b"), status_of("Running", cs("running", ready=True, name="a"), cs("running", name="b"),
                                       cs("running", name="c")))
    assert (c["Ready"].reason, c["Ready"].message) == ("ContainersNotReady",
                                                       "containers with unready status: [b c]")
    assert c["ContainersReady"].message == c["Ready"].message
    init = conds(pod("a"), status_of("Pending", cs("PodInitializing", name="a"),
                                     init=(cs("terminated", 0, name="i1"), cs("terminated", 2, name="i2"))))
    assert (init["Initialized"].reason, init["Initialized"].message) == (
        "ContainersNotInitialized", "containers with incomplete status: [i2]")
    done = conds(pod("a"), status_of("Succeeded", cs("terminated", name="a")), sandbox_up=False)
    assert (done["Ready"].reason, done["Ready"].message) == ("PodCompleted", "")


def test_transition_times_move_only_when_a_status_changes() -> None:
    p = pod("a")
    p.status.conditions.add(type="Ready", status="False", last_transition_time=EARLIER)
    p.status.conditions.add(type="Initialized", status="True", last_transition_time=EARLIER)
    p.status.conditions.add(type="PodScheduled", status="True", last_transition_time="2025-12-31T00:00:00Z")
    p.status.conditions.add(type="DisruptionTarget", status="True", reason="PreemptionByScheduler")
    c = conds(p, status_of("Running", cs("running", ready=True, name="a")))
    assert c["Ready"].last_transition_time == NOW                       # False → True
    assert c["ContainersReady"].last_transition_time == NOW             # new
    assert c["Initialized"].last_transition_time == EARLIER             # unchanged
    assert c["PodScheduled"].last_transition_time == "2025-12-31T00:00:00Z"   # the scheduler's, kept
    assert c["DisruptionTarget"].reason == "PreemptionByScheduler"      # not the kubelet's: kept
    got = status.conditions(p.status.conditions, status_of("Running"), True, EARLIER, NOW)
    assert [x.type for x in got][-1] == "DisruptionTarget"              # after the kubelet's own, in order


def test_pod_scheduled_is_added_at_the_start_time_when_missing() -> None:
    assert conds(pod("a"), status_of("Pending"))["PodScheduled"].last_transition_time == EARLIER
    got = status.conditions([], status_of("Pending"), False, "", NOW)
    assert {c.type: c.last_transition_time for c in got}["PodScheduled"] == NOW


# ---------------------------------------------------------------- the whole status
def test_pod_status_from_the_runtime() -> None:
    p = pod("app", "side", policy="Always", init=("setup",))
    p.status.start_time = EARLIER
    instances = [inst("app", "running", restart=1), inst("app", "exited", restart=0, exit_code=2),
                 inst("side", "exited", restart=0, exit_code=0), inst("setup", "exited", restart=0)]
    st = status.pod_status(p, instances, "10.1.2.3", "172.28.0.5", EARLIER, {}, always, always, NOW)
    assert (st.pod_ip, [i.ip for i in st.pod_ips], st.host_ip, st.start_time) == (
        "10.1.2.3", ["10.1.2.3"], "172.28.0.5", EARLIER)
    assert [s.name for s in st.init_container_statuses] == ["setup"]
    app, side = st.container_statuses
    assert (app.restart_count, app.last_state.terminated.exit_code) == (1, 2)
    assert side.state.terminated.reason == "Completed"
    assert st.phase == "Running"               # Always: the finished container restarts
    assert {c.type: c.status for c in st.conditions}["Ready"] == "False"


def test_without_a_sandbox_the_pod_has_no_ip_and_is_not_ready_to_start_containers() -> None:
    p = pod("app")
    st = status.pod_status(p, [], None, "172.28.0.5", EARLIER, {"app": ("ContainerCreating", "")}, always,
                           always, NOW)
    assert st.pod_ip == "" and st.phase == "Pending"
    assert {c.type: c.status for c in st.conditions}["PodReadyToStartContainers"] == "False"


def test_a_pod_stopped_for_deletion_is_succeeded_or_failed_and_not_ready() -> None:
    p = pod("a", "b")
    st = status.pod_status(p, [inst("a", "running"), inst("b", "running")], "10.1.2.3", "n", EARLIER, {},
                           always, always, EARLIER)
    assert {c.type: c.status for c in st.conditions}["Ready"] == "True"
    stopped = status.pod_status(p, [inst("a", "exited"), inst("b", "exited", exit_code=143)], None, "n", EARLIER,
                                {}, always, always, EARLIER)
    p.status.CopyFrom(st)
    out = status.terminated(stopped, NOW)
    assert out.phase == "Failed"
    assert all(c.status == "False" for c in out.conditions if c.type in ("Ready", "ContainersReady"))
    clean = status.pod_status(p, [inst("a", "exited"), inst("b", "exited")], None, "n", EARLIER, {}, always,
                              always, EARLIER)
    assert status.terminated(clean, NOW).phase == "Succeeded"


def hollow_runner() -> Any:
    runner = HollowRunner.__new__(HollowRunner)          # only the simulation: no API, no nodes
    runner.config = HollowConfig(events=False)
    runner.host_ips = {"hn-0": "172.16.0.1"}
    runner.container_event = lambda *a, **k: None
    runner.pulls = PullBackoff(runner.config.image_pull_backoff, runner.config.image_pull_backoff_max)
    return runner


def test_the_hollow_kubelet_reports_the_same_conditions() -> None:
    """The simulated kubelet computes phase and conditions with kubelet.status: same types, same order."""
    runner = hollow_runner()
    from kubelet.hollow import PodSim
    p = pod("app")
    p.spec.node_name = "hn-0"
    sim = PodSim("uid-1", "shop/web", "hn-0", seen=100.0, start_time=EARLIER, ip="10.0.0.2")
    creating, _ = runner.desired_status(p, sim, 99.0)
    running, _ = runner.desired_status(p, sim, 101.0)
    for st, up in ((creating, False), (running, True)):
        assert [c.type for c in st.conditions] == list(status.CONDITION_ORDER)
        docker_view = status.conditions(p.status.conditions, st, up, EARLIER, NOW)
        assert [(c.type, c.status, c.reason, c.message) for c in st.conditions] == [
            (c.type, c.status, c.reason, c.message) for c in docker_view]
    assert creating.phase == "Pending" and running.phase == "Running"
    assert {c.type: c.status for c in running.conditions}["PodReadyToStartContainers"] == "True"


def test_the_hollow_kubelets_container_statuses_are_the_docker_kubelets() -> None:
    """Its simulated runtime's instances go through kubelet.status.container_status: a liveness restart shows
    the killed instance as lastState; a new image that cannot be pulled waits with the instance before it, as
    a Docker node shows it; a completed init container is terminated Completed."""
    from kubelet.hollow import PodSim
    runner = hollow_runner()
    p = pod("app", init=("setup",))
    p.metadata.annotations["hollow.kubelab.io/liveness"] = "fail"
    sim = PodSim("uid-1", "shop/web", "hn-0", seen=0.0, start_time=EARLIER, ip="10.0.0.2")
    first = runner.desired_status(p, sim, 1.0)[0].container_statuses[0]
    assert (first.restart_count, first.ready, first.started) == (0, True, True) and first.state.running.started_at
    setup = runner.desired_status(p, sim, 2.0)[0].init_container_statuses[0]
    assert (setup.state.terminated.reason, setup.state.terminated.exit_code, setup.ready) == ("Completed", 0, True)
    again = runner.desired_status(p, sim, 11.0)[0].container_statuses[0]
    killed = again.last_state.terminated
    assert again.restart_count == 1 and again.state.HasField("running") and again.container_id != first.container_id
    assert (killed.exit_code, killed.reason, killed.container_id) == (137, "Error", first.container_id)
    p.spec.containers[0].image = "nginx:missing"
    st, _ = runner.desired_status(p, sim, 12.0)
    pulling = st.container_statuses[0]
    assert (pulling.state.waiting.reason, pulling.restart_count, pulling.image) == ("ErrImagePull", 1, "kubelab/web")
    assert (pulling.container_id, pulling.last_state.terminated.exit_code) == (again.container_id, 137)
    assert st.phase == "Running"       # a container that has run and waits to run again (getPhase)
