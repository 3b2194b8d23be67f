"""`kubelab-kubelet`: flags → Config → kubelab.serving.run(Kubelet(config)) (the life cycle is server.py's).

    kubelab-kubelet --runtime docker --node-name node1 [--server H:P --token T]
    kubelab-kubelet --runtime hollow --nodes 1000 [--start-delay 1 --no-events ...]

`--runtime hollow` runs kubelet/hollow.py's simulated nodes instead (HollowNodes): --nodes N
named hollow-node-0 and on, else --node-name (comma-separated: several); the flags marked
"hollow:" are HollowConfig's fields and only it reads them.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import click

from kubelab import client, serving
from kubelab.serving import setup_component
from kubelab.v1 import objects_pb2 as pb

from .server import Config, HollowNodes, Kubelet


def _read(value: str, path: str, env: str) -> str:
    if value:
        return value
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(env, "")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _labels(value: str) -> dict[str, str]:
    return {k: v for k, _, v in (item.partition("=") for item in _csv(value))}


def _taints(_ctx: Any, _param: Any, value: str) -> list[pb.Taint]:
    out = []
    for item in _csv(value):
        kv, sep, effect = item.rpartition(":")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected key=value:Effect")
        k, _, v = kv.partition("=")
        out.append(pb.Taint(key=k, value=v, effect=effect))
    return out


def _patterns(_ctx: Any, _param: Any, value: str) -> tuple[str, ...]:
    return _csv(value)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--server", envvar="KUBELAB_SERVER", default="", help="apiserver host:port ($KUBELAB_SERVER, else kubeconfig)")
@click.option("--token", default="", help="bearer token for the apiserver ($KUBELAB_TOKEN)")
@click.option("--token-file", default="", help="file holding the apiserver token")
@click.option("--kubelet-token-file", default="", help="token the apiserver presents to this kubelet "
                                                        "($KUBELAB_KUBELET_TOKEN)")
@click.option("--node-name", envvar="KUBELAB_NODE_NAME", default="", help="default: the host name "
              "(hollow: comma-separated names of its nodes)")
@click.option("--runtime", type=click.Choice(["docker", "hollow"]), default="docker", show_default=True)
@click.option("--nodes", default=0, help="hollow: run this many nodes, named --name-prefix N (instead of --node-name)")
@click.option("--listen", default="0.0.0.0:10250", show_default=True, help="streaming server address (port 0: any)")
@click.option("--node-ip", envvar="KUBELAB_NODE_IP", default="", help="InternalIP to report (default: detected)")
@click.option("--pod-network", default="kubelab", show_default=True, help="Docker network pods are attached to")
@click.option("--pause-image", default="kubelab/pause:latest", show_default=True)
@click.option("--docker-host", default="", help="Docker endpoint (default: $DOCKER_HOST or the local socket)")
@click.option("--cpu", default="", help="cpu capacity to report (default: the host's)")
@click.option("--memory", default="", help="memory capacity to report (default: the host's)")
@click.option("--max-pods", default=110, show_default=True)
@click.option("--node-labels", default="", help="extra node labels k=v,...")
@click.option("--node-status-update-frequency", "--heartbeat", "heartbeat", default=10.0, show_default=True,
              help="seconds between node heartbeats")
@click.option("--backoff-base", default=10.0, show_default=True, help="first restart/pull back-off, doubling")
@click.option("--backoff-max", default=300.0, show_default=True, help="longest back-off")
@click.option("--sync-frequency", "resync", default=10.0, show_default=True, help="seconds between pod resyncs")
@click.option("--cluster-dns", default="", help="DNS server IPs for pods (comma-separated)")
@click.option("--cluster-domain", default="cluster.local", show_default=True)
@click.option("--route-service-cidr", "service_cidr_route", default="",
              help="route this range from every pod to this node (userspace service proxy)")
@click.option("--metrics-address", default="", help="serve HTTP /metrics and /healthz here (off by default)")
@click.option("--node-container", default="", help="the container that is this node, whose network hostNetwork "
              "pods share (default: the container this kubelet runs in, else the host's network)")
@click.option("--root-ca-file", envvar="KUBELAB_ROOT_CA_FILE", default="", help="the cluster's CA certificate "
              "(PEM), written into pods' ServiceAccount volumes as ca.crt ($KUBELAB_ROOT_CA_FILE)")
@click.option("--endpoint-lock-file", "endpoint_lock", envvar="KUBELAB_ENDPOINT_LOCK_FILE", default="",
              help="a file shared by every kubelet on this Docker engine, locked to take a sandbox off the pod "
                   "network one at a time (Docker 20.10 miscounts a network's endpoints removed at once; "
                   "$KUBELAB_ENDPOINT_LOCK_FILE)")
@click.option("--register-with-taints", "taints", default="", callback=_taints,
              help="taints the node registers with, key=value:Effect,... (hollow: each of its nodes)")
# --runtime hollow only: each sets the HollowConfig field of its name (main's **hollow)
@click.option("--name-prefix", default="hollow-node-", show_default=True, help="hollow: --nodes' names")
@click.option("--first-index", default=0, show_default=True, help="hollow: number of the first --nodes name")
@click.option("--start-delay", default=0.0, show_default=True, help="hollow: seconds a bound pod stays "
              "ContainerCreating")
@click.option("--ready-delay", default=0.0, show_default=True, help="hollow: seconds from Running to Ready")
@click.option("--stop-delay", default=0.5, show_default=True, help="hollow: simulated stop of a deleted pod")
@click.option("--missing-images", default="*:missing", show_default=True, callback=_patterns,
              help="hollow: image patterns (fnmatch, comma-separated) whose pulls fail")
@click.option("--lab-images-only/--any-kubelab-image", default=True, show_default=True,
              help="hollow: fail pulls of kubelab/ images the lab does not build, as the lab's nodes do")
@click.option("--never-ready-images", default="", callback=_patterns,
              help="hollow: image patterns whose containers never get ready")
@click.option("--failing-liveness-images", default="", callback=_patterns,
              help="hollow: image patterns whose containers fail liveness")
@click.option("--liveness-failure-after", default=10.0, show_default=True,
              help="hollow: seconds a failing-liveness container runs before each restart")
@click.option("--events/--no-events", default=True, show_default=True, help="hollow: record kubelet Events")
@click.option("--workers", default=128, show_default=True, help="hollow: pod status writes in flight at most")
@click.option("-v", "--verbose", count=True)
def main(server: str, token: str, token_file: str, kubelet_token_file: str, node_name: str, runtime: str,
         nodes: int, listen: str, node_ip: str, pod_network: str, pause_image: str, docker_host: str, cpu: str,
         memory: str, max_pods: int, node_labels: str, heartbeat: float, backoff_base: float, backoff_max: float,
         resync: float, cluster_dns: str, cluster_domain: str, service_cidr_route: str, metrics_address: str,
         node_container: str, root_ca_file: str, endpoint_lock: str, taints: list[pb.Taint], verbose: int,
         **hollow: Any) -> None:
    """The kubelab kubelet: runs the pods bound to its node as Docker containers (--runtime hollow: simulates
    nodes and their pods, for tests and scale)."""
    conn = setup_component(verbose, None, server, _read(token, token_file, "KUBELAB_TOKEN"))
    cfg = Config(server=conn.server, token=conn.token,
                 kubelet_token=_read("", kubelet_token_file, "KUBELAB_KUBELET_TOKEN"),
                 node_name=node_name or socket.gethostname(), runtime=runtime, listen=listen, node_ip=node_ip,
                 network=pod_network, pause_image=pause_image, docker_host=docker_host, cpu=cpu, memory=memory,
                 max_pods=max_pods, labels=_labels(node_labels), taints=taints, heartbeat=heartbeat,
                 backoff_base=backoff_base,
                 backoff_max=backoff_max, resync=resync,
                 cluster_dns=list(_csv(cluster_dns)),
                 cluster_domain=cluster_domain, service_cidr_route=service_cidr_route,
                 metrics_address=metrics_address, node_container=node_container, root_ca_file=root_ca_file,
                 endpoint_lock=endpoint_lock)
    client.set_user_agent("kubelet")
    if runtime == "hollow":
        from .hollow import HollowConfig
        config = HollowConfig(node_names=[] if nodes else list(_csv(cfg.node_name)),
                              cpu=cfg.cpu or "4", memory=cfg.memory or "16Gi", max_pods=cfg.max_pods,
                              labels=cfg.labels, heartbeat=cfg.heartbeat, image_pull_backoff=cfg.backoff_base,
                              image_pull_backoff_max=cfg.backoff_max, taints=cfg.taints, **hollow)
        serving.run(lambda: HollowNodes(cfg.server, cfg.token, nodes, config))
        return
    if not cfg.kubelet_token:
        raise click.ClickException("no kubelet token: pass --kubelet-token-file or set KUBELAB_KUBELET_TOKEN "
                                   "(the apiserver's --kubelet-token-file)")
    serving.run(lambda: Kubelet(cfg), grace=cfg.shutdown_grace + 5)


if __name__ == "__main__":
    main()
