"""`kubelab-dns`: flags → Config → kubelab.serving.run(Server(config)) (the life cycle is server.py's).

    kubelab-dns [--server H:P] [--listen 0.0.0.0:53] [--cluster-domain cluster.local] [--upstream auto|none|IP[:PORT],...]
"""
from __future__ import annotations


import click

from kubelab import client, serving
from kubelab.hostport import split_host_port
from kubelab.serving import connection_options, setup_component

from .server import Config, Server, resolv_conf_nameservers


def upstreams_of(value: str, resolv_conf: str) -> list[str]:
    """`auto`: the nameservers of resolv.conf; `none`: refuse names outside the cluster domain."""
    if value == "none":
        return []
    if value == "auto":
        return resolv_conf_nameservers(resolv_conf)
    out = [u.strip() for u in value.split(",") if u.strip()]
    for u in out:
        try:
            split_host_port(u, 53)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--upstream") from None
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@connection_options
@click.option("--listen", default="0.0.0.0:53", show_default=True, help="UDP and TCP address (port 0: any)")
@click.option("--cluster-domain", default="cluster.local", show_default=True)
@click.option("--upstream", default="auto", show_default=True,
              help="where other names go: auto (resolv.conf's nameservers), none (REFUSED), or IP[:PORT],...")
@click.option("--resolv-conf", default="/etc/resolv.conf", show_default=True, help="read by --upstream auto")
@click.option("--ttl", default=5, show_default=True, type=click.IntRange(0, 3600), help="TTL of cluster answers")
@click.option("--health-address", default="", help="gRPC health service address (off by default)")
@click.option("--metrics-address", default="", help="HTTP /metrics and /healthz address (off by default)")
@click.option("-v", "--verbose", count=True, help="-v info, -vv debug")
def main(server: str, token: str, context_name: str | None, listen: str, cluster_domain: str, upstream: str,
         resolv_conf: str, ttl: int, health_address: str, metrics_address: str, verbose: int) -> None:
    """The kubelab cluster DNS: answers <svc>.<ns>.svc.<domain> from Services, forwards the rest."""
    conn = setup_component(verbose, context_name, server, token)
    try:
        split_host_port(listen, 53, min_port=0)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--listen") from None
    if not cluster_domain.strip(". "):
        raise click.BadParameter("must not be empty", param_hint="--cluster-domain")
    config = Config(server=conn.server, token=conn.token, listen=listen, domain=cluster_domain,
                    upstreams=upstreams_of(upstream, resolv_conf), ttl=ttl, health_address=health_address,
                    metrics_address=metrics_address)
    client.set_user_agent("kubelab-dns")
    serving.run(lambda: Server(config))


if __name__ == "__main__":
    main()
