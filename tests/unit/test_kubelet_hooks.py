"""Container life-cycle hooks (kubelet.hooks) without Docker: what a postStart/preStop handler's outcome is
(exec through a fake runtime, httpGet and tcpSocket against real sockets on loopback), the FailedPreStopHook
event, and how much of the grace period is left for the container after its preStop hook."""
from __future__ import annotations

import time
from typing import Any

import pytest

from kubelab.client import new_object
from kubelab.timeutil import FakeClock, RealClock
from kubelet.hooks import grace_after_pre_stop, run_hook, stop_container
from lab.local import free_port
from tests.harness.docker_kubelet import FakeRuntime

from .test_kubelet_probes import answering, serve


def web_pod() -> Any:
    p = new_object("Pod", "web", "shop")
    p.metadata.uid = "uid-1"
    c = p.spec.containers.add(name="app", image="kubelab/web")
    c.ports.add(name="http", container_port=8080)
    return p


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, type_: str, reason: str, message: str) -> None:
        self.seen.append((type_, reason, message))


# ---------------------------------------------------------------- handlers
@pytest.mark.parametrize("result,want", [
    ((0, "hooked\n"), (True, "hooked\n")),
    ((1, "no such file\n"), (False, "no such file\n")),
    ((None, ""), (False, "timed out after 30s")),
])
async def test_an_exec_handler_succeeds_on_exit_code_0(result: tuple[int | None, str],
                                                       want: tuple[bool, str]) -> None:
    p = web_pod()
    c = p.spec.containers[0]
    c.lifecycle.post_start.exec.command.extend(["sh", "-c", "touch /ready"])
    rt = FakeRuntime(FakeClock())
    rt.exec_results[("sh", "-c", "touch /ready")] = result
    assert await run_hook(rt, c.lifecycle.post_start, c, "cid", "127.0.0.1", 30.0) == want
    assert rt.actions == [("exec", "cid", ("sh", "-c", "touch /ready"))]


async def test_an_http_get_handler_goes_to_the_pod_on_a_named_port() -> None:
    seen: list[bytes] = []
    server, port = await serve(answering(b"HTTP/1.1 200 OK", seen))
    p = web_pod()
    c = p.spec.containers[0]
    c.ports[0].container_port = port
    handler = c.lifecycle.pre_stop
    handler.http_get.port.string_value, handler.http_get.path = "http", "/drain"
    try:
        assert await run_hook(FakeRuntime(FakeClock()), handler, c, "cid", "127.0.0.1", 5.0) == (True, "")
        ok, msg = await run_hook(FakeRuntime(FakeClock()), handler, c, "cid", "127.0.0.2", 0.5)
    finally:
        server.close()
        await server.wait_closed()
    assert seen[0].startswith(b"GET /drain HTTP/1.1\r\n")
    assert not ok and msg                          # another address: not this pod's server


async def test_an_http_get_handler_fails_on_an_error_status() -> None:
    server, port = await serve(answering(b"HTTP/1.1 500 Internal Server Error"))
    c = web_pod().spec.containers[0]
    handler = c.lifecycle.post_start
    handler.http_get.port.number_value = port
    try:
        ok, msg = await run_hook(FakeRuntime(FakeClock()), handler, c, "cid", "127.0.0.1", 5.0)
    finally:
        server.close()
        await server.wait_closed()
    assert not ok and "500" in msg


async def test_a_tcp_socket_handler_and_a_port_the_container_does_not_name() -> None:
    c = web_pod().spec.containers[0]
    handler = c.lifecycle.post_start
    port = free_port()
    handler.tcp_socket.port.number_value = port
    assert await run_hook(FakeRuntime(FakeClock()), handler, c, "cid", "127.0.0.1", 1.0) == (
        False, f"dial tcp 127.0.0.1:{port}: connect: connection refused")
    handler.tcp_socket.port.string_value = "metrics"
    ok, msg = await run_hook(FakeRuntime(FakeClock()), handler, c, "cid", "127.0.0.1", 1.0)
    assert not ok and "metrics" in msg


async def test_a_handler_with_nothing_to_do_succeeds() -> None:
    c = web_pod().spec.containers[0]
    assert await run_hook(FakeRuntime(FakeClock()), c.lifecycle.post_start, c, "cid", "", 1.0) == (True, "")


