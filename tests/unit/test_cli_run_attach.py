"""`run -i` when the container ends between the CLI's look at the pod and its attach (the pod's status not yet
written): kubectl's run warns, prints the logs instead, and still exits with the container's code."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubectl import workloads
from kubelab import errors
from kubelab.v1 import objects_pb2 as pb


def pod(phase: str, exit_code: int | None = None) -> Any:
    p = pb.Pod()
    p.metadata.name, p.metadata.namespace = "run-fail", "default"
    p.spec.containers.add(name="run-fail", image="busybox")
    p.status.phase = phase
    if exit_code is not None:
        s = p.status.container_statuses.add(name="run-fail")
        s.state.terminated.exit_code = exit_code
        s.state.terminated.reason = "Error"
    return p


class Client:
    """Answers the CLI's gets with the pod as the kubelet reports it: Running first, then Failed."""

    def __init__(self, phases: list[Any]) -> None:
        self.phases = phases

    async def get(self, kind: str, name: str, namespace: str) -> Any:
        return self.phases.pop(0) if len(self.phases) > 1 else self.phases[0]


def test_an_attach_refused_because_the_container_ended_falls_back_to_its_logs(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    printed: list[str] = []

    async def refused(*_: Any) -> int:
        raise errors.BadRequest('container "run-fail" in pod "run-fail" is not running (state: exited)')

    async def logs(client: Any, namespace: str, name: str, container: str) -> None:
        printed.append(f"{namespace}/{name}/{container}")

    monkeypatch.setattr("kubectl.attach.attach_session", refused)
    monkeypatch.setattr("kubectl.logs.print_logs", logs)
    client = Client([pod("Running"), pod("Failed", 3)])
    code = asyncio.run(workloads._run_attached(client, "default", "run-fail", True, False, False, "Never", 5.0))
    assert code == 3
    assert printed == ["default/run-fail/run-fail"]
    stderr = capsys.readouterr().err
    assert "warning: couldn't attach to pod/run-fail, falling back to streaming logs: container" in stderr
    assert "pod default/run-fail terminated (Error)" in stderr


def test_an_attached_session_prints_no_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    printed: list[str] = []

    async def attached(*_: Any) -> int:
        return 0

    async def logs(*args: Any) -> None:
        printed.append("logs")

    monkeypatch.setattr("kubectl.attach.attach_session", attached)
    monkeypatch.setattr("kubectl.logs.print_logs", logs)
    code = asyncio.run(workloads._run_attached(Client([pod("Running"), pod("Succeeded")]), "default", "run-fail",
                                               True, False, False, "Never", 5.0))
    assert code == 0 and printed == []
