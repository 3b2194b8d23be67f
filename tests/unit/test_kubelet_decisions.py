"""The kubelet's smaller decisions, without Docker: back-off, a container's environment, its cgroup
limits and the sandbox's DNS options (kubelet.backoff, kubelet.environment, kubelet.docker_runtime's
host-configuration helpers, kubelet.dnsconfig)."""
from __future__ import annotations

from typing import Any

import pytest

from kubelab.client import new_object
from kubelab.v1 import objects_pb2 as pb
from kubelet.backoff import Backoff, fmt_duration
from kubelet.config import PodConfig
from kubelet.dnsconfig import docker_dns
from kubelet.docker_runtime import RuntimeError_, cpu_shares, docker_name, log_config, pod_labels, resource_limits
from kubelet.environment import container_env, expand


# ---------------------------------------------------------------- back-off
def test_restart_back_off_doubles_to_its_cap_and_resets_after_quiet() -> None:
    now = [1000.0]
    b = Backoff(10, 300, clock=lambda: now[0])
    assert b.remaining("uid/web", 1000.0) == 0            # never crashed: start at once
    delays = [b.next("uid/web", 1000.0 + i) for i in range(7)]
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    now[0] = 1010.0
    assert b.remaining("uid/web", 1006.0) == 296.0       # 300 from the last finish, 4 s of it passed
    assert b.next("uid/web", 1006.0 + 601) == 10         # quiet for more than 2×cap: from the start again
    b.forget_prefix("uid/")
    assert b.delay("uid/web") == 10 and b.remaining("uid/web", 0) == 0


@pytest.mark.parametrize("seconds,text", [(10, "10s"), (59.6, "1m0s"), (80, "1m20s"), (300, "5m0s")])
def test_back_off_reads_as_go_durations(seconds: float, text: str) -> None:
    assert fmt_duration(seconds) == text


# ---------------------------------------------------------------- environment
@pytest.mark.parametrize("value,want", [
    ("$(A)-$(B)", "1-two"),
    ("$$(A)", "$(A)"),
    ("$(MISSING)", "$(MISSING)"),
    ("a$b $(A", "a$b $(A"),
])
def test_expand(value: str, want: str) -> None:
    assert expand(value, {"A": "1", "B": "two"}) == want


def pod_with_env() -> tuple[Any, Any]:
    p = new_object("Pod", "web", "shop")
    p.metadata.uid = "uid-1"
    p.metadata.labels["app"] = "web"
    p.spec.node_name = "node2"
    c = p.spec.containers.add(name="app", image="kubelab/web")
    c.resources.limits["memory"] = "256Mi"
    c.resources.requests["cpu"] = "250m"
    c.env.add(name="GREETING", value="hello")
    c.env.add(name="MESSAGE", value="$(GREETING) from $(POD_NAME)")      # POD_NAME not defined yet: stays
    for name, path in [("POD_NAME", "metadata.name"), ("POD_IP", "status.podIP"), ("NODE", "spec.nodeName"),
                       ("HOST_IP", "status.hostIP"), ("APP", "metadata.labels['app']"),
                       ("SA", "spec.serviceAccountName")]:
        c.env.add(name=name).value_from.field_ref.field_path = path
    for name, resource, divisor in [("MEM_MI", "limits.memory", "1Mi"), ("CPU_REQ", "requests.cpu", "1m"),
                                    ("CPU_LIMIT", "limits.cpu", "")]:
        ref = c.env.add(name=name).value_from.resource_field_ref
        ref.resource, ref.divisor = resource, divisor
    return p, c


def test_container_env_resolves_field_and_resource_references() -> None:
    p, c = pod_with_env()
    cfg = PodConfig(node_name="node2", node_ip="172.28.0.3", node_cpu_millis=2000)
    env = dict(line.split("=", 1) for line in container_env(p, c, "10.244.1.7", cfg, None))
    assert env == {"GREETING": "hello", "MESSAGE": "hello from $(POD_NAME)", "POD_NAME": "web",
                   "POD_IP": "10.244.1.7", "NODE": "node2", "HOST_IP": "172.28.0.3", "APP": "web",
                   "SA": "default", "MEM_MI": "256", "CPU_REQ": "250", "CPU_LIMIT": "2"}


