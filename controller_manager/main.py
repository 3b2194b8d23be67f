"""`kubelab-controller-manager`: flags → Config → kubelab.serving.run(ControllerManager(config)) (life cycle: server.py)."""
from __future__ import annotations

import os

import click

from kubelab import config as kubeconfig
from kubelab import client, serving
from kubelab.serving import setup_logging

from .config import Config
from .controllers import REGISTRY, UnknownController, enabled
from .server import ControllerManager


def _connection(server: str, token: str) -> tuple[str, str]:
    """Flags, then KUBELAB_SERVER/KUBELAB_TOKEN, then the kubeconfig's current context."""
    server = server or os.environ.get("KUBELAB_SERVER", "")
    token = token or os.environ.get("KUBELAB_TOKEN", "")
    if server and token:
        return server, token
    try:
        conn = kubeconfig.connection(server=server or None, token=token or None)
    except kubeconfig.ConfigError as e:
        if server:
            return server, token
        raise click.UsageError(f"no API server: pass --server/--token or set KUBELAB_SERVER ({e})") from None
    return conn.server, conn.token


@click.command(context_settings={"show_default": True})
@click.option("--server", default="", show_default=False,
              help="apiserver host:port [default: $KUBELAB_SERVER, else the kubeconfig]")
@click.option("--token", default="", show_default=False, help="bearer token [default: $KUBELAB_TOKEN, else the kubeconfig]")
@click.option("--controllers", default="*",
              help=f"controllers to run: '*' for all, 'name' to add, '-name' to leave out; known: {', '.join(REGISTRY)}")
@click.option("--workers", default=0, help="workers per controller (0 = each controller's default)")
@click.option("--leader-elect/--no-leader-elect", default=True, help="take a Lease before running controllers")
@click.option("--leader-elect-lease-duration", default=15.0, help="seconds a standby waits before taking over")
@click.option("--leader-elect-renew-deadline", default=10.0, help="seconds the leader keeps trying to renew")
@click.option("--leader-elect-retry-period", default=2.0, help="seconds between acquire/renew attempts")
@click.option("--leader-elect-resource-namespace", default="kube-system")
@click.option("--leader-elect-resource-name", default="kube-controller-manager")
@click.option("--node-monitor-grace-period", default=20.0, help="seconds without a heartbeat before a node is Unknown")
@click.option("--node-monitor-period", default=2.0, help="seconds between node health checks")
@click.option("--pod-eviction-timeout", default=30.0, help="seconds a node may be unready before its pods are deleted")
@click.option("--health-address", default="", show_default=False,
              help="host:port for the gRPC health service (off if empty)")
@click.option("--metrics-address", default="", show_default=False,
              help="host:port for HTTP /metrics and /healthz (off if empty)")
@click.option("--identity", default="", show_default=False, help="leader election identity [default: host_pid_random]")
@click.option("-v", "--verbose", count=True, help="-v logs decisions (INFO), -vv per-key tracing (DEBUG)")
def main(server: str, token: str, controllers: str, workers: int, leader_elect: bool,
         leader_elect_lease_duration: float, leader_elect_renew_deadline: float, leader_elect_retry_period: float,
         leader_elect_resource_namespace: str, leader_elect_resource_name: str, node_monitor_grace_period: float,
         node_monitor_period: float, pod_eviction_timeout: float, health_address: str, metrics_address: str,
         identity: str, verbose: int) -> None:
    """The kubelab controller manager: ReplicaSets, Deployments, Endpoints, nodes, garbage, namespaces, PDBs."""
    setup_logging(verbose)
    try:
        enabled([controllers])
    except UnknownController as e:
        raise click.BadParameter(str(e), param_hint="--controllers") from None
    server, token = _connection(server, token)
    cfg = Config(server=server, token=token, controllers=[controllers], workers=workers, leader_elect=leader_elect,
                 leader_elect_lease_duration=leader_elect_lease_duration,
                 leader_elect_renew_deadline=leader_elect_renew_deadline,
                 leader_elect_retry_period=leader_elect_retry_period,
                 leader_elect_namespace=leader_elect_resource_namespace,
                 leader_elect_name=leader_elect_resource_name,
                 node_monitor_grace_period=node_monitor_grace_period, node_monitor_period=node_monitor_period,
                 pod_eviction_timeout=pod_eviction_timeout, health_address=health_address,
                 metrics_address=metrics_address, identity=identity)
    client.set_user_agent("kube-controller-manager")
    serving.run(lambda: ControllerManager(cfg), grace=cfg.shutdown_grace + 5)


if __name__ == "__main__":
    main()
