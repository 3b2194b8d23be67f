"""`kubelab-apiserver`: flags → Config → Server(config).serve()."""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import click

from .server import Config, Server


def _read_token(token: str, token_file: str) -> str:
    if token:
        return token
    if token_file:
        return Path(token_file).read_text().strip()
    return os.environ.get("KUBELAB_TOKEN", "")


@click.command()
@click.option("--listen", default="127.0.0.1:6443", show_default=True, help="host:port to serve gRPC on")
@click.option("--etcd-servers", default="127.0.0.1:2379", show_default=True, help="comma-separated host:port list")
@click.option("--token", default="", help="bearer token clients must present")
@click.option("--token-file", default="", help="file holding the bearer token")
@click.option("--kubelet-token-file", default="", help="token the apiserver presents to kubelets")
@click.option("--service-cluster-ip-range", default="10.96.0.0/16", show_default=True)
@click.option("--service-node-port-range", default="30000-32767", show_default=True)
@click.option("--bookmark-interval", default=5.0, show_default=True, help="seconds between watch bookmarks")
@click.option("--event-ttl", default=3600, show_default=True, help="seconds events are kept")
@click.option("-v", "--verbose", count=True)
def main(listen: str, etcd_servers: str, token: str, token_file: str, kubelet_token_file: str,
         service_cluster_ip_range: str, service_node_port_range: str, bookmark_interval: float,
         event_ttl: int, verbose: int) -> None:
    """The kubelab API server: every object, stored in etcd."""
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lo, _, hi = service_node_port_range.partition("-")
    config = Config(listen=listen, etcd_servers=[s.strip() for s in etcd_servers.split(",") if s.strip()],
                    token=_read_token(token, token_file),
                    kubelet_token=Path(kubelet_token_file).read_text().strip() if kubelet_token_file else "",
                    service_cidr=service_cluster_ip_range, node_port_range=(int(lo), int(hi)),
                    bookmark_interval=bookmark_interval, event_ttl=event_ttl)
    asyncio.run(Server(config).serve())


if __name__ == "__main__":
    main()
