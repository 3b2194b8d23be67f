"""kubelet.service_env: Kubernetes' service environment variables."""
from __future__ import annotations

from kubelab.v1 import objects_pb2 as pb
from kubelet.service_env import service_env


def service(name: str, ns: str, ip: str, ports: list[tuple[str, int, str]]) -> pb.Service:
    s = pb.Service(api_version="v1", kind="Service")
    s.metadata.name, s.metadata.namespace = name, ns
    s.spec.cluster_ip = ip
    for pname, port, proto in ports:
        s.spec.ports.add(name=pname, port=port, protocol=proto)
    return s


SERVICES = [
    service("my-first-service", "handson", "10.96.12.34", [("http", 80, "TCP"), ("", 8443, "")]),
    service("headless", "handson", "None", [("", 80, "TCP")]),
    service("other-ns", "elsewhere", "10.96.0.9", [("", 80, "TCP")]),
    service("kubernetes", "default", "10.96.0.1", [("https", 443, "TCP")]),
]


def test_variables_of_the_pods_namespace_and_the_kubernetes_service() -> None:
    env = service_env(SERVICES, "handson")
    assert env["MY_FIRST_SERVICE_SERVICE_HOST"] == "10.96.12.34"
    assert env["MY_FIRST_SERVICE_SERVICE_PORT"] == "80"
    assert env["MY_FIRST_SERVICE_SERVICE_PORT_HTTP"] == "80"
    assert env["MY_FIRST_SERVICE_PORT"] == "tcp://10.96.12.34:80"
    assert env["MY_FIRST_SERVICE_PORT_8443_TCP_ADDR"] == "10.96.12.34"
    assert env["MY_FIRST_SERVICE_PORT_8443_TCP_PROTO"] == "tcp"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert not any(k.startswith(("HEADLESS_", "OTHER_NS_")) for k in env)


def test_service_links_off_keeps_only_kubernetes() -> None:
    env = service_env(SERVICES, "handson", enable_service_links=False)
    assert {k.split("_")[0] for k in env} == {"KUBERNETES"}


def test_default_namespace_gets_kubernetes_once() -> None:
    env = service_env(SERVICES, "default")
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