# ---------------------------------------------------------------- stopping
async def test_pre_stop_runs_before_the_stop_and_its_failure_is_an_event() -> None:
    p = web_pod()
    p.spec.containers[0].lifecycle.pre_stop.exec.command.extend(["nginx", "-s", "quit"])
    clock = FakeClock()
    rt = FakeRuntime(clock)
    app = rt.add(p, "app", "running")
    rt.exec_results[("nginx", "-s", "quit")] = (1, "nginx: not running\n")
    events = Events()
    await stop_container(rt, p, app, 30, "10.244.1.5", events, clock)
    assert rt.actions == [("exec", app.id, ("nginx", "-s", "quit")), ("stop", app.id, 30)]
    assert events.seen == [("Warning", "FailedPreStopHook", "PreStopHook failed: nginx: not running")]


async def test_a_successful_pre_stop_records_nothing() -> None:
    p = web_pod()
    p.spec.containers[0].lifecycle.pre_stop.exec.command.extend(["true"])
    clock = FakeClock()
    rt = FakeRuntime(clock)
    app = rt.add(p, "app", "running")
    events = Events()
    await stop_container(rt, p, app, 10, "", events, clock)
    assert [call[0] for call in rt.actions] == ["exec", "stop"] and events.seen == []


@pytest.mark.parametrize("pre_stop,grace,want", [
    pytest.param(False, 30, [("stop", 30)], id="no-hook"),
    pytest.param(True, 0, [("stop", 0)], id="grace-0-skips-the-hook"),
])
async def test_without_a_hook_to_run_the_container_gets_the_whole_grace_period(
        pre_stop: bool, grace: int, want: list[tuple[str, int]]) -> None:
    p = web_pod()
    if pre_stop:
        p.spec.containers[0].lifecycle.pre_stop.exec.command.extend(["sleep", "5"])
    clock = FakeClock()
    rt = FakeRuntime(clock)
    app = rt.add(p, "app", "running")
    await stop_container(rt, p, app, grace, "", Events(), clock)
    assert [(call[0], call[2]) for call in rt.actions] == want


@pytest.mark.parametrize("grace,spent,left", [
    (30, 0.2, 30),        # a quick hook (whole seconds taken, as Kubernetes counts them)
    (30, 12.5, 18),       # the hook's time comes out of the grace period
    (30, 29.5, 2),        # used up: still 2 s after SIGTERM, as Kubernetes gives
    (30, 45.0, 2),
    (1, 0.0, 2),
    (0, 0.0, 0),          # grace 0: SIGKILL at once
])
def test_the_pre_stop_hooks_time_is_taken_out_of_the_grace_period(grace: int, spent: float, left: int) -> None:
    assert grace_after_pre_stop(grace, spent) == left


async def test_a_slow_pre_stop_shortens_the_wait_before_sigkill() -> None:
    p = web_pod()
    p.spec.containers[0].lifecycle.pre_stop.exec.command.extend(["sleep", "1"])
    rt = FakeRuntime(FakeClock())
    app = rt.add(p, "app", "running")
    rt.on_exec = lambda: time.sleep(1.1)        # the hook takes a (real) second
    await stop_container(rt, p, app, 10, "", Events(), RealClock())
    assert rt.actions[-1] == ("stop", app.id, 9)


@pytest.mark.parametrize("took,sigkill_after", [(12.5, 18), (29.5, 2)])
async def test_the_pre_stop_hooks_time_on_the_clock_comes_out_of_the_grace_period(took: float,
                                                                                  sigkill_after: int) -> None:
    # `kubectl delete pod` with a 30 s grace period and a preStop hook that drains for `took` seconds (on the
    # kubelet's clock): the container is sent SIGTERM with only what the hook left, never less than 2 s.
    p = web_pod()
    p.spec.containers[0].lifecycle.pre_stop.exec.command.extend(["drain"])
    clock = FakeClock()
    rt = FakeRuntime(clock)
    app = rt.add(p, "app", "running")

    def drain() -> None:
        clock.t += took
    rt.on_exec = drain
    await stop_container(rt, p, app, 30, "", Events(), clock)
    assert rt.actions == [("exec", app.id, ("drain",)), ("stop", app.id, sigkill_after)]
