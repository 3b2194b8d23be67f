"""`kubelab-apiserver`: flags → Config → kubelab.serving.run(Server(config)) (the life cycle is server.py's), or
with --workers N, kubelab.serving.run_workers: N forked servers on one port under one supervisor."""
from __future__ import annotations

import os
from pathlib import Path

import click

from kubelab import client, serving

from .audit import AuditConfig, PolicyError, load_policy
from kubelab.hostport import split_host_port
from kubelab.serving import setup_logging

from .auth import TokenFileError, load_token_file
from .builtin import advertise_address as resolve_advertise_address
from .server import Config, Server
from .storage import EtcdTLS


def _read_token(token: str, token_file: str) -> str:
    if token:
        return token
    if token_file:
        return Path(token_file).read_text().strip()
    return os.environ.get("KUBELAB_TOKEN", "")


@click.command()
@click.option("--listen", default="127.0.0.1:6443", show_default=True, help="host:port to serve gRPC on")
@click.option("--etcd-servers", default="127.0.0.1:2379", show_default=True, help="comma-separated host:port list")
@click.option("--etcd-cafile", default="", help="CA of etcd's serving certificate (with the two below: TLS to etcd)")
@click.option("--etcd-certfile", default="", help="client certificate presented to etcd")
@click.option("--etcd-keyfile", default="", help="key of --etcd-certfile")
@click.option("--token", default="", help="bearer token clients must present")
@click.option("--token-file", default="", help="file holding the bearer token")
@click.option("--token-auth-file", default="", help="users by bearer token, in kube-apiserver's CSV format: "
              "token,user,uid,\"group1,group2\" (the --token stays an admin in system:masters)")
@click.option("--authorization-mode", default="Node,RBAC", show_default=True,
              type=click.Choice(["Node,RBAC", "RBAC", "AlwaysAllow"]), help="how requests are authorized")
@click.option("--kubelet-token-file", default="", help="token the apiserver presents to kubelets")
@click.option("--service-cluster-ip-range", default="10.96.0.0/16", show_default=True)
@click.option("--service-node-port-range", default="30000-32767", show_default=True)
@click.option("--bookmark-interval", default=5.0, show_default=True, help="seconds between watch bookmarks")
@click.option("--event-ttl", default=3600, show_default=True, help="seconds events are kept")
@click.option("--workers", default=1, show_default=True,
              help="server processes sharing the port (SO_REUSEPORT): Python serves one core per process")
@click.option("--metrics-address", default="", help="serve HTTP /metrics and /healthz here (off by default)")
@click.option("--advertise-address", default="", help="the address published in the `kubernetes` Endpoints "
              "(default: the --listen host, or the host's own address when listening on 0.0.0.0)")
@click.option("--secure-port", type=int, default=None,
              help="serve the Kubernetes HTTP API (HTTPS) on this port (off unless given; 0 = a free port)")
@click.option("--bind-address", default="", help="the HTTP API's address (default: the --listen host)")
@click.option("--tls-cert-file", default="", help="the HTTP API's serving certificate (PEM)")
@click.option("--tls-private-key-file", default="", help="the HTTP API's serving key (PEM)")
@click.option("--audit-log-path", default="", help="write audit.k8s.io/v1 events here, one JSON per line ('-': stdout; "
              "'': off), as kube-apiserver")
@click.option("--audit-log-maxsize", default=100, show_default=True, help="megabytes before the audit log is rotated")
@click.option("--audit-log-maxbackup", default=0, show_default=True, help="rotated audit logs kept (0: all)")
@click.option("--audit-policy-file", default="", help="an audit.k8s.io/v1 Policy (default: writes at Metadata, "
              "no reads, leases or events)")
@click.option("--service-account-signing-key-file", default="", help="PEM private key (EC or RSA) that signs "
              "ServiceAccount tokens (default: one made at start, which tokens do not outlive)")
@click.option("--service-account-key-file", multiple=True, help="PEM file of public keys (or certificates, or "
              "private keys) that verify ServiceAccount tokens, besides the signing key's; repeatable")
@click.option("--service-account-issuer", default="https://kubernetes.default.svc.cluster.local", show_default=True,
              help="the `iss` of the tokens this apiserver signs and accepts")
@click.option("--api-audiences", default="", help="comma-separated audiences a token must name one of "
              "(default: the issuer)")
