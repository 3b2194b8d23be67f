"""`kubelab-scheduler`: flags → Config → kubelab.serving.run(Server(config)) (the life cycle is server.py's)."""
from __future__ import annotations

import click

from kubelab import client, serving
from kubelab.serving import connection_options, setup_component

from .server import DEFAULT_SCHEDULER_NAME, Config, Server


@click.command()
@connection_options
@click.option("--scheduler-name", default=DEFAULT_SCHEDULER_NAME, show_default=True,
              help="schedule only pods whose spec.schedulerName is this")
@click.option("--leader-elect/--no-leader-elect", default=True, show_default=True,
              help="hold a Lease so several replicas can run, one deciding")
@click.option("--lease-duration", default=15.0, show_default=True, type=float,
              help="seconds a leader's lease lasts (renew deadline 2/3 of it)")
@click.option("--lease-name", default="kube-scheduler", show_default=True)
@click.option("--lease-namespace", default="kube-system", show_default=True)
@click.option("--bind-concurrency", default=256, show_default=True, help="binds in flight at most")
@click.option("--percentage-of-nodes-to-score", default=0, show_default=True,
              help="stop filtering once this share of nodes is feasible (0: Kubernetes' adaptive rule)")
@click.option("--pod-initial-backoff", default=1.0, show_default=True, type=float)
@click.option("--pod-max-backoff", default=10.0, show_default=True, type=float)
@click.option("--pod-max-unschedulable", default=60.0, show_default=True, type=float,
              help="retry an unschedulable pod after this long even if nothing changed")
@click.option("--health-address", default="", help="serve the gRPC health service here, e.g. 127.0.0.1:10259 "
              "(off by default; port 0 picks one)")
@click.option("--metrics-address", default="", help="serve HTTP /metrics and /healthz here (off by default)")
@click.option("-v", "--verbose", count=True, help="-v info, -vv debug")
def main(server: str, token: str, context_name: str | None, scheduler_name: str, leader_elect: bool,
         lease_duration: float, lease_name: str, lease_namespace: str, bind_concurrency: int,
         percentage_of_nodes_to_score: int, pod_initial_backoff: float, pod_max_backoff: float,
         pod_max_unschedulable: float, health_address: str, metrics_address: str, verbose: int) -> None:
    """The kubelab scheduler: places pending pods on nodes."""
    conn = setup_component(verbose, context_name, server, token)
    config = Config(server=conn.server, token=conn.token, scheduler_name=scheduler_name, leader_elect=leader_elect,
                    lease_name=lease_name, lease_namespace=lease_namespace, lease_duration=lease_duration,
                    bind_concurrency=bind_concurrency, percentage_of_nodes_to_score=percentage_of_nodes_to_score,
                    initial_backoff=pod_initial_backoff, max_backoff=pod_max_backoff,
                    max_unschedulable=pod_max_unschedulable, health_address=health_address,
                    metrics_address=metrics_address)
    client.set_user_agent("kube-scheduler")
    serving.run(lambda: Server(config), grace=config.shutdown_grace + 5)


if __name__ == "__main__":
    main()
