"""The node's address, detected again before each status write (kubelet/node.py `NodeAgent.refresh_address`).

The Docker kubelet passes `detect_node_ip` (tests/e2e/test_node_address.py moves a real node container to a
new address); here the rules: a new address replaces the old one and is passed on, an empty or loopback
answer (the node is off its network) and a failing detection keep the last one, and without `detect_ip`
(--node-ip given) the address never changes.
"""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelab.v1 import objects_pb2 as pb
from kubelet.node import READY, NodeAgent, NodeConfig, fill_status
from tests.harness.fake_client import FakeClient


def agent(answers: list[object], seen: list[str]) -> NodeAgent:
    def detect() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)
    return NodeAgent(FakeClient(), NodeConfig(name="node3", internal_ip="172.28.0.4"),
                     detect_ip=detect, on_new_ip=seen.append)


async def test_a_new_address_replaces_the_old_one_and_is_passed_on() -> None:
    seen: list[str] = []
    a = agent(["172.28.0.4", "172.28.200.7", "172.28.200.7"], seen)
    await a.refresh_address()
    assert a.config.internal_ip == "172.28.0.4" and seen == []
    await a.refresh_address()
    assert a.config.internal_ip == "172.28.200.7" and seen == ["172.28.200.7"]
    await a.refresh_address()
    assert seen == ["172.28.200.7"]              # told once per change
    status = pb.NodeStatus()
    fill_status(status, a.config, READY, "2026-12-03T22:00:00Z")
    assert [(x.type, x.address) for x in status.addresses] == [("InternalIP", "172.28.200.7"),
                                                              ("Hostname", "node3")]


async def test_off_the_network_the_last_address_stays() -> None:
    seen: list[str] = []
    a = agent(["", "127.0.0.1", OSError("no route"), "172.28.0.9"], seen)
    for _ in range(3):
        await a.refresh_address()
        assert a.config.internal_ip == "172.28.0.4"
    await a.refresh_address()
    assert a.config.internal_ip == "172.28.0.9" and seen == ["172.28.0.9"]


async def test_an_address_given_on_the_command_line_is_kept() -> None:
    a = NodeAgent(FakeClient(), NodeConfig(name="node3", internal_ip="10.0.0.5"))
    await a.refresh_address()
    assert a.config.internal_ip == "10.0.0.5"


async def test_heartbeats_go_on_after_an_unexpected_error(caplog: pytest.LogCaptureFixture) -> None:
    """A heartbeat that fails with something other than an API error is logged and the next one goes out: a
    loop that ended there would leave the node NotReady for good while its kubelet runs."""
    writes: list[str] = []

    class Client(FakeClient):
        async def update_status(self, obj: Any) -> Any:
            writes.append(obj.metadata.name)
            if len(writes) == 1:
                raise RuntimeError("the call ended under the write")
            return obj
    a = NodeAgent(Client(), NodeConfig(name="node3", internal_ip="172.28.0.4"))
    task = asyncio.create_task(a.run_heartbeats(0.01))
    try:
        for _ in range(200):
            if a.heartbeats >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert a.heartbeats >= 2 and len(writes) >= 3
    assert "heartbeat of node node3 failed" in caplog.text and "RuntimeError" in caplog.text


def test_a_node_condition_keeps_its_transition_time_while_its_status_does() -> None:
    config = NodeConfig(name="node3")
    status = pb.NodeStatus()
    fill_status(status, config, READY, "2026-12-03T22:00:00Z")
    fill_status(status, config, READY, "2026-12-03T22:00:10Z")
    fill_status(status, config, ("False", "KubeletNotReady", "runtime down"), "2026-12-03T22:00:20Z")
    times = {c.type: (c.status, c.last_transition_time, c.last_heartbeat_time) for c in status.conditions}
    assert times["MemoryPressure"] == ("False", "2026-12-03T22:00:00Z", "2026-12-03T22:00:20Z")
    assert times["Ready"] == ("False", "2026-12-03T22:00:20Z", "2026-12-03T22:00:20Z")