@click.option("-v", "--verbose", count=True)
def main(listen: str, etcd_servers: str, etcd_cafile: str, etcd_certfile: str, etcd_keyfile: str, token: str,
         token_file: str, token_auth_file: str, authorization_mode: str, kubelet_token_file: str,
         service_cluster_ip_range: str, service_node_port_range: str, bookmark_interval: float,
         event_ttl: int, workers: int, metrics_address: str, advertise_address: str, secure_port: int | None,
         bind_address: str, tls_cert_file: str, tls_private_key_file: str, audit_log_path: str,
         audit_log_maxsize: int, audit_log_maxbackup: int, audit_policy_file: str,
         service_account_signing_key_file: str, service_account_key_file: tuple[str, ...],
         service_account_issuer: str, api_audiences: str, verbose: int) -> None:
    """The kubelab API server: every object, stored in etcd."""
    setup_logging(verbose)
    try:
        split_host_port(listen, min_port=0)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--listen") from None
    try:     # resolved once, here; a non-IP is refused now, not when the Endpoints are written
        advertise_address = resolve_advertise_address(listen, advertise_address)
    except ValueError:
        raise click.BadParameter(f"{advertise_address!r} is not an IP address",
                                 param_hint="--advertise-address") from None
    if secure_port is not None and not (tls_cert_file and tls_private_key_file):
        raise click.BadParameter("--secure-port needs --tls-cert-file and --tls-private-key-file",
                                 param_hint="--secure-port")
    try:
        tokens = load_token_file(token_auth_file) if token_auth_file else {}
    except (OSError, TokenFileError) as e:
        raise click.BadParameter(str(e), param_hint="--token-auth-file") from None
    sa_key, sa_public = _service_account_keys(service_account_signing_key_file, service_account_key_file)
    lo, _, hi = service_node_port_range.partition("-")
    tls_files = (etcd_cafile, etcd_certfile, etcd_keyfile)
    if any(tls_files) and not all(tls_files):
        raise click.UsageError("--etcd-cafile, --etcd-certfile and --etcd-keyfile go together")
    config = Config(listen=listen, etcd_servers=[s.strip() for s in etcd_servers.split(",") if s.strip()],
                    etcd_tls=EtcdTLS(*tls_files) if all(tls_files) else None,
                    token=_read_token(token, token_file), tokens=tokens, authorization_mode=authorization_mode,
                    kubelet_token=Path(kubelet_token_file).read_text().strip() if kubelet_token_file else "",
                    service_cidr=service_cluster_ip_range, node_port_range=(int(lo), int(hi)),
                    bookmark_interval=bookmark_interval, event_ttl=event_ttl, workers=workers,
                    metrics_address=metrics_address, advertise_address=advertise_address,
                    secure_port=secure_port, bind_address=bind_address, tls_cert_file=tls_cert_file,
                    tls_private_key_file=tls_private_key_file,
                    audit=AuditConfig(audit_log_path, audit_log_maxsize, audit_log_maxbackup, audit_policy_file),
                    service_account_signing_key=sa_key, service_account_keys=sa_public,
                    service_account_issuer=service_account_issuer,
                    api_audiences=tuple(a.strip() for a in api_audiences.split(",") if a.strip()))
    try:
        load_policy(audit_policy_file)          # a bad policy stops the start, as kube-apiserver's does
    except PolicyError as e:
        raise click.BadParameter(str(e), param_hint="--audit-policy-file") from None
    client.set_user_agent("kube-apiserver")
    # The gRPC grace is the server's own; the rest is for caches and etcd to close.
    grace = config.shutdown_grace + 5
    if workers > 1:
        serving.run_workers(lambda: Server(config), workers, grace)
    else:
        serving.run(lambda: Server(config), grace)


def _service_account_keys(signing_file: str, key_files: tuple[str, ...]) -> tuple[bytes, tuple[bytes, ...]]:
    """The signing key (made here when none is given: before any worker forks, so all sign alike) and the
    verifying keys, each checked now: a bad key stops the start, as kube-apiserver's does."""
    from .serviceaccount import load_public_keys, new_signing_key, public_pem
    try:
        key = Path(signing_file).read_bytes() if signing_file else new_signing_key()
        public_pem(key)
    except (OSError, ValueError, TypeError) as e:
        raise click.BadParameter(f"{signing_file}: {e}", param_hint="--service-account-signing-key-file") from None
    pubs = []
    for f in key_files:
        try:
            data = Path(f).read_bytes()
            load_public_keys(data)
        except (OSError, ValueError, TypeError) as e:
            raise click.BadParameter(f"{f}: {e}", param_hint="--service-account-key-file") from None
        pubs.append(data)
    return key, tuple(pubs)


if __name__ == "__main__":
    main()