def test_service_links_add_the_services_variables_unless_the_pod_turns_them_off() -> None:
    p, c = pod_with_env()
    svc = pb.Service(api_version="v1", kind="Service")
    svc.metadata.name, svc.metadata.namespace = "db", "shop"
    svc.spec.cluster_ip = "10.96.0.20"
    svc.spec.ports.add(port=5432, protocol="TCP")
    cfg = PodConfig(node_name="node2")
    assert "DB_SERVICE_HOST=10.96.0.20" in container_env(p, c, "", cfg, [svc])
    p.spec.enable_service_links = False
    assert not any(line.startswith("DB_") for line in container_env(p, c, "", cfg, [svc]))


@pytest.mark.parametrize("configure,message", [
    pytest.param(lambda v: setattr(v.field_ref, "field_path", "status.phase"),
                 'unsupported fieldRef "status.phase" in env X', id="field"),
    pytest.param(lambda v: setattr(v.config_map_key_ref, "name", "settings"), 'configmap "settings" not found',
                 id="configmap"),
    pytest.param(lambda v: setattr(v.secret_key_ref, "name", "creds"), 'secret "creds" not found', id="secret"),
    pytest.param(lambda v: setattr(v.resource_field_ref, "resource", "limits.gpu"),
                 'unsupported resourceFieldRef "limits.gpu"', id="resource"),
])
def test_an_unresolvable_reference_is_a_create_container_config_error(configure: Any, message: str) -> None:
    p = new_object("Pod", "web", "shop")
    c = p.spec.containers.add(name="app", image="kubelab/web")
    configure(c.env.add(name="X").value_from)
    with pytest.raises(RuntimeError_) as e:
        container_env(p, c, "", PodConfig(node_name="n"), None)
    assert (e.value.reason, e.value.message) == ("CreateContainerConfigError", message)


def test_an_optional_missing_key_is_empty() -> None:
    p = new_object("Pod", "web", "shop")
    c = p.spec.containers.add(name="app", image="kubelab/web")
    ref = c.env.add(name="X").value_from.secret_key_ref
    ref.name, ref.optional = "creds", True
    assert container_env(p, c, "", PodConfig(node_name="n"), None) == ["X="]


# ---------------------------------------------------------------- what the pod asks of the engine
@pytest.mark.parametrize("limits,requests,want", [
    pytest.param({}, {}, {"cpu_shares": 2}, id="nothing"),
    pytest.param({"cpu": "500m", "memory": "128Mi"}, {"cpu": "250m"},
                 {"nano_cpus": 500_000_000, "cpu_shares": 256, "mem_limit": 128 * 2**20,
                  "memswap_limit": 128 * 2**20}, id="limits-and-request"),
    pytest.param({"cpu": "2"}, {}, {"nano_cpus": 2_000_000_000, "cpu_shares": 2}, id="limit-only"),
])
def test_resources_become_cgroup_settings(limits: dict[str, str], requests: dict[str, str],
                                          want: dict[str, int]) -> None:
    c = new_object("Pod", "web", "shop").spec.containers.add(name="app")
    c.resources.limits.update(limits)
    c.resources.requests.update(requests)
    assert resource_limits(c) == want


def test_cpu_shares_as_kubernetes_computes_them() -> None:
    assert (cpu_shares(0), cpu_shares(1), cpu_shares(100), cpu_shares(1000)) == (2, 2, 102, 1024)


def test_names_labels_and_logs_of_what_the_kubelet_creates() -> None:
    p = new_object("Pod", "web", "shop")
    p.metadata.uid = "uid-1"
    assert docker_name(p, "POD", 2) == "k8s_POD_web_shop_uid-1_2"
    labels = pod_labels("node1", p, "app", "container", 3)
    assert labels["io.kubelab.restart-count"] == "3" and labels["io.kubelab.termination-grace-period"] == "30"
    p.spec.termination_grace_period_seconds = 5
    assert pod_labels("node1", p, "app", "container", 0)["io.kubelab.termination-grace-period"] == "5"
    assert log_config("10m") == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}


def test_docker_is_given_the_cluster_dns_only_for_cluster_first_pods() -> None:
    p = new_object("Pod", "web", "shop")
    assert docker_dns(p, ["10.96.0.10"], "cluster.local") == {
        "dns": ["10.96.0.10"], "dns_search": ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"],
        "dns_opt": ["ndots:5"]}
    assert docker_dns(p, [], "cluster.local") == {}
    p.spec.dns_policy = "Default"
    assert docker_dns(p, ["10.96.0.10"], "cluster.local") == {}
