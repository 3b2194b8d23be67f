"""Probes and lifecycle hooks are held to one handler rule (issue 12 item 6): a hook took port 70000,
`scheme: GOPHER`, `{}` and an empty `exec.command` that a probe with the same values was refused for."""
from __future__ import annotations

from typing import Any

import pytest

from apiserver.registry import strategies
from kubelab.v1 import objects_pb2 as pb

S = strategies()
WHERE = {"livenessProbe": "liveness_probe", "readinessProbe": "readiness_probe", "startupProbe": "startup_probe",
         "lifecycle.postStart": "lifecycle.post_start", "lifecycle.preStop": "lifecycle.pre_stop"}


def pod_with(where: str, fill: Any) -> pb.Pod:
    """A pod whose only container has a handler at `where` (a camelCase path), filled in by `fill`."""
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name, p.metadata.namespace = "p", "default"
    c = p.spec.containers.add(name="c", image="nginx")
    c.ports.add(container_port=8080, name="web")
    handler: Any = c
    for part in WHERE[where].split("."):
        handler = getattr(handler, part)
    handler.SetInParent()
    fill(handler)
    return p


def errors_of(where: str, fill: Any) -> list[str]:
    p = pod_with(where, fill)
    S["Pod"].default(p)
    return [str(e) for e in S["Pod"].validate(p)]


def http(port: Any = 80, **fields: Any) -> Any:
    def fill(h: Any) -> None:
        h.http_get.SetInParent()
        if isinstance(port, bool):
            h.http_get.port.bool_value = port
        elif isinstance(port, dict):
            h.http_get.port.struct_value.SetInParent()
        elif isinstance(port, str):
            h.http_get.port.string_value = port
        else:
            h.http_get.port.number_value = port
        for k, v in fields.items():
            setattr(h.http_get, k, v)
    return fill


def exec_(*command: str) -> Any:
    def fill(h: Any) -> None:
        h.exec.SetInParent()
        h.exec.command.extend(command)
    return fill


def both(h: Any) -> None:
    exec_("true")(h)
    h.tcp_socket.port.number_value = 80


HANDLERS = [
    pytest.param(http(70000), ".httpGet.port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                 id="port-70000"),
    pytest.param(http(True), '.httpGet.port: Invalid value: "": must be an integer or a string', id="port-true"),
    pytest.param(http({}), '.httpGet.port: Invalid value: "": must be an integer or a string', id="port-object"),
    pytest.param(http("Not_A_Name"), '.httpGet.port: Invalid value: "Not_A_Name": must contain only alpha-numeric',
                 id="port-name-syntax"),
    pytest.param(http(80, scheme="GOPHER"),
                 '.httpGet.scheme: Unsupported value: "GOPHER": supported values: "HTTP", "HTTPS"', id="scheme"),
    pytest.param(exec_(), ".exec.command: Required value", id="empty-command"),
    pytest.param(lambda h: None, ": Required value: must specify a handler type", id="no-handler"),
    pytest.param(both, ".tcpSocket: Forbidden: may not specify more than 1 handler type", id="two-handlers"),
]


@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("fill,message", HANDLERS)
def test_every_handler_is_held_to_one_rule(where: str, fill: Any, message: str) -> None:
    errs = errors_of(where, fill)
    assert f"spec.containers[0].{where}{message}" in "\n".join(errs), errs


@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("fill", [http(80, path="healthz"), http("web"), exec_("sh", "-c", "true")],
                         ids=["relative-path", "named-port", "exec"])
def test_good_handlers_pass_everywhere(where: str, fill: Any) -> None:
    """Kubernetes takes a path without its leading slash (Go's URL adds it), for probes and hooks alike."""
    assert errors_of(where, fill) == []


def test_a_hooks_http_get_is_defaulted_as_a_probes() -> None:
    p = pod_with("lifecycle.preStop", http(80))
    S["Pod"].default(p)
    assert (p.spec.containers[0].lifecycle.pre_stop.http_get.scheme,
            p.spec.containers[0].lifecycle.pre_stop.http_get.path) == ("HTTP", "/")
