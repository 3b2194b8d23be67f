"""`down`'s words when Docker keeps the lab's network: lab.compose.remove_network against a stand-in for the
docker CLI (what it answers is what Docker 20.10 answered when its endpoint count had drifted)."""
from __future__ import annotations

import subprocess
from typing import Any

import pytest

from lab import compose, docker_store

NID = "1d479eebc3b4d58015bd5dccd8db080617eb8ef6f16ebc66cae46d6a136ecda3"
REFUSED = (f"Error response from daemon: error while removing network: network kubelab id {NID} has active "
           "endpoints")


def docker_keeping_the_network(calls: list[tuple[str, ...]]) -> Any:
    def run(*args: str, **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        if args[:2] == ("network", "rm"):
            return subprocess.CompletedProcess(args, 1, "", REFUSED)
        if args[:2] == ("network", "inspect") and "{{json .Containers}}" in args:
            return subprocess.CompletedProcess(args, 0, "{}\n", "")
        return subprocess.CompletedProcess(args, 0, "", "")
    return run


def test_a_network_docker_miscounts_is_reported_with_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(compose, "_docker", docker_keeping_the_network(calls))
    monkeypatch.setattr(docker_store, "network_id", lambda name: NID)
    monkeypatch.setattr(docker_store, "endpoint_count", lambda nid: docker_store.EndpointCount(1, ()))
    why = compose.remove_network("kubelab", ["kubelab-e2e-stray"])
    assert why is not None and why.startswith(f"network kubelab was not removed: {REFUSED}")
    assert "Docker counts 1 endpoint(s) on it but holds 0: its count is wrong" in why
    assert "only a restart of dockerd corrects it" in why
    # what it could force off, it did, before trying again
    assert ("network", "disconnect", "-f", "kubelab", "kubelab-e2e-stray") in calls
    assert calls.count(("network", "rm", "kubelab")) == 2


@pytest.mark.parametrize("count", [
    pytest.param(OSError("Permission denied"), id="store-unreadable"),
    pytest.param(docker_store.EndpointCount(1, ("kubelab-node1",)), id="count-right"),
])
def test_without_a_drift_to_show_the_refusal_is_said_as_docker_said_it(monkeypatch: pytest.MonkeyPatch,
                                                                       count: Any) -> None:
    def endpoint_count(nid: str) -> docker_store.EndpointCount:
        if isinstance(count, Exception):
            raise count
        return count  # type: ignore[no-any-return]
    monkeypatch.setattr(compose, "_docker", docker_keeping_the_network([]))
    monkeypatch.setattr(docker_store, "network_id", lambda name: NID)
    monkeypatch.setattr(docker_store, "endpoint_count", endpoint_count)
    assert compose.remove_network("kubelab") == f"network kubelab was not removed: {REFUSED}"


def test_the_drift_is_what_the_count_has_beyond_the_stored_endpoints() -> None:
    assert docker_store.EndpointCount(3, ("a", "b")).drift == 1
    assert docker_store.EndpointCount(1, ("a", "b")).drift == -1
