"""Who is who in a lab: a credential per component and per node, in Kubernetes' names.

Both launchers (`lab/local.py`, and the compose lab's bootstrap service in `lab/compose.py`) write the
apiserver's `--token-auth-file` (kube-apiserver's CSV: `token,user,uid,"group1,group2"`) from this list
and hand each component its own token, so RBAC and the Node authorizer decide what each may do and the
audit log says who did it. The admin's token (the `--token` of the apiserver, in `system:masters`) is
the people's; a `view` user may read and nothing more.

Each credential is handed to its component alone (`distribute`): in the compose lab every component has a
volume of its own holding only its token (`home`: the volume's directory), and each node keeps its
credential as kubeadm places it, a kubeconfig at /etc/kubernetes/kubelet.conf (`kubelet_kubeconfig`).
"""
from __future__ import annotations

import base64
import csv
import io
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab import pki


@dataclass(frozen=True)
class Identity:
    file: str                 # the token's file name in the secrets directory
    user: str
    groups: tuple[str, ...] = ()
    home: str = ""            # the directory (compose: the volume) only its component mounts; "" none


COMPONENTS = (
    Identity("scheduler.token", "system:kube-scheduler", home="scheduler"),
    Identity("controller-manager.token", "system:kube-controller-manager", home="controller-manager"),
    Identity("proxy.token", "system:kube-proxy", home="proxy"),
    Identity("dns.token", "system:serviceaccount:kube-system:kube-dns",
             ("system:serviceaccounts", "system:serviceaccounts:kube-system"), home="dns"),
    Identity("view.token", "view"),
)


def node_identity(node: str) -> Identity:
    """A kubelet's: `system:node:<name>` in `system:nodes`, what the Node authorizer knows."""
    return Identity(f"{node}.token", f"system:node:{node}", ("system:nodes",), home=node)


def identities(nodes: list[str]) -> list[Identity]:
    return list(COMPONENTS) + [node_identity(n) for n in nodes]


def write_tokens(directory: Path, nodes: list[str]) -> dict[str, str]:
    """A token per identity (kept if already there: a restarted lab keeps its credentials), each 0600, and
    `tokens.csv` for the apiserver; returns {file name: token}."""
    pki.secure_dir(directory)
    tokens: dict[str, str] = {}
    rows = io.StringIO()
    w = csv.writer(rows, lineterminator="\n")
    for ident in identities(nodes):
        path = directory / ident.file
        if not path.exists() or not path.read_text().strip():
            pki.write_private(path, secrets.token_urlsafe(24).encode())
        tokens[ident.file] = path.read_text().strip()
        w.writerow([tokens[ident.file], ident.user, f"uid-{ident.user}", ",".join(ident.groups)])
    pki.write_private(directory / "tokens.csv", rows.getvalue().encode())
    return tokens


KUBELET_CONF = "kubelet.conf"                              # in the node's /etc/kubernetes, as kubeadm's
APISERVER_KUBELET_TOKEN = "apiserver-kubelet-client.token"  # what the kubelet expects the apiserver to present
CLUSTER = "kubernetes"                                     # kubeadm's cluster name in kubelet.conf


def kubelet_kubeconfig(node: str, https_server: str, ca_pem: bytes, token: str, grpc_servers: str) -> dict[str, Any]:
    """A node's kubelet.conf as kubeadm writes it (cluster `kubernetes`, user `system:node:<name>`, context
    `system:node:<name>@kubernetes`), with kubelab's gRPC address(es) as the cluster's extension, where
    `kubelab.config` finds it (comma-separated when there are several apiservers: the client fails over)."""
    from kubelab.config import GRPC_EXTENSION
    user = node_identity(node).user
    ctx = f"{user}@{CLUSTER}"
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": CLUSTER, "cluster": {
            "server": https_server, "certificate-authority-data": base64.b64encode(ca_pem).decode(),
            "extensions": [{"name": GRPC_EXTENSION, "extension": {"server": grpc_servers}}]}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": ctx, "context": {"cluster": CLUSTER, "user": user, "namespace": "default"}}],
        "current-context": ctx,
    }


NODE_CA = "pki/ca.crt"      # the lab CA in a node's /etc/kubernetes, as kubeadm places it


def distribute(tokens: dict[str, str], nodes: list[str], credentials: Path, https_server: str, ca_pem: bytes,
               grpc_servers: str, kubelet_token: str) -> list[Path]:
    """Give each identity with a `home` its credential in `credentials/<home>/`, nothing else there:
    a component's token file under its own name; a node's kubelet.conf (and the token the kubelet expects
    from the apiserver). Returns the files written."""
    written: list[Path] = []
    for ident in identities(nodes):
        if not ident.home:
            continue
        home = pki.secure_dir(credentials / ident.home)
        if ident.home in nodes:
            conf = kubelet_kubeconfig(ident.home, https_server, ca_pem, tokens[ident.file], grpc_servers)
            files = {KUBELET_CONF: yaml.safe_dump(conf, sort_keys=False), APISERVER_KUBELET_TOKEN: kubelet_token,
                     NODE_CA: ca_pem.decode()}
        else:
            files = {ident.file: tokens[ident.file]}
        for name, text in files.items():
            pki.secure_dir((home / name).parent)
            pki.write_private(home / name, text.encode())
            written.append(home / name)
    return written


VIEW_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
    "metadata": {"name": "kubelab-view"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "view"}],
}


async def bind_view(server: str, token: str) -> None:
    """The `view` user may read everything (the `view` ClusterRole), nothing more: its binding, made once."""
    from kubelab import errors, manifests
    from kubelab.client import Client
    async with Client(server, token, retries=3) as c:
        try:
            await c.create(manifests.from_dict(VIEW_BINDING))
        except errors.AlreadyExists:
            pass
