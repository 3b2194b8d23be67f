"""`kubelab-proxy`: flags → Config → kubelab.serving.run(Server(config)) (the life cycle is server.py's).

    kubelab-proxy --node-name node1 [--server H:P] [--bind-address 0.0.0.0]
"""
from __future__ import annotations

import socket

import click

from kubelab import client, serving
from kubelab.serving import connection_options, setup_component

from .server import Config, Server


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@connection_options
@click.option("--node-name", envvar="KUBELAB_NODE_NAME", default="", help="the node this proxy serves "
              "(default: the host name)")
@click.option("--bind-address", default="0.0.0.0", show_default=True, help="address NodePorts listen on")
@click.option("--cluster-ips/--no-cluster-ips", default=True, show_default=True,
              help="serve ClusterIPs: add each to the loopback device (needs CAP_NET_ADMIN) and listen there")
@click.option("--service-cluster-ip-range", "service_cidr", default="10.96.0.0/16", show_default=True,
              help="the apiserver's service range: addresses in it left on lo by an earlier run are removed")
@click.option("--loopback-device", default="lo", show_default=True)
@click.option("--exit-on-lost-network/--no-exit-on-lost-network", default=True, show_default=True,
              help="exit when the network namespace has lost every interface but lo (its owner restarted)")
@click.option("--udp-timeout", default=0.25, show_default=True, type=click.FloatRange(min=0.01),
              help="seconds an idle UDP session (client address -> backend) is kept")
@click.option("--health-address", default="", help="gRPC health service address, e.g. 0.0.0.0:10256 (off by "
              "default; port 0 picks one)")
@click.option("--metrics-address", default="", help="HTTP /metrics and /healthz address (off by default)")
@click.option("-v", "--verbose", count=True, help="-v info, -vv debug")
def main(server: str, token: str, context_name: str | None, node_name: str, bind_address: str, cluster_ips: bool,
         service_cidr: str, loopback_device: str, exit_on_lost_network: bool, udp_timeout: float,
         health_address: str, metrics_address: str, verbose: int) -> None:
    """The kubelab node proxy: forwards ClusterIPs and NodePorts to ready endpoints (userspace, no iptables)."""
    conn = setup_component(verbose, context_name, server, token)
    import ipaddress
    try:
        ipaddress.ip_network(service_cidr)
        ipaddress.ip_address(bind_address)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    config = Config(server=conn.server, token=conn.token, node_name=node_name or socket.gethostname(),
                    bind_address=bind_address, cluster_ips=cluster_ips, service_cidr=service_cidr,
                    loopback_device=loopback_device, health_address=health_address,
                    metrics_address=metrics_address, exit_on_lost_network=exit_on_lost_network,
                    udp_timeout=udp_timeout)
    client.set_user_agent("kube-proxy")
    serving.run(lambda: Server(config))


if __name__ == "__main__":
    main()
