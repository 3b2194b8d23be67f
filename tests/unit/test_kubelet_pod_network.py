"""The pod network as the kubelet sets it up: resolv.conf (dnsPolicy ClusterFirst) and hostNetwork pods."""
from __future__ import annotations

import time

from kubelab.client import new_object
from kubelet.dnsconfig import resolv_conf
from tests.harness.docker_kubelet import FakeRuntime


def pod(policy: str = "") -> object:
    p = new_object("Pod", "web", "shop")
    p.spec.dns_policy = policy
    return p


def test_cluster_first_names_the_cluster_dns_with_the_namespace_search_path() -> None:
    assert resolv_conf(pod(), ["172.28.255.10"], "cluster.local") == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 172.28.255.10\n"
        "options ndots:5\n")
    assert resolv_conf(pod("ClusterFirst"), ["10.0.0.1"], "lab.internal").startswith(
        "search shop.svc.lab.internal svc.lab.internal lab.internal\nnameserver 10.0.0.1\n")


def test_at_most_three_nameservers() -> None:
    text = resolv_conf(pod(), ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"], "cluster.local") or ""
    assert text.count("nameserver") == 3 and "4.4.4.4" not in text


def test_default_policy_or_no_cluster_dns_leaves_the_nodes_resolution() -> None:
    assert resolv_conf(pod("Default"), ["172.28.255.10"], "cluster.local") is None
    assert resolv_conf(pod(), [], "cluster.local") is None


def test_host_network_pods_join_the_node_container_or_the_host(tmp_path) -> None:
    from kubelet.server import host_network_mode, own_container_id
    cid = "0ae04522a645a4bdfd0a75aa345e91eadbac6c3afd45cd8f38a4b494f49d3d9e"
    inside = tmp_path / "mountinfo"
    inside.write_text(f"87 69 254:0 /var/lib/docker/containers/{cid}/hostname /etc/hostname rw - ext4 /dev/vda rw\n"
                      "88 69 254:0 /other /etc/hosts rw - ext4 /dev/vda rw\n")
    assert own_container_id(str(inside)) == cid
    outside = tmp_path / "host-mountinfo"
    outside.write_text("22 1 254:0 / / rw - ext4 /dev/vda rw\n")
    assert own_container_id(str(outside)) == ""
    assert own_container_id(str(tmp_path / "missing")) == ""
    assert host_network_mode("kubelab-node1") == "container:kubelab-node1"


async def test_a_host_network_sandbox_has_the_nodes_ip_and_is_replaced_after_a_node_restart() -> None:
    from kubelet.config import PodConfig
    from kubelet.docker_runtime import ContainerInfo
    from kubelet.sandbox import Sandboxes
    from kubelet.volumes import VolumeManager
    cfg = PodConfig(node_name="node1", node_ip="172.28.0.5", host_network_mode="container:" + "a" * 64)
    rt = FakeRuntime(time.time)               # never called: the decision is on what is passed in
    sandboxes = Sandboxes(cfg, rt, VolumeManager(rt))

    def sandbox(mode: str) -> ContainerInfo:
        return ContainerInfo(id="s1", name="k8s_POD", labels={}, status="running", image="kubelab/pause",
                             image_id="", created=0.0, raw={"HostConfig": {"NetworkMode": mode}})
    same = sandbox(cfg.host_network_mode)
    seen = sandboxes.on_node_network(same)
    assert seen.ip == "172.28.0.5" and seen.running
    assert same.ip == ""                                   # the runtime's object is left as it was
    old_node = sandboxes.on_node_network(sandbox("container:" + "b" * 64))
    assert not old_node.running and old_node.ip == "172.28.0.5"


async def test_a_sandbox_set_up_command_that_times_out_is_a_failure_with_a_warning() -> None:
    from kubelet.config import PodConfig
    from kubelet.docker_runtime import ContainerInfo
    from kubelet.sandbox import Sandboxes
    events: list[tuple[str, str, str]] = []
    from kubelet.volumes import VolumeManager
    rt = FakeRuntime(time.time)
    rt.exec_results = {("ok",): (0, ""), ("failed",): (1, "sh: can't create /etc/resolv.conf"),
                       ("timed out",): (None, "command timed out after 5s")}
    sandboxes = Sandboxes(PodConfig(node_name="node1"), rt, VolumeManager(rt))
    record = lambda *e: events.append(e)     # noqa: E731
    sandbox = ContainerInfo(id="s1", name="k8s_POD", labels={}, status="running", image="kubelab/pause",
                            image_id="", created=0.0, raw={})
    assert await sandboxes.exec(pod(), sandbox, ["ok"], "DNSConfigForming", "resolv.conf: {}", record)
    assert not await sandboxes.exec(pod(), sandbox, ["failed"], "DNSConfigForming", "resolv.conf: {}", record)
    assert not await sandboxes.exec(pod(), sandbox, ["timed out"], "DNSConfigForming", "resolv.conf: {}", record)
    assert events == [("Warning", "DNSConfigForming", "resolv.conf: sh: can't create /etc/resolv.conf"),
                      ("Warning", "DNSConfigForming", "resolv.conf: command timed out after 5s")]
