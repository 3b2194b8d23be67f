"""`kubelab-kubelet`: flags → Config → kubelab.serving.run(Kubelet(config)) (the life cycle is server.py's).

    kubelab-kubelet --runtime docker --node-name node1 [--server H:P --token T]

`--runtime hollow` runs kubelet/hollow.py's simulated node under this name instead.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import click

from kubelab import client, serving
from kubelab.serving import setup_component

from .server import Config, HollowNodes, Kubelet


def _read(value: str, path: str, env: str) -> str:
    if value:
        return value
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(env, "")


def _labels(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in value.split(","))):
        k, _, v = item.partition("=")
        out[k] = v
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--server", envvar="KUBELAB_SERVER", default="", help="apiserver host:port ($KUBELAB_SERVER, else kubeconfig)")
@click.option("--token", default="", help="bearer token for the apiserver ($KUBELAB_TOKEN)")
@click.option("--token-file", default="", help="file holding the apiserver token")
@click.option("--kubelet-token-file", default="", help="token the apiserver presents to this kubelet "
                                                        "($KUBELAB_KUBELET_TOKEN)")
@click.option("--node-name", envvar="KUBELAB_NODE_NAME", default="", help="default: the host name")
@click.option("--runtime", type=click.Choice(["docker", "hollow"]), default="docker", show_default=True)
@click.option("--listen", default="0.0.0.0:10250", show_default=True, help="streaming server address (port 0: any)")
@click.option("--node-ip", envvar="KUBELAB_NODE_IP", default="", help="InternalIP to report (default: detected)")
@click.option("--pod-network", default="kubelab", show_default=True, help="Docker network pods are attached to")
@click.option("--pause-image", default="kubelab/pause:latest", show_default=True)
@click.option("--docker-host", default="", help="Docker endpoint (default: $DOCKER_HOST or the local socket)")
@click.option("--cpu", default="", help="cpu capacity to report (default: the host's)")
@click.option("--memory", default="", help="memory capacity to report (default: the host's)")
@click.option("--max-pods", default=110, show_default=True)
@click.option("--node-labels", default="", help="extra node labels k=v,...")
@click.option("--node-status-update-frequency", "heartbeat", default=10.0, show_default=True,
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
@click.option("-v", "--verbose", count=True)
def main(server: str, token: str, token_file: str, kubelet_token_file: str, node_name: str, runtime: str,
         listen: str, node_ip: str, pod_network: str, pause_image: str, docker_host: str, cpu: str, memory: str,
         max_pods: int, node_labels: str, heartbeat: float, backoff_base: float, backoff_max: float, resync: float,
         cluster_dns: str, cluster_domain: str, service_cidr_route: str, metrics_address: str,
         node_container: str, root_ca_file: str, verbose: int) -> None:
    """The kubelab kubelet: runs the pods bound to its node as Docker containers."""
    conn = setup_component(verbose, None, server, _read(token, token_file, "KUBELAB_TOKEN"))
    cfg = Config(server=conn.server, token=conn.token,
                 kubelet_token=_read("", kubelet_token_file, "KUBELAB_KUBELET_TOKEN"),
                 node_name=node_name or socket.gethostname(), runtime=runtime, listen=listen, node_ip=node_ip,
                 network=pod_network, pause_image=pause_image, docker_host=docker_host, cpu=cpu, memory=memory,
                 max_pods=max_pods, labels=_labels(node_labels), heartbeat=heartbeat, backoff_base=backoff_base,
                 backoff_max=backoff_max, resync=resync,
                 cluster_dns=[s.strip() for s in cluster_dns.split(",") if s.strip()],
                 cluster_domain=cluster_domain, service_cidr_route=service_cidr_route,
                 metrics_address=metrics_address, node_container=node_container, root_ca_file=root_ca_file)
    client.set_user_agent("kubelet")
    if runtime == "hollow":
        from .hollow import HollowConfig
        hollow = HollowConfig(node_names=[cfg.node_name], cpu=cfg.cpu or "4", memory=cfg.memory or "16Gi",
                              max_pods=cfg.max_pods, labels=cfg.labels, heartbeat=cfg.heartbeat,
                              image_pull_backoff=cfg.backoff_base, image_pull_backoff_max=cfg.backoff_max)
        serving.run(lambda: HollowNodes(cfg.server, cfg.token, 1, hollow))
        return
    if not cfg.kubelet_token:
        raise click.ClickException("no kubelet token: pass --kubelet-token-file or set KUBELAB_KUBELET_TOKEN "
                                   "(the apiserver's --kubelet-token-file)")
    serving.run(lambda: Kubelet(cfg), grace=cfg.shutdown_grace + 5)


if __name__ == "__main__":
    main()
